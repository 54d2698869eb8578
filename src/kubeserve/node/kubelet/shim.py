"""The per-container shim (kubeserve's conmon): `python -m kubeserve.node.kubelet.shim <launch.json>`.

The process manager starts it in its own session, so it outlives a kubeserve restart. It forks the container
into its own process group (joining the container's cgroups before exec), writes `state.json`, turns the
container's stdout/stderr into CRI log lines (`<RFC3339Nano> stdout F <text>`; `P` for a partial line
flushed after a short idle or at 16 KiB), copies the stdin FIFO to the container, and when the container
ends writes `<n>.exit`. Because all of that lives in files, a new kubelet can adopt the container.

SIGTERM, SIGINT and SIGHUP are caught and ignored: a signal meant for the container's group must never kill
the only process able to record how the container ended. When the container's main process exits, what is
left of its process group (and cgroups) is killed, as a pid namespace's end would kill it.

Imports are kept to the standard library plus psutil (for the create time the manager compares on adoption)
because one shim starts per container.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil

from kubeserve.atomicfile import write_atomic

CHUNK = 16 * 1024
IDLE_FLUSH = 0.2
DRAIN_AFTER_EXIT = 0.5
# A mount-namespace wrapper that cannot find the container's command exits with this code after writing the
# marker line to stderr, so the exec failure inside the namespace reads as the StartError it is.
START_ERROR_EXIT = 222
START_ERROR_MARKER = b"kubeserve-start-error: "


def rfc3339nano(ns: int | None = None) -> str:
    ns = time.time_ns() if ns is None else ns
    seconds, nanos = divmod(ns, 1_000_000_000)
    stamp = datetime.datetime.fromtimestamp(seconds, tz=datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{nanos:09d}Z"


def rfc3339(seconds: float | None = None) -> str:
    moment = datetime.datetime.fromtimestamp(time.time() if seconds is None else seconds, tz=datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class LogWriter:
    def __init__(self, path: Path) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
        self.pending: dict[str, bytes] = {"stdout": b"", "stderr": b""}
        self.last_data: dict[str, float] = {"stdout": 0.0, "stderr": 0.0}

    def _emit(self, stream: str, tag: str, text: bytes) -> None:
        os.write(self.fd, f"{rfc3339nano()} {stream} {tag} ".encode() + text + b"\n")

    def feed(self, stream: str, data: bytes) -> None:
        buf = self.pending[stream] + data
        while True:
            newline = buf.find(b"\n")
            if newline == -1:
                break
            line, buf = buf[:newline], buf[newline + 1:]
            while len(line) > CHUNK:
                self._emit(stream, "P", line[:CHUNK])
                line = line[CHUNK:]
            self._emit(stream, "F", line)
        while len(buf) >= CHUNK:
            self._emit(stream, "P", buf[:CHUNK])
            buf = buf[CHUNK:]
        self.pending[stream] = buf
        self.last_data[stream] = time.monotonic()

    def flush_idle(self, now: float) -> None:
        for stream, buf in self.pending.items():
            if buf and now - self.last_data[stream] >= IDLE_FLUSH:
                self._emit(stream, "P", buf)
                self.pending[stream] = b""

    def has_pending(self) -> bool:
        return any(self.pending.values())

    def close(self) -> None:
        for stream, buf in self.pending.items():
            if buf:
                self._emit(stream, "F", buf)
        os.close(self.fd)


def _cgroup_oom(cgroups: list[str]) -> bool:
    for group in cgroups:
        for name in ("memory.events", "memory.oom_control"):
            with contextlib.suppress(OSError):
                for line in Path(group, name).read_text().splitlines():
                    key, _, value = line.partition(" ")
                    if key == "oom_kill" and value.strip().isdigit() and int(value) > 0:
                        return True
    return False


def _kill_leftovers(pgid: int | None, cgroups: list[str]) -> None:
    if pgid:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
    for group in cgroups:
        with contextlib.suppress(OSError):
            for pid in Path(group, "cgroup.procs").read_text().split():
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(int(pid), signal.SIGKILL)
    deadline = time.monotonic() + 2
    for group in cgroups:
        while time.monotonic() < deadline:
            try:
                os.rmdir(group)
                break
            except FileNotFoundError:
                break
            except OSError:
                time.sleep(0.02)


class StdinPump:
    """FIFO → container stdin. For stdinOnce the container's stdin closes when the first writer goes away."""

    def __init__(self, fifo: Path, once: bool, child_stdin: Any) -> None:
        if not fifo.exists():
            os.mkfifo(fifo, 0o600)
        self.child = child_stdin
        os.set_blocking(child_stdin.fileno(), False)
        self.backlog = b""
        if once:
            self.read_fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
            self.keepalive: int | None = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        else:  # a reader that is also a writer never sees EOF: stdin stays open across attaches
            self.read_fd = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)
            self.keepalive = None
        self.open = True

    def on_readable(self) -> bool:
        """False once the FIFO reached EOF (stdinOnce)."""
        try:
            data = os.read(self.read_fd, CHUNK)
        except BlockingIOError:
            return True
        if not data:
            self.close_child()
            return False
        if self.keepalive is not None:
            os.close(self.keepalive)
            self.keepalive = None
        self.backlog += data
        self.write_some()
        return True

    def write_some(self) -> None:
        if not self.open or not self.backlog:
            return
        try:
            written = os.write(self.child.fileno(), self.backlog)
            self.backlog = self.backlog[written:]
        except BlockingIOError:
            pass
        except OSError:
            self.backlog = b""
            self.close_child()

    def close_child(self) -> None:
        if self.open:
            self.open = False
            with contextlib.suppress(OSError):
                self.child.close()


