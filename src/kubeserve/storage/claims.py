"""Where a PersistentVolumeClaim's files are, and `kubeserve pvc cp LOCAL CLAIM:PATH`: putting a model onto a
claim, which the guide's pvc:// users must do before anything can be served from it.

The directory of a claim is found through the cluster, as a person would: the claim (it must exist) → its
bound PersistentVolume (`spec.volumeName`) → the volume's `hostPath` or `local` path. Embedded kubeserve
provisions exactly such volumes (`$KUBESERVE_HOME/volumes/<namespace>/<claim>-<uid8>`), so there the copy
goes straight into the directory. Where that directory is not on this machine (a real cluster, a network
volume), the copy goes through a short-lived helper pod that mounts the claim at /mnt/pvc and receives the
files with `kubectl cp`, which is what the guide's users would otherwise do by hand.

Either way a copy never shows a half-written file or model: each file or directory is written under a
temporary name next to its destination and renamed into place. A directory copied to `CLAIM:PATH` becomes
PATH (a second copy replaces it, like `rsync -a --delete DIR/ PATH/`); copied to the claim's root, its
entries go into the root. A file copied to an existing directory, to `PATH/` or to the root keeps its name.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import posixpath
import secrets
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from kubeserve.api import errors as api_errors
from kubeserve.client.rest import ApiClient
from kubeserve.storage.errors import AccessDenied, DiskFull, InvalidStorageUri, ModelNotFound, TransferError
from kubeserve.storage.pvc import EscapingPath, inside_path, resolve_inside
from kubeserve.storage.types import Progress

Obj = dict[str, Any]

HELPER_IMAGE = "busybox"
HELPER_MOUNT = "/mnt/pvc"  # where KServe mounts a pvc:// source (a root-level /data cannot be mounted embedded)
HELPER_LABEL = "kubeserve.io/pvc-cp"
_CHUNK = 64 << 20


@dataclass(frozen=True)
class ClaimLocation:
    namespace: str
    claim: str
    volume: str
    directory: Path | None
    """The claim's files on this machine, or None when they are elsewhere (`elsewhere` says why)."""
    elsewhere: str = ""


def volume_directory(volume: Obj) -> str | None:
    """The host directory of a hostPath or local PersistentVolume (pure); None for any other kind."""
    spec = volume.get("spec") or {}
    for source in ("hostPath", "local"):
        path = (spec.get(source) or {}).get("path")
        if path:
            return str(path)
    return None


def copy_destination(local_name: str, local_is_dir: bool, dest_path: str, dest_is_dir: bool) -> str:
    """Where, relative to the claim's root, `kubeserve pvc cp LOCAL CLAIM:dest_path` puts LOCAL (pure).

    "" (only for a directory) means the directory's entries go into the claim's root. Raises EscapingPath.
    """
    relative = inside_path(dest_path)
    if not local_is_dir and (relative == "" or dest_path.endswith("/") or dest_is_dir):
        return posixpath.join(relative, local_name)
    return relative


def helper_pod(claim: str, image: str = HELPER_IMAGE) -> Obj:
    """The pod that mounts `claim` at /mnt/pvc so `kubectl cp` can write to it (pure)."""
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"generateName": "kubeserve-pvc-cp-",
                     "labels": {"app.kubernetes.io/managed-by": "kubeserve", HELPER_LABEL: claim[:63]}},
        "spec": {
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": 0,
            "containers": [{"name": "copy", "image": image, "command": ["sleep", "3600"],
                            "volumeMounts": [{"name": "claim", "mountPath": HELPER_MOUNT}]}],
            "volumes": [{"name": "claim", "persistentVolumeClaim": {"claimName": claim}}],
        },
    }


# -- finding a claim ---------------------------------------------------------------------------------------

async def locate_claim(client: ApiClient, namespace: str, claim: str) -> ClaimLocation:
    try:
        pvc = await client.get_or_none(client.kind("v1", "PersistentVolumeClaim"), namespace, claim)
        if pvc is None:
            raise ModelNotFound(f"persistentvolumeclaim {claim} not found in namespace {namespace}: create it (see "
                                "the guide's PVC example), or pass -n with the namespace that holds it")
        volume_name = str((pvc.get("spec") or {}).get("volumeName") or "")
        phase = str((pvc.get("status") or {}).get("phase") or "Pending")
        if not volume_name or phase != "Bound":
            raise ModelNotFound(f"persistentvolumeclaim {claim} in namespace {namespace} is {phase}, not bound to a "
                                f"volume yet: see `kubectl describe pvc {claim} -n {namespace}` (is its "
                                "storageClassName provisioned here?)")
        volume = await client.get_or_none(client.kind("v1", "PersistentVolume"), "", volume_name)
    except (api_errors.Unauthorized, api_errors.Forbidden) as err:
        raise AccessDenied(f"reading persistentvolumeclaim {claim} in namespace {namespace}: {err}; check the "
                           "kubeconfig's credentials") from None
    except (aiohttp.ClientError, OSError) as err:
        raise TransferError(f"cannot reach the API server {client.config.server} ({err}) to find "
                            f"persistentvolumeclaim {claim}") from None
    if volume is None:
        raise ModelNotFound(f"persistentvolumeclaim {claim} in namespace {namespace} is bound to volume "
                            f"{volume_name}, which does not exist")
    path = volume_directory(volume)
    if path is None:
        return ClaimLocation(namespace, claim, volume_name, None,
                             f"volume {volume_name} is not a hostPath or local volume")
    if not Path(path).is_dir():
        return ClaimLocation(namespace, claim, volume_name, None,
                             f"volume {volume_name}'s directory {path} is on another node, not on this machine")
    return ClaimLocation(namespace, claim, volume_name, Path(path))


