"""Native sidecars (init containers with restartPolicy Always, Kubernetes 1.29+) through the pod worker, with the
simulated ProcessManager of kubelet_world."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from unit.node.inproc_api import eventually
from unit.node.kubelet.kubelet_world import Obj, condition, container, phase_is, state_of, world


def sidecar(*command: str, **extra: Any) -> Obj:
    return container("proxy", *(command or ("serve",)), restartPolicy="Always", **extra)


def init_state(pod: Obj | None, name: str = "proxy") -> Obj:
    for status in ((pod or {}).get("status") or {}).get("initContainerStatuses") or []:
        if status["name"] == name:
            return dict(status)
    return {}


async def test_sidecar_runs_beside_the_main_container(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        await w.create("web", container(), initContainers=[sidecar()])

        async def ready() -> Obj | None:
            pod = await w.pod("web")
            return pod if condition(pod, "Ready") == "True" else None

        pod = await eventually(ready)
        assert pod["status"]["phase"] == "Running"
        assert condition(pod, "Initialized") == "True"
        side = init_state(pod)
        assert "running" in side["state"] and side["started"] is True and side["ready"] is True
        assert "running" in state_of(pod)["state"]
        assert [name for (_, name, _, _) in w.processes.launches] == ["proxy", "main"]


async def test_startup_probe_of_a_sidecar_holds_the_main_containers(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        never = {"exec": {"command": ["fail"]}, "periodSeconds": 1, "failureThreshold": 100}
        await w.create("held", container(), initContainers=[sidecar(startupProbe=never)])

        async def probed() -> Obj | None:
            pod = await w.pod("held")
            return pod if any(r == "Unhealthy" for r, _ in await w.events()) else None

        pod = await eventually(probed)
        assert pod["status"]["phase"] == "Pending"
        assert condition(pod, "Initialized") == "False"
        assert state_of(pod)["state"] == {"waiting": {"reason": "PodInitializing"}}
        assert init_state(pod)["started"] is False
        assert [name for (_, name, _, _) in w.processes.launches] == ["proxy"]

        ok = {"exec": {"command": ["ok"]}, "periodSeconds": 1}
        await w.create("passes", container(), initContainers=[sidecar(startupProbe=ok)])
        await eventually(lambda: phase_is(w, "passes", "Running"))


async def test_sidecar_restarts_whatever_the_pod_policy(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        await w.create("flaky", container(), initContainers=[sidecar("crash")], restartPolicy="Never")

        async def restarted() -> Obj | None:
            pod = await w.pod("flaky")
            return pod if init_state(pod).get("restartCount", 0) >= 2 else None

        pod = await eventually(restarted, timeout=5)
        assert pod["status"]["phase"] == "Running"
        assert "running" in state_of(pod)["state"]
        assert [name for (_, name, _, _) in w.processes.launches].count("main") == 1


async def test_pod_succeeds_when_main_containers_do_and_sidecars_are_stopped(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        init = [container("setup", "done"), sidecar()]
        await w.create("job", container("main", "done"), initContainers=init, restartPolicy="Never")
        pod = await eventually(lambda: phase_is(w, "job", "Succeeded"))
        assert ("proxy", 30.0) in w.processes.stops  # stopped with the pod's grace period
        assert not w.processes.alive
        assert "terminated" in init_state(pod)["state"]
        assert state_of(pod)["state"]["terminated"]["reason"] == "Completed"
        assert [name for (_, name, _, _) in w.processes.launches] == ["setup", "proxy", "main"]
        assert ("Killing", "Stopping container proxy") in await w.events()
