"""The local-path provisioner: PersistentVolumeClaims become directories under `$KUBESERVE_HOME/volumes`.

It keeps a default StorageClass `local-path` (as k3s/kind ship one), provisions a `hostPath`
PersistentVolume `pvc-<uid>` for each claim of that class (or of no class: the default), binds the two
(claim `spec.volumeName` + `Bound`, volume `Bound`), and when the claim is deleted deletes the volume and,
under reclaim policy `Delete`, its directory. Binding is immediate: there is one node.

As Kubernetes' pvc-protection controller does, every claim carries the `kubernetes.io/pvc-protection`
finalizer, released only once no running pod uses the claim: deleting a claim in use leaves it Terminating
and its data in place. Directories are named `<namespace>/<claim>-<uid prefix>`, so a claim deleted and made
again under the same name never shares (or wipes) its predecessor's directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
from pathlib import Path

from kubeserve.api import errors
from kubeserve.client import ApiClient, Controller, EventRecorder, Informer, Key, Obj, Result

log = logging.getLogger(__name__)

CLASS_NAME = "local-path"
PROVISIONER = "kubeserve.io/local-path"
DEFAULT_CLASS_ANNOTATION = "storageclass.kubernetes.io/is-default-class"
PROVISIONED_BY = "pv.kubernetes.io/provisioned-by"
PROTECTION = "kubernetes.io/pvc-protection"


def storage_class() -> Obj:
    return {
        "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
        "metadata": {"name": CLASS_NAME, "annotations": {DEFAULT_CLASS_ANNOTATION: "true"},
                     "labels": {"app.kubernetes.io/managed-by": "kubeserve"}},
        "provisioner": PROVISIONER, "reclaimPolicy": "Delete", "volumeBindingMode": "Immediate",
        "allowVolumeExpansion": False,
    }


def volume_for(claim: Obj, path: Path) -> Obj:
    """The PersistentVolume provisioned for `claim` (pure)."""
    meta = claim["metadata"]
    spec = claim.get("spec") or {}
    storage = ((spec.get("resources") or {}).get("requests") or {}).get("storage", "1Gi")
    return {
        "apiVersion": "v1", "kind": "PersistentVolume",
        "metadata": {"name": f"pvc-{meta['uid']}", "annotations": {PROVISIONED_BY: PROVISIONER},
                     "labels": {"app.kubernetes.io/managed-by": "kubeserve"}},
        "spec": {
            "capacity": {"storage": storage},
            "accessModes": list(spec.get("accessModes") or ["ReadWriteOnce"]),
            "hostPath": {"path": str(path), "type": "DirectoryOrCreate"},
            "claimRef": {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "namespace": meta["namespace"],
                         "name": meta["name"], "uid": meta["uid"]},
            "persistentVolumeReclaimPolicy": "Delete",
            "storageClassName": CLASS_NAME,
            "volumeMode": spec.get("volumeMode") or "Filesystem",
        },
    }


def is_ours(claim: Obj) -> bool:
    """A claim of class local-path, or of no class at all (the default class applies)."""
    spec = claim.get("spec") or {}
    return spec.get("storageClassName", None) in (None, CLASS_NAME)


class LocalPathProvisioner:
    def __init__(self, client: ApiClient, volumes_dir: Path, *, resync: float = 60.0) -> None:
        self.client = client
        self.volumes_dir = volumes_dir
        self._pvc = client.kind("v1", "PersistentVolumeClaim")
        self._pv = client.kind("v1", "PersistentVolume")
        self._sc = client.kind("storage.k8s.io/v1", "StorageClass")
        self.claims = Informer(client, self._pvc)
        self.volumes = Informer(client, self._pv)
        self.pods = Informer(client, client.kind("v1", "Pod"))
        self.events = EventRecorder(client, PROVISIONER)
        self.controller = Controller("local-path-provisioner", self.reconcile, resync=resync)

    async def start(self) -> None:
        await self.ensure_storage_class()
        self.controller.watch_primary(self.claims)
        self.controller.watch(self.volumes, _claim_of)
        self.controller.watch(self.pods, claims_used_by)
        for informer in (self.claims, self.volumes, self.pods):
            informer.start()
        for informer in (self.claims, self.volumes, self.pods):
            await informer.wait_synced()
        self.controller.start()

    async def stop(self) -> None:
        await self.controller.stop()
        for informer in (self.claims, self.volumes, self.pods):
            await informer.stop()

    async def ensure_storage_class(self) -> None:
        with contextlib.suppress(errors.AlreadyExists):
            await self.client.create(self._sc, "", storage_class())

    def path_for(self, claim: Obj) -> Path:
        meta = claim["metadata"]
        return Path(self.volumes_dir, str(meta["namespace"]), f"{meta['name']}-{str(meta['uid'])[:8]}")

    async def reconcile(self, key: Key) -> Result | None:
        namespace, name = key
        claim = self.claims.get(namespace, name)
        for volume in self._volumes_of(key):
            if claim is None or volume["spec"]["claimRef"].get("uid") != claim["metadata"].get("uid"):
                await self._release(volume)
        if claim is None or not is_ours(claim):
            return None
        if not await self._protect(claim):
            return None
        if (claim.get("spec") or {}).get("volumeName") and (claim.get("status") or {}).get("phase") == "Bound":
            return None
        await self._provision(claim)
        return None

    def _volumes_of(self, key: Key) -> list[Obj]:
        return [v for v in self.volumes.list() if (v.get("metadata", {}).get("annotations") or {}).get(
            PROVISIONED_BY) == PROVISIONER and next(iter(_claim_of(v)), None) == key]

    async def _provision(self, claim: Obj) -> None:
        meta = claim["metadata"]
        namespace, name = meta["namespace"], meta["name"]
        path = self.path_for(claim)
        await asyncio.to_thread(path.mkdir, parents=True, exist_ok=True)
        desired = volume_for(claim, path)
        volume = self.volumes.get("", desired["metadata"]["name"])
        created = False
        if volume is None:
            try:
                volume = await self.client.create(self._pv, "", desired)
                created = True
            except errors.AlreadyExists:
                volume = await self.client.get(self._pv, "", desired["metadata"]["name"])
        volume_name = volume["metadata"]["name"]
        spec_patch: Obj = {"metadata": {"annotations": {
            "pv.kubernetes.io/bind-completed": "yes", "pv.kubernetes.io/bound-by-controller": "yes",
            "volume.kubernetes.io/storage-provisioner": PROVISIONER,
            "volume.beta.kubernetes.io/storage-provisioner": PROVISIONER}},
            "spec": {"volumeName": volume_name}}
        if (claim.get("spec") or {}).get("storageClassName") is None:
            spec_patch["spec"]["storageClassName"] = CLASS_NAME  # the default class, made explicit
        claim = await self.client.patch(self._pvc, namespace, name, spec_patch)
        await self.client.patch_status(self._pv, "", volume_name, {"phase": "Bound"})
        await self.client.patch_status(self._pvc, namespace, name, {
            "phase": "Bound", "capacity": dict(volume["spec"]["capacity"]),
            "accessModes": list(volume["spec"]["accessModes"])})
        if created:
            await self.events.record(claim, "Normal", "ProvisioningSucceeded",
                                     f"Successfully provisioned volume {volume_name} at {path}")

    async def _protect(self, claim: Obj) -> bool:
        """Keep the pvc-protection finalizer while the claim lives; let a deleted claim go once no pod uses
        it. True when the claim is live (and may be provisioned)."""
        meta = claim["metadata"]
        finalizers = list(meta.get("finalizers") or [])
        if not meta.get("deletionTimestamp"):
            if PROTECTION not in finalizers:
                await self.client.patch(self._pvc, meta["namespace"], meta["name"], {"metadata": {
                    "finalizers": [*finalizers, PROTECTION], "resourceVersion": meta["resourceVersion"]}})
            return True
        key = (meta["namespace"], meta["name"])
        in_use = any(key in claims_used_by(pod) for pod in self.pods.list(meta["namespace"]))
        if PROTECTION in finalizers and not in_use:
            await self.client.patch(self._pvc, meta["namespace"], meta["name"], {"metadata": {
                "finalizers": [f for f in finalizers if f != PROTECTION], "resourceVersion": meta["resourceVersion"]}})
        return False

    async def _release(self, volume: Obj) -> None:
        name = volume["metadata"]["name"]
        await self.client.delete_if_exists(self._pv, "", name)
        if volume["spec"].get("persistentVolumeReclaimPolicy", "Delete") != "Delete":
            return
        path = Path((volume["spec"].get("hostPath") or {}).get("path", ""))
        root = self.volumes_dir.resolve()
        if path.is_absolute() and path.resolve().is_relative_to(root) and path.resolve() != root:
            await asyncio.to_thread(shutil.rmtree, path, True)
            log.info("deleted volume %s and its directory %s", name, path)


def claims_used_by(pod: Obj) -> list[Key]:
    """The claims a pod that may still run mounts (finished pods hold none)."""
    if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
        return []
    namespace = pod.get("metadata", {}).get("namespace", "")
    return [(namespace, str(v["persistentVolumeClaim"].get("claimName", "")))
            for v in (pod.get("spec") or {}).get("volumes") or [] if v.get("persistentVolumeClaim")]


def _claim_of(volume: Obj) -> list[Key]:
    ref = (volume.get("spec") or {}).get("claimRef") or {}
    return [(ref.get("namespace", ""), ref.get("name", ""))] if ref.get("name") else []