async def claim_directory(client: ApiClient, namespace: str, claim: str) -> Path:
    """The directory holding the claim's files on this machine; ModelNotFound with the reason otherwise."""
    location = await locate_claim(client, namespace, claim)
    if location.directory is None:
        raise ModelNotFound(f"persistentvolumeclaim {claim} in namespace {namespace}: {location.elsewhere}; serve it "
                            "through an InferenceService (the pod mounts the claim), and put files on it with "
                            "`kubeserve pvc cp`, which copies through a helper pod")
    return location.directory


# -- copying -----------------------------------------------------------------------------------------------

async def copy_to_claim(client: ApiClient, namespace: str, claim: str, local: Path, dest_path: str,
                        progress: Progress, *, via_pod: bool = False, kubectl: Sequence[str] = ("kubectl",),
                        kubeconfig: str | None = None, env: Mapping[str, str] | None = None,
                        image: str = HELPER_IMAGE, pod_timeout: float = 120.0) -> None:
    """`kubeserve pvc cp LOCAL CLAIM:PATH`: into the claim's directory when it is on this machine, else (or
    with `via_pod`) through a helper pod and `kubectl cp` (run with `kubeconfig` and `env`, this process's
    environment by default)."""
    shown = f"{claim}:{dest_path}"
    if not local.exists():
        raise ModelNotFound(f"{local}: no such file or directory to copy to {shown}")
    try:
        relative = inside_path(dest_path)
    except EscapingPath as err:
        raise InvalidStorageUri(f"{shown}: the path {dest_path!r} {err}, which would escape the claim {claim!r}; "
                                "use a path inside it, e.g. models/my-model") from None
    location = await locate_claim(client, namespace, claim)
    progress.set_total(await asyncio.to_thread(tree_size, local))
    if location.directory is not None and not via_pod:
        root = location.directory
        target = copy_destination(local.name, local.is_dir(), dest_path, (root / relative).is_dir())
        for source, destination in placements(local, target):
            await asyncio.to_thread(place, source, root, destination, progress, shown)
        return
    pod = _HelperPod(client, namespace, claim, kubectl=kubectl, kubeconfig=kubeconfig, env=env)
    await pod.start(image, pod_timeout)
    try:
        dest_is_dir = await pod.succeeds("test", "-d", posixpath.join(HELPER_MOUNT, relative))
        target = copy_destination(local.name, local.is_dir(), dest_path, dest_is_dir)
        for source, destination in placements(local, target):
            await pod.place(source, destination)
            progress.advance(await asyncio.to_thread(tree_size, source))
    finally:
        await pod.delete()


def placements(local: Path, target: str) -> list[tuple[Path, str]]:
    """(source, destination) pairs, each placed atomically: a directory copied to the root goes entry by
    entry (the root itself cannot be swapped)."""
    if target == "":
        return [(entry, entry.name) for entry in sorted(local.iterdir())]
    return [(local, target)]


def tree_size(path: Path) -> int:
    if not path.is_dir():
        return path.stat().st_size
    return sum((Path(d) / f).stat().st_size for d, _, files in os.walk(path, followlinks=True) for f in files)


def place(source: Path, root: Path, relative: str, progress: Progress, shown: str) -> None:
    """Copy `source` (file or tree, links followed) to `root/relative` under a temporary name, then rename it
    into place, replacing what was there."""
    target = resolve_inside(root, relative, shown)
    target.parent.mkdir(parents=True, exist_ok=True)
    resolve_inside(root, relative, shown)  # the parents just made cannot be links, but ones that were may be
    temporary = target.parent / f".{target.name}.kubeserve-cp-{secrets.token_hex(4)}"
    trash = target.parent / f".{target.name}.kubeserve-old-{secrets.token_hex(4)}"
    try:
        if source.is_dir():
            _copy_tree(source, temporary, progress)
        else:
            _copy_file(source, temporary, progress)
        if (source.is_dir() and target.exists()) or (target.is_dir() and not target.is_symlink()):
            os.rename(target, trash)  # a directory cannot be replaced by rename(2): swap, then remove the old
        os.replace(temporary, target)
    except OSError as err:
        _remove(temporary)
        if err.errno == errno.ENOSPC:
            raise DiskFull(f"no space left on the claim writing {shown} ({err.filename or target}): free space on "
                           "the volume or use a bigger claim") from None
        raise TransferError(f"copying {source} to {shown} failed: {err}") from None
    finally:
        _remove(trash)


