"""The `pod-template-hash`: a short, stable name for one version of a Deployment's pod template (pure).

As in Kubernetes' `controller.ComputeHash`: FNV-1a (32 bit) over a deterministic rendering of the template,
then the collision count (little-endian uint32) when the Deployment has one, and the decimal digits of the
sum mapped onto the consonant-and-digit alphabet of `rand.SafeEncodeString`, so hashes never spell words.
Kubernetes renders the Go struct with spew; we render canonical JSON (sorted keys), which is stable for
the same template across restarts, which is what matters.
"""

from __future__ import annotations

import json
from typing import Any

LABEL = "pod-template-hash"
_ALPHANUMS = "bcdfghjklmnpqrstvwxz2456789"
_FNV_OFFSET = 0x811C9DC5
_FNV_PRIME = 0x01000193


def fnv32a(data: bytes, start: int = _FNV_OFFSET) -> int:
    value = start
    for byte in data:
        value ^= byte
        value = (value * _FNV_PRIME) & 0xFFFFFFFF
    return value


def safe_encode(text: str) -> str:
    return "".join(_ALPHANUMS[ord(ch) % len(_ALPHANUMS)] for ch in text)


def pod_template_hash(template: dict[str, Any], collision_count: int | None = None) -> str:
    rendered = json.dumps(without_hash(template), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    value = fnv32a(rendered.encode())
    if collision_count is not None:
        value = fnv32a((collision_count & 0xFFFFFFFF).to_bytes(4, "little"), value)
    return safe_encode(str(value))


def without_hash(template: dict[str, Any]) -> dict[str, Any]:
    """The template without the pod-template-hash label (so a ReplicaSet's template compares to its Deployment's)."""
    meta = template.get("metadata") or {}
    labels = meta.get("labels") or {}
    if LABEL not in labels:
        return template
    rest = {k: v for k, v in labels.items() if k != LABEL}
    new_meta = {**meta, "labels": rest} if rest else {k: v for k, v in meta.items() if k != "labels"}
    return {**template, "metadata": new_meta}


def equal_ignoring_hash(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Kubernetes' `EqualIgnoreHash`: the same template once the hash label is dropped from both."""
    return _normal(without_hash(a)) == _normal(without_hash(b))


def _normal(template: dict[str, Any]) -> dict[str, Any]:
    """Empty labels/metadata mean the same as absent ones (Go's semantic equality of empty maps)."""
    meta = {k: v for k, v in (template.get("metadata") or {}).items() if v not in (None, {}, [])}
    out = {k: v for k, v in template.items() if k != "metadata" and v is not None}
    if meta:
        out["metadata"] = meta
    return out
