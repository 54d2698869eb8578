"""The HTTP side of the gateway: one handler for every terminated request, on both listeners.

A request is matched to an admitted Route by host and path, then: plain-HTTP requests to TLS Routes are
redirected or refused as `insecureEdgeTerminationPolicy` says; auth-enabled InferenceServices need a bearer
token (`auth`); `/v2/...` on an InferenceService's Route is the KServe v2 protocol, translated to the
runtime's OpenAI API (`v2app`); everything else is forwarded as is, streaming the answer chunk by chunk as
it arrives (SSE included, nothing buffered).

Forwarding picks an endpoint with the balancer (`lb`): least outstanding requests with prefix affinity for
InferenceServices. A connection that fails before any response byte is retried on another endpoint; once
bytes have flowed, a failure is passed on to the client (a request may have had effects). Errors are in the
shape of the API the client spoke: OpenAI `{"error": {...}}` for `/v1/...`, v2 `{"error": "..."}` for
`/v2/...`, plain text otherwise.
"""

from __future__ import annotations

import json
import logging
import random
import ssl
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web

from kubeserve.gateway import auth, lb, metrics
from kubeserve.gateway.routes import RouteEntry, RouteTable
from kubeserve.gateway.v2app import BackendError, serve_v2

log = logging.getLogger(__name__)

HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
                        "trailer", "transfer-encoding", "upgrade", "host", "content-length"})
ROUTING_BODY_LIMIT = 1 << 20  # bodies above this are forwarded without reading their prompt
WHOLE_BODY_LIMIT = 256 << 10  # answers up to this size (with a Content-Length) are relayed in one write
SERVED_MODELS_TTL = 10.0  # seconds a Route's served model ids are reused (a new endpoint set asks again)


@dataclass(frozen=True)
class ProxySettings:
    https_port: int
    http_port: int
    session_header: str = "x-session-id"


