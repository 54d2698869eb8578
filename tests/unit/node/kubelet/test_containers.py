"""ContainerRunner driven directly (no API server): what it refuses before anything reaches the file system."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

from kubeserve.client import Key
from kubeserve.node.kubelet import restarts
from kubeserve.node.kubelet.containers import ContainerRunner, container_view
from kubeserve.node.kubelet.podstate import PodState
from kubeserve.node.kubelet.pulls import ImagePuller
from kubeserve.node.kubelet.sandbox import Lookups, Sandbox
from unit.node.kubelet.kubelet_world import FakeImages, FakeProcesses, Obj


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    async def record(self, ref: Obj, kind: str, reason: str, message: str) -> None:
        self.events.append((reason, message))


def runner(processes: FakeProcesses, images: FakeImages, recorder: Recorder,
           tasks: list[asyncio.Task[Any]]) -> ContainerRunner:
    def spawn(coro: Awaitable[Any], key: Key | None = None) -> asyncio.Task[Any]:
        tasks.append(asyncio.ensure_future(coro))
        return tasks[-1]

    policy = restarts.BackOffPolicy(base=1.0)
    lookups = Lookups(secret=lambda ns, n: None, config_map=lambda ns, n: None, pvc_path=lambda ns, n: None,
                      services=list)
    puller = ImagePuller(images, recorder, policy, 10.0, spawn)  # type: ignore[arg-type]
    return ContainerRunner(processes, recorder, puller, lookups, policy, spawn, lambda key: None)  # type: ignore[arg-type]


async def test_container_name_that_is_not_a_label_is_a_config_error(tmp_path: Path) -> None:
    processes, images, recorder = FakeProcesses(), FakeImages(), Recorder()
    tasks: list[asyncio.Task[Any]] = []
    images.present.add("present")
    spec = {"name": "../../../etc", "image": "busybox", "command": ["serve"]}
    pod = {"metadata": {"name": "p", "namespace": "default", "uid": "u1"},
           "spec": {"containers": [{"name": "ok", "image": "present"}, spec]}}
    ps = PodState(uid="u1", namespace="default", name="p")
    ps.sandbox = Sandbox(pod_dir=tmp_path / "u1", ip="127.10.0.2", isolation="path-rewrite", volumes={})
    try:
        await runner(processes, images, recorder, tasks).run(pod, ps, 0.0, [])
        view = container_view(ps, spec, 0.0)
        assert view.waiting is not None and view.waiting[0] == "CreateContainerConfigError"
        assert view.waiting[1].startswith('spec.containers[1].name: Invalid value: "../../../etc": a lowercase')
        assert any(r == "Failed" and "spec.containers[1].name" in m for r, m in recorder.events)
        await asyncio.gather(*tasks)
        assert images.pulls == ["present"]  # the valid container's image only: the other never got that far
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
