"""Real processes on this machine: the shim and the ProcessManager (logs, exits, stop, adopt, limits, exec)."""

from __future__ import annotations

import asyncio
import os
import re
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from kubeserve.node.kubelet.images import PulledImage
from kubeserve.node.kubelet.launch import Launch, build_launch
from kubeserve.node.kubelet.process import ExitStatus, ProcessError, ProcessManager, RunningContainer
from kubeserve.node.kubelet.sandbox import Lookups, detect_isolation, prepare_sandbox

ENV = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
CRI_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z (stdout|stderr) ([FP]) (.*)$")


def launch(*argv: str, stdin: bool = False, env: dict[str, str] | None = None) -> Launch:
    return Launch(argv=argv, env={**ENV, **(env or {})}, cwd=None, stdin=stdin, enter=())


@pytest.fixture
async def pm(tmp_path: Path) -> AsyncIterator[ProcessManager]:
    manager = ProcessManager(tmp_path)
    yield manager
    for rc in manager.running():
        await manager.stop(rc, 0)


async def eventually(check: Callable[[], object], timeout: float = 5.0) -> object:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


async def wait_exit(pm: ProcessManager, rc: RunningContainer, timeout: float = 5.0) -> ExitStatus:
    status = await eventually(lambda: pm.exit_status(rc), timeout)
    assert isinstance(status, ExitStatus)
    return status


def log_lines(pm: ProcessManager, rc: RunningContainer) -> list[tuple[str, str, str]]:
    path = pm.container_dir(rc.pod_uid, rc.name) / f"{rc.restart_count}.log"
    out = []
    for line in path.read_text().splitlines() if path.exists() else []:
        match = CRI_LINE.match(line)
        assert match, line
        out.append((match.group(1), match.group(2), match.group(3)))
    return out


async def test_logs_state_and_graceful_stop(pm: ProcessManager) -> None:
    rc = pm.start("pod1", "c", 0, launch("sh", "-c", "echo hi; echo oops >&2; printf part; sleep 30"), None, None)
    assert rc.pid > 0 and os.getpgid(rc.pid) == rc.pid
    await eventually(lambda: ("stdout", "P", "part") in log_lines(pm, rc))
    assert ("stdout", "F", "hi") in log_lines(pm, rc)
    assert ("stderr", "F", "oops") in log_lines(pm, rc)
    assert pm.exit_status(rc) is None
    assert [r.pid for r in pm.running()] == [rc.pid]
    _, memory = pm.usage(rc)
    assert memory > 0
    started = time.monotonic()
    status = await pm.stop(rc, 5)
    assert time.monotonic() - started < 2
    assert (status.exit_code, status.signal, status.reason) == (143, 15, "Error")
    assert pm.last_exit("pod1", "c") == status
    assert pm.running() == []


@pytest.mark.parametrize(("script", "code", "reason"), [("true", 0, "Completed"), ("exit 3", 3, "Error")])
async def test_exit_codes(pm: ProcessManager, script: str, code: int, reason: str) -> None:
    rc = pm.start("pod2", "c", 1, launch("sh", "-c", script), None, None)
    status = await wait_exit(pm, rc)
    assert (status.exit_code, status.reason) == (code, reason)
    assert (pm.container_dir("pod2", "c") / "1.exit").exists()


async def test_missing_command_is_a_start_error(pm: ProcessManager) -> None:
    rc = pm.start("pod3", "c", 0, launch("/no/such/program"), None, None)
    status = await wait_exit(pm, rc)
    assert (status.exit_code, status.reason) == (128, "StartError")
    assert "/no/such/program" in status.message


async def test_sigkill_after_grace_for_a_process_that_ignores_term(pm: ProcessManager) -> None:
    rc = pm.start("pod4", "c", 0, launch("sh", "-c", "trap '' TERM; echo ready; sleep 30"), None, None)
    await eventually(lambda: ("stdout", "F", "ready") in log_lines(pm, rc))
    started = time.monotonic()
    status = await pm.stop(rc, 0.5)
    assert 0.4 < time.monotonic() - started < 3
    assert (status.exit_code, status.signal) == (137, 9)


async def test_adopt_from_a_new_manager(tmp_path: Path, pm: ProcessManager) -> None:
    rc = pm.start("pod5", "c", 2, launch("sleep", "30"), None, None)
    other = ProcessManager(tmp_path)
    adopted = other.adopt("pod5", "c")
    assert adopted is not None
    assert (adopted.pid, adopted.restart_count, adopted.create_time) == (rc.pid, 2, rc.create_time)
    assert other.exit_status(adopted) is None
    assert [r.pid for r in other.running()] == [rc.pid]
    status = await other.stop(adopted, 2)
    assert status.signal == 15
    assert ProcessManager(tmp_path).adopt("pod5", "c") is None
    assert other.adopt("nope", "c") is None


