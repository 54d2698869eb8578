"""Server-side apply and the `managedFields` bookkeeping of ordinary writes.

Why a simplification is enough: the clients that send `application/apply-patch+yaml` (`kubectl apply
--server-side`, kubernetes-mcp-server's `resources_create_or_update`) need three things from it: the
applied fields merged into the live object, fields the manager applied before and dropped now removed,
and other appliers' fields protected by a 409 unless `force=true`. This module does exactly that with the
apiserver's own vocabulary, so the `managedFields` it writes read like a real cluster's:

* each manager's applied set is kept as `fieldsV1` in its `Apply` entry (keyed list elements as
  `k:{"name":"x"}`, set elements as `v:"x"`, other lists as one leaf), computed by `fieldsets`;
* merging follows structured-merge-diff: maps merge, keyed lists and sets merge element by element (shared
  elements in the applied order, live-only ones kept in place), everything else is replaced;
* a field this manager applied last time, does not apply now, and no other entry reaches, is removed;
* a conflict is a leaf another `Apply` entry owns whose live value this apply changes.

Not modelled: ownership by `Update` entries. `record_update` deliberately writes `fieldsV1: {}` for them,
because a detailed set for `kubectl-client-side-apply` makes `kubectl apply --server-side` send a
`csaupgrade` JSON patch to migrate it; so non-apply writers never conflict and never keep a field alive.
"""

from __future__ import annotations

import json
from typing import Any

from kubeserve.api import errors
from kubeserve.api.fieldsets import (
    SERVER_METADATA,
    Field,
    Path,
    applied_fields,
    from_fields_v1,
    get_path,
    json_copy,
    key_pe,
    leaves,
    lookup,
    path_string,
    prefixes,
    remove_path,
    root_type,
    same,
    to_fields_v1,
    value_pe,
)

APPLY = "Apply"
UPDATE = "Update"
# Fields of the applied body that never reach the object: the server owns them.
_NOT_MERGED = SERVER_METADATA - {"name", "namespace"}


def server_side_apply(
    live: dict[str, Any] | None,
    applied: dict[str, Any],
    *,
    manager: str,
    force: bool,
    api_version: str,
    now: str,
    merge_lists_by_key: bool,
) -> dict[str, Any]:
    """The object after `manager` applies `applied` to `live` (None: the object does not exist yet).

    Raises `Conflict` (409, causes of reason `FieldManagerConflict`) when another applier owns a field
    this apply changes and `force` is false; with `force` the fields change hands.
    """
    if not isinstance(applied, dict):
        raise errors.BadRequest("an apply patch must be a YAML or JSON object")
    kind = str(applied.get("kind") or (live or {}).get("kind") or "")
    body = json_copy(applied)
    meta = body.get("metadata")
    if isinstance(meta, dict):
        for name in _NOT_MERGED:
            meta.pop(name, None)
    fields = applied_fields(body, kind, keyed=merge_lists_by_key)

    base = json_copy(live) if live else {}
    entries = _entries(base)
    own = next((e for e in entries if _is(e, manager, APPLY, "")), None)
    previous = from_fields_v1(own.get("fieldsV1")) if own else set()
    others = {id(e): from_fields_v1(e.get("fieldsV1")) for e in entries if e is not own}

    merged: dict[str, Any] = _merge_value(base, body, Field(root_type(kind)), merge_lists_by_key)
    stolen = _conflicts(live or {}, merged, fields, entries, others, manager=manager)
    if stolen and not force:
        raise _conflict_error(stolen)
    for entry, paths in stolen:
        others[id(entry)] -= paths

    kept = prefixes(fields).union(*(prefixes(p) for p in others.values()))
    _prune(merged, previous, kept)

    new_entries: list[dict[str, Any]] = []
    for entry in entries:
        if entry is own:
            continue
        if any(entry is e for e, _ in stolen):
            if not others[id(entry)]:
                continue  # an applier left owning nothing drops out, as in the apiserver
            entry = {**entry, "fieldsV1": to_fields_v1(others[id(entry)])}
        new_entries.append(entry)
    new_entries.append(_entry(manager, APPLY, api_version, now, "", to_fields_v1(fields)))
    merged.setdefault("metadata", {})["managedFields"] = _sorted(new_entries)
    return merged


