"""pods/log, pods/exec, pods/attach and pods/portforward proxied to the pod's kubelet, and metrics.k8s.io
shaped from the kubelets' `/stats/summary` (notes §9).

The API server checks what it can answer from the pod object itself, with Kubernetes' wording (no such pod,
no node assigned, which container, container still waiting), then finds the kubelet from the pod's Node
(`status.addresses` InternalIP, `status.daemonEndpoints.kubeletEndpoint.Port`) and calls it with its own token.
WebSocket requests are upgraded only after the kubelet has accepted its half, so errors stay plain HTTP Status
answers and the negotiated subprotocol is the kubelet's.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import datetime
from typing import Any

import aiohttp
from aiohttp import WSMsgType, web

from kubeserve.api import errors
from kubeserve.api.kinds import Registry, ResourceKind
from kubeserve.apiserver import codec, metrics
from kubeserve.apiserver.registry import Objects
from kubeserve.apiserver.request import ListOptions, RequestInfo, parse_bool

Obj = dict[str, Any]
STREAM_SUBRESOURCES = ("log", "exec", "attach", "portforward")
DEFAULT_CONTAINER_ANNOTATION = "kubectl.kubernetes.io/default-container"
_KUBELET_PATHS = {"log": "containerLogs", "exec": "exec", "attach": "attach", "portforward": "portForward"}
_SPDY_REFUSED = (
    "kubeserve serves pods/{sub} over WebSocket only, which kubectl 1.30+ uses by default: unset "
    "KUBECTL_REMOTE_COMMAND_WEBSOCKETS / KUBECTL_PORT_FORWARD_WEBSOCKETS (or set them to true) instead of "
    "falling back to SPDY"
)


def choose_container(pod: Obj, requested: str) -> str:
    """The container a log/exec/attach request means, or BadRequest with the apiserver's words."""
    name = pod["metadata"]["name"]
    spec = pod.get("spec") or {}
    names = [c.get("name", "") for c in spec.get("containers") or []]
    init = [c.get("name", "") for c in spec.get("initContainers") or []]
    if requested:
        if requested not in names and requested not in init:
            raise errors.BadRequest(f"container {requested} is not valid for pod {name}")
        return requested
    if len(names) == 1:
        return str(names[0])
    default = ((pod["metadata"].get("annotations") or {}).get(DEFAULT_CONTAINER_ANNOTATION) or "")
    if default in names:
        return default
    message = f"a container name must be specified for pod {name}, choose one of: [{' '.join(names)}]"
    if init:
        message += f" or one of the init containers: [{' '.join(init)}]"
    raise errors.BadRequest(message)


def check_started(pod: Obj, container: str, *, running: bool, previous: bool = False) -> None:
    """BadRequest when the container has nothing to show yet (`running`: nothing to exec or attach to)."""
    name = pod["metadata"]["name"]
    status = pod.get("status") or {}
    statuses = (status.get("containerStatuses") or []) + (status.get("initContainerStatuses") or [])
    found = next((s for s in statuses if s.get("name") == container), None)
    if found is None:
        raise errors.BadRequest(f'container "{container}" in pod "{name}" is waiting to start: ContainerCreating')
    state = found.get("state") or {}
    had_run = "terminated" in (found.get("lastState") or {})
    if "waiting" in state and not (had_run and not running) and not previous:
        reason = (state.get("waiting") or {}).get("reason") or "ContainerCreating"
        reason = _WAITING_WORDS.get(reason, reason)
        raise errors.BadRequest(f'container "{container}" in pod "{name}" is waiting to start: {reason}')
    if running and "running" not in state:
        raise errors.BadRequest(f'container "{container}" in pod "{name}" is not running')


# How the kubelet words a waiting reason in a pods/log error (kubelet's validateContainerLogStatus).
_WAITING_WORDS = {"ImagePullBackOff": "trying and failing to pull image", "ErrImagePull": "image can't be pulled"}


def kubelet_url(node: Obj) -> str:
    """The kubelet endpoint a Node publishes, as a base URL."""
    host, port = kubelet_address(node)
    return f"http://{host}:{port}"


def kubelet_address(node: Obj) -> tuple[str, int]:
    status = node.get("status") or {}
    addresses = status.get("addresses") or []
    host = next((a.get("address") for a in addresses if a.get("type") == "InternalIP"), None)
    host = host or next((a.get("address") for a in addresses if a.get("address")), None)
    port = ((status.get("daemonEndpoints") or {}).get("kubeletEndpoint") or {}).get("Port")
    if not host or not isinstance(port, int) or port <= 0:
        raise errors.InternalError(f'node "{node["metadata"]["name"]}" does not publish its kubelet endpoint '
                                   "(status.addresses and status.daemonEndpoints.kubeletEndpoint.Port)")
    return host, port