class Proxy:
    def __init__(self, settings: ProxySettings, table: Callable[[], RouteTable], balancer: lb.Balancer,
                 gateway_metrics: metrics.GatewayMetrics, authenticator: auth.TokenAuthenticator | None,
                 upstream_context: Callable[[str], ssl.SSLContext]) -> None:
        self.settings = settings
        self.upstream_context = upstream_context  # destinationCACertificate PEM ("": kubeserve's CA) → context
        self.table = table
        self.balancer = balancer
        self.metrics = gateway_metrics
        self.authenticator = authenticator
        self.session: aiohttp.ClientSession | None = None
        # (namespace, route, endpoints) -> (expires at, served model ids), for the v2 translation
        self.served_models: dict[tuple[str, str, tuple[str, ...]], tuple[float, list[str]]] = {}

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=None, use_dns_cache=False, keepalive_timeout=60)
        self.session = aiohttp.ClientSession(connector=connector, auto_decompress=False,
                                             timeout=aiohttp.ClientTimeout(total=None, sock_connect=5),
                                             skip_auto_headers=("User-Agent", "Accept-Encoding", "Accept"))

    async def stop(self) -> None:
        if self.session is not None:
            await self.session.close()

    # -- the handler ---------------------------------------------------------------------------------------

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        entry = self.table().match(request.host, request.path)
        if entry is None:
            if request.path == "/metrics":
                body, content_type = self.metrics.exposition(request.headers.get("Accept", ""))
                return web.Response(body=body, headers={"Content-Type": content_type})
            if request.path in ("/healthz", "/readyz"):
                return web.Response(text="ok\n")
            return _plain(503, f"Application is not available: no admitted Route serves host "
                               f"{request.host.split(':')[0]!r} and path {request.path!r} "
                               "(see kubectl get routes -A).\n")
        if not request.secure:
            refused = self._insecure(request, entry)
            if refused is not None:
                return refused
        elif not entry.termination:
            return _plain(503, f"Route {entry.label} has no TLS: use http://{entry.host}"
                               f"{_port_suffix(self.settings.http_port, 80)}{request.path_qs}\n")
        if entry.auth:
            refused = await self._check_auth(request, entry)
            if refused is not None:
                return refused
        if entry.inference_service and _is_v2(request.path):
            return await serve_v2(request, _RouteBackend(self, entry, request), entry.served_model)
        return await self.forward(request, entry)

    def _insecure(self, request: web.BaseRequest, entry: RouteEntry) -> web.StreamResponse | None:
        if not entry.termination:
            return None
        policy = entry.insecure_policy
        if policy == "Redirect":
            location = f"https://{entry.host}{_port_suffix(self.settings.https_port, 443)}{request.path_qs}"
            return web.Response(status=302, headers={"Location": location})
        if policy == "Allow" and entry.termination in ("edge", "reencrypt"):
            return None
        return _plain(503, f"Route {entry.label} is served over HTTPS only (insecureEdgeTerminationPolicy "
                           f"{policy or 'None'}): use https://{entry.host}"
                           f"{_port_suffix(self.settings.https_port, 443)}{request.path_qs}\n")

    async def _check_auth(self, request: web.BaseRequest, entry: RouteEntry) -> web.StreamResponse | None:
        header = request.headers.get("Authorization")
        review = None
        token = auth.bearer_token(header)
        if token and self.authenticator is not None:
            review = await self.authenticator.review(token)
            if review.unavailable:  # not the client's fault: say so, and let it retry
                self.metrics.error(_labels(entry, request), "auth_unavailable")
                return _error(request.path, 503, f"cannot check the token now: {review.error}")
        decision = auth.decide(True, header, review, entry.namespace)
        if decision.status == 200:
            return None
        self.metrics.error(_labels(entry, request), "unauthorized" if decision.status == 401 else "forbidden")
        headers = {"WWW-Authenticate": decision.www_authenticate} if decision.www_authenticate else {}
        return _error(request.path, decision.status, decision.message, headers)

    # -- forwarding ----------------------------------------------------------------------------------------

    async def forward(self, request: web.BaseRequest, entry: RouteEntry) -> web.StreamResponse:
        started = time.monotonic()
        labels = _labels(entry, request)
        body = await request.read()
        try:
            upstream, endpoint = await self.open_upstream(
                entry, labels, self._routing_key(request, body), request.method, str(request.rel_url),
                headers=_forward_headers(request), data=body if body else None)
        except NoEndpoint as refused:
            self.metrics.error(labels, "connect_failed" if refused.tried else "no_endpoints")
            self.metrics.observe(labels, 503, time.monotonic() - started, None, 0, 0)
            return _error(request.path, 503, refused.message(entry))
        except UpstreamFailed as failed:
            self.metrics.error(labels, "upstream_error")
            self.metrics.observe(labels, 502, time.monotonic() - started, None, 0, 0)
            return _error(request.path, 502, f"Route {entry.label}: {failed}")
        ok = False
        try:
            response, ttfb, usage = await self._relay(request, upstream, started, labels)
            ok = upstream.status < 500
        finally:
            upstream.release()
            self.upstream_finished(labels, endpoint, ok=ok)
        prompt, completion = usage.result()
        self.metrics.observe(labels, response.status, time.monotonic() - started, ttfb, prompt, completion)
        return response

    async def open_upstream(self, entry: RouteEntry, labels: metrics.RequestLabels, key: lb.RoutingKey,
                            method: str, path: str, *, headers: dict[str, str] | None = None,
                            data: bytes | None = None, json_body: Any = None) -> tuple[aiohttp.ClientResponse, str]:
        """The response headers of the first endpoint the balancer picks that takes the connection. A connection
        refused or dropped before any response byte is retried on another endpoint; raises NoEndpoint when none
        is left, UpstreamFailed for any other failure. The caller releases the response, then calls
        `upstream_finished`."""
        assert self.session is not None
        candidates = _weighted_endpoints(entry)
        tried: set[str] = set()
        while True:
            endpoint = self.balancer.pick(candidates, key, time.monotonic(), exclude=tried)
            if endpoint is None:
                raise NoEndpoint(tried)
            tried.add(endpoint)
            self.upstream_started(labels, endpoint)
            try:
                upstream = await self.session.request(
                    method, f"{_scheme(entry)}://{endpoint}{path}", headers=headers, data=data, json=json_body,
                    allow_redirects=False, ssl=self.upstream_ssl(entry), server_hostname=_upstream_name(entry))
                return upstream, endpoint
            except (aiohttp.ClientConnectorError, aiohttp.ServerDisconnectedError, ConnectionResetError) as exc:
                self.upstream_finished(labels, endpoint, ok=False)
                log.info("route %s: %s failed before any response byte (%s); trying another endpoint",
                         entry.label, endpoint, exc)
            except (aiohttp.ClientError, OSError) as exc:
                self.upstream_finished(labels, endpoint, ok=False)
                raise UpstreamFailed(f"{endpoint} did not answer: {exc}") from None

    async def _relay(self, request: web.BaseRequest, upstream: aiohttp.ClientResponse, started: float,
                     labels: metrics.RequestLabels) -> tuple[web.StreamResponse, float | None, metrics.UsageTracker]:
        length = upstream.headers.get("Content-Length")
        usage = metrics.UsageTracker(upstream.headers.get("Content-Type"))
        if length is not None and length.isdigit() and int(length) <= WHOLE_BODY_LIMIT:
            # A small answer of known length (every non-streamed completion): read it whole and send headers and
            # body in one write, one TLS record, instead of one for each (a third of the proxy's CPU here).
            try:
                body = await upstream.read()
            except (aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError, ConnectionResetError) as exc:
                log.info("upstream cut a response short: %s", exc)
                self.metrics.error(labels, "upstream_reset")
                return web.Response(status=502, text=f"the backend broke off its answer: {exc}\n"), None, usage
            usage.feed(body)
            whole = web.Response(status=upstream.status, reason=upstream.reason, body=body)
            _copy_headers(upstream, whole)
            return whole, time.monotonic() - started, usage
        response = web.StreamResponse(status=upstream.status, reason=upstream.reason)
        _copy_headers(upstream, response)
        if length is not None and "Transfer-Encoding" not in upstream.headers:
            response.content_length = int(length)
        ttfb: float | None = None
        await response.prepare(request)
        try:
            async for chunk in upstream.content.iter_any():
                if ttfb is None:
                    ttfb = time.monotonic() - started
                usage.feed(chunk)
                await response.write(chunk)
        except (aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError, ConnectionResetError) as exc:
            log.info("upstream cut a response short: %s", exc)
            self.metrics.error(labels, "upstream_reset")
            if request.transport is not None:
                request.transport.abort()  # the client must see a broken response, not a complete one
            return response, ttfb, usage
        await response.write_eof()
        return response, ttfb, usage

    def upstream_started(self, labels: metrics.RequestLabels, endpoint: str) -> None:
        self.balancer.started(endpoint)
        self.metrics.upstream_started(labels, endpoint)

    def upstream_finished(self, labels: metrics.RequestLabels, endpoint: str, *, ok: bool) -> None:
        self.metrics.upstream_finished(labels, endpoint)
        if self.balancer.finished(endpoint, time.monotonic(), ok=ok):
            self.metrics.ejected(labels, endpoint)
            log.warning("%s ejected from %s/%s after repeated failures", endpoint, labels.namespace, labels.route)

    def _routing_key(self, request: web.BaseRequest, body: bytes) -> lb.RoutingKey:
        parsed: dict[str, Any] | None = None
        if body and len(body) <= ROUTING_BODY_LIMIT and request.content_type == "application/json":
            try:
                value = json.loads(body)
                parsed = value if isinstance(value, dict) else None
            except ValueError:
                parsed = None
        return lb.routing_key(parsed, request.headers, self.settings.session_header)

    def upstream_ssl(self, entry: RouteEntry) -> ssl.SSLContext | bool:
        if entry.termination != "reencrypt":
            return True  # plain http:// to the pod: no TLS is used
        return self.upstream_context(entry.destination_ca)