def run(spec: dict[str, Any]) -> int:
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda *_: None)  # a handler, not SIG_IGN: exec resets it for the child
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
    signal.signal(signal.SIGCHLD, lambda *_: None)

    n = int(spec["restartCount"])
    cdir = Path(spec["dir"])
    cgroups: list[str] = list(spec.get("cgroups") or [])
    log = LogWriter(cdir / f"{n}.log")
    fifo = cdir / "stdin" if spec.get("stdin") else None
    started = time.time()

    def join_cgroups() -> None:
        for group in cgroups:
            Path(group, "cgroup.procs").write_text(str(os.getpid()))

    try:
        child = subprocess.Popen(
            spec["argv"], env=spec["env"], cwd=spec.get("cwd") or None,
            stdin=subprocess.PIPE if fifo else subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, process_group=0,
            preexec_fn=join_cgroups if cgroups else None,  # the shim has no threads
        )
    except (OSError, subprocess.SubprocessError) as exc:
        message = f"failed to start container process: exec {spec['argv'][0]!r}: {exc}"
        log.feed("stderr", message.encode() + b"\n")
        log.close()
        _write_exit(cdir, n, {"exitCode": 128, "signal": None, "reason": "StartError", "message": message,
                              "startedAt": rfc3339(started), "finishedAt": rfc3339()})
        _write_state(cdir, spec, pid=0, create_time=0.0, started=started, enter=[])
        _kill_leftovers(None, cgroups)
        return 0
    create_time = psutil.Process(child.pid).create_time()
    enter = [str(child.pid) if part == "{pid}" else part for part in spec.get("enter") or []]
    _write_state(cdir, spec, pid=child.pid, create_time=create_time, started=started, enter=enter,
                 fifo=str(fifo) if fifo else None)

    selector = selectors.DefaultSelector()
    assert child.stdout is not None and child.stderr is not None
    selector.register(child.stdout, selectors.EVENT_READ, "stdout")
    selector.register(child.stderr, selectors.EVENT_READ, "stderr")
    selector.register(wake_r, selectors.EVENT_READ, "wake")
    pump = StdinPump(fifo, bool(spec.get("stdinOnce")), child.stdin) if fifo else None
    if pump:
        selector.register(pump.read_fd, selectors.EVENT_READ, "stdin")
    streams = 2
    exited_at: float | None = None
    last_stderr = b""
    while streams:
        timeout = IDLE_FLUSH if log.has_pending() or (pump and pump.backlog) else None
        if exited_at is not None:
            remaining = exited_at + DRAIN_AFTER_EXIT - time.monotonic()
            if remaining <= 0:
                break
            timeout = min(timeout or remaining, remaining)
        for key, _ in selector.select(timeout):
            if key.data == "wake":
                with contextlib.suppress(BlockingIOError):
                    os.read(wake_r, 512)
            elif key.data == "stdin":
                if pump and not pump.on_readable():
                    selector.unregister(pump.read_fd)
            else:
                try:
                    data = os.read(key.fd, CHUNK)
                except OSError:
                    data = b""
                if data:
                    log.feed(key.data, data)
                    if key.data == "stderr":
                        last_stderr = (last_stderr + data)[-4096:]
                else:
                    selector.unregister(key.fileobj)
                    streams -= 1
        if pump:
            pump.write_some()
        log.flush_idle(time.monotonic())
        if exited_at is None and child.poll() is not None:
            exited_at = time.monotonic()
    code = child.wait()
    oom = (cdir / f"{n}.oom").exists() or _cgroup_oom(cgroups)
    _kill_leftovers(child.pid, cgroups)  # what the main process left behind dies with it, as in a pid namespace
    log.close()
    term_signal = -code if code < 0 else None
    exit_code = 128 + term_signal if term_signal else code
    reason = "OOMKilled" if oom else ("Completed" if exit_code == 0 else "Error")
    if oom:
        exit_code = 137
    record: dict[str, Any] = {"exitCode": exit_code, "signal": term_signal, "reason": reason,
                              "startedAt": rfc3339(started), "finishedAt": rfc3339()}
    if code == START_ERROR_EXIT and START_ERROR_MARKER in last_stderr:
        detail = last_stderr.rsplit(START_ERROR_MARKER, 1)[1].decode(errors="replace").strip()
        record.update(exitCode=128, reason="StartError", message=f"failed to start container process: {detail}")
    _write_exit(cdir, n, record)
    return 0


def _write_exit(cdir: Path, n: int, record: dict[str, Any]) -> None:
    write_atomic(cdir / f"{n}.exit", json.dumps(record).encode(), 0o644)


def _write_state(cdir: Path, spec: dict[str, Any], *, pid: int, create_time: float, started: float,
                 enter: list[str], fifo: str | None = None) -> None:
    me = psutil.Process()
    state = {
        "pid": pid, "pgid": pid, "createTime": create_time, "restartCount": int(spec["restartCount"]),
        "startedAt": rfc3339(started), "argv": spec["argv"], "env": spec["env"], "cwd": spec.get("cwd"),
        "enter": enter, "stdin": fifo,
        "podUid": spec.get("podUid"), "name": spec.get("name"), "shimPid": me.pid,
        "shimCreateTime": me.create_time(), "memoryLimit": spec.get("memoryLimit"),
        "cpuLimit": spec.get("cpuLimit"), "cgroups": spec.get("cgroups") or [],
    }
    write_atomic(cdir / "state.json", json.dumps(state).encode(), 0o600)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m kubeserve.node.kubelet.shim <launch.json>", file=sys.stderr)
        return 2
    return run(json.loads(Path(argv[0]).read_text()))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
