"""OpenAPI v3 discovery documents: `GET /openapi/v3` and `GET /openapi/v3/api/v1`, `/openapi/v3/apis/<g>/<v>`.

What the clients rely on (see notes §4): kubectl finds, in the group-version document, a PATCH operation
whose `x-kubernetes-group-version-kind` (an object) equals the object's GVK and which declares the
`fieldValidation` query parameter; it then leaves validation to the server (`fieldValidation=Strict`).
`kubectl explain` reads `components.schemas`, finding the kind by the schema's
`x-kubernetes-group-version-kind` list. Built-in kinds also declare strategic merge patch, so kubectl
computes SMP from the document; custom resources do not.

Every `$ref` points at `#/components/schemas/<name>` of the same document. Documents, their JSON bytes
and their hashes are cached per registry.
"""

from __future__ import annotations

import hashlib
import json
from functools import cache
from typing import Any

from .kinds import Registry, ResourceKind
from .schemas import Schema, list_schema_for, schema_for, schema_name
from .schemas._build import gvk
from .schemas.meta import META_SCHEMAS

__all__ = ["group_version_bytes", "group_version_document", "root_document"]

INFO = {"title": "Kubernetes", "version": "v1.32.0"}
_META = "io.k8s.apimachinery.pkg.apis.meta.v1."
PATCH_TYPES = ("application/json-patch+json", "application/merge-patch+json", "application/apply-patch+yaml")
SMP = "application/strategic-merge-patch+json"
_CONTENT = ("application/json", "application/yaml")


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _param(name: str, location: str, description: str, schema: Schema, *, required: bool = False) -> Schema:
    param: Schema = {"name": name, "in": location, "description": description, "schema": schema}
    if required:
        param["required"] = True
    return param


def _query(name: str, description: str, kind: str = "string") -> Schema:
    schema: Schema = {"type": kind, "uniqueItems": True}
    return _param(name, "query", description, schema)


_DRY_RUN = _query(
    "dryRun",
    "When present, indicates that modifications should not be persisted. The only valid value is All.",
)
_FIELD_MANAGER = _query(
    "fieldManager", "A name associated with the actor or entity that is making these changes."
)
_FIELD_VALIDATION = _query(
    "fieldValidation",
    "How the server handles objects with unknown or duplicate fields: Ignore, Warn (default) or Strict "
    "(fail the request with a BadRequest error).",
)
_FORCE = _query("force", 'Force is going to "force" Apply requests.', "boolean")
_PRETTY = _query("pretty", "If 'true', then the output is pretty printed.")
_LIST_PARAMS = [
    _query("allowWatchBookmarks", 'Requests watch events with type "BOOKMARK".', "boolean"),
    _query("continue", "The continue option should be set when retrieving more results from the server."),
    _query("fieldSelector", "A selector to restrict the list of returned objects by their fields."),
    _query("labelSelector", "A selector to restrict the list of returned objects by their labels."),
    _query("limit", "The maximum number of responses to return for a list call.", "integer"),
    _query("resourceVersion", "Sets a constraint on what resource versions a request may be served from."),
    _query("resourceVersionMatch", "Determines how resourceVersion is applied to list calls."),
    _query(
        "sendInitialEvents", "Requests a synthetic ADDED event for every object, then a bookmark.", "boolean"
    ),
    _query("timeoutSeconds", "Timeout for the list/watch call.", "integer"),
    _query("watch", "Watch for changes to the described resources.", "boolean"),
]
_DELETE_PARAMS = [
    _DRY_RUN,
    _query("gracePeriodSeconds", "The duration in seconds before the object should be deleted.", "integer"),
    _query("orphanDependents", "Deprecated: use propagationPolicy.", "boolean"),
    _query(
        "propagationPolicy",
        "Whether and how garbage collection will be performed: Orphan, Background or Foreground.",
    ),
]


def _camel(group: str, version: str) -> str:
    if not group:
        return f"CoreV{version[1:]}"
    words = group.replace("-", ".").split(".")
    return "".join(w[:1].upper() + w[1:] for w in words) + version[:1].upper() + version[1:]


