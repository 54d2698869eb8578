"""The list-merge schema of the built-in kinds, and the `fieldsV1` field sets of server-side apply.

Why one module: strategic merge patch (`patch.py`) and server-side apply (`apply.py`) must agree on
which lists are maps keyed by a field, which are sets of scalars and which are atomic values, and the
answer depends on the *path*, not on the field name: container `ports` merge by `containerPort` while
Service `spec.ports` merge by `port`. The apiserver reads this from Go struct tags (`patchStrategy`,
`patchMergeKey`); here it is a small table of named types that both algorithms walk.

The second half is the field-set model apply records in `metadata.managedFields[].fieldsV1`: a set of
paths whose elements are `f:<field>`, `k:{"<key>":<value>}` (a keyed list element), `v:<json>` (a set
element) or `i:<index>`, encoded as the nested object the apiserver writes (a member path that also has
children carries `".": {}`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from kubeserve.api import errors

Path = tuple[str, ...]


@dataclass(frozen=True)
class Field:
    """What the schema says about one field: its type, and for lists how they merge."""

    type: str = ""  # named type of the value (of each element, for lists); "" when nothing is known
    key: str = ""  # a list of objects merged element by element on this field
    set: bool = False  # a list of scalars merged as a set

    @property
    def merges(self) -> bool:
        return bool(self.key) or self.set


_PLAIN = Field()
_SET = Field(set=True)
_BY_TYPE = Field(key="type")

_TYPES: dict[str, dict[str, Field]] = {
    "ObjectMeta": {"finalizers": _SET, "ownerReferences": Field(key="uid")},
    "PodTemplateSpec": {"metadata": Field("ObjectMeta"), "spec": Field("PodSpec")},
    "PodSpec": {
        "containers": Field("Container", key="name"),
        "initContainers": Field("Container", key="name"),
        "ephemeralContainers": Field("Container", key="name"),
        "volumes": Field(key="name"),
        "imagePullSecrets": Field(key="name"),
        "hostAliases": Field(key="ip"),
        "topologySpreadConstraints": Field(key="topologyKey"),
        "schedulingGates": Field(key="name"),
        "resourceClaims": Field(key="name"),
    },
    "Container": {
        "env": Field(key="name"),
        "ports": Field(key="containerPort"),
        "volumeMounts": Field(key="mountPath"),
        "volumeDevices": Field(key="devicePath"),
    },
    "PodStatus": {"conditions": _BY_TYPE, "podIPs": Field(key="ip"), "hostIPs": Field(key="ip")},
    "WorkloadSpec": {"template": Field("PodTemplateSpec")},
    "ConditionedStatus": {"conditions": _BY_TYPE},
    "ServiceSpec": {"ports": Field(key="port")},
    "NodeSpec": {"podCIDRs": _SET},
    "NodeStatus": {"conditions": _BY_TYPE, "addresses": _BY_TYPE},
}

_WORKLOAD = {"spec": Field("WorkloadSpec"), "status": Field("ConditionedStatus")}
_CONDITIONED = {"status": Field("ConditionedStatus")}

# Top-level kinds. Everything not listed (ConfigMap, Secret, PersistentVolume, Endpoints, EndpointSlice,
# Event, StorageClass, Lease, Route, custom resources) has only the ObjectMeta lists: its other lists are
# atomic, which is what the apiserver does for them too.
_KINDS: dict[str, dict[str, Field]] = {
    "Pod": {"spec": Field("PodSpec"), "status": Field("PodStatus")},
    "Deployment": _WORKLOAD,
    "ReplicaSet": _WORKLOAD,
    "Service": {"spec": Field("ServiceSpec"), "status": Field("ConditionedStatus")},
    "ServiceAccount": {"secrets": Field(key="name")},
    "PersistentVolumeClaim": _CONDITIONED,
    "Namespace": _CONDITIONED,
    "Node": {"spec": Field("NodeSpec"), "status": Field("NodeStatus")},
    "HorizontalPodAutoscaler": _CONDITIONED,
}
_OBJECT = "Object"
_TYPES[_OBJECT] = {"metadata": Field("ObjectMeta")}
for _kind, _fields in _KINDS.items():
    _TYPES[_kind] = {"metadata": Field("ObjectMeta"), **_fields}


def root_type(kind: str) -> str:
    """The schema type of a whole object of `kind` (a generic object type for kinds not in the table)."""
    return kind if kind in _KINDS else _OBJECT


def lookup(type_name: str, field: str) -> Field:
    """The schema of `field` inside a value of type `type_name` (a plain field when unknown)."""
    return _TYPES.get(type_name, {}).get(field, _PLAIN)


def json_copy(value: Any) -> Any:
    """A deep copy of a JSON value (much faster than `copy.deepcopy` on these trees)."""
    if isinstance(value, dict):
        return {k: json_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_copy(v) for v in value]
    return value


def same(a: Any, b: Any) -> bool:
    """JSON equality as Go compares decoded values: `1 == 1.0`, but `true` is not `1`."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return bool(a == b)


