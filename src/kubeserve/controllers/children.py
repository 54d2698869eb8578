"""Applying a rendered predictor's children idempotently: create what is missing, update what drifted from
the rendering, delete what the rendering no longer asks for (an HPA), never fight a user's edits the
InferenceService does not own (a Route they applied on top).

Drift is judged by a hash of the rendered object, stored as an annotation on the child: the API server
defaults pod templates and Services, so comparing rendered and stored objects field by field would see a
difference on every pass and update forever.
"""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

from kubeserve.api import errors
from kubeserve.api.kinds import ResourceKind
from kubeserve.client import ApiClient, Obj

RENDERED_HASH = "serving.kserve.io/rendered-hash"
"""Annotation on each child: the hash of what the controller rendered for it last."""


def rendered_hash(obj: Obj) -> str:
    body = {key: value for key, value in obj.items() if key not in ("status",)}
    body = copy.deepcopy(body)
    (body.get("metadata") or {}).pop("annotations", None)
    text = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def with_hash(obj: Obj) -> Obj:
    out = copy.deepcopy(obj)
    meta = out.setdefault("metadata", {})
    meta.setdefault("annotations", {})[RENDERED_HASH] = rendered_hash(obj)
    return out


def stored_hash(obj: Obj | None) -> str | None:
    if obj is None:
        return None
    return str(((obj.get("metadata") or {}).get("annotations") or {}).get(RENDERED_HASH, "")) or None


class ChildWriter:
    def __init__(self, client: ApiClient, field_manager: str = "kserve-controller") -> None:
        self.client = client
        self.field_manager = field_manager

    async def ensure(self, kind: ResourceKind, desired: Obj, current: Obj | None, *,
                     keep_replicas: bool = False, create_only: bool = False) -> tuple[Obj, str]:
        """Create or update `desired`; returns (object, what happened: created/updated/unchanged)."""
        namespace = desired["metadata"]["namespace"]
        name = desired["metadata"]["name"]
        wanted = with_hash(desired)
        if current is None:
            try:
                return await self.client.create(kind, namespace, wanted, field_manager=self.field_manager), "created"
            except errors.AlreadyExists:
                current = await self.client.get(kind, namespace, name)
        if create_only or stored_hash(current) == stored_hash(wanted):
            return current, "unchanged"
        merged = _merge_into(current, wanted, keep_replicas=keep_replicas)
        return await self.client.replace(kind, namespace, merged), "updated"

    async def absent(self, kind: ResourceKind, namespace: str, name: str, current: Obj | None) -> bool:
        """Delete a child the rendering no longer has; True if something was deleted."""
        if current is None:
            return False
        await self.client.delete_if_exists(kind, namespace, name)
        return True


def _merge_into(current: Obj, wanted: Obj, *, keep_replicas: bool) -> Obj:
    """The stored object with our rendered spec, labels and annotations: identity, resourceVersion and what
    other writers own (a Service's clusterIP, an HPA-managed replica count, other annotations) are kept."""
    merged: dict[str, Any] = copy.deepcopy(current)
    meta = merged.setdefault("metadata", {})
    meta["labels"] = {**(meta.get("labels") or {}), **(wanted["metadata"].get("labels") or {})}
    meta["annotations"] = {**(meta.get("annotations") or {}), **(wanted["metadata"].get("annotations") or {})}
    meta["ownerReferences"] = wanted["metadata"].get("ownerReferences") or meta.get("ownerReferences") or []
    spec = copy.deepcopy(wanted.get("spec") or {})
    old_spec = current.get("spec") or {}
    if merged.get("kind") == "Service":
        for field in ("clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"):
            if field in old_spec:
                spec[field] = old_spec[field]
    if keep_replicas and "replicas" in old_spec:
        spec["replicas"] = old_spec["replicas"]
    if merged.get("kind") == "Deployment" and "selector" in old_spec:
        spec["selector"] = old_spec["selector"]  # immutable
    merged["spec"] = spec
    return merged
