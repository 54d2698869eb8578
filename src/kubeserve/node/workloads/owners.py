"""Controller references: who owns what, and which objects an owner adopts or releases (pure).

This is Kubernetes' `ControllerRefManager`: an orphan that matches the owner's selector is adopted, an
owned object that no longer matches is released, an object controlled by someone else is left alone, and
an owner that is being deleted adopts nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from kubeserve.api.selectors import LabelSelector

Obj = dict[str, Any]


def controller_ref(obj: Obj) -> Obj | None:
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if isinstance(ref, dict) and ref.get("controller"):
            return ref
    return None


def owner_reference(owner: Obj) -> Obj:
    meta = owner.get("metadata") or {}
    return {"apiVersion": owner.get("apiVersion", ""), "kind": owner.get("kind", ""), "name": meta.get("name", ""),
            "uid": meta.get("uid", ""), "controller": True, "blockOwnerDeletion": True}


def is_controlled_by(obj: Obj, owner: Obj) -> bool:
    ref = controller_ref(obj)
    return ref is not None and ref.get("uid") == (owner.get("metadata") or {}).get("uid")


def with_owner(obj: Obj, owner: Obj) -> list[Obj]:
    """The object's ownerReferences with `owner` added as its controller (adoption)."""
    refs = [r for r in (obj.get("metadata") or {}).get("ownerReferences") or []
            if r.get("uid") != (owner.get("metadata") or {}).get("uid")]
    return [*refs, owner_reference(owner)]


def without_owner(obj: Obj, owner: Obj) -> list[Obj]:
    """The object's ownerReferences with `owner` removed (release)."""
    uid = (owner.get("metadata") or {}).get("uid")
    return [r for r in (obj.get("metadata") or {}).get("ownerReferences") or [] if r.get("uid") != uid]


@dataclass(frozen=True)
class Claim:
    owned: list[Obj] = field(default_factory=list)  # already ours and matching
    adopt: list[Obj] = field(default_factory=list)  # orphans to take (ours once patched)
    release: list[Obj] = field(default_factory=list)  # ours but no longer matching


def claim(owner: Obj, selector: LabelSelector, candidates: Iterable[Obj]) -> Claim:
    result = Claim()
    owner_deleting = bool((owner.get("metadata") or {}).get("deletionTimestamp"))
    for obj in candidates:
        meta = obj.get("metadata") or {}
        matches = selector.matches(meta.get("labels") or {})
        ref = controller_ref(obj)
        if ref is not None:
            if not is_controlled_by(obj, owner):
                continue
            if matches:
                result.owned.append(obj)
            elif not owner_deleting:
                result.release.append(obj)
        elif matches and not owner_deleting and not meta.get("deletionTimestamp"):
            result.adopt.append(obj)
    return result
