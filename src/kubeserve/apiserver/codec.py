"""Request and response encodings: bodies in (JSON, YAML, protobuf for a few kinds), JSON and Tables out.

Kept apart from the handlers so the rules of content negotiation live in one place (notes §1.2).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import yaml
from aiohttp import web

from kubeserve.api import errors, tables
from kubeserve.api.kinds import ResourceKind
from kubeserve.apiserver import protobuf

JSON = "application/json"
_JSON_TYPES = ("application/json", "application/json-patch+json", "application/merge-patch+json",
               "application/strategic-merge-patch+json")
_YAML_TYPES = ("application/yaml", "application/apply-patch+yaml", "application/x-yaml", "text/yaml")


class _JsonYamlLoader(yaml.SafeLoader):
    """YAML as the apiserver reads it (YAML converted to JSON): timestamps and dates stay strings, so every
    decoded body is plain JSON data that the store can write back unchanged."""


_JsonYamlLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def content_type_of(request: web.Request) -> str:
    """The media type without parameters; a missing Content-Type means JSON (kubernetes-client 37 sends none)."""
    raw = request.headers.get("Content-Type", "")
    return raw.split(";", 1)[0].strip().lower() or JSON


async def read_body(request: web.Request, limit: int) -> bytes:
    declared = request.content_length
    if declared is not None and declared > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(limit: int) -> errors.RequestEntityTooLarge:
    return errors.RequestEntityTooLarge(
        f"the request body is larger than the {limit // (1024 * 1024)} MiB the API server accepts; "
        "split large data (model files belong in storage, not in objects)")


def decode_body(raw: bytes, media_type: str) -> Any:
    """Decode a request body by its media type; raises BadRequest or UnsupportedMediaType."""
    if protobuf.is_protobuf(media_type):
        return protobuf.decode(raw)
    if not raw.strip():
        raise errors.BadRequest("the request body is empty: send the object as JSON or YAML")
    if media_type in _JSON_TYPES:
        try:
            return json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise errors.BadRequest(f"error decoding the request body as JSON: {exc}") from exc
    if media_type in _YAML_TYPES:
        try:
            return json.loads(raw)  # clients send JSON even as apply-patch+yaml; it is much faster
        except (json.JSONDecodeError, UnicodeDecodeError):
            pass
        try:
            docs = list(yaml.load_all(raw, Loader=_JsonYamlLoader))
        except yaml.YAMLError as exc:
            raise errors.BadRequest(f"error decoding the request body as YAML: {exc}") from exc
        if len(docs) != 1:
            raise errors.BadRequest(f"the request body must hold exactly one YAML document, not {len(docs)}")
        try:
            json.dumps(docs[0])
        except (TypeError, ValueError) as exc:  # explicit tags like !!binary or !!set have no JSON form
            raise errors.BadRequest(f"the YAML body holds a value JSON cannot carry: {exc}") from exc
        return docs[0]
    raise errors.UnsupportedMediaType(
        f'the body of the request was in an unknown format ("{media_type}") - accepted media types include: '
        "application/json, application/yaml, application/json-patch+json, application/merge-patch+json, "
        "application/strategic-merge-patch+json, application/apply-patch+yaml")


def wants_table(request: web.Request) -> bool:
    accept = request.headers.get("Accept", "")
    for part in accept.split(","):
        params = {p.strip() for p in part.split(";")[1:]}
        if "as=Table" in params and "g=meta.k8s.io" in params:
            return True
    return False


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def json_response(obj: Any, status: int = 200, warnings: list[str] | None = None) -> web.Response:
    response = web.Response(body=dumps(obj), status=status, content_type=JSON)
    for warning in warnings or []:
        response.headers.add("Warning", warning_header(warning))
    return response


def warning_header(message: str) -> str:
    escaped = message.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")
    return f'299 - "{escaped}"'


def as_table(
    kind: ResourceKind, items: list[dict[str, Any]], request: web.Request, now: datetime, resource_version: str,
    with_headers: bool = True,
) -> dict[str, Any]:
    include = request.query.get("includeObject", "PartialObjectMetadata") or "PartialObjectMetadata"
    if include not in ("None", "Object", "PartialObjectMetadata"):
        raise errors.BadRequest(f'includeObject must be "None", "Object" or "PartialObjectMetadata", not {include!r}')
    return tables.table(kind, items, now=now, resource_version=resource_version, include_object=include,
                        with_headers=with_headers)
