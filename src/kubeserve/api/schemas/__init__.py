"""OpenAPI v3 schemas of every served kind, built in Python from small pieces (see `_build`).

Public API:

* `schema_for(kind)`: the full object schema of a kind (apiVersion, kind, metadata as ObjectMeta, spec,
  status, ...) with its top-level `x-kubernetes-group-version-kind` list. Used by validation, pruning and
  the OpenAPI documents (`kubectl explain`).
* `component_schemas()`: `{schema_name: schema}` for every kind in `KINDS`.
* `list_schema_for(kind)`: the `<Kind>List` schema, whose items `$ref` the kind's schema.
* `schema_name(kind)`: the `components.schemas` key of a kind.

Schemas are self-contained (no `$ref`) and cached; the returned dicts are shared, so never mutate them.
"""

from __future__ import annotations

from functools import cache

from ..kinds import KINDS, ResourceKind
from . import builtins, kserve, openshift
from ._build import API_VERSION, GVK, KIND, Schema, arr, gvk, obj, preserve, resource
from .meta import LIST_META, OBJECT_META

__all__ = ["Schema", "component_schemas", "list_schema_for", "schema_for", "schema_name"]

_BODIES: dict[str, Schema] = {**builtins.SCHEMAS, **kserve.SCHEMAS, **openshift.SCHEMAS}


def schema_name(kind: ResourceKind) -> str:
    """`kind.schema_name`, or a name in the same reversed-domain style for a kind that has none."""
    if kind.schema_name:
        return kind.schema_name
    group = ".".join(reversed(kind.group.split("."))) if kind.group else "io.k8s.api.core"
    return f"{group}.{kind.version}.{kind.kind}"


def _generic(kind: ResourceKind) -> Schema:
    return resource(
        f"{kind.kind} (schema not modelled: spec and status are kept as sent).",
        OBJECT_META,
        {"spec": preserve(), "status": preserve()},
    )


def _gvks(kind: ResourceKind, kind_name: str) -> list[dict[str, str]]:
    return [gvk(kind.group, v, kind_name) for v in (kind.version, *kind.extra_versions)]


@cache
def schema_for(kind: ResourceKind) -> Schema:
    """The full object schema of `kind`, tagged with its group-version-kind(s)."""
    body = _BODIES.get(kind.schema_name) or _generic(kind)
    schema = dict(body)
    schema[GVK] = _gvks(kind, kind.kind)
    return schema


@cache
def list_schema_for(kind: ResourceKind) -> Schema:
    """`<Kind>List`: apiVersion, kind, ListMeta and `items` referring to the kind's schema."""
    schema = obj(
        {
            "apiVersion": API_VERSION,
            "kind": KIND,
            "metadata": LIST_META,
            "items": arr({"$ref": f"#/components/schemas/{schema_name(kind)}"}, f"List of {kind.plural}."),
        },
        required=("items",),
        description=f"{kind.list_kind} is a list of {kind.kind} objects.",
    )
    schema[GVK] = _gvks(kind, kind.list_kind)
    return schema


@cache
def component_schemas() -> dict[str, Schema]:
    """`{schema_name: full object schema}` for every kind in `KINDS`."""
    return {schema_name(k): schema_for(k) for k in KINDS}
