"""INTERIM server-side apply (replaced by the full implementation)."""
from __future__ import annotations
import copy
from typing import Any
from kubeserve.api.patch import merge_patch

def server_side_apply(live: dict[str, Any] | None, applied: dict[str, Any], *, manager: str, force: bool,
                      api_version: str, now: str, merge_lists_by_key: bool) -> dict[str, Any]:
    base = copy.deepcopy(live) if live else {}
    out: dict[str, Any] = merge_patch(base, applied)
    return _entry(out, manager, "Apply", api_version, now, "")

def record_update(old: dict[str, Any] | None, new: dict[str, Any], *, manager: str, api_version: str, now: str,
                  subresource: str = "") -> dict[str, Any]:
    if not manager:
        return new
    return _entry(copy.deepcopy(new), manager, "Update", api_version, now, subresource)

def _entry(obj: dict[str, Any], manager: str, op: str, api_version: str, now: str, sub: str) -> dict[str, Any]:
    meta = obj.setdefault("metadata", {})
    entries = [e for e in meta.get("managedFields") or [] if not (e.get("manager") == manager and e.get("operation") == op and e.get("subresource", "") == sub)]
    e = {"manager": manager, "operation": op, "apiVersion": api_version, "time": now, "fieldsType": "FieldsV1", "fieldsV1": {}}
    if sub:
        e["subresource"] = sub
    entries.append(e)
    meta["managedFields"] = entries
    return obj
