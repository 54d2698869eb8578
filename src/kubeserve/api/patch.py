"""INTERIM patch functions (replaced by the full implementation)."""
from __future__ import annotations
import copy
from typing import Any
import jsonpatch
from kubeserve.api import errors

_KEYS = {"containers": "name", "initContainers": "name", "env": "name", "volumes": "name", "volumeMounts": "mountPath",
         "conditions": "type", "imagePullSecrets": "name"}

def merge_patch(original: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(original) if isinstance(original, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out

def json_patch(original: dict[str, Any], operations: Any) -> dict[str, Any]:
    if not isinstance(operations, list):
        raise errors.BadRequest("a JSON patch must be a list of operations")
    try:
        return jsonpatch.JsonPatch(operations).apply(copy.deepcopy(original))  # type: ignore[no-any-return]
    except jsonpatch.JsonPatchTestFailed as exc:
        raise errors.Invalid(f"the server rejected our request due to an error in our request: {exc}") from exc
    except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
        raise errors.Invalid(f"the server rejected our request due to an error in our request: {exc}") from exc

def strategic_merge_patch(original: dict[str, Any], patch: dict[str, Any], kind: str) -> dict[str, Any]:
    def merge(o: Any, p: Any) -> Any:
        if not isinstance(p, dict):
            return copy.deepcopy(p)
        out = copy.deepcopy(o) if isinstance(o, dict) else {}
        for k, v in p.items():
            if k.startswith("$"):
                continue
            if v is None:
                out.pop(k, None)
            elif isinstance(v, list) and k in _KEYS and isinstance(out.get(k), list):
                key = _KEYS[k]
                items = list(out[k])
                for el in v:
                    if isinstance(el, dict) and el.get("$patch") == "delete":
                        items = [i for i in items if i.get(key) != el.get(key)]
                        continue
                    for idx, i in enumerate(items):
                        if isinstance(i, dict) and isinstance(el, dict) and i.get(key) == el.get(key):
                            items[idx] = merge(i, el)
                            break
                    else:
                        items.append(merge({}, el))
                out[k] = items
            else:
                out[k] = merge(out.get(k), v)
        return out
    return merge(original, patch)  # type: ignore[no-any-return]
