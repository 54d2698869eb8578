"""The kubelet's only door to processes: start containers under shims, adopt, signal, limit and measure them.

Each container runs under `python -m kubeserve.node.kubelet.shim` (see shim.py) in its own session; the
files the shim writes (`state.json`, `<n>.log`, `<n>.exit` under `pods/<uid>/containers/<name>/`) are the
truth, so a new ProcessManager adopts what an old one started.

Memory limits, in order of preference:
- cgroup v2, when our own cgroup can delegate the memory controller to a child group: `memory.max`; the
  kernel's OOM kill shows in `memory.events` (oom_kill).
- cgroup v1, when the memory hierarchy is writable: `memory.limit_in_bytes` (and memsw when present);
  the kill shows in `memory.oom_control` (oom_kill).
- otherwise polling: `enforce_limits()` sums the RSS of the container's process tree and kills it when over,
  leaving an `<n>.oom` marker first so the shim records the reason.
In every case the exit reads reason OOMKilled, exit code 137. The shim joins the container's cgroups before
exec, so nothing is ever charged outside them.

CPU limits become a CFS quota (`cpu.max` on v2, `cpu.cfs_quota_us` on v1) where the cpu controller is
writable; otherwise they are not enforced (the scheduler still accounts requests).

Small helpers that other kubelet modules need to run a process (the isolation probe, pip for image
pulls) live here too, so that spawning stays in one module.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psutil

from kubeserve.atomicfile import read_json_object, write_atomic

if TYPE_CHECKING:
    from kubeserve.node.kubelet.launch import Launch

CGROUP_ROOT = Path("/sys/fs/cgroup")
SHIM_MODULE = "kubeserve.node.kubelet.shim"
MEMORY_MODES = ("auto", "cgroup2", "cgroup1", "rss")
CFS_PERIOD_US = 100_000


class ProcessError(Exception):
    """A container could not be started (the shim itself failed)."""


@dataclass(frozen=True)
class ExitStatus:
    exit_code: int
    signal: int | None
    reason: str                 # Completed | Error | OOMKilled | StartError
    started_at: str
    finished_at: str
    message: str = ""


@dataclass(frozen=True)
class RunningContainer:
    pod_uid: str
    name: str
    restart_count: int
    pid: int
    started_at: str
    pgid: int = 0
    create_time: float = 0.0
    shim_pid: int = 0
    shim_create_time: float = 0.0
    memory_limit: int | None = None
    cpu_limit: float | None = None
    cgroups: tuple[str, ...] = ()
    enter: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    cwd: str | None = None
    stdin: str | None = None


# -- cgroups ----------------------------------------------------------------------------------------------

def _own_cgroups() -> dict[str, str]:
    """controller (or "" for the v2 unified hierarchy) -> our cgroup path."""
    out: dict[str, str] = {}
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            for controller in controllers.split(","):
                out[controller] = path
    return out


def _is_cgroup2(root: Path) -> bool:
    return (root / "cgroup.controllers").exists()


def detect_memory_mode(setting: str = "auto", root: Path = CGROUP_ROOT) -> str:
    if setting not in MEMORY_MODES:
        raise ValueError(f"memory enforcement must be one of {', '.join(MEMORY_MODES)}")
    if setting != "auto":
        return setting
    if _cgroup2_parent(root, "memory") is not None:
        return "cgroup2"
    if _cgroup1_parent(root, "memory") is not None:
        return "cgroup1"
    return "rss"


def _cgroup2_parent(root: Path, controller: str) -> Path | None:
    """`<our cgroup>/kubeserve` with `controller` delegated to its children, or None if the OS says no
    (a non-root cgroup that holds processes cannot delegate controllers: cgroup v2's no-internal-process rule)."""
    if not _is_cgroup2(root):
        return None
    own = _own_cgroups().get("", "/")
    base = root / own.lstrip("/")
    parent = base / "kubeserve"
    try:
        if controller not in (base / "cgroup.subtree_control").read_text().split():
            (base / "cgroup.subtree_control").write_text(f"+{controller}")
        parent.mkdir(exist_ok=True)
        if controller not in (parent / "cgroup.subtree_control").read_text().split():
            (parent / "cgroup.subtree_control").write_text(f"+{controller}")
    except OSError:
        return None
    return parent


def _cgroup1_parent(root: Path, controller: str) -> Path | None:
    hierarchy = root / controller
    if _is_cgroup2(root) or not (hierarchy / "cgroup.procs").exists():
        return None
    own = _own_cgroups().get(controller, "/")
    parent = hierarchy / own.lstrip("/") / "kubeserve"
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return parent if os.access(parent, os.W_OK) else None


def _make_cgroups(group: str, mode: str, memory_limit: int | None, cpu_limit: float | None,
                  root: Path) -> list[str]:
    made: list[str] = []
    try:
        if mode == "cgroup2" and (memory_limit or cpu_limit):
            parent = _cgroup2_parent(root, "memory")
            if parent is not None:
                if cpu_limit:
                    _cgroup2_parent(root, "cpu")
                path = parent / group
                path.mkdir(exist_ok=True)
                made.append(str(path))
                if memory_limit:
                    (path / "memory.max").write_text(str(memory_limit))
                    with contextlib.suppress(OSError):
                        (path / "memory.swap.max").write_text("0")
                if cpu_limit:
                    with contextlib.suppress(OSError):
                        (path / "cpu.max").write_text(f"{max(1000, int(cpu_limit * CFS_PERIOD_US))} {CFS_PERIOD_US}")
        elif mode == "cgroup1":
            if memory_limit and (parent := _cgroup1_parent(root, "memory")) is not None:
                path = parent / group
                path.mkdir(exist_ok=True)
                made.append(str(path))
                (path / "memory.limit_in_bytes").write_text(str(memory_limit))
                with contextlib.suppress(OSError):
                    (path / "memory.memsw.limit_in_bytes").write_text(str(memory_limit))
            if cpu_limit and (parent := _cgroup1_parent(root, "cpu")) is not None:
                path = parent / group
                with contextlib.suppress(OSError):
                    path.mkdir(exist_ok=True)
                    (path / "cpu.cfs_period_us").write_text(str(CFS_PERIOD_US))
                    (path / "cpu.cfs_quota_us").write_text(str(max(1000, int(cpu_limit * CFS_PERIOD_US))))
                    made.append(str(path))
    except OSError:
        for path_text in reversed(made):
            with contextlib.suppress(OSError):
                os.rmdir(path_text)
        return []
    return made


def _memory_cgroup(rc: RunningContainer) -> Path | None:
    for group in rc.cgroups:
        path = Path(group)
        if (path / "memory.max").exists() or (path / "memory.limit_in_bytes").exists():
            return path
    return None


def _cgroup_working_set(path: Path) -> int | None:
    try:
        usage_file = path / "memory.current"
        usage = int((usage_file if usage_file.exists() else path / "memory.usage_in_bytes").read_text())
        inactive = 0
        for line in (path / "memory.stat").read_text().splitlines():
            key, _, value = line.partition(" ")
            if key in ("inactive_file", "total_inactive_file"):
                inactive = int(value)
        return max(0, usage - inactive)
    except (OSError, ValueError):
        return None


# -- helpers for other modules ----------------------------------------------------------------------------

def command_succeeds(argv: Sequence[str], timeout: float = 5.0) -> bool:
    try:
        result = subprocess.run(list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, timeout=timeout, check=False)
    except (OSError, subprocess.SubprocessError):
        return False
    return result.returncode == 0


async def stream_command(argv: Sequence[str], on_line: Callable[[str], Awaitable[None]],
                         env: dict[str, str] | None = None) -> int:
    """Runs argv, passing each line of its merged output to on_line; returns the exit code."""
    proc = await asyncio.create_subprocess_exec(*argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                                stderr=subprocess.STDOUT, env=env)
    assert proc.stdout is not None
    try:
        while line := await proc.stdout.readline():
            text = line.decode("utf-8", "replace").rstrip()
            if text:
                await on_line(text)
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        raise
    return await proc.wait()


# -- the manager ------------------------------------------------------------------------------------------

def _same_process(pid: int, create_time: float) -> psutil.Process | None:
    if pid <= 0:
        return None
    try:
        proc = psutil.Process(pid)
        if abs(proc.create_time() - create_time) > 0.01 or proc.status() == psutil.STATUS_ZOMBIE:
            return None
        return proc
    except psutil.Error:
        return None


def _exit_from(record: dict[str, Any]) -> ExitStatus:
    return ExitStatus(exit_code=int(record.get("exitCode", 0)), signal=record.get("signal"),
                      reason=str(record.get("reason") or "Error"), started_at=str(record.get("startedAt") or ""),
                      finished_at=str(record.get("finishedAt") or ""), message=str(record.get("message") or ""))


def _running_from(state: dict[str, Any]) -> RunningContainer:
    return RunningContainer(
        pod_uid=str(state.get("podUid") or ""), name=str(state.get("name") or ""),
        restart_count=int(state["restartCount"]), pid=int(state["pid"]), started_at=str(state["startedAt"]),
        pgid=int(state.get("pgid") or state["pid"]), create_time=float(state.get("createTime") or 0),
        shim_pid=int(state.get("shimPid") or 0), shim_create_time=float(state.get("shimCreateTime") or 0),
        memory_limit=state.get("memoryLimit"), cpu_limit=state.get("cpuLimit"),
        cgroups=tuple(state.get("cgroups") or ()), enter=tuple(state.get("enter") or ()),
        env=dict(state.get("env") or {}), cwd=state.get("cwd"), stdin=state.get("stdin"),
    )


def _rss(tree: list[psutil.Process]) -> int:
    total = 0
    for proc in tree:
        with contextlib.suppress(psutil.Error):
            total += proc.memory_info().rss
    return total


_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


def _safe_names(pod_uid: str, name: str) -> bool:
    """A container name is a DNS-1123 label and a pod uid one path component: neither leaves pods/<uid>/."""
    uid_ok = bool(pod_uid) and pod_uid not in (".", "..") and "/" not in pod_uid and "\0" not in pod_uid
    return uid_ok and len(name) <= 63 and _LABEL.fullmatch(name) is not None


class ProcessManager:
    def __init__(self, pods_dir: Path, memory_enforcement: str = "auto", cgroup_root: Path = CGROUP_ROOT,
                 start_timeout: float = 15.0) -> None:
        self.pods_dir = pods_dir
        self.cgroup_root = cgroup_root
        self.memory_mode = detect_memory_mode(memory_enforcement, cgroup_root)
        self.start_timeout = start_timeout
        self._containers: dict[tuple[str, str], RunningContainer] = {}
        self._shims: dict[int, subprocess.Popen[bytes]] = {}
        self._cpu_samples: dict[tuple[str, str, int], tuple[float, float]] = {}

    def container_dir(self, pod_uid: str, name: str) -> Path:
        """pods/<uid>/containers/<name>; raises ProcessError for a uid or name that could lead elsewhere (the
        kubelet refuses such names first, this is the last guard before the file system)."""
        if not _safe_names(pod_uid, name):
            raise ProcessError(f"refusing container name {name!r} of pod {pod_uid!r}: not a DNS-1123 label")
        return self.pods_dir / pod_uid / "containers" / name

    # -- start and adopt --

    def start(self, pod_uid: str, name: str, restart_count: int, launch: Launch,
              memory_limit: int | None, cpu_limit: float | None) -> RunningContainer:
        """Spawns the shim and waits (briefly, blocking) until it has recorded the container's pid."""
        cdir = self.container_dir(pod_uid, name)
        cdir.mkdir(parents=True, exist_ok=True)
        for stale in (cdir / f"{restart_count}.exit", cdir / f"{restart_count}.oom"):
            stale.unlink(missing_ok=True)
        cgroups = []
        if self.memory_mode != "rss" or cpu_limit:
            mode = self.memory_mode if self.memory_mode != "rss" else "cgroup1"
            cgroups = _make_cgroups(f"{pod_uid}_{name}_{restart_count}", mode,
                                    memory_limit if self.memory_mode != "rss" else None, cpu_limit, self.cgroup_root)
        spec = {"podUid": pod_uid, "name": name, "restartCount": restart_count, "dir": str(cdir),
                "argv": list(launch.argv), "env": launch.env, "cwd": launch.cwd, "stdin": launch.stdin,
                "stdinOnce": launch.stdin_once, "enter": list(launch.enter), "cgroups": cgroups,
                "memoryLimit": memory_limit, "cpuLimit": cpu_limit}
        spec_path = cdir / "launch.json"
        write_atomic(spec_path, json.dumps(spec).encode(), 0o600)
        with open(cdir / "shim.log", "ab") as shim_log:
            shim = subprocess.Popen([sys.executable, "-m", SHIM_MODULE, str(spec_path)], stdin=subprocess.DEVNULL,
                                    stdout=shim_log, stderr=shim_log, start_new_session=True, env=self._shim_env(),
                                    cwd=cdir)
        self._shims[shim.pid] = shim
        deadline = time.monotonic() + self.start_timeout
        while True:
            state = self._read_state(pod_uid, name)
            if state and state.get("shimPid") == shim.pid:
                break
            if shim.poll() is not None or time.monotonic() > deadline:
                if shim.returncode is None:
                    shim.kill()
                    shim.wait()
                self._shims.pop(shim.pid, None)
                tail = (cdir / "shim.log").read_text(errors="replace")[-2000:]
                raise ProcessError(f"the container shim for {name} failed to start: {tail.strip() or 'no output'}")
            time.sleep(0.005)
        rc = _running_from(state)
        self._containers[(pod_uid, name)] = rc
        return rc

    @staticmethod
    def _shim_env() -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "LC_ALL", "TZ")}
        # The package may be importable only through our own sys.path (a source checkout): hand it on.
        package_root = str(Path(__file__).resolve().parents[3])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH")) if p)
        return env

    def _read_state(self, pod_uid: str, name: str) -> dict[str, Any] | None:
        if not _safe_names(pod_uid, name):
            return None
        state = read_json_object(self.container_dir(pod_uid, name) / "state.json")
        if state is None:
            return None
        state.setdefault("podUid", pod_uid)
        state.setdefault("name", name)
        return state

    def adopt(self, pod_uid: str, name: str) -> RunningContainer | None:
        if not _safe_names(pod_uid, name):
            return None
        state = self._read_state(pod_uid, name)
        if not state or not state.get("pid"):
            return None
        rc = _running_from(state)
        if (self.container_dir(pod_uid, name) / f"{rc.restart_count}.exit").exists():
            return None
        if _same_process(rc.pid, rc.create_time) is None:
            return None
        self._containers[(pod_uid, name)] = rc
        return rc

    # -- exit --

    def _shim_alive(self, rc: RunningContainer) -> bool:
        shim = self._shims.get(rc.shim_pid)
        if shim is not None:
            if shim.poll() is None:
                return True
            self._shims.pop(rc.shim_pid, None)
            return False
        return _same_process(rc.shim_pid, rc.shim_create_time) is not None

    def _read_exit(self, pod_uid: str, name: str, restart_count: int) -> ExitStatus | None:
        record = read_json_object(self.container_dir(pod_uid, name) / f"{restart_count}.exit")
        return _exit_from(record) if record is not None else None

    def exit_status(self, rc: RunningContainer) -> ExitStatus | None:
        status = self._read_exit(rc.pod_uid, rc.name, rc.restart_count)
        if status is not None:
            self._forget(rc)
            return status
        if self._shim_alive(rc):
            return None
        status = self._read_exit(rc.pod_uid, rc.name, rc.restart_count)
        if status is not None:
            self._forget(rc)
            return status
        if _same_process(rc.pid, rc.create_time) is not None:
            return None  # the shim is gone but the container still runs; its end will be synthesized
        self._forget(rc)
        return ExitStatus(exit_code=137, signal=None, reason="Error", started_at=rc.started_at,
                          finished_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                          message="the container's shim ended without recording an exit status")

    def _forget(self, rc: RunningContainer) -> None:
        current = self._containers.get((rc.pod_uid, rc.name))
        if current is not None and current.restart_count == rc.restart_count:
            del self._containers[(rc.pod_uid, rc.name)]
        self._cpu_samples.pop((rc.pod_uid, rc.name, rc.restart_count), None)
        self._reap_shims()

    def _reap_shims(self) -> None:
        """Wait for the shims that ended: a child nobody waits for stays a zombie (<defunct>) for as long as we
        run. A shim that is still writing its exit is reaped on a later call (every tick's enforce_limits)."""
        for pid, shim in list(self._shims.items()):
            if shim.poll() is not None:
                del self._shims[pid]

    def last_exit(self, pod_uid: str, name: str) -> ExitStatus | None:
        if not _safe_names(pod_uid, name):
            return None
        runs = []
        for path in self.container_dir(pod_uid, name).glob("*.exit"):
            if path.stem.isdigit():
                runs.append(int(path.stem))
        return self._read_exit(pod_uid, name, max(runs)) if runs else None

    def last_run(self, pod_uid: str, name: str) -> int | None:
        """The highest run number this container has used on disk (`<n>.exit`, `<n>.log`, state.json), or None.
        A run may have started, and ended, while the API had not been told yet: its number is taken."""
        if not _safe_names(pod_uid, name):
            return None
        cdir = self.container_dir(pod_uid, name)
        runs = [int(path.stem) for pattern in ("*.exit", "*.log") for path in cdir.glob(pattern) if path.stem.isdigit()]
        state = self._read_state(pod_uid, name) or {}
        if isinstance(state.get("restartCount"), int):
            runs.append(state["restartCount"])
        return max(runs) if runs else None

    # -- signals --

    def _tree(self, rc: RunningContainer) -> list[psutil.Process]:
        root = _same_process(rc.pid, rc.create_time)
        if root is None:
            return []
        try:
            return [root, *root.children(recursive=True)]
        except psutil.Error:
            return [root]

    def _signal_group(self, rc: RunningContainer, sig: int) -> None:
        if _same_process(rc.pid, rc.create_time) is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(rc.pgid or rc.pid, sig)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(rc.pid, sig)

    def _kill_tree(self, rc: RunningContainer) -> None:
        tree = self._tree(rc)
        self._signal_group(rc, signal.SIGKILL)
        for proc in tree:
            with contextlib.suppress(psutil.Error):
                proc.kill()
        _kill_cgroup_members(rc)  # catches what escaped the process group (setsid daemons)

    def _kill_leftovers(self, rc: RunningContainer) -> None:
        """After the main process exited: nothing of the container outlives it. A process group's id is not
        reused while the group has members, so signalling it cannot reach a stranger."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(rc.pgid or rc.pid, signal.SIGKILL)
        _kill_cgroup_members(rc)

    async def stop(self, rc: RunningContainer, grace_seconds: float) -> ExitStatus:
        """SIGTERM to the container's main process, up to grace_seconds to exit, then SIGKILL to the whole tree.

        Only the main process is told, as a container runtime tells only PID 1: a server with workers (vLLM's
        API server and its engine core) shuts its children down in order and can finish requests in flight;
        signalling the group would kill the engine under the requests the API server is draining. Whatever
        the main process leaves behind is killed with it, as a PID namespace's teardown would."""
        status = self.exit_status(rc)
        if status is not None:
            return status
        if _same_process(rc.pid, rc.create_time) is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(rc.pid, signal.SIGTERM)
        deadline = time.monotonic() + max(0.0, grace_seconds)
        while time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            if (status := self.exit_status(rc)) is not None:
                self._kill_leftovers(rc)
                return status
        self._kill_tree(rc)
        deadline = time.monotonic() + 10
        while (status := self.exit_status(rc)) is None:
            if time.monotonic() > deadline:
                self._kill_tree(rc)
            await asyncio.sleep(0.05)
        return status

    def kill_all(self, pod_uid: str) -> None:
        for state_file in (self.pods_dir / pod_uid / "containers").glob("*/state.json"):
            state = self._read_state(pod_uid, state_file.parent.name)
            if state and state.get("pid"):
                self._kill_tree(_running_from(state))
        for rc in [rc for (uid, _), rc in self._containers.items() if uid == pod_uid]:
            self._forget(rc)  # nobody asks about them again; the tick need not look for their exits

    # -- limits and usage --

    def enforce_limits(self) -> list[RunningContainer]:
        """Polling enforcement for containers whose memory limit no cgroup enforces (and reaping of ended shims,
        since this runs every sync period)."""
        self._reap_shims()
        killed = []
        for rc in list(self._containers.values()):
            # the cheap tests first: most containers have no limit, or a cgroup that enforces it
            if not rc.memory_limit or _memory_cgroup(rc) is not None or self.exit_status(rc) is not None:
                continue
            if _rss(self._tree(rc)) > rc.memory_limit:
                marker = self.container_dir(rc.pod_uid, rc.name) / f"{rc.restart_count}.oom"
                write_atomic(marker, b"OOMKilled\n", 0o644)
                self._kill_tree(rc)
                killed.append(rc)
        return killed

    def usage(self, rc: RunningContainer) -> tuple[int, int]:
        """(cpu in nanocores averaged since the previous call, working-set memory in bytes)."""
        tree = self._tree(rc)  # walked once, for the CPU time and (without a memory cgroup) the RSS
        cpu = 0.0
        for proc in tree:
            with contextlib.suppress(psutil.Error):
                times = proc.cpu_times()
                cpu += times.user + times.system
        now = time.time()
        key = (rc.pod_uid, rc.name, rc.restart_count)
        previous = self._cpu_samples.get(key, (rc.create_time or now, 0.0))
        self._cpu_samples[key] = (now, cpu)
        elapsed = now - previous[0]
        nanocores = int(max(0.0, cpu - previous[1]) / elapsed * 1e9) if elapsed > 0 else 0
        group = _memory_cgroup(rc)
        memory = _cgroup_working_set(group) if group is not None else None
        return nanocores, memory if memory is not None else _rss(tree)

    def running(self) -> list[RunningContainer]:
        return [rc for rc in list(self._containers.values()) if self.exit_status(rc) is None]

    # -- exec --

    async def run_in(self, rc: RunningContainer, argv: list[str], timeout: float,
                     max_output: int = 10 * 1024) -> tuple[int, bytes]:
        """Runs argv inside the container with its environment; raises TimeoutError after timeout seconds."""
        proc = await asyncio.create_subprocess_exec(
            *rc.enter, *argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            env=rc.env, cwd=None if rc.enter else rc.cwd, start_new_session=True)
        assert proc.stdout is not None
        stdout = proc.stdout
        output = bytearray()

        async def collect() -> int:
            while chunk := await stdout.read(65536):
                if len(output) < max_output:
                    output.extend(chunk[: max_output - len(output)])
            return await proc.wait()

        try:
            code = await asyncio.wait_for(collect(), timeout)
        except BaseException:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
            raise
        return code, bytes(output)


def _kill_cgroup_members(rc: RunningContainer) -> None:
    for group in rc.cgroups:
        with contextlib.suppress(OSError, ValueError):
            for pid in Path(group, "cgroup.procs").read_text().split():
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(int(pid), signal.SIGKILL)
