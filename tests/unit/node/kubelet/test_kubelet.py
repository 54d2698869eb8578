"""The pod worker against the real API server in process, with a simulated ProcessManager and ImageCatalog:
pods go Running and Ready, crashing containers back off, graceful deletion ends with the pod gone, device
and IP allocation reach the container, adoption never starts a second copy."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path

import pytest

from kubeserve.client import EventRecorder
from kubeserve.node.kubelet.kubelet import Kubelet, KubeletSettings
from unit.node.inproc_api import eventually
from unit.node.kubelet.kubelet_world import NODE, Obj, condition, container, phase_is, state_of, world


async def test_bound_pod_goes_running_and_ready(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        await w.create("web", container())

        async def ready() -> Obj | None:
            pod = await w.pod("web")
            return pod if condition(pod, "Ready") == "True" else None

        pod = await eventually(ready)
        status = pod["status"]
        assert status["phase"] == "Running"
        assert status["podIP"] == "127.10.0.2"
        assert status["hostIP"] == "127.0.0.1"
        assert state_of(pod)["state"]["running"]["startedAt"]
        assert state_of(pod)["containerID"] == f"kubeserve://{pod['metadata']['uid']}/main/0"
        assert condition(pod, "PodReadyToStartContainers") == "True"
        events = await w.events()
        assert ("Pulling", 'Pulling image "busybox"') in events
        assert any(r == "Pulled" and m.startswith('Successfully pulled image "busybox" in ') for r, m in events)
        assert ("Created", "Created container main") in events
        assert ("Started", "Started container main") in events
        assert w.kubelet.pod_usage("default", "web") == {"main": (5_000_000, 1024)}
        # status is written only when it changes: a steady pod's resourceVersion stands still
        await asyncio.sleep(0.3)
        before = (await w.pod("web") or {})["metadata"]["resourceVersion"]
        await asyncio.sleep(0.3)
        assert (await w.pod("web") or {})["metadata"]["resourceVersion"] == before

        # a second pod gets the next address
        await w.create("web2", container())
        pod2 = await eventually(lambda: phase_is(w, "web2", "Running"))
        assert pod2["status"]["podIP"] == "127.10.0.3"


async def test_crashing_container_backs_off_and_restarts(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        await w.create("crash", container("main", "crash"))
        seen: set[str] = set()

        async def restarted_twice() -> Obj | None:
            pod = await w.pod("crash")
            st = state_of(pod)
            seen.update(st.get("state", {}).get("waiting", {}).get("reason", "") for _ in [0])
            return pod if st.get("restartCount", 0) >= 2 and "CrashLoopBackOff" in seen else None

        pod = await eventually(restarted_twice, timeout=10)
        st = state_of(pod)
        assert st["lastState"]["terminated"]["exitCode"] == 1
        assert st["lastState"]["terminated"]["reason"] == "Error"
        assert pod["status"]["phase"] == "Running"
        runs = [n for (_, name, n, _) in w.processes.launches if name == "main"]
        assert runs[:3] == [0, 1, 2]  # each run has its own number (log file) for `logs --previous`
        assert any(r == "BackOff" for r, _ in await w.events())


async def test_crash_with_never_policy_fails_the_pod(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        await w.create("once", container("main", "crash"), restartPolicy="Never")
        pod = await eventually(lambda: phase_is(w, "once", "Failed"))
        assert state_of(pod)["state"]["terminated"]["exitCode"] == 1
        assert len(w.processes.launches) == 1


async def test_init_containers_run_first_in_order(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        init = [{"name": "first", "image": "busybox", "command": ["crash"]}]
        await w.create("init", container(), initContainers=init, restartPolicy="Never")
        pod = await eventually(lambda: phase_is(w, "init", "Failed"))
        assert pod["status"]["initContainerStatuses"][0]["state"]["terminated"]["exitCode"] == 1
        assert state_of(pod)["state"] == {"waiting": {"reason": "PodInitializing"}}
        assert [name for (_, name, _, _) in w.processes.launches] == ["first"]


async def test_graceful_deletion_stops_then_deletes(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        await w.create("gone", container(), terminationGracePeriodSeconds=7)
        pod = await eventually(lambda: phase_is(w, "gone", "Running"))
        await w.client.delete(w.client.kind("v1", "Pod"), "default", "gone")

        async def deleted() -> bool:
            return await w.pod("gone") is None

        await eventually(deleted)
        # the grace period is 7 s; its first second is the drain before SIGTERM (KubeletSettings)
        [(name, grace)] = w.processes.stops
        assert name == "main" and 5.5 < grace <= 7.0 - w.kubelet.settings.termination_drain
        assert not w.processes.alive
        assert ("Killing", "Stopping container main") in await w.events()
        assert not (w.settings.pods_dir / pod["metadata"]["uid"]).exists()


async def test_image_pull_failure_backs_off(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        await w.create("nope", {"name": "main", "image": "missing/thing:1"})

        async def reason() -> str:
            return str(state_of(await w.pod("nope")).get("state", {}).get("waiting", {}).get("reason", ""))

        await eventually(lambda: _is(reason, "ErrImagePull"))
        await eventually(lambda: _is(reason, "ImagePullBackOff"), timeout=5)
        assert any(r == "Failed" and "missing/thing:1" in m for r, m in await w.events())
        assert not w.processes.launches


async def _is(get: Callable[[], Awaitable[str]], want: str) -> bool:
    return await get() == want


async def test_gpus_reach_the_container_and_shortage_fails_admission(tmp_path: Path) -> None:
    async with world(tmp_path, inventory={"nvidia.com/gpu": ("0", "1")}) as w:
        gpu = {"limits": {"nvidia.com/gpu": 1}}
        await w.create("a", container(resources=gpu))
        await w.create("b", container(resources=gpu))
        await eventually(lambda: phase_is(w, "a", "Running"))
        await eventually(lambda: phase_is(w, "b", "Running"))
        visible = sorted(launch.env["CUDA_VISIBLE_DEVICES"] for (*_, launch) in w.processes.launches)
        assert visible == ["0", "1"]
        await w.create("c", container(resources=gpu))
        pod = await eventually(lambda: phase_is(w, "c", "Failed"))
        assert pod["status"]["reason"] == "UnexpectedAdmissionError"


async def test_restarted_kubelet_adopts_instead_of_starting_again(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        await w.create("keep", container())
        await eventually(lambda: phase_is(w, "keep", "Running"))
        await w.kubelet.stop(kill=False)
        assert w.processes.alive  # left running for the next kubelet
        again = Kubelet(w.client, w.settings, w.processes, w.images,  # type: ignore[arg-type]
                        EventRecorder(w.client, "kubelet", NODE))
        await again.start()
        try:
            await eventually(lambda: phase_is(w, "keep", "Running"))
            assert len(w.processes.launches) == 1  # FakeProcesses.start asserts no second copy, too
            assert again.pod_usage("default", "keep")
        finally:
            await again.stop(kill=True)
        assert not w.processes.alive


async def test_stop_kill_stops_everything(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        await w.create("x", container(), terminationGracePeriodSeconds=60)
        await eventually(lambda: phase_is(w, "x", "Running"))
        await w.kubelet.stop(kill=True)
        assert not w.processes.alive
        assert w.processes.stops == [("main", w.settings.shutdown_grace)]


async def test_liveness_failure_restarts_and_readiness_gates_ready(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        live = {"exec": {"command": ["fail"]}, "periodSeconds": 1, "failureThreshold": 1}
        ready = {"exec": {"command": ["fail"]}, "periodSeconds": 1}
        await w.create("sick", container(livenessProbe=live, readinessProbe=ready))

        async def restarted() -> Obj | None:
            pod = await w.pod("sick")
            return pod if state_of(pod).get("restartCount", 0) >= 1 else None

        pod = await eventually(restarted, timeout=5)
        assert condition(pod, "Ready") == "False"
        assert state_of(pod)["lastState"]["terminated"]["exitCode"] == 143
        events = await w.events()
        assert ("Killing", "Container main failed liveness probe, will be restarted") in events
        assert ("Unhealthy", "Liveness probe failed: not ok") in events


async def test_a_slow_server_is_ready_long_before_its_readiness_period(tmp_path: Path) -> None:
    """KServe's default probe has periodSeconds 10: until the first success the kubelet probes every
    FAST_UNTIL_READY instead, so a model server that finishes loading joins its Service at once; the failed
    tries before that become at most one Event per declared period."""
    async with world(tmp_path) as w:
        probe = {"exec": {"command": ["fail-times", "4"]}, "periodSeconds": 10}
        started = asyncio.get_running_loop().time()
        await w.create("slow", container(readinessProbe=probe))

        async def ready() -> Obj | None:
            pod = await w.pod("slow")
            return pod if condition(pod, "Ready") == "True" else None

        await eventually(ready, timeout=5)
        assert asyncio.get_running_loop().time() - started < 9  # not a whole period
        runs = len(w.processes.probe_runs)
        await asyncio.sleep(0.8)
        assert len(w.processes.probe_runs) == runs  # once ready, back to every periodSeconds
        events = await w.events()
        assert [m for r, m in events if r == "Unhealthy"] == ["Readiness probe failed: not yet"]


def test_settings_backoff_policy() -> None:
    settings = KubeletSettings(node_name="n", pods_dir=Path("/tmp/x"))
    assert settings.backoff.base == 10.0
    assert replace(settings, backoff_base=1.0).backoff.base == 1.0


pytestmark = pytest.mark.filterwarnings("error")


async def test_unexpected_pull_exception_reads_err_image_pull_and_backs_off(tmp_path: Path) -> None:
    async with world(tmp_path, backoff_base=5.0) as w:
        await w.create("full", {"name": "main", "image": "broken/thing:1"})

        async def waiting() -> Obj | None:
            st = state_of(await w.pod("full")).get("state", {}).get("waiting", {})
            return st if st.get("reason") in ("ErrImagePull", "ImagePullBackOff") else None

        st = await eventually(waiting)
        assert "No space left on device" in st["message"]
        await asyncio.sleep(0.3)
        assert w.images.pulls == ["broken/thing:1"]  # backed off (5 s here), no retry in a hot loop
        assert any(r == "Failed" and "No space left on device" in m for r, m in await w.events())


async def test_second_shorter_delete_moves_the_deadline(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        pods = w.client.kind("v1", "Pod")
        await w.create("slow", container("main", "stubborn"), terminationGracePeriodSeconds=20)
        await eventually(lambda: phase_is(w, "slow", "Running"))
        await w.client.delete(pods, "default", "slow")  # 20 s; the process ignores SIGTERM
        await asyncio.sleep(0.3)  # within the 1 s drain before SIGTERM
        loop = asyncio.get_running_loop()
        began = loop.time()
        await w.client.delete(pods, "default", "slow", grace_period_seconds=1)

        async def deleted() -> bool:
            return await w.pod("slow") is None

        await eventually(deleted, timeout=4)
        assert loop.time() - began < 2.5  # the drain shrank to 0.5 s, SIGKILL came 1 s after the second delete
        assert w.processes.exits[next(iter(w.processes.stubborn))].exit_code == 137
        assert min(grace for _, grace in w.processes.stops) <= 0.5


async def test_second_delete_after_sigterm_kills_by_the_new_deadline(tmp_path: Path) -> None:
    async with world(tmp_path, termination_drain=0.1) as w:
        pods = w.client.kind("v1", "Pod")
        await w.create("slow", container("main", "stubborn"), terminationGracePeriodSeconds=20)
        await eventually(lambda: phase_is(w, "slow", "Running"))
        await w.client.delete(pods, "default", "slow")

        async def stopping() -> bool:
            return bool(w.processes.stops)

        await eventually(stopping, timeout=2)  # SIGTERM sent, SIGKILL due in ~20 s
        loop = asyncio.get_running_loop()
        began = loop.time()
        await w.client.delete(pods, "default", "slow", grace_period_seconds=1)

        async def deleted() -> bool:
            return await w.pod("slow") is None

        await eventually(deleted, timeout=4)
        assert loop.time() - began < 2.5
        assert [round(g) for _, g in w.processes.stops] == [20, 1]
