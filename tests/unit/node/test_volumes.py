"""The local-path provisioner against the in-process API server: the default StorageClass, provisioning
and binding a claim, and cleaning up volume and directory when the claim goes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kubeserve.node.volumes import LocalPathProvisioner, is_ours, volume_for
from unit.node.inproc_api import api_client, eventually

Obj = dict[str, Any]


def claim(name: str, storage_class: str | None = None, size: str = "5Gi") -> Obj:
    spec: Obj = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}}
    if storage_class is not None:
        spec["storageClassName"] = storage_class
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name, "namespace": "models"},
            "spec": spec}


@pytest.mark.parametrize(("storage_class", "ours"), [(None, True), ("local-path", True), ("", False),
                                                     ("gp3", False)])
def test_is_ours(storage_class: str | None, ours: bool) -> None:
    assert is_ours(claim("c", storage_class)) is ours


def test_volume_for() -> None:
    c = claim("c")
    c["metadata"]["uid"] = "u-1"
    pv = volume_for(c, Path("/data/volumes/models/c"))
    assert pv["metadata"]["name"] == "pvc-u-1"
    assert pv["spec"]["capacity"] == {"storage": "5Gi"}
    assert pv["spec"]["hostPath"]["path"] == "/data/volumes/models/c"
    assert pv["spec"]["claimRef"] == {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "namespace": "models",
                                      "name": "c", "uid": "u-1"}
    assert pv["spec"]["storageClassName"] == "local-path"
    assert pv["spec"]["persistentVolumeReclaimPolicy"] == "Delete"


async def test_provisions_binds_and_cleans_up(tmp_path: Path) -> None:
    async with api_client("models") as client:
        provisioner = LocalPathProvisioner(client, tmp_path / "volumes")
        await provisioner.start()
        pvc_kind, pv_kind = client.kind("v1", "PersistentVolumeClaim"), client.kind("v1", "PersistentVolume")
        try:
            sc = await client.get(client.kind("storage.k8s.io/v1", "StorageClass"), "", "local-path")
            assert sc["provisioner"] == "kubeserve.io/local-path"
            assert sc["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"] == "true"
            assert (sc["volumeBindingMode"], sc["reclaimPolicy"]) == ("Immediate", "Delete")

            created = await client.create(pvc_kind, "models", claim("granite"))
            await client.create(pvc_kind, "models", claim("elsewhere", "gp3"))

            async def bound() -> Obj | None:
                c = await client.get(pvc_kind, "models", "granite")
                return c if (c.get("status") or {}).get("phase") == "Bound" else None

            c = await eventually(bound)
            name = f"pvc-{created['metadata']['uid']}"
            assert c["spec"]["volumeName"] == name
            assert c["spec"]["storageClassName"] == "local-path"
            assert c["status"]["capacity"] == {"storage": "5Gi"}
            assert c["status"]["accessModes"] == ["ReadWriteOnce"]
            pv = await client.get(pv_kind, "", name)
            assert pv["status"]["phase"] == "Bound"
            directory = Path(pv["spec"]["hostPath"]["path"])
            uid = created["metadata"]["uid"]
            assert directory == tmp_path / "volumes" / "models" / f"granite-{uid[:8]}" and directory.is_dir()
            assert c["metadata"]["finalizers"] == ["kubernetes.io/pvc-protection"]
            events, _ = await client.list(client.kind("v1", "Event"), "models")
            assert [e["reason"] for e in events if e["involvedObject"]["name"] == "granite"] == [
                "ProvisioningSucceeded"]
            other = await client.get(pvc_kind, "models", "elsewhere")
            assert other["status"]["phase"] == "Pending"  # another class: not ours to provision

            (directory / "model.safetensors").write_text("weights")
            await client.delete(pvc_kind, "models", "granite")

            async def gone() -> bool:
                return await client.get_or_none(pv_kind, "", name) is None and not directory.exists()

            await eventually(gone)
        finally:
            await provisioner.stop()


async def test_a_claim_in_use_is_protected_until_its_pods_finish(tmp_path: Path) -> None:
    async with api_client("models") as client:
        provisioner = LocalPathProvisioner(client, tmp_path / "volumes")
        await provisioner.start()
        pvc_kind, pod_kind = client.kind("v1", "PersistentVolumeClaim"), client.kind("v1", "Pod")
        try:
            await client.create(pvc_kind, "models", claim("cache"))
            await client.create(pod_kind, "models", {"metadata": {"name": "user"}, "spec": {
                "containers": [{"name": "c", "image": "busybox"}],
                "volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": "cache"}}]}})

            async def bound() -> Obj | None:
                c = await client.get(pvc_kind, "models", "cache")
                return c if (c.get("status") or {}).get("phase") == "Bound" else None

            pv = await client.get(client.kind("v1", "PersistentVolume"), "", (await eventually(bound))[
                "spec"]["volumeName"])
            data = Path(pv["spec"]["hostPath"]["path"]) / "weights"
            data.write_text("precious")

            await client.delete(pvc_kind, "models", "cache")
            async def terminating_in_cache() -> bool:
                cached = provisioner.claims.get("models", "cache")
                return cached is not None and bool(cached["metadata"].get("deletionTimestamp"))

            await eventually(terminating_in_cache)
            await provisioner.controller.stop()  # settle: one more full reconcile must not release it
            await provisioner.reconcile(("models", "cache"))
            assert (await client.get(pvc_kind, "models", "cache"))["metadata"]["finalizers"] == [
                "kubernetes.io/pvc-protection"]
            assert data.read_text() == "precious"

            provisioner.controller.start()
            await client.patch_status(pod_kind, "models", "user", {"phase": "Succeeded"})

            async def released() -> bool:
                return await client.get_or_none(pvc_kind, "models", "cache") is None and not data.exists()

            await eventually(released)
        finally:
            await provisioner.stop()