def _copy_tree(source: Path, destination: Path, progress: Progress) -> None:
    destination.mkdir()
    for directory, subdirs, files in os.walk(source, followlinks=True):
        here = destination / Path(directory).relative_to(source)
        for name in subdirs:
            (here / name).mkdir()
        for name in files:
            _copy_file(Path(directory) / name, here / name, progress)


def _copy_file(source: Path, destination: Path, progress: Progress) -> None:
    with open(source, "rb") as src, open(destination, "xb") as dst:
        offset = 0
        try:  # sendfile(2): the kernel copies, no bytes through Python
            while sent := os.sendfile(dst.fileno(), src.fileno(), offset, _CHUNK):
                offset += sent
                progress.advance(sent)
        except OSError as err:
            if err.errno not in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP) or offset:
                raise
            while chunk := src.read(_CHUNK):
                dst.write(chunk)
                progress.advance(len(chunk))
    shutil.copymode(source, destination)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink(missing_ok=True)


class _HelperPod:
    """A pod mounting the claim at /mnt/pvc, driven with `kubectl exec` and `kubectl cp`, deleted afterwards."""

    def __init__(self, client: ApiClient, namespace: str, claim: str, *, kubectl: Sequence[str],
                 kubeconfig: str | None, env: Mapping[str, str] | None) -> None:
        self.client = client
        self.env = dict(env) if env is not None else None
        self.namespace = namespace
        self.claim = claim
        self.kind = client.kind("v1", "Pod")
        self.kubectl = [*kubectl, *(("--kubeconfig", kubeconfig) if kubeconfig else ()), "-n", namespace]
        self.name = ""

    async def start(self, image: str, timeout: float) -> None:
        created = await self.client.create(self.kind, self.namespace, helper_pod(self.claim, image))
        self.name = created["metadata"]["name"]
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            pod = await self.client.get(self.kind, self.namespace, self.name)
            status = pod.get("status") or {}
            if status.get("phase") == "Running":
                return
            waiting = [(s.get("state") or {}).get("waiting") or {} for s in status.get("containerStatuses") or []]
            failed = [w for w in waiting if w.get("reason") in ("ErrImagePull", "ImagePullBackOff",
                                                                 "CreateContainerConfigError", "InvalidImageName")]
            if status.get("phase") in ("Failed", "Succeeded") or failed:
                why = (failed[0].get("message") or failed[0].get("reason")) if failed else status.get("phase")
                raise TransferError(f"the helper pod {self.namespace}/{self.name} that copies onto "
                                    f"persistentvolumeclaim {self.claim} did not start: {why}")
            if asyncio.get_running_loop().time() > deadline:
                raise TransferError(f"the helper pod {self.namespace}/{self.name} that copies onto "
                                    f"persistentvolumeclaim {self.claim} is not Running after {timeout:.0f}s: see "
                                    f"`kubectl describe pod {self.name} -n {self.namespace}`")
            await asyncio.sleep(0.25)

    async def delete(self) -> None:
        if self.name:
            # best effort: the copy's own outcome matters more; the pod's label says what it was
            with contextlib.suppress(api_errors.ApiError, aiohttp.ClientError, OSError):
                await self.client.delete_if_exists(self.kind, self.namespace, self.name, grace_period_seconds=0)

    async def _kubectl(self, *args: str) -> tuple[int, str]:
        try:
            process = await asyncio.create_subprocess_exec(
                *self.kubectl, *args, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT, env=self.env)
        except FileNotFoundError:
            raise TransferError(f"copying through a helper pod needs kubectl, and {self.kubectl[0]!r} was not "
                                "found: install kubectl or put it on PATH") from None
        output, _ = await process.communicate()
        return await process.wait(), output.decode(errors="replace").strip()

    async def succeeds(self, *command: str) -> bool:
        code, _ = await self._kubectl("exec", self.name, "-c", "copy", "--", *command)
        return code == 0

    async def run(self, *command: str) -> None:
        code, output = await self._kubectl("exec", self.name, "-c", "copy", "--", *command)
        if code != 0:
            raise TransferError(f"{' '.join(command)} in helper pod {self.namespace}/{self.name} failed: {output}")

    async def place(self, source: Path, relative: str) -> None:
        target = posixpath.join(HELPER_MOUNT, relative)
        parent, name = posixpath.split(target)
        temporary = posixpath.join(parent, f".{name}.kubeserve-cp-{secrets.token_hex(4)}")
        await self.run("mkdir", "-p", parent)
        code, output = await self._kubectl("cp", "-c", "copy", str(source), f"{self.namespace}/{self.name}:{temporary}")
        if code != 0:
            await self.succeeds("rm", "-rf", temporary)
            raise TransferError(f"kubectl cp {source} to persistentvolumeclaim {self.claim} ({relative}) failed: "
                                f"{output}")
        await self.run("sh", "-c", 'rm -rf -- "$2" && mv -- "$1" "$2"', "sh", temporary, target)
