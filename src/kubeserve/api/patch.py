"""The three PATCH formats the apiserver accepts, as pure functions over JSON values.

* `merge_patch`: RFC 7386 (kubectl label/annotate/scale, kopf, CustomObjectsApi, KServeClient).
* `json_patch`: RFC 6902 through the `jsonpatch` library. kopf guards finalizer edits with a `test` op on
  `/metadata/resourceVersion` and relies on a failed test answering 422, so operations that cannot be
  applied raise `Invalid`; documents that are not a well-formed patch raise `BadRequest`.
* `strategic_merge_patch`: Kubernetes' strategic merge patch for the built-in kinds (client-side
  `kubectl apply`, `kubectl patch`, the Python client's CoreV1/AppsV1 `patch_*`). It follows
  apimachinery's `strategicpatch` merge step: keyed lists merge element by element with the ordering
  rules of `$setElementOrder` (patch order wins, server-only elements keep their place), scalar sets
  union, the `$patch`, `$retainKeys` and `$deleteFromPrimitiveList` directives. Where the Go code yields
  something unsound (directives copied verbatim into a new field, deleting from a missing list *adding*
  the items) it merges into an empty value instead. Merge keys are path-aware, from `fieldsets`.

None of them mutates its inputs: they copy once and merge into the private copy.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jsonpatch
import jsonpointer

from kubeserve.api import errors
from kubeserve.api.fieldsets import Field, json_copy, lookup, root_type, same

DIRECTIVE = "$patch"
RETAIN_KEYS = "$retainKeys"
SET_ORDER = "$setElementOrder/"
DELETE_FROM = "$deleteFromPrimitiveList/"
_DELETED = object()  # `_merge_map`'s answer for a map carrying `$patch: delete`


# ---- RFC 7386 ------------------------------------------------------------------------------------------


def merge_patch(original: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: objects merge, `null` deletes, anything else (lists too) replaces."""
    if not isinstance(patch, dict):
        return json_copy(patch)
    return _merge_into(json_copy(original) if isinstance(original, dict) else {}, patch)


def _merge_into(out: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    # `out` is already a private copy: merge in place rather than copying it again at every level.
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict):
            current = out.get(key)
            out[key] = _merge_into(current if isinstance(current, dict) else {}, value)
        else:
            out[key] = json_copy(value)
    return out


# ---- RFC 6902 ------------------------------------------------------------------------------------------

_OPS: dict[str, tuple[str, ...]] = {
    "add": ("value",), "remove": (), "replace": ("value",), "move": ("from",), "copy": ("from",), "test": ("value",)
}


def json_patch(original: dict[str, Any], operations: Any) -> dict[str, Any]:
    """Apply an RFC 6902 JSON patch; raises `BadRequest` for a malformed one, `Invalid` when an op fails."""
    if not isinstance(operations, list):
        raise errors.BadRequest(
            f"invalid JSON patch: expected a list of operations, got {type(operations).__name__}"
        )
    for index, op in enumerate(operations):
        _check_operation(index, op)
    doc: Any = json_copy(original)
    for index, op in enumerate(operations):
        try:
            doc = jsonpatch.JsonPatch([op]).apply(doc, in_place=True)
        except jsonpatch.InvalidJsonPatch as exc:
            raise errors.BadRequest(f"invalid JSON patch operation {index}: {exc}") from exc
        except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException, LookupError, TypeError) as exc:
            where = f"{op['op']} operation at {op['path']!r}"
            if op["op"] in ("move", "copy"):
                where += f" from {op['from']!r}"
            detail = f"{where} (operation {index}) failed: {exc}"
            raise errors.Invalid(
                f"the server rejected our request due to an error in our request: {detail}",
                causes=[errors.Cause("UnexpectedServerResponse", detail)],
            ) from exc
    if not isinstance(doc, dict):
        raise errors.BadRequest("invalid JSON patch: the result must be a JSON object")
    return doc


def _check_operation(index: int, op: Any) -> None:
    if not isinstance(op, dict):
        raise errors.BadRequest(f"invalid JSON patch operation {index}: expected an object, got {op!r}")
    name = op.get("op")
    if not isinstance(name, str) or name not in _OPS:
        supported = ", ".join(_OPS)
        problem = "missing \"op\"" if name is None else f"unsupported op {name!r}"
        raise errors.BadRequest(f"invalid JSON patch operation {index}: {problem} (supported: {supported})")
    for member in ("path", *_OPS[name]):
        if member not in op:
            raise errors.BadRequest(f"invalid JSON patch operation {index} ({name}): missing {member!r}")
        if member in ("path", "from"):
            _check_pointer(index, name, member, op[member])


def _check_pointer(index: int, name: str, member: str, pointer: Any) -> None:
    ok = isinstance(pointer, str) and (pointer == "" or pointer.startswith("/"))
    if ok:
        body = pointer.replace("~0", "").replace("~1", "")
        ok = "~" not in body
    if not ok:
        raise errors.BadRequest(
            f"invalid JSON patch operation {index} ({name}): {member} {pointer!r} is not a JSON pointer "
            "(it must be empty or start with '/', and '~' may only appear as ~0 or ~1)"
        )


