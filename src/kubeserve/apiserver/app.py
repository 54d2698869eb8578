"""The API server as an aiohttp application: authentication, error mapping, and the URL space.

`build_app` wires the pieces from its arguments only; `ApiServer` owns the store, the background tasks
(garbage collection, compaction) and the TLS listener for `kubeserve up` and the tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import logging
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from aiohttp import web
from aiohttp.typedefs import Middleware

from kubeserve.api import errors, openapi
from kubeserve.api.kinds import Registry
from kubeserve.apiserver import codec, discovery
from kubeserve.apiserver.authn import Authenticator
from kubeserve.apiserver.garbage import GarbageCollector
from kubeserve.apiserver.handlers import ResourceHandlers
from kubeserve.apiserver.registry import Objects
from kubeserve.apiserver.streams import PodStreams
from kubeserve.apiserver.tokens import TokenSigner
from kubeserve.apiserver.watch import Broadcaster, compact_periodically
from kubeserve.store import SqliteStore, Store

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_ANONYMOUS_PATHS = ("/version", "/version/", "/healthz", "/livez", "/readyz")
# Typed application keys: string keys make aiohttp warn (NotAppKeyWarning), an error under pytest.
OBJECTS = web.AppKey("objects", Objects)
BROADCASTER = web.AppKey("broadcaster", Broadcaster)
GC = web.AppKey("gc", GarbageCollector)


@dataclass(frozen=True)
class ApiServerSettings:
    host: str = "127.0.0.1"
    port: int = 6443
    database: Path = Path("kubeserve.db")
    tokens: tuple[str, ...] = ()
    max_body_bytes: int = 3 * 1024 * 1024
    bookmark_interval: float = 30.0
    watch_timeout: float = 1800.0
    compact_keep: int = 20_000
    compact_interval: float = 60.0
    gc_resync: float = 10.0
    service_network: str = "127.96.0.0/16"  # Service ClusterIPs; loopback, so the gateway can listen on them
    route_domain: str = "apps.localhost"  # Routes created without a host get <name>-<namespace>.<route_domain>
    # Signs ServiceAccount tokens (`pki/sa.key`); None: a key made per process (tokens die with it).
    service_account_key: Path | None = None


def _error_middleware() -> Middleware:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except errors.ApiError as exc:
            return codec.json_response(exc.to_status(), exc.code)
        except web.HTTPException:
            raise
        except (asyncio.CancelledError, ConnectionResetError):
            raise
        except Exception as exc:
            log.exception("unhandled error serving %s %s", request.method, request.path)
            return codec.json_response(errors.InternalError(f"internal error: {type(exc).__name__}").to_status(), 500)

    return middleware


def _auth_middleware(tokens: tuple[str, ...]) -> Middleware:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if tokens and request.path not in _ANONYMOUS_PATHS:
            header = request.headers.get("Authorization", "")
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or not any(hmac.compare_digest(token.strip(), t) for t in tokens):
                return codec.json_response(errors.Unauthorized("Unauthorized").to_status(), 401)
        return await handler(request)

    return middleware


def build_app(
    store: Store,
    settings: ApiServerSettings,
    registry: Registry | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> web.Application:
    registry = registry or Registry()
    objects = Objects(store, registry, clock, ipaddress.IPv4Network(settings.service_network),
                      settings.route_domain)
    broadcaster = Broadcaster(store)
    # pods/log, exec, attach, portforward and metrics.k8s.io call the kubelet with the server's own token
    streams = PodStreams(objects, registry, settings.tokens[0] if settings.tokens else "", clock)
    signer = TokenSigner.load(settings.service_account_key) if settings.service_account_key else TokenSigner.generate()
    authenticator = Authenticator(objects, registry, signer, settings.tokens, clock)
    handlers = ResourceHandlers(objects, broadcaster, registry, clock, settings.max_body_bytes,
                                settings.bookmark_interval, settings.watch_timeout, streams, authenticator)
    gc = GarbageCollector(objects, broadcaster, settings.gc_resync)
    address = f"{settings.host}:{settings.port}"

    app = web.Application(
        middlewares=[_error_middleware(), _auth_middleware(settings.tokens)],
        client_max_size=settings.max_body_bytes * 4,
    )
    app[OBJECTS] = objects
    app[BROADCASTER] = broadcaster
    app[GC] = gc

    async def open_streams(app: web.Application) -> None:
        await streams.open()

    async def close_streams(app: web.Application) -> None:
        await streams.close()

    app.on_startup.append(open_streams)
    app.on_cleanup.append(close_streams)

    async def version(request: web.Request) -> web.Response:
        return codec.json_response(discovery.version_info())

    async def health(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def api_root(request: web.Request) -> web.Response:
        if discovery.wants_aggregated(request.headers.get("Accept", "")):
            return _aggregated(discovery.aggregated(registry, core=True))
        return codec.json_response(discovery.api_versions(address))

    async def apis_root(request: web.Request) -> web.Response:
        if discovery.wants_aggregated(request.headers.get("Accept", "")):
            return _aggregated(discovery.aggregated(registry, core=False))
        return codec.json_response(discovery.api_group_list(registry))

    async def openapi_root(request: web.Request) -> web.Response:
        return codec.json_response(openapi.root_document(registry))

    async def not_found_text(request: web.Request) -> web.Response:
        return web.Response(status=404, text="404 page not found\n")

    async def catch_all(request: web.Request) -> web.StreamResponse:
        path = request.path.rstrip("/") or "/"
        parts = [p for p in path.split("/") if p]
        if parts[:2] == ["openapi", "v3"] and len(parts) > 2:
            doc = _openapi_document(registry, parts[2:])
            if doc is None:
                raise errors.NotFound("the server could not find the requested resource")
            return codec.json_response(doc)
        if request.method == "GET" and parts == ["api", "v1"]:
            return codec.json_response(discovery.api_resource_list(registry, "", "v1"))
        if request.method == "GET" and len(parts) == 2 and parts[0] == "apis":
            group_doc = discovery.api_group(registry, parts[1])
            if group_doc is None:
                raise errors.NotFound("the server could not find the requested resource")
            return codec.json_response(group_doc)
        if request.method == "GET" and len(parts) == 3 and parts[0] == "apis":
            resources = discovery.api_resource_list(registry, parts[1], parts[2])
            if resources is None:
                raise errors.NotFound("the server could not find the requested resource")
            return codec.json_response(resources)
        if parts[:1] in (["api"], ["apis"]):
            return await handlers.dispatch(request)
        return web.Response(status=404, text="404 page not found\n")

    app.router.add_get("/version", version)
    app.router.add_get("/version/", version)
    for path in ("/healthz", "/livez", "/readyz"):
        app.router.add_get(path, health)
    app.router.add_get("/api", api_root)
    app.router.add_get("/api/", api_root)
    app.router.add_get("/apis", apis_root)
    app.router.add_get("/apis/", apis_root)
    app.router.add_get("/openapi/v3", openapi_root)
    app.router.add_get("/openapi/v2", not_found_text)
    app.router.add_route("*", "/{tail:.*}", catch_all)
    return app


def _aggregated(doc: dict[str, object]) -> web.Response:
    response = web.Response(body=codec.dumps(doc))
    response.headers["Content-Type"] = discovery.AGGREGATED_CONTENT_TYPE
    return response


def _openapi_document(registry: Registry, parts: list[str]) -> dict[str, object] | None:
    if parts == ["api", "v1"]:
        return openapi.group_version_document(registry, "", "v1")
    if len(parts) == 3 and parts[0] == "apis":
        return openapi.group_version_document(registry, parts[1], parts[2])
    return None


class ApiServer:
    """The running API server: store, app, listener and background tasks, started and stopped together."""

    def __init__(self, settings: ApiServerSettings, ssl_context: ssl.SSLContext | None) -> None:
        self.settings = settings
        self.ssl_context = ssl_context
        self.store: Store = SqliteStore(settings.database)
        self.app = build_app(self.store, settings)
        self._runner: web.AppRunner | None = None
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def objects(self) -> Objects:
        return self.app[OBJECTS]

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app, access_log=None, handler_cancellation=True, shutdown_timeout=2.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.settings.host, self.settings.port, ssl_context=self.ssl_context,
                           reuse_address=True)
        await site.start()
        gc = self.app[GC]
        self._tasks.append(asyncio.get_running_loop().create_task(gc.run()))
        self._tasks.append(compact_periodically(self.store, self.settings.compact_keep,
                                                self.settings.compact_interval)())

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        broadcaster = self.app[BROADCASTER]
        broadcaster.close()
        if self._runner is not None:
            await self._runner.cleanup()
        self.store.close()
