"""The Service data path: each ClusterIP:port is a listener that forwards connections to ready endpoints.

ClusterIPs are loopback addresses (`127.96.0.0/16`), so listening on one needs no interface setup. The
listeners follow the Services (opened when a Service or port appears, closed when it goes); the ready
endpoints of each Service port are computed from its EndpointSlices once per slice change and kept, so a
pod turning Ready or unready takes effect on the next connection without a connection paying for a lookup.
Balancing is `balance.pick` (least connections, then round-robin); an endpoint that refuses the connection
is skipped for another. With no ready endpoint the client gets a plain `503 Service Unavailable` saying so,
instead of a reset it cannot explain.

Bytes are spliced by two `asyncio.Protocol`s wired to each other's transports, not by coroutines pumping
streams: a chunk costs one callback and one `write` instead of a task wake-up per read and per drain.
Back-pressure is the transports' own: a side whose write buffer passes the high-water mark pauses reading
on the other side until it drains. An EOF is passed on as a half-close, and a reset aborts both sides.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import cast

from kubeserve.client import ApiClient, Informer, Obj
from kubeserve.client.background import cancel_and_wait
from kubeserve.gateway import balance

log = logging.getLogger(__name__)

LOOPBACK = ipaddress.IPv4Network("127.0.0.0/8")
BUFFER = 256 * 1024
CONNECT_TIMEOUT = 5.0
SERVICE_NAME_LABEL = "kubernetes.io/service-name"


@dataclass(frozen=True)
class ServicePort:
    namespace: str
    service: str
    port_name: str
    port: int

    @property
    def label(self) -> str:
        return f"{self.namespace}/{self.service}:{self.port_name or self.port}"


def listeners_for(services: Iterable[Obj]) -> dict[tuple[str, int], ServicePort]:
    """(clusterIP, port) -> the Service port it serves, for every TCP port of every loopback ClusterIP."""
    out: dict[tuple[str, int], ServicePort] = {}
    for service in services:
        meta = service.get("metadata") or {}
        spec = service.get("spec") or {}
        ip = spec.get("clusterIP")
        if not isinstance(ip, str) or spec.get("type") == "ExternalName":
            continue
        try:
            if ipaddress.ip_address(ip) not in LOOPBACK:
                continue
        except ValueError:
            continue  # "None" (headless) or junk
        for port in spec.get("ports") or []:
            number = port.get("port")
            if (port.get("protocol") or "TCP") != "TCP" or not isinstance(number, int):
                continue
            out[(ip, number)] = ServicePort(meta.get("namespace", ""), meta.get("name", ""),
                                            port.get("name") or "", number)
    return out


def ready_endpoints(slices: Iterable[Obj], port_name: str | None, port_number: int | None = None) -> list[str]:
    """`ip:port` of each ready endpoint for a Service port, by its name, or (`port_name` None) by the target
    port number (kube-proxy's reading: unset `ready` counts as ready; terminating endpoints are not ready,
    so they get no new connections while they finish what they serve)."""
    out: list[str] = []
    for slice_ in slices:
        if slice_.get("addressType", "IPv4") != "IPv4":
            continue
        numbers = [p.get("port") for p in slice_.get("ports") or [] if (p.get("protocol") or "TCP") == "TCP" and (
            (p.get("name") or "") == port_name if port_name is not None else p.get("port") == port_number)]
        if not numbers or not isinstance(numbers[0], int):
            continue
        for endpoint in slice_.get("endpoints") or []:
            if (endpoint.get("conditions") or {}).get("ready") is False:
                continue
            for address in endpoint.get("addresses") or []:
                target = f"{address}:{numbers[0]}"
                if target not in out:
                    out.append(target)
    return out


def unavailable_response(port: ServicePort) -> bytes:
    body = (f'Service "{port.namespace}/{port.service}" has no ready endpoints for port '
            f"{port.port_name or port.port}: no pod behind it is Ready yet (see kubectl get endpointslices -n "
            f"{port.namespace} -l {SERVICE_NAME_LABEL}={port.service} and kubectl describe pods)\n").encode()
    head = (f"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
    return head + body


class ServiceProxy:
    def __init__(self, client: ApiClient, *, retry_bind: float = 30.0) -> None:
        self.client = client
        self.services = Informer(client, client.kind("v1", "Service"))
        self.slices = Informer(client, client.kind("discovery.k8s.io/v1", "EndpointSlice"))
        self._retry_bind = retry_bind
        self._routes: dict[tuple[str, int], ServicePort] = {}
        self._servers: dict[tuple[str, int], asyncio.Server] = {}
        self._failed: dict[tuple[str, int], str] = {}  # address -> the bind error already logged
        # (namespace, service) -> port name -> ready endpoints; an entry is dropped when a slice of that
        # Service changes and rebuilt by the next connection to it
        self._ready: dict[tuple[str, str], dict[str, list[str]]] = {}
        self._active: dict[str, int] = {}
        self._cursors: dict[ServicePort, int] = {}
        self._connections: set[_Inbound] = set()
        self._dialing: set[asyncio.Task[None]] = set()
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def addresses(self) -> list[tuple[str, int]]:
        """Where it is listening now."""
        return sorted(self._servers)

    async def start(self) -> None:
        self.services.add_handler(lambda old, new: self._changed.set())
        self.slices.add_handler(self._slice_changed)
        self.services.start()
        self.slices.start()
        await self.services.wait_synced()
        await self.slices.wait_synced()
        await self.sync()
        self._task = asyncio.get_running_loop().create_task(self._follow(), name="service proxy")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None
        for address in list(self._servers):
            self._close(address)
        await cancel_and_wait(*self._dialing)
        for inbound in list(self._connections):
            inbound.abort()
        await asyncio.sleep(0)  # let the aborted transports close their sockets
        await self.services.stop()
        await self.slices.stop()

    async def _follow(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), self._retry_bind if self._failed else None)
            self._changed.clear()
            await self.sync()

    async def sync(self) -> None:
        """Open listeners for new Service ports, close those whose Service or port went away."""
        desired = listeners_for(self.services.list())
        self._routes = desired
        for address in [a for a in self._servers if a not in desired]:
            self._close(address)
        for address in [a for a in self._failed if a not in desired]:
            del self._failed[address]
        routes = set(desired.values())
        for route in [r for r in self._cursors if r not in routes]:
            del self._cursors[route]
        services = {(r.namespace, r.service) for r in routes}
        for key in [k for k in self._ready if k not in services]:
            del self._ready[key]
        for address in desired:
            if address not in self._servers:
                await self._open(address)

    async def _open(self, address: tuple[str, int]) -> None:
        ip, port = address
        loop = asyncio.get_running_loop()
        try:
            server = await loop.create_server(lambda: _Inbound(self, address), ip, port, reuse_address=True,
                                              backlog=1024)
        except OSError as exc:
            if self._failed.get(address) != str(exc):
                log.warning("cannot listen on %s:%d for Service %s: %s (the Service is unreachable by its "
                            "ClusterIP until this is fixed; retrying every %.0fs)", ip, port,
                            self._routes[address].label, exc, self._retry_bind)
            self._failed[address] = str(exc)
            return
        self._failed.pop(address, None)
        self._servers[address] = server
        log.debug("listening on %s:%d for Service %s", ip, port, self._routes[address].label)

    def _close(self, address: tuple[str, int]) -> None:
        server = self._servers.pop(address, None)
        if server is not None:
            server.close()  # open connections are left to finish

    # -- ready endpoints -----------------------------------------------------------------------------------

    def _slice_changed(self, old: Obj | None, new: Obj | None) -> None:
        for slice_ in (old, new):
            if slice_ is None:
                continue
            meta = slice_.get("metadata") or {}
            service = (meta.get("labels") or {}).get(SERVICE_NAME_LABEL)
            if service:
                self._ready.pop((meta.get("namespace", "") or "", service), None)

    def _endpoints(self, route: ServicePort) -> list[str]:
        ports = self._ready.setdefault((route.namespace, route.service), {})
        found = ports.get(route.port_name)
        if found is None:
            slices = self.slices.list(route.namespace, f"{SERVICE_NAME_LABEL}={route.service}")
            found = ports[route.port_name] = ready_endpoints(slices, route.port_name)
        return found

    # -- one connection ------------------------------------------------------------------------------------

    def _accepted(self, inbound: _Inbound) -> None:
        self._connections.add(inbound)
        route = self._routes.get(inbound.address)
        if route is None:  # the Service went away while the connection waited in the backlog
            inbound.abort()
            return
        task = asyncio.get_running_loop().create_task(self._dial(inbound, route))
        self._dialing.add(task)
        task.add_done_callback(self._dialing.discard)
        inbound.dialing = task

    async def _dial(self, inbound: _Inbound, route: ServicePort) -> None:
        endpoints = self._endpoints(route)
        loop = asyncio.get_running_loop()
        failed: set[str] = set()
        while True:
            target, self._cursors[route] = balance.pick(endpoints, self._active, self._cursors.get(route, 0),
                                                        failed)
            if target is None:
                inbound.refuse(unavailable_response(route))
                return
            host, _, port = target.rpartition(":")
            try:
                async with asyncio.timeout(CONNECT_TIMEOUT):
                    _, upstream = await loop.create_connection(_Pipe, host, int(port))
            except (OSError, TimeoutError) as exc:
                log.info("Service %s: endpoint %s refused the connection (%s); trying another", route.label,
                         target, exc)
                failed.add(target)
                continue
            break
        if inbound.transport is None or inbound.transport.is_closing():  # aborted by stop() meanwhile
            upstream.abort()
            return
        self._active[target] = self._active.get(target, 0) + 1
        inbound.target = target
        inbound.link(upstream)

    def _finished(self, inbound: _Inbound) -> None:
        self._connections.discard(inbound)
        if inbound.dialing is not None:
            inbound.dialing.cancel()  # the client left while an endpoint was being dialed
        if inbound.target is not None:
            self._active[inbound.target] -= 1
            if not self._active[inbound.target]:
                del self._active[inbound.target]


class _Pipe(asyncio.Protocol):
    """One side of a spliced pair: what its transport reads is written to the peer's transport. What it
    reads before `link` pairs it (a client's request, while its endpoint is dialed) is kept, with the EOF,
    and passed on by `link`, so the request goes out the moment the endpoint answers; past `BUFFER`,
    reading pauses until then."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.peer: _Pipe | None = None
        self._early: list[bytes] = []  # read before the link
        self._early_size = 0
        self._read_eof = False  # this side sent its EOF
        self._wrote_eof = False  # the peer's EOF was passed on to this side

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # no isinstance: uvloop's are not subclasses
        self.transport.set_write_buffer_limits(high=BUFFER)

    def link(self, peer: _Pipe) -> None:
        self.peer, peer.peer = peer, self
        for side in (self, peer):
            if side._early:
                early, side._early, side._early_size = b"".join(side._early), [], 0
                side.data_received(early)
            if side._read_eof:
                side._pass_eof()
            elif side.transport is not None:
                side.transport.resume_reading()

    def data_received(self, data: bytes) -> None:
        peer = self.peer
        if peer is None:
            self._early.append(data)
            self._early_size += len(data)
            if self._early_size > BUFFER and self.transport is not None:
                self.transport.pause_reading()
        elif peer.transport is not None and not peer.transport.is_closing():
            peer.transport.write(data)

    def eof_received(self) -> bool:
        if not self._read_eof:
            self._read_eof = True
            self._pass_eof()
        return True  # keep the transport: the other direction may still be carrying bytes

    def _pass_eof(self) -> None:
        peer = self.peer
        if peer is not None and peer.transport is not None:
            if not peer.transport.is_closing():
                peer.transport.write_eof()
            peer._wrote_eof = True
            peer._close_if_done()
        self._close_if_done()

    def _close_if_done(self) -> None:
        if self._read_eof and self._wrote_eof and self.transport is not None:
            self.transport.close()  # flushes what is still buffered first

    # the peer is what fills this side's write buffer, so its reading is what pauses
    def pause_writing(self) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        peer = self.peer
        if peer is not None and peer.transport is not None:
            if exc is None:
                peer.transport.close()
            else:
                peer.transport.abort()

    def abort(self) -> None:
        for side in (self, self.peer):
            if side is not None and side.transport is not None:
                side.transport.abort()


class _Inbound(_Pipe):
    """The client's side: reports to the proxy, which dials an endpoint and links it, or refuses."""

    def __init__(self, proxy: ServiceProxy, address: tuple[str, int]) -> None:
        super().__init__()
        self.proxy = proxy
        self.address = address
        self.target: str | None = None  # the endpoint, once linked
        self.dialing: asyncio.Task[None] | None = None
        self._refusing: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.proxy._accepted(self)

    def link(self, peer: _Pipe) -> None:
        self.dialing = None
        super().link(peer)

    def refuse(self, response: bytes) -> None:
        """Send the 503 and close without a reset: read and drop what the client sent until its EOF (for
        a second at most), or it may never read the answer."""
        self.dialing = None
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        transport.write(response)
        transport.write_eof()
        self._wrote_eof = True
        self._early, self._early_size = [], 0
        self._refusing = asyncio.get_running_loop().call_later(1.0, transport.close)
        if self._read_eof:
            self._close_if_done()
        else:
            transport.resume_reading()

    def data_received(self, data: bytes) -> None:
        if self._refusing is None:
            super().data_received(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._refusing is not None:
            self._refusing.cancel()
        super().connection_lost(exc)
        self.proxy._finished(self)
