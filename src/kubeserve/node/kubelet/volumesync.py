"""Keeping secret, configMap and projected volumes current when their Secrets and ConfigMaps change.

Kubernetes' kubelet rewrites such volumes (eventually) after the object changes, so a process that re-reads
its mounted config sees the new content without a restart. Here the pod worker calls `refresh` from the
informers' change events: every volume of a running pod that draws on the changed object is materialized
again. Each file is replaced atomically (write to a temporary file, rename), unchanged files are left alone,
and files of keys that went away are removed; a reader sees the old file or the new one, never a torn one
(per file: unlike kubelet's `..data` symlink swap, a reader of two files may see one old and one new).

As in Kubernetes, a container that mounts a single file with `subPath` keeps the content it started with
under mount-namespace isolation, because its bind mount holds the replaced file's inode; under path-rewrite
isolation it reads the volume directory directly and so sees updates too.
"""

from __future__ import annotations

from collections.abc import Iterable

from kubeserve.client import Obj
from kubeserve.node.kubelet.sandbox import Lookups, Sandbox, SandboxError, materialize_volume

KINDS = ("Secret", "ConfigMap")


def _sources(volume: Obj) -> Iterable[tuple[str, str]]:
    """(kind, name) of each Secret and ConfigMap a volume draws on."""
    if "secret" in volume:
        source = volume.get("secret") or {}
        yield "Secret", str(source.get("secretName") or source.get("name") or "")
    if "configMap" in volume:
        yield "ConfigMap", str((volume.get("configMap") or {}).get("name") or "")
    for source in (volume.get("projected") or {}).get("sources") or []:
        if "secret" in source:
            yield "Secret", str((source.get("secret") or {}).get("name") or "")
        if "configMap" in source:
            yield "ConfigMap", str((source.get("configMap") or {}).get("name") or "")


def volumes_referencing(pod: Obj, kind: str, namespace: str, name: str) -> list[str]:
    """The names of the pod's volumes that draw on the `kind` object namespace/name."""
    if (pod.get("metadata") or {}).get("namespace", "default") != namespace:
        return []
    return [str(v.get("name")) for v in (pod.get("spec") or {}).get("volumes") or []
            if (kind, name) in set(_sources(v))]


def refresh(pod: Obj, sandbox: Sandbox, lookups: Lookups, names: Iterable[str]) -> list[tuple[str, str]]:
    """Materialize the named volumes again. Returns (volume, message) for each that could not be: its files
    stay as they were (a deleted Secret does not empty a running pod's volume, as in Kubernetes)."""
    wanted = set(names)
    failed: list[tuple[str, str]] = []
    for volume in (pod.get("spec") or {}).get("volumes") or []:
        if volume.get("name") not in wanted:
            continue
        try:
            materialize_volume(pod, sandbox, volume, lookups)
        except SandboxError as exc:
            failed.append((str(volume.get("name")), exc.message))
        except OSError as exc:
            failed.append((str(volume.get("name")), f'MountVolume.SetUp failed for volume "{volume.get("name")}" '
                                                    f": {exc}"))
    return failed
