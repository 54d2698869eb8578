"""The pod worker and its volumes, against the real API server in process: an emptyDir over its sizeLimit
evicts the pod (disk and memory medium), Secret and ConfigMap changes reach running pods' volumes, and an
OOM-killed container leaves a Warning Event that names its limit."""

from __future__ import annotations

import asyncio
import base64
import os
import shutil
from pathlib import Path

import pytest

from kubeserve.node.kubelet.containers import oom_event
from kubeserve.node.kubelet.sandbox import SHM_ROOT, shm_dir
from unit.node.inproc_api import eventually
from unit.node.kubelet.kubelet_world import Obj, World, container, phase_is, state_of, world

MI = 1024 * 1024


def volume_dir(w: World, pod: Obj, name: str, medium: str) -> Path:
    uid = pod["metadata"]["uid"]
    if medium == "Memory" and os.access(SHM_ROOT, os.W_OK):
        return shm_dir(uid) / name
    return w.settings.pods_dir / uid / "volumes" / name


@pytest.mark.parametrize("medium", ["", "Memory"])
async def test_empty_dir_over_its_size_limit_evicts_the_pod(tmp_path: Path, medium: str) -> None:
    async with world(tmp_path, volume_check_period=0.05) as w:
        volumes = [{"name": "cache", "emptyDir": {"sizeLimit": "1Mi", **({"medium": medium} if medium else {})}}]
        mounts = [{"name": "cache", "mountPath": "/cache"}]
        pod = await w.create("big", container(volumeMounts=mounts), volumes=volumes)
        pod = await eventually(lambda: phase_is(w, "big", "Running"))
        cache = volume_dir(w, pod, "cache", medium)
        try:
            (cache / "half").write_bytes(os.urandom(MI // 2))
            await asyncio.sleep(0.3)  # several checks: within the limit nothing happens
            assert (await w.pod("big") or {})["status"]["phase"] == "Running"

            (cache / "more").write_bytes(os.urandom(MI))
            pod = await eventually(lambda: phase_is(w, "big", "Failed"))
            message = 'Usage of EmptyDir volume "cache" exceeds the limit "1Mi".'
            assert (pod["status"]["reason"], pod["status"]["message"]) == ("Evicted", message)
            assert "terminated" in state_of(pod)["state"]  # stopped before the final status
            assert ("main", 0.0) in w.processes.stops  # killed at once, as local-storage evictions are
            assert not w.processes.alive
            assert len(w.processes.launches) == 1  # restartPolicy Always does not bring it back
            assert ("Evicted", message) in await w.events()
        finally:
            shutil.rmtree(shm_dir(pod["metadata"]["uid"]), ignore_errors=True)


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


async def test_secret_and_config_map_changes_reach_running_pods(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        secret_kind, cm_kind = w.client.kind("v1", "Secret"), w.client.kind("v1", "ConfigMap")
        await w.client.create(secret_kind, "default", {"metadata": {"name": "db"}, "data": {"password": b64("one")}})
        await w.client.create(cm_kind, "default", {"metadata": {"name": "app"}, "data": {"mode": "fast"}})
        volumes = [{"name": "creds", "secret": {"secretName": "db"}}, {"name": "conf", "configMap": {"name": "app"}},
                   {"name": "all", "projected": {"sources": [{"configMap": {"name": "app"}}]}}]
        pod = await w.create("reader", container(), volumes=volumes)
        await eventually(lambda: phase_is(w, "reader", "Running"))
        root = w.settings.pods_dir / pod["metadata"]["uid"] / "volumes"
        assert (root / "creds" / "password").read_text() == "one"

        await w.client.patch(secret_kind, "default", "db", {"data": {"password": b64("two")}})
        await w.client.patch(cm_kind, "default", "app", {"data": {"mode": "safe", "extra": "1"}})

        async def refreshed() -> bool:
            return ((root / "creds" / "password").read_text() == "two"
                    and (root / "conf" / "mode").read_text() == "safe" and (root / "conf" / "extra").exists()
                    and (root / "all" / "mode").read_text() == "safe")

        await eventually(refreshed)
        assert len(w.processes.launches) == 1  # content changes, the container keeps running

        await w.client.delete(secret_kind, "default", "db")

        async def warned() -> bool:
            return any(r == "FailedMount" and 'secret "db" not found' in m for r, m in await w.events())

        await eventually(warned)
        assert (root / "creds" / "password").read_text() == "two"  # a running pod keeps what it had


async def test_oom_killed_container_leaves_a_warning_event(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        resources = {"limits": {"memory": "64Mi"}}
        await w.create("hungry", container("main", "oom", resources=resources), restartPolicy="Never")
        pod = await eventually(lambda: phase_is(w, "hungry", "Failed"))
        assert state_of(pod)["state"]["terminated"]["reason"] == "OOMKilled"
        message = ("Container main was killed for using more memory than its limit of 64Mi (exit code 137); "
                   "raise resources.limits.memory or make it use less memory")

        async def recorded() -> bool:
            return ("OOMKilled", message) in await w.events()

        await eventually(recorded)


@pytest.mark.parametrize(("resources", "code", "message"), [
    ({"limits": {"memory": "1Gi"}}, 137,
     "Container main was killed for using more memory than its limit of 1Gi (exit code 137); "
     "raise resources.limits.memory or make it use less memory"),
    ({"requests": {"memory": "1Gi"}}, 137,
     "Container main was killed because the machine ran out of memory (exit code 137)"),
    ({}, 9, "Container main was killed because the machine ran out of memory (exit code 9)"),
])
def test_oom_event_wording(resources: Obj, code: int, message: str) -> None:
    pod = {"spec": {"containers": [{"name": "main", "resources": resources}]}}
    assert oom_event(pod, "main", code) == ("OOMKilled", message)