async def test_kill_all_kills_the_tree(pm: ProcessManager) -> None:
    rc = pm.start("pod6", "c", 0, launch("sh", "-c", "sleep 30 & sleep 30 & wait"), None, None)
    await asyncio.sleep(0.2)
    import psutil

    children = psutil.Process(rc.pid).children(recursive=True)
    assert len(children) == 2
    pm.kill_all("pod6")
    status = await wait_exit(pm, rc)
    assert status.exit_code == 137
    await eventually(lambda: not any(c.is_running() and c.status() != psutil.STATUS_ZOMBIE for c in children))


ALLOC = "import time; b = b'x' * (200 << 20); print('allocated', flush=True); time.sleep(30)"


async def test_memory_limit_kills_with_oomkilled(pm: ProcessManager) -> None:
    rc = pm.start("pod7", "c", 0, launch(sys.executable, "-c", ALLOC), 50 << 20, None)
    deadline = time.monotonic() + 8
    while (status := pm.exit_status(rc)) is None and time.monotonic() < deadline:
        pm.enforce_limits()  # a no-op where a cgroup enforces the limit
        await asyncio.sleep(0.05)
    assert status is not None
    assert (status.exit_code, status.reason) == (137, "OOMKilled")


async def test_memory_limit_by_rss_polling(tmp_path: Path) -> None:
    pm = ProcessManager(tmp_path, memory_enforcement="rss")
    rc = pm.start("pod8", "c", 0, launch(sys.executable, "-c", ALLOC), 50 << 20, None)
    assert rc.cgroups == ()
    killed = await eventually(pm.enforce_limits)
    assert killed == [rc]
    status = await wait_exit(pm, rc)
    assert (status.exit_code, status.reason) == (137, "OOMKilled")


async def test_stdin_fifo_reaches_the_container(pm: ProcessManager) -> None:
    rc = pm.start("pod9", "c", 0, launch("cat", stdin=True), None, None)
    assert rc.stdin is not None
    fd = os.open(rc.stdin, os.O_WRONLY | os.O_NONBLOCK)
    os.write(fd, b"hello through the fifo\n")
    os.close(fd)
    await eventually(lambda: ("stdout", "F", "hello through the fifo") in log_lines(pm, rc))
    assert pm.exit_status(rc) is None  # without stdinOnce stdin stays open after the writer leaves
    await pm.stop(rc, 1)


async def test_run_in_uses_the_container_env(pm: ProcessManager) -> None:
    rc = pm.start("pod10", "c", 0, launch("sleep", "30", env={"GREETING": "hello"}), None, None)
    code, output = await pm.run_in(rc, ["sh", "-c", "echo $GREETING; exit 4"], 2)
    assert (code, output) == (4, b"hello\n")
    with pytest.raises(TimeoutError):
        await pm.run_in(rc, ["sleep", "5"], 0.2)
    _, big = await pm.run_in(rc, ["sh", "-c", "head -c 100000 /dev/zero"], 2, max_output=1000)
    assert len(big) == 1000


def lookups(services: list[dict[str, Any]]) -> Lookups:
    return Lookups(secret=lambda ns, n: None, config_map=lambda ns, n: None, pvc_path=lambda ns, n: None,
                   services=lambda: services)


@pytest.mark.skipif(detect_isolation("auto") != "mount-namespace", reason="no unprivileged mount namespaces here")
async def test_mount_namespace_sees_volume_and_resolves_services(tmp_path: Path, pm: ProcessManager) -> None:
    models = tmp_path / "pvc-models"
    models.mkdir()
    (models / "config.json").write_text('{"model": "tiny"}')
    services: list[dict[str, Any]] = [{"metadata": {"name": "web", "namespace": "default"},
                                       "spec": {"clusterIP": "127.96.0.10"}}]
    script = ("cat /mnt/models/config.json; echo; getent hosts web.default.svc.cluster.local; "
              "touch /mnt/models/x || echo read-only; exec sleep 30")
    container = {"name": "c", "command": ["sh", "-c", script],
                 "volumeMounts": [{"name": "models", "mountPath": "/mnt/models", "readOnly": True}]}
    pod = {"metadata": {"name": "p", "namespace": "default", "uid": "pod11"},
           "spec": {"containers": [container], "volumes": [{"name": "hostdir", "hostPath": {"path": str(models)}},
                                                           {"name": "models", "hostPath": {"path": str(models)}}]}}
    sb = prepare_sandbox(pod, tmp_path / "pod11", "127.10.0.2", lookups(services), "mount-namespace")
    image = PulledImage(image="busybox", entrypoint=(), cmd=("sh",), env={}, workdir=None)
    rc = pm.start("pod11", "c", 0, build_launch(pod, container, image, sb, lookups(services), {}), None, None)
    await eventually(lambda: ("stdout", "F", "read-only") in log_lines(pm, rc))
    lines = [text for _, _, text in log_lines(pm, rc)]
    assert '{"model": "tiny"}' in lines
    assert any(line.startswith("127.96.0.10") and "web.default.svc.cluster.local" in line for line in lines)
    assert not (models / "x").exists()
    assert not Path("/mnt/models").exists()  # the tmpfs and the mount stayed inside the namespace
    code, output = await pm.run_in(rc, ["cat", "/mnt/models/config.json"], 2)
    assert (code, output) == (0, b'{"model": "tiny"}')
    status = await pm.stop(rc, 2)
    assert status.signal == 15


