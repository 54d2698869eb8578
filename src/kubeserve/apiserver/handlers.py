"""HTTP verbs on resource URLs: list, watch, get, create, update, patch, delete, deletecollection, and
the `/status`, `/scale`, SelfSubjectAccessReview and TokenRequest/TokenReview (`authn`) special cases.

Each handler decodes the request, calls `registry.Objects`, and encodes the answer (JSON or Table).
Errors propagate as `api.errors.ApiError` and become `Status` bodies in the app's error middleware.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import Any

from aiohttp import web

from kubeserve.api import errors
from kubeserve.api.kinds import Registry, ResourceKind
from kubeserve.api.patch import json_patch, merge_patch
from kubeserve.api.selectors import LabelSelector
from kubeserve.apiserver import codec
from kubeserve.apiserver.authn import Authenticator
from kubeserve.apiserver.registry import PATCH_JSON, PATCH_MERGE, PATCH_TYPES, Objects
from kubeserve.apiserver.request import ListOptions, RequestInfo, WriteOptions, parse_bool, parse_resource_path
from kubeserve.apiserver.streams import STREAM_SUBRESOURCES, PodStreams
from kubeserve.apiserver.watch import Broadcaster, WatchStream

Obj = dict[str, Any]


class ResourceHandlers:
    def __init__(
        self,
        objects: Objects,
        broadcaster: Broadcaster,
        registry: Registry,
        clock: Callable[[], datetime],
        max_body_bytes: int,
        bookmark_interval: float,
        watch_timeout: float,
        streams: PodStreams,
        authenticator: Authenticator,
    ) -> None:
        self.objects = objects
        self.broadcaster = broadcaster
        self.registry = registry
        self.clock = clock
        self.max_body_bytes = max_body_bytes
        self.bookmark_interval = bookmark_interval
        self.watch_timeout = watch_timeout
        self.streams = streams
        self.authenticator = authenticator

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        info = parse_resource_path(self.registry, request.path)
        method = request.method
        if info.kind.kind == "SelfSubjectAccessReview":
            return await self._access_review(request, info)
        if info.kind.kind == "TokenReview" or info.subresource == "token":
            return await self._authentication(request, info)
        if info.subresource == "proxy":
            return await self.streams.serve_node_proxy(request, info)
        if info.subresource in STREAM_SUBRESOURCES:
            return await self.streams.serve(request, info)
        if not info.kind.stored and info.kind.group == "metrics.k8s.io":
            return await self.streams.serve_metrics(request, info)
        if info.subresource == "scale":
            return await self._scale(request, info)
        if info.is_collection:
            if method == "GET":
                return await self._list_or_watch(request, info)
            if method == "POST":
                return await self._create(request, info)
            if method == "DELETE":
                return await self._delete_collection(request, info)
        else:
            if method == "GET":
                if parse_bool(request.query.get("watch")):
                    return await self._list_or_watch(request, info)
                return self._get(request, info)
            if method == "PUT":
                return await self._update(request, info)
            if method == "PATCH":
                return await self._patch(request, info)
            if method == "DELETE":
                return await self._delete(request, info)
        raise errors.MethodNotAllowed(f"{method} is not supported on {request.path}")

    # ---- reads ----------------------------------------------------------------------------------

    def _get(self, request: web.Request, info: RequestInfo) -> web.Response:
        obj = self.objects.get(info.kind, info.namespace, info.name)
        if info.subresource == "status" or not info.subresource:
            if codec.wants_table(request):
                rv = obj["metadata"].get("resourceVersion", "")
                return codec.json_response(codec.as_table(info.kind, [obj], request, self.clock(), rv))
            return codec.json_response(obj)
        raise errors.MethodNotAllowed(f"GET is not supported on the {info.subresource} subresource")

    async def _list_or_watch(self, request: web.Request, info: RequestInfo) -> web.StreamResponse:
        opts = ListOptions.from_query(request.query)
        if info.name:  # legacy watch on an item is a watch of the collection narrowed to one name
            selector = f"metadata.name={info.name}"
            fs = f"{opts.field_selector},{selector}" if opts.field_selector else selector
            opts = ListOptions(opts.label_selector, fs, True, opts.resource_version, opts.resource_version_match,
                               opts.timeout_seconds, opts.allow_bookmarks, opts.send_initial_events, opts.limit)
        if opts.watch:
            return await self._watch(request, info, opts)
        if opts.send_initial_events is not None:
            raise errors.BadRequest("sendInitialEvents is only supported for watch requests")
        if opts.resource_version_match not in ("", "NotOlderThan", "Exact"):
            raise errors.BadRequest(f"unsupported resourceVersionMatch {opts.resource_version_match!r}")
        items, revision = self.objects.list(info.kind, info.namespace, opts.label_selector, opts.field_selector)
        rv = str(revision)
        if codec.wants_table(request):
            return codec.json_response(codec.as_table(info.kind, items, request, self.clock(), rv))
        for item in items:
            item.setdefault("apiVersion", info.kind.api_version)
            item.setdefault("kind", info.kind.kind)
        return codec.json_response({
            "kind": info.kind.list_kind, "apiVersion": info.kind.api_version,
            "metadata": {"resourceVersion": rv}, "items": items,
        })

    async def _watch(self, request: web.Request, info: RequestInfo, opts: ListOptions) -> web.StreamResponse:
        stream = WatchStream(self.objects.store, self.broadcaster, info.kind, info.namespace, opts,
                             bookmark_interval=self.bookmark_interval, default_timeout=self.watch_timeout)
        table = codec.wants_table(request)
        response = web.StreamResponse(status=200)
        response.content_type = codec.JSON
        response.enable_chunked_encoding()
        headers_sent = False
        try:
            await response.prepare(request)
            async for event in stream.events():
                obj = event.object
                if table and event.type in ("ADDED", "MODIFIED", "DELETED"):
                    obj = codec.as_table(info.kind, [obj], request, self.clock(),
                                         obj.get("metadata", {}).get("resourceVersion", ""),
                                         with_headers=not headers_sent)
                    headers_sent = True
                await response.write(codec.dumps({"type": event.type, "object": obj}) + b"\n")
        except (ConnectionResetError, asyncio.CancelledError):
            stream.close()
            raise
        finally:
            stream.close()
        return response

    # ---- writes ----------------------------------------------------------------------------------

    async def _body(self, request: web.Request) -> Any:
        raw = await codec.read_body(request, self.max_body_bytes)
        return codec.decode_body(raw, codec.content_type_of(request))

    async def _create(self, request: web.Request, info: RequestInfo) -> web.Response:
        body = await self._body(request)
        result = self.objects.create(info.kind, info.namespace, body, WriteOptions.from_query(request.query))
        return codec.json_response(result.object, 201, result.warnings)

    async def _update(self, request: web.Request, info: RequestInfo) -> web.Response:
        if info.subresource not in ("", "status", "finalize"):
            raise errors.MethodNotAllowed(f"PUT is not supported on the {info.subresource} subresource")
        body = await self._body(request)
        result = self.objects.update(info.kind, info.namespace, info.name, body,
                                     WriteOptions.from_query(request.query), info.subresource)
        return codec.json_response(result.object, 200, result.warnings)

    async def _patch(self, request: web.Request, info: RequestInfo) -> web.Response:
        media_type = codec.content_type_of(request)
        if media_type not in PATCH_TYPES:
            raise errors.UnsupportedMediaType(
                f'the body of the request was in an unknown format ("{media_type}") - accepted media types '
                "include: " + ", ".join(t for t in PATCH_TYPES if info.kind.builtin or "strategic" not in t))
        raw = await codec.read_body(request, self.max_body_bytes)
        patch = codec.decode_body(raw, media_type)
        result = self.objects.patch(info.kind, info.namespace, info.name, media_type, patch,
                                    WriteOptions.from_query(request.query), info.subresource)
        status = 201 if result.created else 200
        # Even a patch that empties the finalizers of an object being deleted (and so removes it) answers
        # with the object, as the apiserver does: kubectl prints `<kind>/<name> patched`.
        return codec.json_response(result.object, status, result.warnings)

    async def _delete(self, request: web.Request, info: RequestInfo) -> web.Response:
        options = await self._delete_options(request)
        result = self.objects.delete(
            info.kind, info.namespace, info.name,
            propagation=options.get("propagationPolicy") or _orphan_policy(options) or "Background",
            grace_period=options.get("gracePeriodSeconds"),
            preconditions=options.get("preconditions"),
            dry_run=options.get("dryRun") == ["All"] or request.query.get("dryRun") == "All",
        )
        if result.deleted and not info.kind.returns_deleted_object:
            return codec.json_response(_deleted_status(info.kind, result.object))
        return codec.json_response(result.object)

    async def _delete_options(self, request: web.Request) -> Obj:
        raw = await codec.read_body(request, self.max_body_bytes)
        options: Obj = {}
        if raw.strip():
            decoded = codec.decode_body(raw, codec.content_type_of(request))
            if not isinstance(decoded, dict):
                raise errors.BadRequest("DeleteOptions must be a JSON object")
            options = decoded
        query = request.query
        if "propagationPolicy" in query:
            options["propagationPolicy"] = query["propagationPolicy"]
        if "gracePeriodSeconds" in query:
            try:
                options["gracePeriodSeconds"] = int(query["gracePeriodSeconds"])
            except ValueError as exc:
                raise errors.BadRequest("gracePeriodSeconds must be an integer") from exc
        if "orphanDependents" in query:
            options["orphanDependents"] = parse_bool(query["orphanDependents"])
        if query.get("dryRun") == "All":
            options["dryRun"] = ["All"]
        return options

    async def _delete_collection(self, request: web.Request, info: RequestInfo) -> web.Response:
        options = await self._delete_options(request)
        opts = ListOptions.from_query(request.query)
        items, _ = self.objects.list(info.kind, info.namespace, opts.label_selector, opts.field_selector)
        deleted = []
        for item in items:
            meta = item["metadata"]
            try:
                result = self.objects.delete(
                    info.kind, meta.get("namespace", ""), meta["name"],
                    propagation=options.get("propagationPolicy") or _orphan_policy(options) or "Background",
                    dry_run=options.get("dryRun") == ["All"],
                )
            except errors.NotFound:
                continue
            deleted.append(result.object)
        return codec.json_response({"kind": info.kind.list_kind, "apiVersion": info.kind.api_version,
                                    "metadata": {"resourceVersion": str(self.objects.store.revision)},
                                    "items": deleted})

    # ---- special cases ---------------------------------------------------------------------------------

    async def _access_review(self, request: web.Request, info: RequestInfo) -> web.Response:
        if request.method != "POST" or not info.is_collection:
            raise errors.MethodNotAllowed("selfsubjectaccessreviews only supports create")
        raw = await codec.read_body(request, self.max_body_bytes)
        spec: Obj = {}
        media_type = codec.content_type_of(request)
        if raw.strip() and media_type == codec.JSON:
            body = codec.decode_body(raw, media_type)
            spec = body.get("spec", {}) if isinstance(body, dict) else {}
        # The embedded server has one user, who may do everything (notes §10.4).
        return codec.json_response({
            "kind": "SelfSubjectAccessReview", "apiVersion": "authorization.k8s.io/v1",
            "metadata": {"creationTimestamp": None}, "spec": spec,
            "status": {"allowed": True, "reason": "kubeserve: the kubeconfig user may do everything"},
        }, 201)

    async def _authentication(self, request: web.Request, info: RequestInfo) -> web.Response:
        """TokenReview and TokenRequest (`serviceaccounts/{name}/token`), both create-only, as in Kubernetes."""
        if request.method != "POST" or (info.kind.kind == "TokenReview") != info.is_collection:
            what = "tokenreviews" if info.kind.kind == "TokenReview" else "serviceaccounts/token"
            raise errors.MethodNotAllowed(f"{what} only supports create (POST)")
        body = await self._body(request)
        if info.kind.kind == "TokenReview":
            return codec.json_response(self.authenticator.token_review(body), 201)
        return codec.json_response(self.authenticator.token_request(info.namespace, info.name, body), 201)

    async def _scale(self, request: web.Request, info: RequestInfo) -> web.Response:
        if info.is_collection:
            raise errors.MethodNotAllowed("the scale subresource is only served for single objects")
        current = self.objects.get(info.kind, info.namespace, info.name)
        scale = to_scale(current)
        if request.method == "GET":
            return codec.json_response(scale)
        opts = WriteOptions.from_query(request.query)
        if request.method == "PUT":
            body = await self._body(request)
            if not isinstance(body, dict):
                raise errors.BadRequest("the body must be an autoscaling/v1 Scale")
            wanted = body
        elif request.method == "PATCH":
            media_type = codec.content_type_of(request)
            patch = codec.decode_body(await codec.read_body(request, self.max_body_bytes), media_type)
            # Re-read after awaiting the body, so the resourceVersion the patch starts from is the live one.
            scale = to_scale(self.objects.get(info.kind, info.namespace, info.name))
            wanted = json_patch(scale, patch) if media_type == PATCH_JSON else merge_patch(scale, patch)
        else:
            raise errors.MethodNotAllowed(f"{request.method} is not supported on the scale subresource")
        spec = wanted.get("spec") if isinstance(wanted, dict) else None
        replicas = spec.get("replicas") if isinstance(spec, dict) else None
        if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
            raise errors.invalid("Scale", "autoscaling", info.name, [errors.Cause(
                "FieldValueInvalid", f"Invalid value: {replicas!r}: must be a non-negative integer", "spec.replicas")])
        meta = wanted.get("metadata") if isinstance(wanted, dict) else None
        expected = meta.get("resourceVersion") if isinstance(meta, dict) else None
        change: Obj = {"spec": {"replicas": replicas}}
        if expected:  # the registry checks it in the same step as the write
            change["metadata"] = {"resourceVersion": str(expected)}
        result = self.objects.patch(info.kind, info.namespace, info.name, PATCH_MERGE, change, opts)
        return codec.json_response(to_scale(result.object))


def to_scale(obj: Obj) -> Obj:
    meta = obj["metadata"]
    spec = obj.get("spec") or {}
    selector = spec.get("selector") or {}
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
                     if k in meta},
        "spec": {"replicas": spec.get("replicas", 0)},
        "status": {"replicas": (obj.get("status") or {}).get("replicas", 0),
                   "selector": str(LabelSelector.from_dict(selector)) if selector else ""},
    }


# The kinds whose apiserver storage sets `ReturnDeletedObject: true`: a completed DELETE answers with the object.
# Every other kind (ConfigMap, Secret, Deployment, the custom resources, ...) answers with a `Status` Success,
# which is what the Python client's typed `delete_*` methods deserialise (`V1Status`).
def _deleted_status(kind: ResourceKind, obj: Obj) -> Obj:
    meta = obj.get("metadata", {})
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
            "details": {"name": meta.get("name", ""), "group": kind.group, "kind": kind.plural,
                        "uid": meta.get("uid", "")}}


def _orphan_policy(options: Obj) -> str | None:
    if options.get("orphanDependents") is True:
        return "Orphan"
    if options.get("orphanDependents") is False:
        return "Background"
    return None

