"""Spotting an informer cache that has not yet caught up with this controller's own last write.

After a write, the cache still holds the version the write replaced for a few milliseconds; a reconcile
in that window decides on old data and its next write fails with a Conflict (and a back-off). Remembering
the resourceVersion each write replaced lets a reconcile see that its input is stale and simply wait for
the watch event that is already on its way — which enqueues the key again. resourceVersions are only
compared for equality, never ordered, as the API contract requires.
"""

from __future__ import annotations

from typing import Any

Obj = dict[str, Any]
ObjectKey = tuple[str, str, str]  # (kind, namespace, name)


def _key(kind: str, obj: Obj) -> ObjectKey:
    meta = obj.get("metadata") or {}
    return kind, str(meta.get("namespace", "")), str(meta.get("name", ""))


def _rv(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion", ""))


class Superseded:
    def __init__(self) -> None:
        self._replaced: dict[ObjectKey, set[str]] = {}

    def wrote(self, kind: str, before: Obj, after: Obj) -> None:
        """Record a successful write over `before` (the version it was based on) that produced `after`."""
        old, new = _rv(before), _rv(after)
        if old and old != new:
            self._replaced.setdefault(_key(kind, before), set()).add(old)

    def stale(self, kind: str, cached: Obj) -> bool:
        """True while the cache still shows a version this controller has already replaced."""
        key = _key(kind, cached)
        replaced = self._replaced.get(key)
        if replaced is None:
            return False
        if _rv(cached) in replaced:
            return True
        del self._replaced[key]
        return False

    def forget(self, kind: str, namespace: str, name: str) -> None:
        self._replaced.pop((kind, namespace, name), None)