async def test_cpu_limit_becomes_a_cfs_quota_where_writable(pm: ProcessManager) -> None:
    rc = pm.start("pod12", "c", 0, launch("sleep", "30"), None, 0.5)
    quotas = [Path(g, "cpu.cfs_quota_us") for g in rc.cgroups if Path(g, "cpu.cfs_quota_us").exists()]
    quotas += [Path(g, "cpu.max") for g in rc.cgroups if Path(g, "cpu.max").exists()]
    if not quotas:
        await pm.stop(rc, 0)
        pytest.skip("no writable cpu controller here: cpu limits are not enforced")
    assert quotas[0].read_text().split()[0] == "50000"
    await pm.stop(rc, 1)
    assert not any(Path(g).exists() for g in rc.cgroups)


def _zombie(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


async def test_ended_shims_are_reaped(pm: ProcessManager) -> None:
    runs = [pm.start("pod13", "c", 0, launch("true"), None, None)]
    runs.append(pm.start("pod13", "d", 0, launch("true"), None, None))
    for rc in runs:
        await wait_exit(pm, rc)

    def reaped() -> bool:
        pm.enforce_limits()  # the kubelet's tick
        return not pm._shims  # no Popen is kept for a shim that ended

    await eventually(reaped)
    assert not any(_zombie(rc.shim_pid) for rc in runs)  # and no <defunct> child is left behind


async def test_names_that_are_not_labels_never_become_paths(tmp_path: Path, pm: ProcessManager) -> None:
    for name in ("../escape", "a/b", "UPPER", "", "x" * 64):
        with pytest.raises(ProcessError, match="DNS-1123"):
            pm.start("pod14", name, 0, launch("true"), None, None)
        assert pm.adopt("pod14", name) is None
        assert pm.last_exit("pod14", name) is None
        assert pm.last_run("pod14", name) is None
    for uid in ("..", "a/b", ""):
        with pytest.raises(ProcessError):
            pm.start(uid, "c", 0, launch("true"), None, None)
    assert not (tmp_path / "escape").exists() and not (tmp_path / "pod14").exists()


async def test_last_run_counts_logs_exits_and_state(pm: ProcessManager) -> None:
    assert pm.last_run("pod15", "c") is None
    for n in (0, 1):
        await wait_exit(pm, pm.start("pod15", "c", n, launch("true"), None, None))
    assert pm.last_run("pod15", "c") == 1
    (pm.container_dir("pod15", "c") / "4.log").write_text("")
    assert pm.last_run("pod15", "c") == 4


async def test_a_second_shorter_stop_kills_sooner(pm: ProcessManager) -> None:
    # what the kubelet relies on when a second, shorter delete arrives: stop() may be called again
    rc = pm.start("pod16", "c", 0, launch("sh", "-c", "trap '' TERM; echo ready; sleep 30"), None, None)
    await eventually(lambda: ("stdout", "F", "ready") in log_lines(pm, rc))
    first = asyncio.ensure_future(pm.stop(rc, 20))
    await asyncio.sleep(0.1)
    started = time.monotonic()
    status = await pm.stop(rc, 0.3)
    assert time.monotonic() - started < 3
    assert (status.exit_code, status.signal) == (137, 9)
    assert await asyncio.wait_for(first, 2) == status


async def test_sigterm_reaches_only_the_main_process_and_its_leftovers_die(tmp_path: Path,
                                                                          pm: ProcessManager) -> None:
    """As a runtime signals PID 1: a server that shuts its workers down itself (vLLM's API server and engine)
    must not have them killed under it by a signal to the whole group; what it leaves behind dies with it."""
    marker = tmp_path / "child-was-terminated"
    script = (f"(trap 'touch {marker}; exit 0' TERM; while true; do sleep 0.05; done) & "
              "trap 'echo main-term; exit 0' TERM; echo ready; wait")
    rc = pm.start("pod-term", "c", 0, launch("sh", "-c", script), None, None)
    await eventually(lambda: ("stdout", "F", "ready") in log_lines(pm, rc))
    import psutil

    children = psutil.Process(rc.pid).children(recursive=True)
    assert children
    status = await pm.stop(rc, 5)
    assert status.exit_code == 0 and ("stdout", "F", "main-term") in log_lines(pm, rc)
    await eventually(lambda: not any(c.is_running() and c.status() != psutil.STATUS_ZOMBIE for c in children))
    assert not marker.exists()  # the child was never sent SIGTERM: it was killed as a leftover