def _tag(group: str, version: str) -> str:
    camel = _camel(group, version)
    return f"{camel[:1].lower()}{camel[1 : len(camel) - len(version)]}_{version}"


def _responses(kind_ref: Schema, codes: tuple[str, ...]) -> Schema:
    content = {ct: {"schema": kind_ref} for ct in _CONTENT}
    out: Schema = {code: {"description": _CODE_TEXT[code], "content": content} for code in codes}
    out["401"] = {"description": "Unauthorized"}
    return out


_CODE_TEXT = {"200": "OK", "201": "Created", "202": "Accepted"}


class _Builder:
    """The operations of one kind at one group-version."""

    def __init__(self, kind: ResourceKind, version: str) -> None:
        self.kind = kind
        self.version = version
        self.gvk = gvk(kind.group, version, kind.kind)
        self.camel = _camel(kind.group, version)
        self.tag = _tag(kind.group, version)
        self.ref = _ref(schema_name(kind))
        prefix = f"/apis/{kind.group}/{version}" if kind.group else f"/api/{version}"
        self.prefix = prefix
        self.collection = (
            f"{prefix}/namespaces/{{namespace}}/{kind.plural}"
            if kind.namespaced
            else f"{prefix}/{kind.plural}"
        )
        self.scope = "Namespaced" if kind.namespaced else ""

    def op(self, verb: str, action: str, suffix: str = "", **extra: Any) -> Schema:
        operation: Schema = {
            "tags": [self.tag],
            "description": f"{action} {self.kind.kind}{' ' + suffix if suffix else ''}",
            "operationId": f"{verb}{self.camel}{extra.pop('id_infix', self.scope)}{self.kind.kind}{suffix}",
            "x-kubernetes-action": action,
            "x-kubernetes-group-version-kind": self.gvk,
        }
        operation.update(extra)
        return operation

    def path_params(self, item: bool) -> list[Schema]:
        params = []
        if item:
            params.append(
                _param(
                    "name",
                    "path",
                    f"name of the {self.kind.kind}",
                    {"type": "string", "uniqueItems": True},
                    required=True,
                )
            )
        if self.kind.namespaced:
            params.append(
                _param(
                    "namespace",
                    "path",
                    "object name and auth scope, such as for teams and projects",
                    {"type": "string", "uniqueItems": True},
                    required=True,
                )
            )
        params.append(_PRETTY)
        return params

    def body(self, schema: Schema, types: tuple[str, ...] = ("*/*",)) -> Schema:
        return {"content": {ct: {"schema": schema} for ct in types}, "required": True}

    def patch(self, suffix: str = "") -> Schema:
        types = (*PATCH_TYPES, SMP) if self.kind.builtin else PATCH_TYPES
        return self.op(
            "patch",
            "patch",
            suffix,
            parameters=[_DRY_RUN, _FIELD_MANAGER, _FIELD_VALIDATION, _FORCE],
            requestBody=self.body(_ref(_META + "Patch"), types),
            responses=_responses(self.ref, ("200", "201")),
        )

    def item_paths(self) -> dict[str, Schema]:
        verbs = set(self.kind.verbs)
        item: Schema = {}
        if "get" in verbs:
            item["get"] = self.op("read", "get", responses=_responses(self.ref, ("200",)))
        if "update" in verbs:
            item["put"] = self.op(
                "replace",
                "put",
                parameters=[_DRY_RUN, _FIELD_MANAGER, _FIELD_VALIDATION],
                requestBody=self.body(self.ref),
                responses=_responses(self.ref, ("200", "201")),
            )
        if "patch" in verbs:
            item["patch"] = self.patch()
        if "delete" in verbs:
            item["delete"] = self.op(
                "delete",
                "delete",
                parameters=_DELETE_PARAMS,
                requestBody={"content": {"*/*": {"schema": _ref(_META + "DeleteOptions")}}},
                responses=_responses(_ref(_META + "Status"), ("200", "202")),
            )
        paths: dict[str, Schema] = {}
        if item:
            paths[f"{self.collection}/{{name}}"] = {"parameters": self.path_params(True), **item}
        if self.kind.has_status and item:
            paths[f"{self.collection}/{{name}}/status"] = {
                "parameters": self.path_params(True),
                "get": self.op("read", "get", "Status", responses=_responses(self.ref, ("200",))),
                "put": self.op(
                    "replace",
                    "put",
                    "Status",
                    parameters=[_DRY_RUN, _FIELD_MANAGER, _FIELD_VALIDATION],
                    requestBody=self.body(self.ref),
                    responses=_responses(self.ref, ("200", "201")),
                ),
                "patch": self.patch("Status"),
            }
        return paths

    def collection_paths(self) -> dict[str, Schema]:
        verbs = set(self.kind.verbs)
        list_ref = _ref(schema_name(self.kind) + "List")
        coll: Schema = {}
        if "list" in verbs:
            coll["get"] = self.op(
                "list", "list", parameters=_LIST_PARAMS, responses=_responses(list_ref, ("200",))
            )
        if "create" in verbs:
            coll["post"] = self.op(
                "create",
                "post",
                parameters=[_DRY_RUN, _FIELD_MANAGER, _FIELD_VALIDATION],
                requestBody=self.body(self.ref),
                responses=_responses(self.ref, ("200", "201", "202")),
            )
        if "deletecollection" in verbs:
            coll["delete"] = self.op(
                "delete",
                "deletecollection",
                id_infix="Collection" + self.scope,
                parameters=_DELETE_PARAMS + _LIST_PARAMS,
                responses=_responses(_ref(_META + "Status"), ("200",)),
            )
        paths: dict[str, Schema] = {}
        if coll:
            paths[self.collection] = {"parameters": self.path_params(False), **coll}
        if self.kind.namespaced and "list" in verbs:
            paths[f"{self.prefix}/{self.kind.plural}"] = {
                "parameters": [_PRETTY],
                "get": self.op(
                    "list",
                    "list",
                    "ForAllNamespaces",
                    id_infix="",
                    parameters=_LIST_PARAMS,
                    responses=_responses(list_ref, ("200",)),
                ),
            }
        return paths