# ---- strategic merge patch -----------------------------------------------------------------------------


def strategic_merge_patch(original: dict[str, Any], patch: dict[str, Any], kind: str) -> dict[str, Any]:
    """Apply a strategic merge patch to an object of the built-in `kind`; `$`-directives never survive."""
    if not isinstance(patch, dict):
        raise errors.BadRequest("a strategic merge patch must be a JSON object")
    base = json_copy(original) if isinstance(original, dict) else {}
    merged = _merge_map(base, patch, root_type(kind))
    return {} if merged is _DELETED else _strip(merged)


def _merge_map(original: dict[str, Any], patch: dict[str, Any], typ: str) -> Any:
    """Merge `patch` into `original` (a private copy, changed in place). `patch` is never changed."""
    directive = patch.get(DIRECTIVE)
    if DIRECTIVE in patch:
        if directive == "delete":
            return _DELETED
        rest = {k: v for k, v in patch.items() if k != DIRECTIVE}
        if directive == "replace":
            return _merge_map({}, rest, typ)
        if directive != "merge":
            raise errors.BadRequest(f"Unknown patch type: {directive!r} in map: {patch}")
        patch = rest
    plain: dict[str, Any] = {}
    orders: dict[str, list[Any]] = {}
    deletions: dict[str, list[Any]] = {}
    retain: Any = None
    for key, value in patch.items():
        if not key.startswith("$"):
            plain[key] = value
        elif key == RETAIN_KEYS:
            retain = value
        elif key.startswith(SET_ORDER) and len(key) > len(SET_ORDER):
            orders[key[len(SET_ORDER):]] = _directive_list(key, value)
        elif key.startswith(DELETE_FROM) and len(key) > len(DELETE_FROM):
            deletions[key[len(DELETE_FROM):]] = _directive_list(key, value)
        else:
            raise errors.BadRequest(f"unknown strategic merge patch directive {key!r}")
    if retain is not None or RETAIN_KEYS in patch:
        _retain_keys(original, plain, retain)
    for name, order in orders.items():
        _set_element_order(original, plain, name, order, lookup(typ, name))
    for name, value in plain.items():
        _merge_field(original, name, value, lookup(typ, name))
    for name, doomed in deletions.items():
        current = original.get(name)
        if isinstance(current, list):
            original[name] = [v for v in current if not any(same(v, d) for d in doomed)]
    return original