# ---- paths ---------------------------------------------------------------------------------------------


def _dump(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=True)


def field_pe(name: str) -> str:
    return "f:" + name


def key_pe(key: str, value: Any) -> str:
    return "k:" + _dump({key: value})


def value_pe(value: Any) -> str:
    return "v:" + _dump(value)


def path_string(path: Path) -> str:
    """A path as the apiserver prints it in conflicts: `.spec.containers[name="main"].image`."""
    out = []
    for pe in path:
        kind, body = pe[:2], pe[2:]
        if kind == "f:":
            out.append("." + body)
        elif kind == "k:":
            keys = json.loads(body)
            out.append("[" + ",".join(f"{k}={_dump(v)}" for k, v in sorted(keys.items())) + "]")
        elif kind == "v:":
            out.append(f"[={body}]")
        else:
            out.append(f"[{body}]")
    return "".join(out)


def prefixes(paths: set[Path]) -> set[Path]:
    """Every non-empty prefix of every path: the nodes a set of paths reaches."""
    return {p[:i] for p in paths for i in range(1, len(p) + 1)}


def leaves(paths: set[Path]) -> set[Path]:
    """The members no other member lies under."""
    parents = {p[:i] for p in paths for i in range(1, len(p))}
    return paths - parents


# ---- fieldsV1 encoding ---------------------------------------------------------------------------------


def to_fields_v1(paths: set[Path]) -> dict[str, Any]:
    """Encode a path set as `fieldsV1`: nested objects, `{}` leaves, `".": {}` on members with children."""
    root: dict[str, Any] = {}
    for path in paths:
        node = root
        for pe in path:
            node = node.setdefault(pe, {})
    for path in paths:
        node = root
        for pe in path:
            node = node[pe]
        if node:
            node["."] = {}
    return _sorted_tree(root)


def _sorted_tree(node: dict[str, Any]) -> dict[str, Any]:
    return {k: _sorted_tree(node[k]) for k in sorted(node, key=lambda k: (k != ".", k))}


def from_fields_v1(tree: Any) -> set[Path]:
    """Decode `fieldsV1` into its member paths (tolerating junk: anything not an object owns nothing)."""
    out: set[Path] = set()

    def walk(node: Any, prefix: Path) -> None:
        if not isinstance(node, dict):
            return
        if prefix and (not node or "." in node):
            out.add(prefix)
        for pe, child in node.items():
            if pe != ".":
                walk(child, (*prefix, pe))

    walk(tree, ())
    return out


# ---- values at paths -----------------------------------------------------------------------------------