def record_update(
    old: dict[str, Any] | None,
    new: dict[str, Any],
    *,
    manager: str,
    api_version: str,
    now: str,
    subresource: str = "",
) -> dict[str, Any]:
    """`new` with the (manager, Update[, subresource]) entry of `managedFields` refreshed.

    The entry's `fieldsV1` is always `{}` (see the module docstring). A write that changes nothing but
    metadata bookkeeping adds no entry, as the apiserver records no ownership for it. A body whose
    `managedFields` is absent or empty keeps the stored ones, as the apiserver does so that clients that
    do not know the field cannot wipe it.
    """
    # This runs on every write: copy only the object and metadata dicts (the one key replaced below);
    # everything else is shared with `new`, and the entry dicts are never changed, only replaced.
    out: dict[str, Any] = dict(new)
    meta_in = new.get("metadata")
    meta: dict[str, Any] = dict(meta_in) if isinstance(meta_in, dict) else {}
    out["metadata"] = meta
    stored = (old.get("metadata") or {}).get("managedFields") if old is not None else None
    if stored and not meta.get("managedFields"):
        meta["managedFields"] = list(stored)
    if not manager or (old is not None and _content(old) == _content(out)):
        return out
    entries = [e for e in _entries(out) if not _is(e, manager, UPDATE, subresource)]
    entries.append(_entry(manager, UPDATE, api_version, now, subresource, {}))
    meta["managedFields"] = _sorted(entries)
    return out


# ---- merging -------------------------------------------------------------------------------------------


def _merge_value(live: Any, applied: Any, field: Field, keyed: bool) -> Any:
    """Merge an applied value into a live one (the live value is a private copy, reused in place).

    ObjectMeta lists (finalizers, ownerReferences) merge by key even when `keyed` is off: object
    metadata has one schema for every kind, custom resources included.
    """
    if isinstance(applied, dict):
        out = live if isinstance(live, dict) else {}
        inner = keyed or field.type == "ObjectMeta"
        for name, value in applied.items():
            if value is None:
                out.pop(name, None)
            else:
                out[name] = _merge_value(out.get(name), value, lookup(field.type, name), inner)
        return out
    if isinstance(applied, list) and field.merges and keyed:
        return _merge_list(live if isinstance(live, list) else [], applied, field, keyed)
    return json_copy(applied)


def _merge_list(live: list[Any], applied: list[Any], field: Field, keyed: bool) -> list[Any]:
    def pe(item: Any) -> str:
        if field.key and isinstance(item, dict):
            return key_pe(field.key, item.get(field.key))
        return value_pe(item)

    out: list[Any] = []
    for li, ri in _interleave([pe(v) for v in live], [pe(v) for v in applied]):
        if ri is None:
            assert li is not None
            out.append(live[li])
        elif field.key:
            out.append(_merge_value(None if li is None else live[li], applied[ri], Field(field.type), keyed))
        else:
            out.append(json_copy(applied[ri]))
    return out


def _interleave(lhs: list[str], rhs: list[str]) -> list[tuple[int | None, int | None]]:
    """structured-merge-diff's list merge order, as (live index, applied index) pairs: shared elements
    follow the applied order, live-only ones stay where they were, applied-only ones go where the
    applied list puts them. Duplicated live elements the apply names collapse into one."""
    rhs_set = set(rhs)
    first: dict[str, int] = {}
    for index, name in enumerate(lhs):
        first.setdefault(name, index)
    shared = iter([name for name in rhs if name in first])
    next_shared = next(shared, None)
    merged: set[str] = set()
    out: list[tuple[int | None, int | None]] = []
    li = ri = 0
    while li < len(lhs) or ri < len(rhs):
        if li < len(lhs) and ri < len(rhs):
            name = lhs[li]
            if name == rhs[ri]:
                merged.add(name)
                out.append((first[name], ri))
                li, ri = li + 1, ri + 1
                next_shared = next(shared, None)
                continue
            if name in rhs_set and next_shared is not None and next_shared != name:
                li += 1  # shared, but not the next one in applied order: the applied side places it
                continue
        if li < len(lhs):
            name = lhs[li]
            if name not in rhs_set:
                out.append((li, None))
                li += 1
                continue
            if name in merged:
                li += 1
                continue
        if ri < len(rhs):
            name = rhs[ri]
            merged.add(name)
            out.append((first.get(name), ri))
            ri += 1
            if next_shared == name:
                next_shared = next(shared, None)
    return out