def _directive_list(key: str, value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise errors.BadRequest(f"invalid patch: {key} must be a list, got {value!r}")
    return value


def _retain_keys(original: dict[str, Any], plain: dict[str, Any], retain: Any) -> None:
    if not isinstance(retain, list):
        raise errors.BadRequest("invalid patch format of retainKeys: $retainKeys must be a list")
    keep = {k for k in retain if isinstance(k, str)}
    stray = [k for k, v in plain.items() if v is not None and k not in keep]
    if stray:
        raise errors.BadRequest(f"invalid patch format of retainKeys: {stray} are not listed in $retainKeys")
    for key in [k for k in original if k not in keep]:
        del original[key]


def _merge_field(original: dict[str, Any], name: str, value: Any, field: Field) -> None:
    if value is None:
        original.pop(name, None)
        return
    current = original.get(name)
    if isinstance(value, dict):
        merged = _merge_map(current if isinstance(current, dict) else {}, value, field.type)
        if merged is _DELETED:
            original.pop(name, None)
        else:
            original[name] = merged
    elif isinstance(value, list):
        if field.merges:
            original[name] = _merge_list(current if isinstance(current, list) else [], value, field)
        else:
            original[name] = _replace_list(value, field)
    else:
        original[name] = value


def _replace_list(patch: list[Any], field: Field) -> list[Any]:
    """A list without merge semantics is replaced; nested directives are still honoured."""
    out = []
    for item in patch:
        if isinstance(item, dict):
            if DIRECTIVE in item and set(item) == {DIRECTIVE}:
                continue  # a bare `{"$patch": "replace"}` marker: replacing is what happens anyway
            merged = _merge_map({}, item, field.type)
            if merged is not _DELETED:
                out.append(merged)
        else:
            out.append(json_copy(item))
    return out


def _merge_list(original: list[Any], patch: list[Any], field: Field) -> list[Any]:
    """Merge a list with merge semantics: by key for objects, as a set for scalars."""
    specials = [p for p in patch if isinstance(p, dict) and DIRECTIVE in p]
    items = [p for p in patch if not (isinstance(p, dict) and DIRECTIVE in p)]
    replace = False
    for special in specials:
        directive = special[DIRECTIVE]
        if directive == "replace":
            replace = True
        elif directive == "delete":
            key_value = _key_of(special, field)
            original = [o for o in original if not (isinstance(o, dict) and same(o.get(field.key), key_value))]
        elif directive == "merge":
            if field.key and field.key in special:
                items.append({k: v for k, v in special.items() if k != DIRECTIVE})
        else:
            raise errors.BadRequest(f"Unknown patch type: {directive!r} in list element: {special}")
    _check_element_types(original, items)
    if replace:
        original, items = [], items
    if any(isinstance(v, dict) for v in original + items):
        if not field.key:
            raise errors.BadRequest("cannot merge lists of objects without a merge key")
        merged = list(original)
        for item in items:
            key_value = _key_of(item, field)
            index = next((i for i, o in enumerate(merged) if same(o.get(field.key), key_value)), -1)
            if index >= 0:
                result = _merge_map(merged[index], item, field.type)
                if result is _DELETED:
                    del merged[index]
                else:
                    merged[index] = result
            else:
                result = _merge_map({}, item, field.type)
                if result is not _DELETED:
                    merged.append(result)
        ident: Callable[[Any], Any] = lambda v: v.get(field.key)  # noqa: E731
    else:
        merged = _unique([*original, *(json_copy(v) for v in items)])
        ident = lambda v: v  # noqa: E731
    return _normalize_order(merged, items, original, ident)


def _key_of(item: dict[str, Any], field: Field) -> Any:
    if not field.key or field.key not in item:
        raise errors.BadRequest(f"map: {item} does not contain declared merge key: {field.key}")
    return item[field.key]


def _check_element_types(*lists: list[Any]) -> None:
    kinds = {type(v) is dict for lst in lists for v in lst}
    if any(isinstance(v, list) for lst in lists for v in lst):
        raise errors.BadRequest("strategic merge patch does not support lists of lists")
    if len(kinds) > 1:
        raise errors.BadRequest("list element types are not identical: objects mixed with scalars")


def _unique(values: list[Any]) -> list[Any]:
    out: list[Any] = []
    for v in values:
        if not any(same(v, o) for o in out):
            out.append(v)
    return out


def _set_element_order(
    original: dict[str, Any], plain: dict[str, Any], name: str, order: list[Any], field: Field
) -> None:
    """`$setElementOrder/<name>`: merge the list now, then order it as the directive says."""
    current = original.get(name)
    server = current if isinstance(current, list) else []
    value = plain.get(name)
    if name in plain and value is not None:
        if not isinstance(value, list):
            raise errors.BadRequest(f"invalid patch: {name} must be a list to go with {SET_ORDER}{name}")
        del plain[name]
        merged = _merge_list(server, value, field) if field.merges else _replace_list(value, field)
    elif isinstance(current, list):
        merged = current
    else:
        return
    if not field.merges:
        original[name] = merged
        return
    if field.key:
        if any(not isinstance(o, dict) or field.key not in o for o in order):
            raise errors.BadRequest(f"invalid patch: every {SET_ORDER}{name} element needs the merge key {field.key}")
        ident: Callable[[Any], Any] = lambda v: v.get(field.key) if isinstance(v, dict) else None  # noqa: E731
    else:
        ident = lambda v: v  # noqa: E731
    original[name] = _normalize_order(merged, order, server, ident)


def _index(items: list[Any], value: Any, ident: Callable[[Any], Any]) -> int:
    wanted = ident(value)
    return next((i for i, v in enumerate(items) if same(ident(v), wanted)), -1)


def _normalize_order(merged: list[Any], order: list[Any], server: list[Any], ident: Callable[[Any], Any]) -> list[Any]:
    """apimachinery's normalizeElementOrder: elements named in `order` come in that order, the others
    keep the server's order, and the two runs interleave by their positions in the server list."""
    in_patch = [v for v in merged if _index(order, v, ident) >= 0]
    server_only = [v for v in merged if _index(order, v, ident) < 0]
    in_patch = _sort_by(in_patch, order, ident)
    server_only = _sort_by(server_only, server, ident)
    out: list[Any] = []
    i = j = 0
    while i < len(server_only) or j < len(in_patch):
        if j >= len(in_patch):
            out.append(server_only[i])
            i += 1
        elif i >= len(server_only):
            out.append(in_patch[j])
            j += 1
        else:
            li, ri = _index(server, server_only[i], ident), _index(server, in_patch[j], ident)
            if 0 <= li < ri:
                out.append(server_only[i])
                i += 1
            else:
                out.append(in_patch[j])
                j += 1
    return out


def _sort_by(items: list[Any], order: list[Any], ident: Callable[[Any], Any]) -> list[Any]:
    """Stable sort by position in `order`; elements it does not name go last, in their own order."""
    positions = [_index(order, v, ident) for v in items]
    ranked = sorted(range(len(items)), key=lambda n: (positions[n] < 0, positions[n], n))
    return [items[n] for n in ranked]


def _strip(value: Any) -> Any:
    """Drop every `$`-key left anywhere, in place (the value is the private result copy)."""
    if isinstance(value, dict):
        for key in [k for k in value if k.startswith("$")]:
            del value[key]
        for child in value.values():
            _strip(child)
    elif isinstance(value, list):
        for child in value:
            _strip(child)
    return value
