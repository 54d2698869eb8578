"""The pod worker's test world: the real API server in process, a simulated ProcessManager and ImageCatalog,
and a Kubelet started over them (`async with world(tmp_path) as w: ...`)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kubeserve.client import ApiClient, EventRecorder
from kubeserve.node.kubelet.images import ImagePullError, PulledImage
from kubeserve.node.kubelet.kubelet import Kubelet, KubeletSettings
from kubeserve.node.kubelet.launch import Launch
from unit.node.inproc_api import api_client

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
    message: str = ""


class FakeProcesses:
    """Containers whose argv starts with "crash" exit 1 at once, "done" exit 0 at once, "oom" are OOM-killed at once,
    "stubborn" ignore SIGTERM (a stop ends them with SIGKILL when its grace is over); everything else runs until
    stopped."""

    def __init__(self) -> None:
        self.launches: list[tuple[str, str, int, Launch]] = []
        self.alive: dict[tuple[str, str], FakeRunning] = {}
        self.exits: dict[tuple[str, str, int], FakeExit] = {}
        self.stops: list[tuple[str, float]] = []
        self.killed: list[str] = []
        self.stubborn: set[tuple[str, str, int]] = set()
        self.next_pid = 1000
        self.probe_runs: list[list[str]] = []
        self.failures_left: dict[str, int] = {}

    def start(self, pod_uid: str, name: str, restart_count: int, launch: Launch,
              memory_limit: int | None, cpu_limit: float | None) -> FakeRunning:
        assert (pod_uid, name) not in self.alive, "a second copy of a running container"
        self.next_pid += 1
        rc = FakeRunning(pod_uid, name, restart_count, self.next_pid, stamp())
        self.launches.append((pod_uid, name, restart_count, launch))
        if launch.argv[:1] == ("crash",):
            self.exits[(pod_uid, name, restart_count)] = FakeExit(1, None, "Error", rc.started_at, stamp())
        elif launch.argv[:1] == ("done",):
            self.exits[(pod_uid, name, restart_count)] = FakeExit(0, None, "Completed", rc.started_at, stamp())
        elif launch.argv[:1] == ("oom",):
            self.exits[(pod_uid, name, restart_count)] = FakeExit(137, 9, "OOMKilled", rc.started_at, stamp())
        else:
            self.alive[(pod_uid, name)] = rc
            if launch.argv[:1] == ("stubborn",):
                self.stubborn.add((pod_uid, name, restart_count))
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
        """Idempotent, as ProcessManager.stop: a second stop with a shorter grace kills sooner."""
        self.stops.append((rc.name, grace_seconds))
        key = (rc.pod_uid, rc.name, rc.restart_count)
        if key in self.stubborn:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + grace_seconds
            while key not in self.exits and loop.time() < deadline:
                await asyncio.sleep(0.01)
            return self._end(rc, 137, 9)
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

    def last_run(self, pod_uid: str, name: str) -> int | None:
        runs = [n for (u, c, n, _) in self.launches if (u, c) == (pod_uid, name)]
        return max(runs) if runs else None

    async def run_in(self, rc: FakeRunning, argv: list[str], timeout: float) -> tuple[int, bytes]:
        self.probe_runs.append(argv)
        if argv[:1] == ["fail-times"]:  # fails its first N runs, then succeeds: a server that starts slowly
            left = self.failures_left.setdefault(argv[1], int(argv[1]))
            self.failures_left[argv[1]] = left - 1
            return (1, b"not yet") if left > 0 else (0, b"")
        return (1, b"not ok") if argv[:1] == ["fail"] else (0, b"")


class FakeImages:
    """Images named "missing/..." fail to pull with ImagePullError, "broken/..." with any other exception."""

    def __init__(self) -> None:
        self.present: set[str] = set()
        self.pulls: list[str] = []

    def is_present(self, image: str) -> bool:
        return image in self.present

    async def pull(self, image: str, progress: Callable[[str], Awaitable[None]]) -> PulledImage:
        self.pulls.append(image)
        if image.startswith("missing/"):
            raise ImagePullError(f'image "{image}" is not in the image catalog')
        if image.startswith("broken/"):
            raise OSError(28, "No space left on device")
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
        settings = KubeletSettings(**{"node_name": NODE, "pods_dir": tmp_path / "pods", "sync_period": 0.05,
                                      "backoff_base": 0.2, "resync": 5.0, **overrides})
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


async def phase_is(w: World, name: str, phase: str) -> Obj | None:
    pod = await w.pod(name)
    return pod if ((pod or {}).get("status") or {}).get("phase") == phase else None