def _kinds_at(registry: Registry, group: str, version: str) -> list[ResourceKind]:
    return [k for k in registry.kinds if k.group == group and version in (k.version, *k.extra_versions)]


def _served(registry: Registry) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for group in registry.groups():
        versions = list(registry.versions(group))
        for k in registry.kinds:
            versions += [v for v in k.extra_versions if k.group == group and v not in versions]
        out += [(group, v) for v in versions if _kinds_at(registry, group, v)]
    return out


def _gv_key(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


@cache
def group_version_document(registry: Registry, group: str, version: str) -> dict[str, Any] | None:
    """The OpenAPI v3 document of one group-version, or None when it is not served."""
    kinds = _kinds_at(registry, group, version)
    if not kinds:
        return None
    paths: dict[str, Schema] = {}
    schemas: dict[str, Schema] = dict(META_SCHEMAS)
    for kind in kinds:
        builder = _Builder(kind, version)
        paths.update(builder.collection_paths())
        paths.update(builder.item_paths())
        schemas[schema_name(kind)] = schema_for(kind)
        if "list" in kind.verbs:
            schemas[schema_name(kind) + "List"] = list_schema_for(kind)
    return {"openapi": "3.0.0", "info": INFO, "paths": paths, "components": {"schemas": schemas}}


@cache
def group_version_bytes(registry: Registry, group: str, version: str) -> bytes | None:
    """The compact JSON encoding of `group_version_document`, for serving and hashing."""
    doc = group_version_document(registry, group, version)
    if doc is None:
        return None
    return json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()


@cache
def root_document(registry: Registry) -> dict[str, Any]:
    """`GET /openapi/v3`: one entry per served group-version, each URL carrying the document's hash."""
    paths: dict[str, Any] = {}
    for group, version in _served(registry):
        data = group_version_bytes(registry, group, version) or b""
        digest = hashlib.sha512(data).hexdigest().upper()
        key = _gv_key(group, version)
        paths[key] = {"serverRelativeURL": f"/openapi/v3/{key}?hash={digest}"}
    return {"paths": paths}
