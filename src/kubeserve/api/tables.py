"""`meta.k8s.io/v1` Table responses: what `kubectl get` and the MCP server's list tools render.

kubectl asks for a Table on every get, list and watch and prints only what the server puts in it (a
plain List shows `NAME AGE` for every kind), so this is where the columns users see are decided:

* custom resources (and any kind carrying `printer_columns`) follow apiextensions' TableConvertor:
  `Name` plus the CRD's `additionalPrinterColumns` (`Age` alone when there are none); each column's
  JSONPath takes the *first* match only, `date` columns become ages ("5m12s"), `integer` / `number` /
  `boolean` columns keep JSON types, `string` columns print the match as text (maps and lists as
  compact JSON), and a missing value is null;
* built-in kinds use the server-side printers of `printers`;
* a built-in kind without a printer gets the apiserver's default convertor: `Name`, `Created At`.

Everything is pure: the caller passes `now` (ages) and the list's `resourceVersion`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from kubeserve.api.errors import BadRequest
from kubeserve.api.jsonpath import compile_path
from kubeserve.api.kinds import PrinterColumn, ResourceKind
from kubeserve.api.printers import (
    AGE_DESCRIPTION,
    NAME,
    NAME_DESCRIPTION,
    PRINTERS,
    Column,
    ago,
    human_duration,
    parse_rfc3339,
)

__all__ = ["INCLUDE_OBJECT_VALUES", "column_definitions", "human_duration", "row_cells", "table"]

INCLUDE_OBJECT_VALUES = ("None", "Object", "PartialObjectMetadata")

_CRD_AGE = PrinterColumn("Age", "date", ".metadata.creationTimestamp", description=AGE_DESCRIPTION)
_CREATED_AT = Column("Created At", "date", AGE_DESCRIPTION)


def _uses_printer_columns(kind: ResourceKind) -> bool:
    return bool(kind.printer_columns) or not kind.builtin


def _crd_columns(kind: ResourceKind) -> tuple[PrinterColumn, ...]:
    return kind.printer_columns or (_CRD_AGE,)


def _crd_column(col: PrinterColumn) -> Column:
    default = f"Custom resource definition column (in JSONPath format): {col.json_path}"
    description = col.description or default
    return Column(col.name, col.type, description, col.priority, col.format)


def column_definitions(kind: ResourceKind) -> list[dict[str, Any]]:
    """The Table's `columnDefinitions` for `kind`."""
    if _uses_printer_columns(kind):
        columns = [NAME, *(_crd_column(c) for c in _crd_columns(kind))]
    elif (kind.group, kind.kind) in PRINTERS:
        columns = list(PRINTERS[(kind.group, kind.kind)].columns)
    else:
        columns = [Column("Name", "string", NAME_DESCRIPTION, format="name"), _CREATED_AT]
    return [c.to_dict() for c in columns]


def _go_text(value: Any) -> str | None:
    """A JSON value as client-go's jsonpath prints one result (fmt.Print, or JSON for maps and lists)."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e21:
            return str(int(value))
        return repr(value)
    if isinstance(value, int):
        return str(value)
    return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def _typed_cell(type_: str, value: Any, now: datetime) -> Any:
    """apiextensions `cellForJSONValue`: a cell of the column's type, or None when the value does not fit."""
    number = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if type_ == "integer":
        return int(value) if number else None
    if type_ == "number":
        return float(value) if number else None
    if type_ == "boolean":
        return value if isinstance(value, bool) else None
    if type_ == "date" and isinstance(value, str):
        if value in ("", "null"):
            return "<unknown>"
        try:
            return ago(parse_rfc3339(value), now)
        except ValueError:
            return "<invalid>"
    return None


def _crd_cell(col: PrinterColumn, obj: Mapping[str, Any], now: datetime) -> Any:
    try:
        results = compile_path(col.json_path).evaluate(obj)
    except ValueError:
        return None
    if not results or results[0] is None:
        return None
    if col.type == "string":
        return _go_text(results[0])
    return _typed_cell(col.type, results[0], now)


def row_cells(kind: ResourceKind, obj: Mapping[str, Any], now: datetime) -> list[Any]:
    """The cells of `obj`'s row, one per entry of `column_definitions(kind)`."""
    name = (obj.get("metadata") or {}).get("name", "")
    if _uses_printer_columns(kind):
        return [name, *(_crd_cell(c, obj, now) for c in _crd_columns(kind))]
    printer = PRINTERS.get((kind.group, kind.kind))
    if printer is not None:
        return printer.row(obj, now)
    created = (obj.get("metadata") or {}).get("creationTimestamp")
    return [name, created or "0001-01-01T00:00:00Z"]


def _row_object(obj: Mapping[str, Any], include_object: str) -> dict[str, Any] | None:
    if include_object == "None":
        return None
    if include_object == "Object":
        return dict(obj)
    metadata = {k: v for k, v in (obj.get("metadata") or {}).items() if k != "managedFields"}
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": metadata}


def table(
    kind: ResourceKind,
    objects: list[dict[str, Any]],
    *,
    now: datetime,
    resource_version: str,
    include_object: str | None = "PartialObjectMetadata",
    with_headers: bool = True,
    continue_token: str = "",
) -> dict[str, Any]:
    """A `meta.k8s.io/v1` Table of `objects` (one row each, in order).

    `include_object` is the `includeObject` query parameter ("None", "Object", "PartialObjectMetadata";
    "" or None mean the default, PartialObjectMetadata); anything else is a 400. `with_headers=False`
    leaves out `columnDefinitions`, as watch events after the first do.
    """
    mode = include_object or "PartialObjectMetadata"
    if mode not in INCLUDE_OBJECT_VALUES:
        raise BadRequest(f'unrecognized includeObject value: "{include_object}"')
    printer = None if _uses_printer_columns(kind) else PRINTERS.get((kind.group, kind.kind))
    rows: list[dict[str, Any]] = []
    for obj in objects:
        row: dict[str, Any] = {"cells": row_cells(kind, obj, now)}
        conditions = printer.conditions(obj) if printer is not None and printer.conditions else []
        if conditions:
            row["conditions"] = conditions
        obj_part = _row_object(obj, mode)
        if obj_part is not None:
            row["object"] = obj_part
        rows.append(row)
    metadata: dict[str, Any] = {"resourceVersion": resource_version}
    if continue_token:
        metadata["continue"] = continue_token
    out: dict[str, Any] = {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": metadata}
    if with_headers:
        out["columnDefinitions"] = column_definitions(kind)
    out["rows"] = rows
    return out