class PodStreams:
    def __init__(self, objects: Objects, registry: Registry, token: str, clock: Callable[[], datetime]) -> None:
        self.objects = objects
        self.token = token
        self.clock = clock
        self._pod = self._kind(registry, "", "Pod")
        self._node = self._kind(registry, "", "Node")
        self._session: aiohttp.ClientSession | None = None

    @staticmethod
    def _kind(registry: Registry, group: str, kind: str) -> ResourceKind:
        found = registry.by_kind(group, "v1", kind)
        assert found is not None
        return found

    async def open(self) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                headers={"Authorization": f"Bearer {self.token}"} if self.token else {},
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=10))

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise errors.InternalError("the API server's kubelet client is not started")
        return self._session

    def _kubelet_url(self, pod: Obj) -> str:
        node_name = (pod.get("spec") or {}).get("nodeName")
        if not node_name:
            raise errors.BadRequest(f"pod {pod['metadata']['name']} does not have a host assigned")
        return kubelet_url(self.objects.get(self._node, "", node_name))

    # ---- pods/log, exec, attach, portforward ------------------------------------------------------------

    async def serve(self, request: web.Request, info: RequestInfo) -> web.StreamResponse:
        if info.is_collection:
            raise errors.NotFound("the server could not find the requested resource")
        sub = info.subresource
        upgrade = request.headers.get("Upgrade", "").lower()
        if sub != "log" and request.method == "POST" and not upgrade:
            raise errors.BadRequest("Upgrade request required")
        if (sub == "log" and request.method != "GET") or request.method not in ("GET", "POST"):
            raise errors.MethodNotAllowed(f"{request.method} is not supported on pods/{sub}")
        pod = self.objects.get(self._pod, info.namespace, info.name)
        query = [(k, v) for k, v in request.query.items() if k != "container"]
        path = f"/{_KUBELET_PATHS[sub]}/{info.namespace}/{info.name}"
        if sub != "portforward":
            container = choose_container(pod, request.query.get("container", ""))
            check_started(pod, container, running=sub != "log", previous=parse_bool(request.query.get("previous")))
            path += f"/{container}"
        url = self._kubelet_url(pod) + path
        if sub == "log":
            return await self._proxy_log(request, url, query)
        if upgrade != "websocket":
            if upgrade.startswith("spdy"):
                raise errors.BadRequest(_SPDY_REFUSED.format(sub=sub))
            raise errors.BadRequest("Upgrade request required")
        return await self._proxy_websocket(request, url, query)

    # ---- nodes/proxy ----------------------------------------------------------------------------------

    async def serve_node_proxy(self, request: web.Request, info: RequestInfo) -> web.StreamResponse:
        """`nodes/{name}/proxy/{path}`: a GET passed through to the node's kubelet (stats/summary, logs,
        healthz), as the MCP server's nodes_stats_summary and nodes_log tools use it."""
        if info.is_collection:
            raise errors.NotFound("the server could not find the requested resource")
        if request.method != "GET":
            raise errors.MethodNotAllowed(f"{request.method} is not supported on nodes/proxy")
        url = f"{kubelet_url(self.objects.get(self._node, '', info.name))}/{info.proxy_path}"
        try:
            async with self.session.get(url, params=list(request.query.items())) as upstream:
                body = await upstream.read()
                content_type = upstream.headers.get("Content-Type", "text/plain")
                return web.Response(status=upstream.status, body=body, headers={"Content-Type": content_type})
        except aiohttp.ClientError as exc:
            raise errors.InternalError(f"cannot reach the kubelet at {url}: {exc}") from exc

    async def _proxy_log(self, request: web.Request, url: str, query: list[tuple[str, str]]) -> web.StreamResponse:
        try:
            upstream = await self.session.get(url, params=query)
        except aiohttp.ClientError as exc:
            raise errors.InternalError(f"cannot reach the kubelet at {url}: {exc}") from exc
        async with upstream:
            if upstream.status != 200:
                return web.Response(status=upstream.status, body=await upstream.read(), content_type=codec.JSON)
            response = web.StreamResponse(headers={"Content-Type": "text/plain"})
            if parse_bool(request.query.get("follow")):
                response.enable_chunked_encoding()
            await response.prepare(request)
            with contextlib.suppress(ConnectionError, aiohttp.ClientError):
                async for chunk in upstream.content.iter_any():
                    await response.write(chunk)
            with contextlib.suppress(ConnectionError):
                await response.write_eof()
            return response

    async def _proxy_websocket(self, request: web.Request, url: str,
                               query: list[tuple[str, str]]) -> web.StreamResponse:
        offered = [p.strip() for h in request.headers.getall("Sec-WebSocket-Protocol", [])
                   for p in h.split(",") if p.strip()]
        try:
            upstream = await self.session.ws_connect(url, params=query, protocols=offered, max_msg_size=0,
                                                     autoping=True)
        except aiohttp.WSServerHandshakeError as exc:
            return await self._kubelet_refusal(url, query, exc)
        except aiohttp.ClientError as exc:
            raise errors.InternalError(f"cannot reach the kubelet at {url}: {exc}") from exc
        ws = web.WebSocketResponse(protocols=(upstream.protocol,) if upstream.protocol else (), max_msg_size=0,
                                   autoping=True)
        try:
            await ws.prepare(request)
            await _pipe(ws, upstream)
        finally:
            await upstream.close()
            await ws.close()
        return ws

    async def _kubelet_refusal(self, url: str, query: list[tuple[str, str]],
                               exc: aiohttp.WSServerHandshakeError) -> web.Response:
        """The kubelet checks a request before upgrading it, so a plain GET gets its Status (the WebSocket
        handshake error carries no body)."""
        with contextlib.suppress(aiohttp.ClientError):
            async with self.session.get(url, params=query) as plain:
                if plain.status >= 400:
                    return web.Response(status=plain.status, body=await plain.read(), content_type=codec.JSON)
        raise errors.BadRequest(f"unable to upgrade connection: {exc.message}")

    # ---- metrics.k8s.io ---------------------------------------------------------------------------------

    async def _summary(self, node: Obj) -> Obj | None:
        try:
            async with self.session.get(f"{kubelet_url(node)}/stats/summary") as response:
                if response.status != 200:
                    return None
                summary = await response.json()
        except (TimeoutError, aiohttp.ClientError, errors.ApiError, ValueError):
            return None
        return summary if isinstance(summary, dict) else None

    async def _summaries(self, node_names: set[str]) -> dict[str, Obj]:
        nodes = [n for n in (self.objects.find(self._node, "", name) for name in sorted(node_names)) if n]
        answers = await asyncio.gather(*(self._summary(n) for n in nodes))
        return {n["metadata"]["name"]: a for n, a in zip(nodes, answers, strict=True) if a is not None}

    async def serve_metrics(self, request: web.Request, info: RequestInfo) -> web.Response:
        if request.method != "GET":
            raise errors.MethodNotAllowed(f"{request.method} is not supported on {info.kind.qualified_resource}")
        opts = ListOptions.from_query(request.query)
        if opts.watch:
            raise errors.MethodNotAllowed(f"watch is not supported on {info.kind.qualified_resource}")
        now = self.clock()
        missing = errors.NotFound(f'{info.kind.qualified_resource} "{info.name}" not found', name=info.name,
                                  group=info.kind.group, kind=info.kind.plural)
        if info.kind.kind == "NodeMetrics":
            if info.name:
                nodes = [self.objects.find(self._node, "", info.name) or _raise(missing)]
            else:
                nodes, _ = self.objects.list(self._node, "", opts.label_selector, opts.field_selector)
            summaries = await self._summaries({n["metadata"]["name"] for n in nodes})
            items = [metrics.node_metrics(n, summaries[n["metadata"]["name"]], now) for n in nodes
                     if n["metadata"]["name"] in summaries]
        else:
            if info.name:
                pods = [self.objects.find(self._pod, info.namespace, info.name) or _raise(missing)]
            else:
                pods, _ = self.objects.list(self._pod, info.namespace, opts.label_selector, opts.field_selector)
            pods = [p for p in pods if (p.get("spec") or {}).get("nodeName")
                    and (p.get("status") or {}).get("phase") == "Running"]
            summaries = await self._summaries({p["spec"]["nodeName"] for p in pods})
            by_pod = metrics.index_pods(list(summaries.values()))
            items = []
            for pod in pods:
                meta = pod["metadata"]
                stats = by_pod.get(meta.get("uid", "")) or by_pod.get(f"{meta.get('namespace')}/{meta['name']}")
                if stats is not None:
                    items.append(metrics.pod_metrics(pod, stats, now))
        if info.name:
            if not items:
                raise missing
            return codec.json_response(items[0])
        return codec.json_response(metrics.metrics_list(info.kind.kind, items))


def _raise(exc: Exception) -> Obj:
    raise exc


async def _pipe(client: web.WebSocketResponse, kubelet: aiohttp.ClientWebSocketResponse) -> None:
    """Messages both ways until either side closes."""

    loop = asyncio.get_running_loop()
    tasks = [loop.create_task(_forward(kubelet, client)), loop.create_task(_forward(client, kubelet))]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, ConnectionError, RuntimeError):
                await task


async def _forward(source: web.WebSocketResponse | aiohttp.ClientWebSocketResponse,
                   sink: web.WebSocketResponse | aiohttp.ClientWebSocketResponse) -> None:
    """One direction of `_pipe`: data messages as they are (control frames are each side's own)."""
    async for msg in source:
        if msg.type == WSMsgType.BINARY:
            await sink.send_bytes(msg.data)
        elif msg.type == WSMsgType.TEXT:
            await sink.send_str(msg.data)
