"""The pod worker against the real API server in process, with a simulated ProcessManager and ImageCatalog:
pods go Running and Ready, crashing containers back off, graceful deletion ends with the pod gone, device
and IP allocation reach the container, adoption never starts a second copy."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from kubeserve.client import ApiClient, EventRecorder
from kubeserve.node.kubelet.images import ImagePullError, PulledImage
from kubeserve.node.kubelet.kubelet import Kubelet, KubeletSettings
from kubeserve.node.kubelet.launch import Launch
from unit.node.inproc_api import api_client, eventually

Obj = dict[str, Any]
NODE = "node-1"


def stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class FakeRunning:
    pod_uid: str
    name: str
    restart_count: int
    pid: int
    started_at: str


@dataclass(frozen=True)
class FakeExit:
    exit_code: int
    signal: int | None
    reason: str
    started_at: str
    finished_at: str


class FakeProcesses:
    """Containers whose argv starts with "crash" exit 1 at once; everything else runs until stopped."""

    def __init__(self) -> None:
        self.launches: list[tuple[str, str, int, Launch]] = []
        self.alive: dict[tuple[str, str], FakeRunning] = {}
        self.exits: dict[tuple[str, str, int], FakeExit] = {}
        self.stops: list[tuple[str, float]] = []
        self.killed: list[str] = []
        self.next_pid = 1000

    def start(self, pod_uid: str, name: str, restart_count: int, launch: Launch,
              memory_limit: int | None, cpu_limit: float | None) -> FakeRunning:
        assert (pod_uid, name) not in self.alive, "a second copy of a running container"
        self.next_pid += 1
        rc = FakeRunning(pod_uid, name, restart_count, self.next_pid, stamp())
        self.launches.append((pod_uid, name, restart_count, launch))
        if launch.argv[:1] == ("crash",):
            self.exits[(pod_uid, name, restart_count)] = FakeExit(1, None, "Error", rc.started_at, stamp())
        else:
            self.alive[(pod_uid, name)] = rc
        return rc

    def adopt(self, pod_uid: str, name: str) -> FakeRunning | None:
        return self.alive.get((pod_uid, name))

    def exit_status(self, rc: FakeRunning) -> FakeExit | None:
        return self.exits.get((rc.pod_uid, rc.name, rc.restart_count))

    def _end(self, rc: FakeRunning, code: int, signal: int) -> FakeExit:
        self.alive.pop((rc.pod_uid, rc.name), None)
        ended = FakeExit(code, signal, "Error", rc.started_at, stamp())
        return self.exits.setdefault((rc.pod_uid, rc.name, rc.restart_count), ended)

    async def stop(self, rc: FakeRunning, grace_seconds: float) -> FakeExit:
        self.stops.append((rc.name, grace_seconds))
        return self._end(rc, 143, 15)

    def kill_all(self, pod_uid: str) -> None:
        for rc in [rc for rc in self.alive.values() if rc.pod_uid == pod_uid]:
            self.killed.append(rc.name)
            self._end(rc, 137, 9)

    def enforce_limits(self) -> list[FakeRunning]:
        return []

    def usage(self, rc: FakeRunning) -> tuple[int, int]:
        return 5_000_000, 1024

    def running(self) -> list[FakeRunning]:
        return list(self.alive.values())

    def last_exit(self, pod_uid: str, name: str) -> FakeExit | None:
        runs = sorted(n for (u, c, n) in self.exits if (u, c) == (pod_uid, name))
        return self.exits[(pod_uid, name, runs[-1])] if runs else None

    async def run_in(self, rc: FakeRunning, argv: list[str], timeout: float) -> tuple[int, bytes]:
        return (1, b"not ok") if argv[:1] == ["fail"] else (0, b"")


class FakeImages:
    def __init__(self) -> None:
        self.present: set[str] = set()

    def is_present(self, image: str) -> bool:
        return image in self.present

    async def pull(self, image: str, progress: Callable[[str], Awaitable[None]]) -> PulledImage:
        if image.startswith("missing/"):
            raise ImagePullError(f'image "{image}" is not in the image catalog')
        await progress("preparing")
        self.present.add(image)
        return PulledImage(image=image, entrypoint=(), cmd=(), env={}, workdir=None)


@dataclass
class World:
    client: ApiClient
    processes: FakeProcesses
    images: FakeImages
    settings: KubeletSettings
    kubelet: Kubelet

    async def pod(self, name: str) -> Obj | None:
        return await self.client.get_or_none(self.client.kind("v1", "Pod"), "default", name)

    async def create(self, name: str, *containers: Obj, **spec: Any) -> Obj:
        body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
                "spec": {"nodeName": NODE, "containers": list(containers), **spec}}
        return await self.client.create(self.client.kind("v1", "Pod"), "default", body)

    async def events(self) -> list[tuple[str, str]]:
        items, _ = await self.client.list(self.client.kind("v1", "Event"), "default")
        return [(e["reason"], e["message"]) for e in items]


def container(name: str = "main", *command: str, **extra: Any) -> Obj:
    return {"name": name, "image": "busybox", "command": list(command or ("serve",)), **extra}


@contextlib.asynccontextmanager
async def world(tmp_path: Path, **overrides: Any) -> AsyncIterator[World]:
    async with api_client() as client:
        settings = KubeletSettings(node_name=NODE, pods_dir=tmp_path / "pods", sync_period=0.05,
                                   backoff_base=0.2, resync=5.0, **overrides)
        processes, images = FakeProcesses(), FakeImages()
        kubelet = Kubelet(client, settings, processes, images, EventRecorder(client, "kubelet", NODE))  # type: ignore[arg-type]
        await kubelet.start()
        try:
            yield World(client, processes, images, settings, kubelet)
        finally:
            await kubelet.stop(kill=True)


def state_of(pod: Obj | None, name: str = "main") -> Obj:
    for status in ((pod or {}).get("status") or {}).get("containerStatuses") or []:
        if status["name"] == name:
            return dict(status)
    return {}


def condition(pod: Obj | None, kind: str) -> str:
    for c in ((pod or {}).get("status") or {}).get("conditions") or []:
        if c["type"] == kind:
            return str(c["status"])
    return ""


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
        pod2 = await eventually(lambda: _phase(w, "web2", "Running"))
        assert pod2["status"]["podIP"] == "127.10.0.3"


async def _phase(w: World, name: str, phase: str) -> Obj | None:
    pod = await w.pod(name)
    return pod if ((pod or {}).get("status") or {}).get("phase") == phase else None


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
        pod = await eventually(lambda: _phase(w, "once", "Failed"))
        assert state_of(pod)["state"]["terminated"]["exitCode"] == 1
        assert len(w.processes.launches) == 1


async def test_init_containers_run_first_in_order(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        init = [{"name": "first", "image": "busybox", "command": ["crash"]}]
        await w.create("init", container(), initContainers=init, restartPolicy="Never")
        pod = await eventually(lambda: _phase(w, "init", "Failed"))
        assert pod["status"]["initContainerStatuses"][0]["state"]["terminated"]["exitCode"] == 1
        assert state_of(pod)["state"] == {"waiting": {"reason": "PodInitializing"}}
        assert [name for (_, name, _, _) in w.processes.launches] == ["first"]


async def test_graceful_deletion_stops_then_deletes(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        await w.create("gone", container(), terminationGracePeriodSeconds=7)
        pod = await eventually(lambda: _phase(w, "gone", "Running"))
        await w.client.delete(w.client.kind("v1", "Pod"), "default", "gone")

        async def deleted() -> bool:
            return await w.pod("gone") is None

        await eventually(deleted)
        assert ("main", 7.0) in w.processes.stops
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
        await eventually(lambda: _phase(w, "a", "Running"))
        await eventually(lambda: _phase(w, "b", "Running"))
        visible = sorted(launch.env["CUDA_VISIBLE_DEVICES"] for (*_, launch) in w.processes.launches)
        assert visible == ["0", "1"]
        await w.create("c", container(resources=gpu))
        pod = await eventually(lambda: _phase(w, "c", "Failed"))
        assert pod["status"]["reason"] == "UnexpectedAdmissionError"


async def test_restarted_kubelet_adopts_instead_of_starting_again(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        await w.create("keep", container())
        await eventually(lambda: _phase(w, "keep", "Running"))
        await w.kubelet.stop(kill=False)
        assert w.processes.alive  # left running for the next kubelet
        again = Kubelet(w.client, w.settings, w.processes, w.images,  # type: ignore[arg-type]
                        EventRecorder(w.client, "kubelet", NODE))
        await again.start()
        try:
            await eventually(lambda: _phase(w, "keep", "Running"))
            assert len(w.processes.launches) == 1  # FakeProcesses.start asserts no second copy, too
            assert again.pod_usage("default", "keep")
        finally:
            await again.stop(kill=True)
        assert not w.processes.alive


async def test_stop_kill_stops_everything(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        await w.create("x", container(), terminationGracePeriodSeconds=60)
        await eventually(lambda: _phase(w, "x", "Running"))
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


def test_settings_backoff_policy() -> None:
    settings = KubeletSettings(node_name="n", pods_dir=Path("/tmp/x"))
    assert settings.backoff.base == 10.0
    assert replace(settings, backoff_base=1.0).backoff.base == 1.0


pytestmark = pytest.mark.filterwarnings("error")