class NoEndpoint(Exception):
    """No endpoint of the Route took the connection: none ready, or every one tried refused."""

    def __init__(self, tried: set[str]) -> None:
        super().__init__(tried)
        self.tried = tried

    def message(self, entry: RouteEntry) -> str:
        if self.tried:
            return f"every endpoint of Route {entry.label} refused the connection ({', '.join(sorted(self.tried))})"
        return (f"no ready endpoint for Route {entry.label} (backends: "
                f"{', '.join(b.service for b in entry.backends) or 'none'})")


class UpstreamFailed(Exception):
    """The request to an endpoint failed in a way a retry could repeat the request's effects."""


class _RouteBackend:
    """The OpenAI API of a Route's endpoints, for the v2 translation: the same balancing and retries."""

    def __init__(self, proxy: Proxy, entry: RouteEntry, request: web.BaseRequest) -> None:
        self.proxy, self.entry, self.request = proxy, entry, request
        self.labels = _labels(entry, request)

    async def _post(self, path: str, body: dict[str, Any]) -> tuple[aiohttp.ClientResponse, str]:
        proxy = self.proxy
        key = lb.routing_key(body, self.request.headers, proxy.settings.session_header)
        try:
            return await proxy.open_upstream(self.entry, self.labels, key, "POST", path, json_body=body)
        except NoEndpoint as refused:
            raise BackendError(503, {"error": {"message": refused.message(self.entry)}}) from None
        except UpstreamFailed as failed:
            raise BackendError(503, {"error": {"message": f"the model server did not answer: {failed}"}}) from None

    async def models(self) -> list[str]:
        """The served model ids, asked of the Route's endpoints at most every SERVED_MODELS_TTL seconds: every v2
        infer needs them, and asking each time cost a second upstream round trip per request."""
        proxy, entry = self.proxy, self.entry
        key = (entry.namespace, entry.name, entry.endpoints)
        cached = proxy.served_models.get(key)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        served = await self._ask_models()
        if served:
            if len(proxy.served_models) > 1024:
                proxy.served_models.clear()
            proxy.served_models[key] = (time.monotonic() + SERVED_MODELS_TTL, served)
        return served

    async def _ask_models(self) -> list[str]:
        proxy, entry = self.proxy, self.entry
        assert proxy.session is not None
        for endpoint in _weighted_endpoints(entry):
            try:
                async with proxy.session.get(f"{_scheme(entry)}://{endpoint}/v1/models",
                                             ssl=proxy.upstream_ssl(entry),
                                             server_hostname=_upstream_name(entry)) as response:
                    if response.status == 200:
                        data = await response.json()
                        return [str(m.get("id")) for m in data.get("data") or [] if isinstance(m, dict)]
            except (aiohttp.ClientError, ValueError, OSError):
                continue
        return []

    async def ready(self) -> bool:
        return bool(_weighted_endpoints(self.entry))

    async def complete(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        upstream, endpoint = await self._post("/v1/completions", body)
        ok = False
        try:
            try:
                data = await upstream.json(content_type=None)
            except ValueError:
                data = {"error": {"message": (await upstream.text())[:500]}}
            ok = upstream.status < 500
            return upstream.status, data if isinstance(data, dict) else {"data": data}
        except (aiohttp.ClientError, OSError) as exc:
            raise BackendError(503, {"error": {"message": f"the model server broke off: {exc}"}}) from None
        finally:
            upstream.release()
            self.proxy.upstream_finished(self.labels, endpoint, ok=ok)

    async def complete_stream(self, body: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        upstream, endpoint = await self._post("/v1/completions", body)
        ok = False
        try:
            if upstream.status != 200:
                try:
                    data = await upstream.json(content_type=None)
                except ValueError:
                    data = {"error": {"message": (await upstream.text())[:500]}}
                raise BackendError(upstream.status, data if isinstance(data, dict) else {})
            async for raw in upstream.content:
                line = raw.strip()
                if not line.startswith(b"data:"):
                    continue
                payload = line[5:].strip()
                if payload == b"[DONE]":
                    break
                try:
                    chunk = json.loads(payload)
                except ValueError:
                    continue
                if isinstance(chunk, dict):
                    yield chunk
            ok = True
        except (aiohttp.ClientError, OSError) as exc:
            raise BackendError(503, {"error": {"message": f"the model server broke off: {exc}"}}) from None
        finally:
            upstream.release()
            self.proxy.upstream_finished(self.labels, endpoint, ok=ok)


def _copy_headers(upstream: aiohttp.ClientResponse, response: web.StreamResponse) -> None:
    for name, value in upstream.headers.items():
        if name.lower() not in HOP_BY_HOP:
            response.headers.add(name, value)


def _weighted_endpoints(entry: RouteEntry) -> list[str]:
    """The endpoints of one backend, chosen by weight among backends with a ready endpoint (OpenShift's
    `to` + `alternateBackends`); a single backend is simply its endpoints."""
    live = [b for b in entry.backends if b.weight > 0 and b.endpoints]
    if not live:
        return []
    if len(live) == 1:
        return list(live[0].endpoints)
    chosen = random.choices(live, weights=[b.weight for b in live])[0]
    return list(chosen.endpoints)


def _labels(entry: RouteEntry, request: web.BaseRequest) -> metrics.RequestLabels:
    protocol = "v2" if _is_v2(request.path) else "openai" if request.path.startswith("/v1/") else "http"
    return metrics.RequestLabels(namespace=entry.namespace, route=entry.name,
                                 inferenceservice=entry.inference_service, protocol=protocol)


def _is_v2(path: str) -> bool:
    return path == "/v2" or path.startswith("/v2/")


def _scheme(entry: RouteEntry) -> str:
    return "https" if entry.termination == "reencrypt" else "http"


def _upstream_name(entry: RouteEntry) -> str | None:
    if entry.termination != "reencrypt" or not entry.backends:
        return None
    return f"{entry.backends[0].service}.{entry.namespace}.svc"


def _forward_headers(request: web.BaseRequest) -> dict[str, str]:
    headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
    peer = request.remote or ""
    prior = request.headers.get("X-Forwarded-For")
    headers["X-Forwarded-For"] = f"{prior}, {peer}" if prior else peer
    headers["X-Forwarded-Host"] = request.host
    headers["X-Forwarded-Proto"] = "https" if request.secure else "http"
    headers["Host"] = request.host
    return headers


def _port_suffix(port: int, default: int) -> str:
    return "" if port == default else f":{port}"


def _plain(status: int, text: str) -> web.Response:
    return web.Response(status=status, text=text)


def _error(path: str, status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    """An error in the shape of the API the client spoke."""
    if path.startswith("/v1/") or path == "/v1":
        kind = {401: "authentication_error", 403: "permission_error", 503: "service_unavailable"}.get(status,
                                                                                                      "error")
        body = {"error": {"message": message, "type": kind, "code": status}}
        return web.json_response(body, status=status, headers=headers)
    if _is_v2(path):
        return web.json_response({"error": message}, status=status, headers=headers)
    return web.Response(status=status, text=message + "\n", headers=headers)
