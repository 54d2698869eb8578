"""pvc://<claim>/<path>: a model already on a PersistentVolumeClaim, used in place and never copied.

In a pod the InferenceService controller mounts the claim itself, as KServe does (`pvc_mount` says how:
volume `kserve-pvc-source`, mounted read-only at /mnt/models with the path as `subPath`), so the storage
initializer never sees pvc://. Standalone (`python -m kubeserve.storage pvc://…`) the claim's directory on
this machine comes from `Context.claims`, and the plan points at it (`local_path`) instead of downloading.

A claim path is split as KServe splits it (first segment the claim, the rest the path) and must stay
inside the claim the way Kubernetes requires of a `subPath`: relative, without `..` segments.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from pathlib import Path

from kubeserve.storage.errors import InvalidStorageUri, ModelNotFound
from kubeserve.storage.types import Context, Plan

PREFIX = "pvc://"
MODEL_MOUNT_PATH = "/mnt/models"
VOLUME_NAME = "kserve-pvc-source"  # KServe's constants.PvcSourceMountName

# A PersistentVolumeClaim's name is a DNS-1123 subdomain.
_CLAIM_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


@dataclass(frozen=True)
class PvcMount:
    """How a predictor container mounts a pvc:// model (what KServe's AddModelPvcMount renders)."""

    claim: str
    sub_path: str
    """Relative to the claim's root; "" mounts the whole claim."""
    mount_path: str = MODEL_MOUNT_PATH
    read_only: bool = True
    volume_name: str = VOLUME_NAME


class EscapingPath(ValueError):
    """A path that would leave the claim (or the directory) it is meant to stay inside."""


def inside_path(path: str) -> str:
    """`path` as a normalized relative path that stays inside its root ("" for the root itself).

    Kubernetes' rule for `subPath`: not absolute and no `..` element at all (even `a/../b`, which would stay
    inside, is refused there, so it is refused here too: a URI that works standalone must work in a pod).
    """
    if "\x00" in path:
        raise EscapingPath("contains a NUL character")
    if path.startswith("/"):
        raise EscapingPath("is absolute")
    parts = [part for part in path.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise EscapingPath("contains '..'")
    return posixpath.join(*parts) if parts else ""


def parse_pvc_uri(uri: str) -> tuple[str, str]:
    """(claim, path inside the claim) of `pvc://<claim>[/<path>]`, or InvalidStorageUri naming the URI."""
    if not uri.startswith(PREFIX):
        raise InvalidStorageUri(f"{uri}: not a pvc:// URI (expected pvc://<claim>/<path>)")
    claim, _, rest = uri[len(PREFIX):].partition("/")
    if not claim:
        raise InvalidStorageUri(f"{uri}: no claim name (expected pvc://<claim>/<path>, e.g. "
                                "pvc://model-pvc/models/granite)")
    if not _CLAIM_NAME.match(claim) or len(claim) > 253:
        raise InvalidStorageUri(f"{uri}: {claim!r} is not a valid PersistentVolumeClaim name (lower-case "
                                "letters, digits, '-' and '.')")
    if "?" in rest or "#" in rest:
        raise InvalidStorageUri(f"{uri}: a pvc:// path takes no query or fragment")
    # KServe keeps everything after the claim as the path, so pvc://claim//etc would be the absolute /etc.
    try:
        return claim, inside_path(rest)
    except EscapingPath as err:
        raise InvalidStorageUri(f"{uri}: the path {rest!r} {err}, which would escape the claim {claim!r}; "
                                f"use a path inside it, e.g. pvc://{claim}/models/my-model") from None


def pvc_mount(uri: str) -> PvcMount:
    """The volume mount that serves `uri` to a predictor container, as KServe mounts it (pure)."""
    claim, sub_path = parse_pvc_uri(uri)
    return PvcMount(claim=claim, sub_path=sub_path)


def resolve_inside(root: Path, relative: str, what: str) -> Path:
    """`root/relative`, refusing a symbolic link inside `root` that leads out of it."""
    target = root / relative if relative else root
    real_root = root.resolve()
    real = target.resolve()
    if real != real_root and not real.is_relative_to(real_root):
        raise InvalidStorageUri(f"{what}: {relative!r} leads out of {root} through a symbolic link (to {real})")
    return target


class PvcProvider:
    schemes = ("pvc",)

    def plan(self, uri: str, context: Context) -> Plan:
        claim, path = parse_pvc_uri(uri)
        if context.claims is None:
            raise InvalidStorageUri(
                f"{uri}: a pvc:// model is mounted directly by the InferenceService controller, not copied by "
                "the storage initializer; standalone, kubeserve finds the claim through the cluster, which needs "
                "a kubeconfig and a namespace (--kubeconfig, -n)")
        root = context.claims(claim)
        target = resolve_inside(root, path, uri)
        if not target.exists():
            shown = path or "/"
            raise ModelNotFound(f"{uri}: there is no {shown!r} in persistentvolumeclaim {claim!r} ({root}); copy the "
                                f"model there with `kubeserve pvc cp DIR {claim}:{path or 'PATH'}`")
        return Plan(source=uri, key=None, local_path=target)