def _locate(container: Any, pe: str) -> tuple[bool, Any]:
    """Find one path element in a value: (found, map key or list index)."""
    kind, body = pe[:2], pe[2:]
    if kind == "f:":
        return (isinstance(container, dict) and body in container), body
    if not isinstance(container, list):
        return False, None
    if kind == "i:":
        index = int(body) if body.isdigit() else -1
        return 0 <= index < len(container), index
    try:
        wanted = json.loads(body)
    except ValueError:
        return False, None
    for index, item in enumerate(container):
        if kind == "v:" and same(item, wanted):
            return True, index
        if kind == "k:" and isinstance(item, dict) and isinstance(wanted, dict) and all(
            k in item and same(item[k], v) for k, v in wanted.items()
        ):
            return True, index
    return False, None


def get_path(obj: Any, path: Path) -> tuple[bool, Any]:
    """The value at `path` in `obj`: (found, value)."""
    node = obj
    for pe in path:
        found, where = _locate(node, pe)
        if not found:
            return False, None
        node = node[where]
    return True, node


def remove_path(obj: Any, path: Path) -> bool:
    """Remove the value at `path` from `obj` in place; False when it was not there."""
    found, parent = get_path(obj, path[:-1])
    if not found or not path:
        return False
    found, where = _locate(parent, path[-1])
    if found:
        del parent[where]
    return found


# ---- the field set of an applied configuration ---------------------------------------------------------

# Set by the server, never owned by an applier (the apiserver's stripMeta set, plus deletion fields).
SERVER_METADATA = frozenset({
    "name", "namespace", "uid", "resourceVersion", "generation", "creationTimestamp", "managedFields",
    "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink",
})


def applied_fields(obj: dict[str, Any], kind: str, *, keyed: bool) -> set[Path]:
    """The member paths of an applied configuration, as server-side apply records them.

    Type meta, server-owned metadata and `status` are left out. Lists the schema marks as keyed (or as
    sets) get one member per element when `keyed` is true; ObjectMeta lists always do, because object
    metadata has one fixed schema for every kind, custom resources included. Other lists are one leaf.
    """
    out: set[Path] = set()
    typ = root_type(kind)
    for name, value in obj.items():
        if name in ("apiVersion", "kind", "status"):
            continue
        if name == "metadata" and isinstance(value, dict):
            meta = {k: v for k, v in value.items() if k not in SERVER_METADATA}
            _walk_map(meta, "ObjectMeta", (field_pe("metadata"),), keyed, out, allow_empty=False)
            continue
        _walk_value(value, lookup(typ, name), (field_pe(name),), keyed, out)
    return out


def _walk_map(
    value: dict[str, Any], typ: str, path: Path, keyed: bool, out: set[Path], *, allow_empty: bool = True
) -> None:
    if not value:
        if allow_empty:
            out.add(path)
        return
    inner = keyed or typ == "ObjectMeta"  # object metadata has one schema, custom resources included
    for name, child in value.items():
        _walk_value(child, lookup(typ, name), (*path, field_pe(name)), inner, out)


def _walk_value(value: Any, field: Field, path: Path, keyed: bool, out: set[Path]) -> None:
    if isinstance(value, dict):
        _walk_map(value, field.type, path, keyed, out)
    elif isinstance(value, list) and keyed and field.merges and value:
        seen: set[str] = set()
        for item in value:
            pe = _element_pe(item, field, path)
            if pe in seen:
                raise errors.BadRequest(f"{path_string(path)}: duplicate entries for key {path_string((pe,))}")
            seen.add(pe)
            out.add((*path, pe))
            if isinstance(item, dict):
                _walk_map(item, field.type, (*path, pe), keyed, out, allow_empty=False)
    else:
        out.add(path)


def _element_pe(item: Any, field: Field, path: Path) -> str:
    if field.key:
        if not isinstance(item, dict) or item.get(field.key) is None:
            raise errors.BadRequest(
                f"{path_string(path)}: associative list with keys has an element that omits key field "
                f'"{field.key}"'
            )
        return key_pe(field.key, item[field.key])
    if isinstance(item, (dict, list)):
        raise errors.BadRequest(f"{path_string(path)}: a set may only hold scalar values")
    return value_pe(item)
