"""The kubelet's HTTP endpoint: container logs, exec, attach, port-forward and `/stats/summary`.

The API server proxies `pods/log`, `pods/exec`, `pods/attach` and `pods/portforward` here (the paths are the
kubelet's own) and shapes metrics.k8s.io from the stats. Everything is read from the pod directories the
kubelet keeps (`pods/<uid>/sandbox.json`, `containers/<name>/{<n>.log,<n>.exit,state.json}`), so this server
works for containers adopted after a restart too. It listens on loopback and wants the API server's token.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import ssl
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web
from aiohttp.typedefs import Middleware

from kubeserve.api import errors
from kubeserve.atomicfile import read_json_object
from kubeserve.client import ApiClient, Obj
from kubeserve.client.background import cancel_and_wait
from kubeserve.node.kubelet import channels, remotecommand
from kubeserve.node.kubelet.containerlogs import LogOptions, RequestError, choose_run, stream_log
from kubeserve.node.kubelet.execution import ContainerContext
from kubeserve.node.kubelet.portforward import ChannelPortForward, SpdyTunnel
from kubeserve.node.kubelet.stats import StatsCollector

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_REASONS = {400: "BadRequest", 401: "Unauthorized", 404: "NotFound", 500: "InternalError"}


def status_response(code: int, message: str) -> web.Response:
    body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
            "reason": _REASONS.get(code, "BadRequest"), "code": code}
    return web.json_response(body, status=code)


def _flag(request: web.Request, name: str) -> bool:
    return request.query.get(name, "") in ("1", "t", "T", "true", "TRUE", "True")



class KubeletServer:
    def __init__(self, client: ApiClient | None, pods_dir: Path, host: str = "127.0.0.1", port: int = 0,
                 token: str = "", ssl_context: ssl.SSLContext | None = None, *, node_name: str = "",
                 poll_interval: float = 0.1, node_log: Callable[[], list[str]] | None = None) -> None:
        self.client = client
        self.pods_dir = Path(pods_dir)
        self.host = host
        self.port = port
        self.token = token
        self.ssl_context = ssl_context
        self.poll_interval = poll_interval
        self.node_log = node_log  # kubeserve's recent log lines, served as the node log
        self.stats = StatsCollector(self.pods_dir, node_name)
        self._stats_lock = asyncio.Lock()
        self._stopping = asyncio.Event()
        self._sockets: set[web.WebSocketResponse] = set()
        self._runner: web.AppRunner | None = None

    # ---- life cycle -------------------------------------------------------------------------------------

    def build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._errors(), self._auth()])
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/containerLogs/{namespace}/{pod}/{container}", self._logs)
        app.router.add_get("/exec/{namespace}/{pod}/{container}", self._exec)
        app.router.add_get("/attach/{namespace}/{pod}/{container}", self._attach)
        app.router.add_get("/portForward/{namespace}/{pod}", self._port_forward)
        app.router.add_get("/stats/summary", self._summary)
        app.router.add_get("/logs", self._node_logs)
        app.router.add_get("/logs/", self._node_logs)
        return app

    async def start(self) -> int:
        """Listen; returns the bound port (useful with port 0)."""
        self._stopping.clear()
        self._runner = web.AppRunner(self.build_app(), access_log=None, handler_cancellation=True,
                                     shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, ssl_context=self.ssl_context, reuse_address=True)
        await site.start()
        addresses = self._runner.addresses
        if addresses:
            self.port = int(addresses[0][1])
        return self.port

    async def stop(self) -> None:
        self._stopping.set()
        for ws in list(self._sockets):
            with contextlib.suppress(Exception):
                await ws.close(code=1001, message=b"kubelet stopping")
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # ---- middlewares ------------------------------------------------------------------------------------

    def _auth(self) -> Middleware:
        @web.middleware
        async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
            if self.token and request.path != "/healthz":
                scheme, _, token = request.headers.get("Authorization", "").partition(" ")
                if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip(), self.token):
                    return status_response(401, "Unauthorized")
            return await handler(request)

        return middleware

    def _errors(self) -> Middleware:
        @web.middleware
        async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
            try:
                return await handler(request)
            except RequestError as exc:
                return status_response(exc.code, exc.message)
            except web.HTTPException:
                raise
            except (asyncio.CancelledError, ConnectionResetError):
                raise
            except Exception as exc:
                log.exception("kubelet: error serving %s", request.path)
                return status_response(500, f"kubelet: {type(exc).__name__}: {exc}")

        return middleware

    # ---- finding pods and containers --------------------------------------------------------------------

    async def _pod(self, namespace: str, name: str) -> tuple[Path, Obj | None]:
        """The pod's directory (and its object, when the API server answers)."""
        pod: Obj | None = None
        if self.client is not None:
            with contextlib.suppress(errors.ApiError, OSError, TimeoutError):
                pod = await self.client.get(self.client.kind("v1", "Pod"), namespace, name)
        if pod is not None:
            directory = self.pods_dir / str(pod.get("metadata", {}).get("uid", ""))
            if (directory / "sandbox.json").is_file():
                return directory, pod
        candidates = []
        for path in self.pods_dir.glob("*/sandbox.json"):
            sandbox = read_json_object(path)
            if sandbox and sandbox.get("namespace") == namespace and sandbox.get("name") == name:
                with contextlib.suppress(OSError):
                    candidates.append((path.stat().st_mtime, path.parent))
        if not candidates:
            raise RequestError(404, f'pods "{name}" not found')
        return max(candidates)[1], pod

    async def _container(self, request: web.Request) -> tuple[Path, str, str]:
        namespace, name, container = (request.match_info[k] for k in ("namespace", "pod", "container"))
        pod_dir, pod = await self._pod(namespace, name)
        if pod is not None:
            spec = pod.get("spec") or {}
            names = [c.get("name") for c in (spec.get("containers") or []) + (spec.get("initContainers") or [])]
            if container not in names:
                raise RequestError(400, f"container {container} is not valid for pod {name}")
        directory = pod_dir / "containers" / container
        if not directory.is_dir():
            raise RequestError(400, f'container "{container}" in pod "{name}" is waiting to start: ContainerCreating')
        return directory, container, name

    def _running(self, directory: Path, container: str, pod: str) -> tuple[dict[str, Any], int]:
        state = read_json_object(directory / "state.json")
        if state is None:
            raise RequestError(400, f'container "{container}" in pod "{pod}" is waiting to start: ContainerCreating')
        run = state.get("restartCount")
        if not isinstance(run, int):
            run = choose_run(directory, container, pod, previous=False)
        if (directory / f"{run}.exit").exists():
            raise RequestError(400, f'container "{container}" in pod "{pod}" is not running')
        return state, run

    # ---- handlers ---------------------------------------------------------------------------------------

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def _logs(self, request: web.Request) -> web.StreamResponse:
        directory, container, pod = await self._container(request)
        options = LogOptions.from_query(request.query, datetime.now(UTC))
        run = choose_run(directory, container, pod, options.previous)
        chunks = stream_log(directory, run, options, self.poll_interval, self._stopping)
        response = web.StreamResponse(headers={"Content-Type": "text/plain"})
        if options.follow:
            response.enable_chunked_encoding()
        try:
            first = await anext(chunks, b"")
        except OSError as exc:
            raise RequestError(404, f'logs of container "{container}" in pod "{pod}" are gone: {exc}') from exc
        await response.prepare(request)
        try:
            if first:
                await response.write(first)
            async for chunk in chunks:
                await response.write(chunk)
        except (ConnectionError, OSError):
            pass
        finally:
            await chunks.aclose()
        with contextlib.suppress(ConnectionError):
            await response.write_eof()
        return response

    async def _upgrade(self, request: web.Request, supported: tuple[str, ...]) -> tuple[web.WebSocketResponse, str]:
        if request.headers.get("Upgrade", "").lower() != "websocket":
            raise RequestError(400, "Upgrade request required: use a WebSocket")
        protocol = channels.negotiate(request.headers.getall("Sec-WebSocket-Protocol", []), supported)
        if protocol is None:
            raise RequestError(400, f"none of the offered subprotocols is supported; use one of {list(supported)}")
        ws = web.WebSocketResponse(protocols=(protocol,), max_msg_size=0, autoping=True)
        await ws.prepare(request)
        self._sockets.add(ws)
        return ws, protocol

    async def _finish(self, ws: web.WebSocketResponse) -> web.WebSocketResponse:
        self._sockets.discard(ws)
        with contextlib.suppress(ConnectionError, RuntimeError):
            await ws.close()
        return ws

    async def _exec(self, request: web.Request) -> web.StreamResponse:
        directory, container, pod = await self._container(request)
        state, _ = self._running(directory, container, pod)
        command = request.query.getall("command", [])
        if not command:
            raise RequestError(400, "you must specify at least 1 command")
        tty = _flag(request, "tty")
        ws, protocol = await self._upgrade(request, channels.REMOTE_COMMAND_PROTOCOLS)
        try:
            await remotecommand.run_exec(ws, protocol, ContainerContext.from_state(state), command,
                                         stdin=_flag(request, "stdin"), stdout=_flag(request, "stdout"),
                                         stderr=_flag(request, "stderr") and not tty, tty=tty)
        finally:
            await self._finish(ws)
        return ws

    async def _attach(self, request: web.Request) -> web.StreamResponse:
        directory, container, pod = await self._container(request)
        state, run = self._running(directory, container, pod)
        if not (directory / f"{run}.log").exists():
            raise RequestError(400, f'container "{container}" in pod "{pod}" is waiting to start: ContainerCreating')
        fifo = state.get("stdin") if _flag(request, "stdin") else None
        ws, protocol = await self._upgrade(request, channels.REMOTE_COMMAND_PROTOCOLS)
        try:
            await remotecommand.run_attach(ws, protocol, directory, run, fifo if isinstance(fifo, str) else None,
                                           stdout=_flag(request, "stdout"), stderr=_flag(request, "stderr"),
                                           stop=self._stopping)
        finally:
            await self._finish(ws)
        return ws

    async def _port_forward(self, request: web.Request) -> web.StreamResponse:
        namespace, name = request.match_info["namespace"], request.match_info["pod"]
        pod_dir, _ = await self._pod(namespace, name)
        ip = str((read_json_object(pod_dir / "sandbox.json") or {}).get("ip") or "")
        if not ip:
            raise RequestError(400, f'pod "{name}" has no IP address yet')
        ports_query = request.query.getall("ports", [])
        try:
            ports = channels.parse_ports(ports_query) if ports_query else []
        except ValueError as exc:
            raise RequestError(400, str(exc)) from exc
        supported = (channels.V4, channels.V1) if ports else (channels.PORT_FORWARD_SPDY,)

        async def connect(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
            return await asyncio.wait_for(asyncio.open_connection(ip, port), 10)

        ws, _ = await self._upgrade(request, supported)
        try:
            if ports:
                await self._channel_forward(ws, connect, ports, f"{namespace}/{name}")
            else:
                await self._spdy_forward(ws, connect, f"{namespace}/{name}")
        finally:
            await self._finish(ws)
        return ws

    async def _spdy_forward(self, ws: web.WebSocketResponse, connect: Any, target: str) -> None:
        tunnel = SpdyTunnel(ws.send_bytes, connect, target)
        try:
            async for msg in ws:
                if msg.type == WSMsgType.BINARY and not await tunnel.feed(msg.data):
                    break
        except Exception as exc:  # a SPDY protocol error ends this connection only
            log.info("port-forward to %s ended: %s", target, exc)
        finally:
            await tunnel.close()

    async def _channel_forward(self, ws: web.WebSocketResponse, connect: Any, ports: list[int], target: str) -> None:
        forward = ChannelPortForward(ws.send_bytes, connect, ports, target)
        await forward.start()

        async def receive() -> None:
            async for msg in ws:
                if msg.type == WSMsgType.BINARY:
                    await forward.feed(msg.data)
            forward.end_input()

        loop = asyncio.get_running_loop()
        receiver, targets = loop.create_task(receive()), loop.create_task(forward.wait())
        try:
            await asyncio.wait([receiver, targets], return_when=asyncio.FIRST_COMPLETED)
        finally:
            await cancel_and_wait(receiver, targets)
            await forward.close()

    async def _node_logs(self, request: web.Request) -> web.Response:
        """The node's own log, as kubelet's `/logs?query=kubelet` answers it: here, kubeserve's recent log."""
        query = request.query.get("query", "")
        if query not in ("kubelet", "kubeserve") or self.node_log is None:
            raise RequestError(404, f"no node log {query!r}: ask for query=kubelet (kubeserve's own log)")
        lines = self.node_log()
        tail = request.query.get("tailLines", "")
        if tail.isdigit():
            lines = lines[-int(tail):] if int(tail) else []
        return web.Response(text="".join(f"{line}\n" for line in lines), content_type="text/plain")

    async def _summary(self, request: web.Request) -> web.Response:
        async with self._stats_lock:
            summary = await asyncio.to_thread(self.stats.summary)
        return web.json_response(summary)
