"""Garbage collection and namespace lifecycle for the embedded API server.

On a real cluster these are kube-controller-manager's garbage collector and namespace controller; in
embedded mode they run inside the API server process, directly on the registry. Level-triggered: each
sweep looks at the whole world and converges it, and events only make the next sweep come sooner.

- A dependent whose owners (by uid) are all gone is deleted (background propagation); dangling
  references to gone owners beside live ones are removed.
- An owner marked for deletion with the `foregroundDeletion` finalizer has its dependents deleted first;
  the finalizer is removed once none remain. With the `orphan` finalizer its dependents lose their
  references to it instead.
- A terminating namespace has its content deleted; once empty its `kubernetes` finalizer is removed and
  the namespace goes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from typing import Any

from kubeserve.api import errors
from kubeserve.api.kinds import ResourceKind
from kubeserve.apiserver.registry import PATCH_MERGE, Objects
from kubeserve.apiserver.request import WriteOptions
from kubeserve.apiserver.watch import Broadcaster
from kubeserve.store import Event

log = logging.getLogger(__name__)
Obj = dict[str, Any]
_SYSTEM = WriteOptions(field_manager="kubeserve-garbage-collector")


class GarbageCollector:
    def __init__(self, objects: Objects, broadcaster: Broadcaster, resync_seconds: float = 10.0) -> None:
        self.objects = objects
        self.resync_seconds = resync_seconds
        self._dirty = asyncio.Event()
        broadcaster.listen(self._on_event)

    def _on_event(self, event: Event) -> None:
        meta = event.object.get("metadata", {})
        if event.type == "DELETED" or meta.get("deletionTimestamp"):
            self._dirty.set()

    async def run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._dirty.wait(), self.resync_seconds)
            self._dirty.clear()
            # Let a burst of deletions land before sweeping once for all of them.
            await asyncio.sleep(0.05)
            try:
                while self.sweep():
                    await asyncio.sleep(0)
            except Exception:
                log.exception("garbage collection sweep failed")

    def _all(self) -> Iterator[tuple[ResourceKind, Obj]]:
        for kind in self.objects.registry.kinds:
            if not kind.stored:
                continue
            items, _ = self.objects.store.list(kind.group, kind.plural, None)
            for item in items:
                yield kind, item

    def sweep(self) -> bool:
        """One pass over everything; returns True when it changed something (so another pass may help)."""
        world = list(self._all())
        live_uids = {o["metadata"].get("uid") for _, o in world}
        dependents: dict[str, list[tuple[ResourceKind, Obj]]] = {}
        for kind, obj in world:
            for ref in obj["metadata"].get("ownerReferences") or []:
                dependents.setdefault(ref.get("uid", ""), []).append((kind, obj))
        changed = False
        for kind, obj in world:
            meta = obj["metadata"]
            try:
                if meta.get("deletionTimestamp"):
                    changed |= self._finish_deletion(kind, obj, dependents.get(meta.get("uid", ""), []))
                refs = meta.get("ownerReferences") or []
                if refs:
                    changed |= self._collect_orphan(kind, obj, refs, live_uids)
            except errors.NotFound:
                changed = True
            except errors.Conflict:
                changed = True  # someone else wrote it meanwhile; the next pass sees the new state
        return changed

    def _collect_orphan(self, kind: ResourceKind, obj: Obj, refs: list[Obj], live_uids: set[Any]) -> bool:
        alive = [r for r in refs if r.get("uid") in live_uids]
        if len(alive) == len(refs):
            return False
        meta = obj["metadata"]
        if not alive:
            if meta.get("deletionTimestamp"):
                return False
            self.objects.delete(kind, meta.get("namespace", ""), meta["name"])
            return True
        self.objects.patch(kind, meta.get("namespace", ""), meta["name"], PATCH_MERGE,
                           {"metadata": {"ownerReferences": alive}}, _SYSTEM)
        return True

    def _finish_deletion(self, kind: ResourceKind, obj: Obj, deps: list[tuple[ResourceKind, Obj]]) -> bool:
        meta = obj["metadata"]
        finalizers = list(meta.get("finalizers") or [])
        if "orphan" in finalizers:
            for dep_kind, dep in deps:
                refs = [r for r in dep["metadata"].get("ownerReferences") or [] if r.get("uid") != meta.get("uid")]
                dep_meta = dep["metadata"]
                self.objects.patch(dep_kind, dep_meta.get("namespace", ""), dep_meta["name"], PATCH_MERGE,
                                   {"metadata": {"ownerReferences": refs or None}}, _SYSTEM)
            return self._drop_finalizer(kind, obj, "orphan")
        if "foregroundDeletion" in finalizers:
            if not deps:
                return self._drop_finalizer(kind, obj, "foregroundDeletion")
            changed = False
            for dep_kind, dep in deps:
                dep_meta = dep["metadata"]
                if not dep_meta.get("deletionTimestamp"):
                    self.objects.delete(dep_kind, dep_meta.get("namespace", ""), dep_meta["name"],
                                        propagation="Foreground")
                    changed = True
            return changed
        if kind.kind == "Namespace" and kind.group == "":
            return self._finish_namespace(kind, obj)
        return False

    def _drop_finalizer(self, kind: ResourceKind, obj: Obj, finalizer: str) -> bool:
        meta = obj["metadata"]
        remaining = [f for f in meta.get("finalizers") or [] if f != finalizer]
        self.objects.patch(kind, meta.get("namespace", ""), meta["name"], PATCH_MERGE,
                           {"metadata": {"finalizers": remaining or None}}, _SYSTEM)
        return True

    def _finish_namespace(self, kind: ResourceKind, ns: Obj) -> bool:
        name = ns["metadata"]["name"]
        remaining = 0
        changed = False
        for other in self.objects.registry.kinds:
            if not other.namespaced or not other.stored:
                continue
            items, _ = self.objects.store.list(other.group, other.plural, name)
            for item in items:
                remaining += 1
                if not item["metadata"].get("deletionTimestamp"):
                    self.objects.delete(other, name, item["metadata"]["name"])
                    changed = True
        if remaining:
            return changed
        spec_finalizers = (ns.get("spec") or {}).get("finalizers") or []
        if spec_finalizers:
            self.objects.update(kind, "", name, {**ns, "spec": {**(ns.get("spec") or {}), "finalizers": []}},
                                _SYSTEM, "finalize")
            return True
        return False
