"""The Service data path: each ClusterIP:port is a listener that forwards connections to ready endpoints.

ClusterIPs are loopback addresses (`127.96.0.0/16`), so listening on one needs no interface setup. The
listeners follow the Services (opened when a Service or port appears, closed when it goes); the endpoints
are read from the EndpointSlices at connect time, so a pod turning Ready or unready takes effect on the
next connection. Balancing is `balance.pick` (least connections, then round-robin); an endpoint that
refuses the connection is skipped for another. With no ready endpoint the client gets a plain
`503 Service Unavailable` saying so, instead of a reset it cannot explain.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
from collections.abc import Iterable
from dataclasses import dataclass

from kubeserve.client import ApiClient, Informer, Obj
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


def ready_endpoints(slices: Iterable[Obj], port_name: str) -> list[str]:
    """`ip:port` of each ready endpoint for the named Service port (kube-proxy's reading: unset `ready`
    counts as ready)."""
    out: list[str] = []
    for slice_ in slices:
        if slice_.get("addressType", "IPv4") != "IPv4":
            continue
        numbers = [p.get("port") for p in slice_.get("ports") or []
                   if (p.get("name") or "") == port_name and (p.get("protocol") or "TCP") == "TCP"]
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
        self._active: dict[str, int] = {}
        self._cursors: dict[ServicePort, int] = {}
        self._connections: set[asyncio.Task[None]] = set()
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def addresses(self) -> list[tuple[str, int]]:
        """Where it is listening now."""
        return sorted(self._servers)

    async def start(self) -> None:
        self.services.add_handler(lambda old, new: self._changed.set())
        self.services.start()
        self.slices.start()
        await self.services.wait_synced()
        await self.slices.wait_synced()
        await self.sync()
        self._task = asyncio.get_running_loop().create_task(self._follow(), name="service proxy")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for address in list(self._servers):
            self._close(address)
        for task in list(self._connections):
            task.cancel()
        for task in list(self._connections):
            with contextlib.suppress(asyncio.CancelledError):
                await task
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
        for address in desired:
            if address not in self._servers:
                await self._open(address)

    async def _open(self, address: tuple[str, int]) -> None:
        ip, port = address

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await self._serve(address, reader, writer)

        try:
            server = await asyncio.start_server(handle, ip, port, limit=BUFFER, reuse_address=True, backlog=1024)
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

    # -- one connection ------------------------------------------------------------------------------------

    async def _serve(self, address: tuple[str, int], reader: asyncio.StreamReader,
                     writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
        try:
            route = self._routes.get(address)
            if route is None:
                return
            upstream = await self._connect(route)
            if upstream is None:
                await _refuse(reader, writer, unavailable_response(route))
                return
            target, up_reader, up_writer = upstream
            self._active[target] = self._active.get(target, 0) + 1
            try:
                _tune(writer)
                _tune(up_writer)
                await asyncio.gather(_pipe(reader, up_writer, writer), _pipe(up_reader, writer, up_writer))
            finally:
                self._active[target] -= 1
                if not self._active[target]:
                    del self._active[target]
                up_writer.close()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()
            if task is not None:
                self._connections.discard(task)

    async def _connect(self, route: ServicePort) -> tuple[str, asyncio.StreamReader, asyncio.StreamWriter] | None:
        slices = self.slices.list(route.namespace, f"{SERVICE_NAME_LABEL}={route.service}")
        endpoints = ready_endpoints(slices, route.port_name)
        failed: set[str] = set()
        while True:
            target, self._cursors[route] = balance.pick(endpoints, self._active, self._cursors.get(route, 0),
                                                        failed)
            if target is None:
                return None
            host, _, port = target.rpartition(":")
            try:
                up_reader, up_writer = await asyncio.wait_for(asyncio.open_connection(host, int(port), limit=BUFFER),
                                                              CONNECT_TIMEOUT)
            except (OSError, TimeoutError) as exc:
                log.info("Service %s: endpoint %s refused the connection (%s); trying another", route.label,
                         target, exc)
                failed.add(target)
                continue
            return target, up_reader, up_writer


def _tune(writer: asyncio.StreamWriter) -> None:
    transport = writer.transport
    transport.set_write_buffer_limits(high=BUFFER)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, source: asyncio.StreamWriter) -> None:
    """Copy one direction until EOF, then half-close the other side so it sees the end too. An error on
    either side aborts both, so the opposite pipe does not wait forever."""
    try:
        while True:
            data = await reader.read(BUFFER)
            if not data:
                break
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof() and not writer.is_closing():
            writer.write_eof()
    except (ConnectionError, OSError):
        writer.transport.abort()
        source.transport.abort()


async def _refuse(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, response: bytes) -> None:
    """Send the 503 and close without a reset: drain what the client sent (briefly), or it may never read
    the answer."""
    writer.write(response)
    await writer.drain()
    if writer.can_write_eof():
        writer.write_eof()
    with contextlib.suppress(TimeoutError, ConnectionError, OSError):
        async with asyncio.timeout(1.0):
            while await reader.read(BUFFER):
                pass