# ---- ownership -----------------------------------------------------------------------------------------


def _conflicts(
    live: dict[str, Any],
    merged: dict[str, Any],
    fields: set[Path],
    entries: list[dict[str, Any]],
    others: dict[int, set[Path]],
    *,
    manager: str,
) -> list[tuple[dict[str, Any], set[Path]]]:
    """The leaves other appliers own that this apply changes, per entry."""
    out = []
    applied_leaves = leaves(fields)
    for entry in entries:
        if entry.get("operation") != APPLY or entry.get("manager") == manager or id(entry) not in others:
            continue
        changed = set()
        for path in leaves(others[id(entry)]) & applied_leaves:
            was, before = get_path(live, path)
            now, after = get_path(merged, path)
            # Only a change of a value that is there counts: an owned field missing from the live object is
            # stale ownership (an Update removed it, and Update ownership is not tracked), not a conflict.
            if was and now and not _equal(before, after):
                changed.add(path)
        if changed:
            out.append((entry, changed))
    return out


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    return same(a, b)


def _conflict_error(stolen: list[tuple[dict[str, Any], set[Path]]]) -> errors.Conflict:
    found = sorted(
        ((str(e.get("manager", "")), path_string(p)) for e, paths in stolen for p in paths),
    )
    causes = [errors.Cause("FieldManagerConflict", f'conflict with "{m}"', field) for m, field in found]
    if len(found) == 1:
        message = f'Apply failed with 1 conflict: conflict with "{found[0][0]}": {found[0][1]}'
    else:
        lines: list[str] = []
        for manager in sorted({m for m, _ in found}):
            lines.append(f'conflicts with "{manager}":')
            lines.extend(f"- {field}" for m, field in found if m == manager)
        message = f"Apply failed with {len(found)} conflicts: " + "\n".join(lines)
    return errors.Conflict(message, causes=causes)


def _prune(obj: dict[str, Any], previous: set[Path], kept: set[Path]) -> None:
    """Remove what this manager applied before and nobody applies now; then drop maps and lists that
    removal emptied, when nobody owns anything under them.

    Only the topmost such paths are removed (their subtrees go with them), and never the key field of a
    list element that stays, which would orphan the element.
    """
    doomed = {p for p in previous if p not in kept}
    for path in doomed:
        if any(path[:i] in doomed for i in range(1, len(path))) or _is_key_of_parent(path):
            continue
        if not remove_path(obj, path):
            continue
        parent = path[:-1]
        while parent and parent not in kept:
            found, value = get_path(obj, parent)
            if not found or value or not isinstance(value, (dict, list)):
                break
            remove_path(obj, parent)
            parent = parent[:-1]


def _is_key_of_parent(path: Path) -> bool:
    if len(path) < 2 or not path[-2].startswith("k:") or not path[-1].startswith("f:"):
        return False
    try:
        keys = json.loads(path[-2][2:])
    except ValueError:
        return False
    return isinstance(keys, dict) and path[-1][2:] in keys


# ---- managedFields entries -----------------------------------------------------------------------------


def _entries(obj: dict[str, Any]) -> list[dict[str, Any]]:
    managed = (obj.get("metadata") or {}).get("managedFields")
    return [e for e in managed if isinstance(e, dict)] if isinstance(managed, list) else []


def _is(entry: dict[str, Any], manager: str, operation: str, subresource: str) -> bool:
    return (
        entry.get("manager") == manager
        and entry.get("operation") == operation
        and (entry.get("subresource") or "") == subresource
    )


def _entry(manager: str, operation: str, api_version: str, now: str, subresource: str, fields: Any) -> dict[str, Any]:
    entry = {"manager": manager, "operation": operation, "apiVersion": api_version, "time": now,
             "fieldsType": "FieldsV1", "fieldsV1": fields}
    if subresource:
        entry["subresource"] = subresource
    return entry


def _sorted(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The apiserver's order: Apply before Update, then by time, manager, apiVersion, subresource."""
    return sorted(entries, key=lambda e: tuple(str(e.get(k) or "") for k in (
        "operation", "time", "manager", "apiVersion", "subresource")))


def _content(obj: dict[str, Any]) -> dict[str, Any]:
    meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k not in ("managedFields", "resourceVersion")}
    return {**obj, "metadata": meta}
