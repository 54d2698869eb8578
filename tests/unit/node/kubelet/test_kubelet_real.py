"""The pod worker with the real primitives (ProcessManager, ImageCatalog, sandbox, launch, probes) running
`sh -c` containers as local process trees: Running and Ready with an exec readiness probe, a crashing
container restarting with its exit code in lastState, and graceful deletion killing the process tree."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from kubeserve.client import ApiClient, EventRecorder
from kubeserve.node.kubelet.images import ImageCatalog
from kubeserve.node.kubelet.kubelet import Kubelet, KubeletSettings
from kubeserve.node.kubelet.process import ProcessManager
from unit.node.inproc_api import api_client, eventually

Obj = dict[str, Any]
NODE = "node-1"

pytestmark = pytest.mark.skipif(shutil.which("sh") is None, reason="needs sh")


@contextlib.asynccontextmanager
async def running_kubelet(tmp_path: Path) -> AsyncIterator[tuple[ApiClient, ProcessManager]]:
    async with api_client() as client:
        pods = tmp_path / "pods"
        settings = KubeletSettings(node_name=NODE, pods_dir=pods, sync_period=0.1, backoff_base=0.2,
                                   isolation="path-rewrite", shutdown_grace=2.0)
        processes = ProcessManager(pods, memory_enforcement="rss")
        images = ImageCatalog(tmp_path / "images", None)
        kubelet = Kubelet(client, settings, processes, images, EventRecorder(client, "kubelet", NODE))
        await kubelet.start()
        try:
            yield client, processes
        finally:
            await kubelet.stop(kill=True)


def pod(name: str, script: str, **container: Any) -> Obj:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"nodeName": NODE, "terminationGracePeriodSeconds": 1,
                     "containers": [{"name": "main", "image": "busybox", "command": ["sh", "-c", script],
                                     **container}]}}


async def get(client: ApiClient, name: str) -> Obj | None:
    return await client.get_or_none(client.kind("v1", "Pod"), "default", name)


def main_status(p: Obj | None) -> Obj:
    statuses = ((p or {}).get("status") or {}).get("containerStatuses") or [{}]
    return dict(statuses[0])


async def test_real_containers(tmp_path: Path) -> None:
    async with running_kubelet(tmp_path) as (client, processes):
        kind = client.kind("v1", "Pod")
        probe = {"exec": {"command": ["sh", "-c", "test -n \"$KUBESERVE_POD_IP\""]}, "periodSeconds": 1}
        await client.create(kind, "default", pod("web", "echo hello; exec sleep 60", readinessProbe=probe))
        await client.create(kind, "default", pod("crash", "exit 3"))

        async def ready() -> Obj | None:
            p = await get(client, "web")
            return p if main_status(p).get("ready") else None

        web = await eventually(ready, timeout=15)
        assert web["status"]["phase"] == "Running"
        uid = web["metadata"]["uid"]
        log = tmp_path / "pods" / uid / "containers" / "main" / "0.log"
        assert "hello" in log.read_text()
        pid = next(rc.pid for rc in processes.running() if rc.pod_uid == uid)

        async def crashed_twice() -> Obj | None:
            p = await get(client, "crash")
            return p if main_status(p).get("restartCount", 0) >= 2 else None

        crash = await eventually(crashed_twice, timeout=15)
        assert main_status(crash)["lastState"]["terminated"]["exitCode"] == 3

        await client.delete(kind, "default", "web")

        async def gone() -> bool:
            return await get(client, "web") is None

        await eventually(gone, timeout=15)
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
