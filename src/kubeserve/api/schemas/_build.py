"""Small builders for structural (CRD-style) OpenAPI v3 schemas.

Every schema in `kubeserve.api.schemas` is composed from these helpers, so the shapes stay uniform:
objects carry `type: object` and `properties`, maps use `additionalProperties`, and the Kubernetes
extensions (`x-kubernetes-int-or-string`, `x-kubernetes-preserve-unknown-fields`) are spelled in one
place. The returned dicts are plain JSON-ready data; treat them as immutable once built (they are shared
between kinds and cached).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

Schema = dict[str, Any]

PRESERVE = "x-kubernetes-preserve-unknown-fields"
INT_OR_STRING = "x-kubernetes-int-or-string"
GVK = "x-kubernetes-group-version-kind"
PATCH_MERGE_KEY = "x-kubernetes-patch-merge-key"
PATCH_STRATEGY = "x-kubernetes-patch-strategy"
LIST_TYPE = "x-kubernetes-list-type"
LIST_MAP_KEYS = "x-kubernetes-list-map-keys"

# The pattern controller-gen puts on resource.Quantity fields of CRDs.
QUANTITY_PATTERN = (
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)"
    r"|(\.[0-9]+))))?$"
)


def _described(schema: Schema, description: str) -> Schema:
    if description:
        schema["description"] = description
    return schema


def obj(
    props: Mapping[str, Schema],
    *,
    required: Sequence[str] = (),
    description: str = "",
    preserve_unknown: bool = False,
) -> Schema:
    """An object with known `props`; unknown fields are dropped unless `preserve_unknown`."""
    schema: Schema = {"type": "object", "properties": dict(props)}
    if required:
        schema["required"] = list(required)
    if preserve_unknown:
        schema[PRESERVE] = True
    return _described(schema, description)


def arr(
    items: Schema,
    description: str = "",
    *,
    min_items: int | None = None,
    max_items: int | None = None,
    merge_key: str | None = None,
    strategy: str = "merge",
) -> Schema:
    """A list. `merge_key` marks a strategic-merge list (`x-kubernetes-patch-merge-key`), as the built-in
    types declare it; kubectl computes apply patches for built-in kinds from these extensions."""
    schema: Schema = {"type": "array", "items": items}
    if merge_key is not None:
        schema.update(
            {
                PATCH_MERGE_KEY: merge_key,
                PATCH_STRATEGY: strategy,
                LIST_TYPE: "map",
                LIST_MAP_KEYS: [merge_key],
            }
        )
    if min_items is not None:
        schema["minItems"] = min_items
    if max_items is not None:
        schema["maxItems"] = max_items
    return _described(schema, description)


def string(
    description: str = "",
    *,
    enum: Sequence[str] | None = None,
    pattern: str | None = None,
    fmt: str | None = None,
    min_length: int | None = None,
    max_length: int | None = None,
    default: str | None = None,
) -> Schema:
    schema: Schema = {"type": "string"}
    if enum is not None:
        schema["enum"] = list(enum)
    if pattern is not None:
        schema["pattern"] = pattern
    if fmt is not None:
        schema["format"] = fmt
    if min_length is not None:
        schema["minLength"] = min_length
    if max_length is not None:
        schema["maxLength"] = max_length
    if default is not None:
        schema["default"] = default
    return _described(schema, description)


def integer(
    description: str = "",
    *,
    fmt: str = "int32",
    minimum: int | None = None,
    maximum: int | None = None,
    default: int | None = None,
) -> Schema:
    schema: Schema = {"type": "integer", "format": fmt}
    if minimum is not None:
        schema["minimum"] = minimum
    if maximum is not None:
        schema["maximum"] = maximum
    if default is not None:
        schema["default"] = default
    return _described(schema, description)


def int64(description: str = "", *, minimum: int | None = None) -> Schema:
    return integer(description, fmt="int64", minimum=minimum)


def number(description: str = "") -> Schema:
    return _described({"type": "number", "format": "double"}, description)


def boolean(description: str = "") -> Schema:
    return _described({"type": "boolean"}, description)


def date_time(description: str = "") -> Schema:
    return string(description, fmt="date-time")


def int_or_string(description: str = "") -> Schema:
    return _described({INT_OR_STRING: True}, description)


def quantity(description: str = "") -> Schema:
    """A resource.Quantity: "500m", "16Gi", "1" or a bare number."""
    return _described({INT_OR_STRING: True, "pattern": QUANTITY_PATTERN}, description)


def string_map(description: str = "") -> Schema:
    return _described({"type": "object", "additionalProperties": {"type": "string"}}, description)


def quantity_map(description: str = "") -> Schema:
    return _described({"type": "object", "additionalProperties": quantity()}, description)


def string_list(description: str = "", *, as_set: bool = False) -> Schema:
    """A list of strings; `as_set` merges it as a set under strategic merge patch (e.g. finalizers)."""
    schema = arr({"type": "string"}, description)
    if as_set:
        schema.update({PATCH_STRATEGY: "merge", LIST_TYPE: "set"})
    return schema


def preserve(description: str = "") -> Schema:
    """An object whose contents are kept as sent and not checked (x-kubernetes-preserve-unknown-fields)."""
    return _described({"type": "object", PRESERVE: True}, description)


def with_description(schema: Schema, description: str) -> Schema:
    """A shallow copy of `schema` with its own description (for a shared piece used under a new name)."""
    copy = dict(schema)
    copy["description"] = description
    return copy


def merged(*parts: Mapping[str, Schema]) -> dict[str, Schema]:
    """Property maps combined left to right (Go's inlined structs)."""
    out: dict[str, Schema] = {}
    for part in parts:
        out.update(part)
    return out


def gvk(group: str, version: str, kind: str) -> dict[str, str]:
    return {"group": group, "version": version, "kind": kind}


API_VERSION = string(
    "APIVersion defines the versioned schema of this representation of an object. Servers should convert "
    "recognized schemas to the latest internal value, and may reject unrecognized values."
)
KIND = string(
    "Kind is a string value representing the REST resource this object represents. Servers may infer this "
    "from the endpoint the client submits requests to. Cannot be updated. In CamelCase."
)


def resource(
    description: str,
    metadata: Schema,
    props: Mapping[str, Schema],
    *,
    required: Sequence[str] = (),
) -> Schema:
    """A top-level kind: apiVersion, kind and metadata, then the kind's own fields (spec, status, ...)."""
    return obj(
        merged({"apiVersion": API_VERSION, "kind": KIND, "metadata": metadata}, props),
        required=required,
        description=description,
    )
