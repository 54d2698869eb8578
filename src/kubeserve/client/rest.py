"""The one door to cluster state: an asyncio HTTP client for a Kubernetes API server.

It works against kubeserve's own API server and against a real cluster alike; it knows nothing of how
either stores objects. Objects travel as plain JSON dicts (`Obj`); kinds are addressed by the shared
`api.kinds` table, so a URL is built in one place. A `Status` reply is raised as the matching
`api.errors.ApiError`, so callers write `except errors.NotFound`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp
import yaml

from kubeserve.api import errors
from kubeserve.api.kinds import Registry, ResourceKind

Obj = dict[str, Any]

_ERRORS_BY_REASON: dict[str, type[errors.ApiError]] = {
    cls.reason: cls
    for cls in (errors.BadRequest, errors.Unauthorized, errors.Forbidden, errors.NotFound, errors.MethodNotAllowed,
                errors.NotAcceptable, errors.AlreadyExists, errors.Conflict, errors.Expired,
                errors.RequestEntityTooLarge, errors.UnsupportedMediaType, errors.Invalid)
}
_ERRORS_BY_CODE: dict[int, type[errors.ApiError]] = {
    400: errors.BadRequest, 401: errors.Unauthorized, 403: errors.Forbidden, 404: errors.NotFound,
    405: errors.MethodNotAllowed, 406: errors.NotAcceptable, 409: errors.Conflict, 410: errors.Expired,
    413: errors.RequestEntityTooLarge, 415: errors.UnsupportedMediaType, 422: errors.Invalid,
}

MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"


def error_from_status(code: int, body: Any) -> errors.ApiError:
    """Map a `Status` reply (or any failed reply) back to the exception the server raised."""
    message = f"HTTP {code}"
    reason = ""
    if isinstance(body, Mapping):
        message = str(body.get("message") or message)
        reason = str(body.get("reason") or "")
    cls = _ERRORS_BY_REASON.get(reason) or _ERRORS_BY_CODE.get(code) or errors.InternalError
    return cls(message)


@dataclass(frozen=True)
class ClientConfig:
    """Where the API server is and how to authenticate: the parts of a kubeconfig context we use."""

    server: str
    token: str = ""
    ca_file: str = ""
    insecure: bool = False
    namespace: str = "default"
    """The context's namespace: what kubectl uses when no -n is given."""

    @classmethod
    def from_kubeconfig(cls, path: str, context: str | None = None) -> ClientConfig:
        with open(path, encoding="utf-8") as f:
            config = yaml.safe_load(f)
        context_name = context or config.get("current-context")
        ctx = next(c["context"] for c in config["contexts"] if c["name"] == context_name)
        cluster = next(c["cluster"] for c in config["clusters"] if c["name"] == ctx["cluster"])
        user = next(u["user"] for u in config["users"] if u["name"] == ctx["user"])
        return cls(server=cluster["server"], token=user.get("token", ""),
                   ca_file=cluster.get("certificate-authority", ""),
                   insecure=bool(cluster.get("insecure-skip-tls-verify", False)),
                   namespace=ctx.get("namespace") or "default")

    def ssl_context(self) -> ssl.SSLContext | bool:
        if not self.server.startswith("https"):
            return False
        if self.insecure:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            return context
        return ssl.create_default_context(cafile=self.ca_file or None)


@dataclass(frozen=True)
class WatchEvent:
    type: str  # ADDED, MODIFIED, DELETED, BOOKMARK
    object: Obj


class ApiClient:
    """Typed-at-the-edges verbs over one API server. Create with `await ApiClient.open(config)`."""

    def __init__(self, config: ClientConfig, session: aiohttp.ClientSession, registry: Registry) -> None:
        self.config = config
        self.registry = registry
        self._session = session

    @classmethod
    async def open(cls, config: ClientConfig, registry: Registry | None = None) -> ApiClient:
        headers = {"Accept": "application/json", "User-Agent": "kubeserve"}
        if config.token:
            headers["Authorization"] = f"Bearer {config.token}"
        connector = aiohttp.TCPConnector(ssl=config.ssl_context(), limit=64)
        session = aiohttp.ClientSession(config.server, headers=headers, connector=connector,
                                        timeout=aiohttp.ClientTimeout(total=None, sock_connect=10))
        return cls(config, session, registry or Registry())

    async def close(self) -> None:
        await self._session.close()

    @property
    def session(self) -> aiohttp.ClientSession:
        """The authenticated session, for subresources such as pod logs that are not JSON objects."""
        return self._session

    # -- kinds and URLs ---------------------------------------------------------------------------------

    def kind(self, api_version: str, kind: str) -> ResourceKind:
        found = self.registry.by_api_version_kind(api_version, kind)
        if found is None:
            raise errors.NotFound(f"no kind {kind} in {api_version}")
        return found

    def path(self, kind: ResourceKind, namespace: str = "", name: str = "", subresource: str = "") -> str:
        base = f"/apis/{kind.group}/{kind.version}" if kind.group else f"/api/{kind.version}"
        if kind.namespaced and namespace:
            base += f"/namespaces/{quote(namespace, safe='')}"
        base += f"/{kind.plural}"
        if name:
            base += f"/{quote(name, safe='')}"
        if subresource:
            base += f"/{subresource}"
        return base

    # -- verbs ------------------------------------------------------------------------------------------

    async def request(self, method: str, path: str, *, params: Mapping[str, str] | None = None,
                      body: Any = None, content_type: str = "application/json") -> Any:
        data = None if body is None else (body if isinstance(body, (bytes, str)) else json.dumps(body))
        headers = {"Content-Type": content_type} if data is not None else None
        async with self._session.request(method, path, params=params, data=data, headers=headers) as response:
            text = await response.text()
            payload: Any = None
            if text:
                try:
                    payload = json.loads(text)
                except ValueError:
                    payload = {"message": text.strip()}
            if response.status >= 400:
                raise error_from_status(response.status, payload)
            return payload

    async def get(self, kind: ResourceKind, namespace: str, name: str, subresource: str = "") -> Obj:
        result: Obj = await self.request("GET", self.path(kind, namespace, name, subresource))
        return result

    async def get_or_none(self, kind: ResourceKind, namespace: str, name: str) -> Obj | None:
        try:
            return await self.get(kind, namespace, name)
        except errors.NotFound:
            return None

    async def list(self, kind: ResourceKind, namespace: str = "", *, label_selector: str = "",
                   field_selector: str = "") -> tuple[list[Obj], str]:
        """Items and the list's resourceVersion (to watch from)."""
        params = {}
        if label_selector:
            params["labelSelector"] = label_selector
        if field_selector:
            params["fieldSelector"] = field_selector
        result = await self.request("GET", self.path(kind, namespace), params=params)
        items: list[Obj] = result.get("items") or []
        for item in items:  # lists leave apiVersion/kind off their items
            item.setdefault("apiVersion", kind.api_version)
            item.setdefault("kind", kind.kind)
        return items, str(result.get("metadata", {}).get("resourceVersion", ""))

    async def watch(self, kind: ResourceKind, namespace: str = "", *, resource_version: str = "",
                    label_selector: str = "", field_selector: str = "",
                    timeout_seconds: int = 300) -> AsyncIterator[WatchEvent]:
        """Events after `resource_version` until the server ends the stream; ERROR events raise."""
        params = {"watch": "1", "allowWatchBookmarks": "true", "timeoutSeconds": str(timeout_seconds)}
        if resource_version:
            params["resourceVersion"] = resource_version
        if label_selector:
            params["labelSelector"] = label_selector
        if field_selector:
            params["fieldSelector"] = field_selector
        async with self._session.get(self.path(kind, namespace), params=params,
                                     timeout=aiohttp.ClientTimeout(total=None, sock_read=timeout_seconds + 30,
                                                                   sock_connect=10)) as response:
            if response.status >= 400:
                text = await response.text()
                raise error_from_status(response.status, _json_or_text(text))
            async for line in response.content:
                if not line.strip():
                    continue
                event = json.loads(line)
                if event.get("type") == "ERROR":
                    status = event.get("object") or {}
                    raise error_from_status(int(status.get("code") or 500), status)
                yield WatchEvent(event["type"], event["object"])

    async def create(self, kind: ResourceKind, namespace: str, obj: Obj, *, field_manager: str = "") -> Obj:
        params = {"fieldManager": field_manager} if field_manager else None
        result: Obj = await self.request("POST", self.path(kind, namespace), params=params, body=obj)
        return result

    async def replace(self, kind: ResourceKind, namespace: str, obj: Obj, *, subresource: str = "") -> Obj:
        name = obj["metadata"]["name"]
        result: Obj = await self.request("PUT", self.path(kind, namespace, name, subresource), body=obj)
        return result

    async def patch(self, kind: ResourceKind, namespace: str, name: str, patch: Any, *,
                    patch_type: str = MERGE_PATCH, subresource: str = "", field_manager: str = "",
                    force: bool = False) -> Obj:
        params = {}
        if field_manager:
            params["fieldManager"] = field_manager
        if force:
            params["force"] = "true"
        result: Obj = await self.request("PATCH", self.path(kind, namespace, name, subresource), params=params,
                                         body=patch, content_type=patch_type)
        return result

    async def patch_status(self, kind: ResourceKind, namespace: str, name: str, status: Obj) -> Obj:
        return await self.patch(kind, namespace, name, {"status": status}, subresource="status")

    async def delete(self, kind: ResourceKind, namespace: str, name: str, *, propagation: str = "",
                     grace_period_seconds: int | None = None, preconditions_uid: str = "") -> Any:
        body: Obj = {"kind": "DeleteOptions", "apiVersion": "v1"}
        if propagation:
            body["propagationPolicy"] = propagation
        if grace_period_seconds is not None:
            body["gracePeriodSeconds"] = grace_period_seconds
        if preconditions_uid:
            body["preconditions"] = {"uid": preconditions_uid}
        return await self.request("DELETE", self.path(kind, namespace, name), body=body)

    async def delete_if_exists(self, kind: ResourceKind, namespace: str, name: str, **kwargs: Any) -> None:
        with contextlib.suppress(errors.NotFound):
            await self.delete(kind, namespace, name, **kwargs)


def _json_or_text(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return {"message": text.strip()}


async def wait_until_reachable(client: ApiClient, timeout: float = 30.0) -> None:
    """Block until the API server answers `/readyz` (components start before or with the server)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            async with client.session.get("/readyz") as response:
                if response.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"API server {client.config.server} not reachable")
        await asyncio.sleep(0.2)
