"""The Service data path: the pure parts (listeners, ready endpoints, balancing) and the proxy itself over
real loopback sockets, with the in-process API server and tiny asyncio servers as endpoints."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest

from kubeserve.client import ApiClient
from kubeserve.gateway import balance
from kubeserve.gateway.services import BUFFER, ServicePort, ServiceProxy, listeners_for, ready_endpoints
from unit.node.inproc_api import api_client, eventually

Obj = dict[str, Any]
CLUSTER_IP = "127.96.250.7"  # requested, away from what a concurrently running kubeserve allocates


@pytest.mark.parametrize(("endpoints", "active", "cursor", "exclude", "expected"), [
    (["a", "b", "c"], {}, 0, (), ("a", 1)),
    (["a", "b", "c"], {}, 1, (), ("b", 2)),
    (["a", "b", "c"], {}, 3, (), ("a", 1)),  # the cursor wraps
    (["a", "b", "c"], {"a": 2, "b": 1}, 0, (), ("c", 3)),  # least connections first
    (["a", "b", "c"], {"a": 1, "b": 1, "c": 1}, 2, (), ("c", 3)),  # ties go round-robin
    (["a", "b"], {}, 0, ("a",), ("b", 2)),
    (["a", "b"], {}, 1, ("a", "b"), (None, 1)),
    ([], {}, 0, (), (None, 0)),
])
def test_pick(endpoints: list[str], active: dict[str, int], cursor: int, exclude: tuple[str, ...],
              expected: tuple[str | None, int]) -> None:
    assert balance.pick(endpoints, active, cursor, exclude) == expected


def test_listeners_for() -> None:
    services = [
        {"metadata": {"namespace": "ns", "name": "web"},
         "spec": {"clusterIP": "127.96.0.10", "ports": [{"name": "http", "port": 80, "protocol": "TCP"},
                                                          {"name": "dns", "port": 53, "protocol": "UDP"},
                                                          {"port": 8080}]}},
        {"metadata": {"namespace": "ns", "name": "headless"}, "spec": {"clusterIP": "None", "ports": [{"port": 1}]}},
        {"metadata": {"namespace": "ns", "name": "remote"}, "spec": {"clusterIP": "10.0.0.1", "ports": [{"port": 1}]}},
        {"metadata": {"namespace": "ns", "name": "ext"}, "spec": {"type": "ExternalName", "ports": [{"port": 1}]}},
    ]
    assert listeners_for(services) == {("127.96.0.10", 80): ServicePort("ns", "web", "http", 80),
                                       ("127.96.0.10", 8080): ServicePort("ns", "web", "", 8080)}


def test_ready_endpoints() -> None:
    slices: list[Obj] = [
        {"addressType": "IPv4", "ports": [{"name": "http", "port": 8080}, {"name": "metrics", "port": 9090}],
         "endpoints": [{"addresses": ["127.10.0.2"], "conditions": {"ready": True}},
                       {"addresses": ["127.10.0.3"], "conditions": {"ready": False}},
                       {"addresses": ["127.10.0.4"]}]},  # unset ready counts as ready (kube-proxy)
        {"addressType": "IPv6", "ports": [{"name": "http", "port": 8080}], "endpoints": [{"addresses": ["::1"]}]},
        {"addressType": "IPv4", "ports": [{"name": "other", "port": 1}], "endpoints": [{"addresses": ["127.10.0.9"]}]},
    ]
    assert ready_endpoints(slices, "http") == ["127.10.0.2:8080", "127.10.0.4:8080"]
    assert ready_endpoints(slices, "metrics") == ["127.10.0.2:9090", "127.10.0.4:9090"]
    assert ready_endpoints(slices, "") == []


# -- the proxy over sockets ---------------------------------------------------------------------------------

def free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class Backend:
    """Echoes `<name>:<everything it read until EOF>` and closes; `hold` keeps connections open until set."""

    def __init__(self, host: str, name: str) -> None:
        self.host, self.name = host, name
        self.port = 0
        self.served = 0
        self.hold = asyncio.Event()
        self.hold.set()
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> Backend:
        self._server = await asyncio.start_server(self._handle, self.host, 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self.hold.set()
        self._server.close()
        await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.served += 1
        data = await reader.read()
        await self.hold.wait()
        writer.write(f"{self.name}:".encode() + data)
        await writer.drain()
        writer.close()


async def exchange(port: int, payload: bytes = b"ping") -> bytes:
    reader, writer = await asyncio.open_connection(CLUSTER_IP, port)
    writer.write(payload)
    writer.write_eof()  # half-close: the backend answers only after it has seen the end
    data = await reader.read()
    writer.close()
    return data


def endpoint_slice(service: str, port: int, *endpoints: tuple[str, bool]) -> Obj:
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": f"{service}-abc", "namespace": "default",
                         "labels": {"kubernetes.io/service-name": service}},
            "addressType": "IPv4", "ports": [{"name": "http", "port": port, "protocol": "TCP"}],
            "endpoints": [{"addresses": [ip], "conditions": {"ready": ready}} for ip, ready in endpoints]}


@pytest.fixture
async def client() -> AsyncIterator[ApiClient]:
    async with api_client() as c:
        yield c


@contextlib.asynccontextmanager
async def proxy(client: ApiClient) -> AsyncIterator[ServiceProxy]:
    p = ServiceProxy(client)
    await p.start()
    try:
        yield p
    finally:
        await p.stop()


async def make_service(client: ApiClient, name: str, port: int) -> None:
    await client.create(client.kind("v1", "Service"), "default", {
        "metadata": {"name": name}, "spec": {"clusterIP": CLUSTER_IP,
                                             "ports": [{"name": "http", "port": port, "targetPort": 8080}]}})


async def test_balances_over_ready_endpoints_and_prefers_the_least_busy(client: ApiClient) -> None:
    port = free_port(CLUSTER_IP)
    async with Backend("127.10.0.201", "a") as a, Backend("127.10.0.202", "b") as b, proxy(client) as p:
        assert a.port != 0
        await make_service(client, "llm", port)
        slice_kind = client.kind("discovery.k8s.io/v1", "EndpointSlice")
        slice_ = endpoint_slice("llm", a.port, ("127.10.0.201", True), ("127.10.0.202", True))
        if a.port != b.port:  # one port per slice: give b a slice of its own
            slice_ = endpoint_slice("llm", a.port, ("127.10.0.201", True))
            other = endpoint_slice("llm", b.port, ("127.10.0.202", True))
            other["metadata"]["name"] = "llm-def"
            await client.create(slice_kind, "default", other)
        await client.create(slice_kind, "default", slice_)
        await eventually(lambda: _async(len(p.slices.list("default")) == 2 and (CLUSTER_IP, port) in p.addresses))

        answers = [await exchange(port, b"x" * 100_000) for _ in range(6)]
        assert {r.split(b":")[0] for r in answers} == {b"a", b"b"}
        assert all(r.endswith(b":" + b"x" * 100_000) for r in answers)

        # hold a connection open on a: new connections go to b, the less busy one
        a.hold.clear()
        b.hold.clear()
        first = asyncio.create_task(exchange(port))
        await eventually(lambda: _async(a.served + b.served == 7))
        busy, idle = (a, b) if a.served == 4 else (b, a)
        busy_before = busy.served
        idle.hold.set()
        for _ in range(3):
            assert (await exchange(port)).startswith(idle.name.encode())
        assert busy.served == busy_before
        busy.hold.set()
        assert (await first).startswith(busy.name.encode())


async def _async(value: Any) -> Any:
    return value


async def test_skips_an_endpoint_that_refuses(client: ApiClient) -> None:
    port = free_port(CLUSTER_IP)
    async with Backend("127.10.0.203", "live") as live, proxy(client) as p:
        await make_service(client, "llm", port)
        # the dead address listens on nothing at the live backend's port
        slice_ = endpoint_slice("llm", live.port, ("127.10.0.204", True), ("127.10.0.203", True))
        await client.create(client.kind("discovery.k8s.io/v1", "EndpointSlice"), "default", slice_)
        await eventually(lambda: _async(bool(p.slices.list("default")) and (CLUSTER_IP, port) in p.addresses))
        for _ in range(4):
            assert await exchange(port) == b"live:ping"


async def test_no_ready_endpoint_answers_503_and_listeners_follow_the_service(client: ApiClient) -> None:
    port = free_port(CLUSTER_IP)
    async with proxy(client) as p:
        await make_service(client, "granite", port)
        await client.create(client.kind("discovery.k8s.io/v1", "EndpointSlice"), "default",
                            endpoint_slice("granite", 8080, ("127.10.0.205", False)))
        await eventually(lambda: _async(bool(p.slices.list("default")) and (CLUSTER_IP, port) in p.addresses))
        reply = await exchange(port, b"GET / HTTP/1.1\r\nHost: granite\r\n\r\n")
        head, _, body = reply.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 503 Service Unavailable\r\n")
        assert b'Service "default/granite" has no ready endpoints' in body

        await client.delete(client.kind("v1", "Service"), "default", "granite")
        await eventually(lambda: _async((CLUSTER_IP, port) not in p.addresses))
        with pytest.raises(ConnectionRefusedError):
            await exchange(port)


async def test_readiness_changes_take_effect_on_the_next_connection(client: ApiClient) -> None:
    port = free_port(CLUSTER_IP)
    slice_kind = client.kind("discovery.k8s.io/v1", "EndpointSlice")
    async with Backend("127.10.0.206", "pod") as pod, proxy(client) as p:
        await make_service(client, "llm", port)
        await client.create(slice_kind, "default", endpoint_slice("llm", pod.port, ("127.10.0.206", False)))
        await eventually(lambda: _async(bool(p.slices.list("default")) and (CLUSTER_IP, port) in p.addresses))
        assert (await exchange(port)).startswith(b"HTTP/1.1 503 ")  # and the empty endpoint list is kept

        for ready, answer in ((True, b"pod:ping"), (False, b"HTTP/1.1 503 "), (True, b"pod:ping")):
            await client.replace(slice_kind, "default",
                                 {**endpoint_slice("llm", pod.port, ("127.10.0.206", ready)),
                                  "metadata": (await client.get(slice_kind, "default", "llm-abc"))["metadata"]})

            async def answers(expected: bytes = answer) -> bool:
                return (await exchange(port)).startswith(expected)

            await eventually(answers)


class Sink:
    """Reads nothing until `release` is set, then everything; answers with the byte count."""

    def __init__(self, host: str) -> None:
        self.host = host
        self.port = 0
        self.release = asyncio.Event()
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> Sink:
        self._server = await asyncio.start_server(self._handle, self.host, 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self.release.set()
        self._server.close()
        await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await self.release.wait()
        received = 0
        while chunk := await reader.read(1024 * 1024):
            received += len(chunk)
        writer.write(f"{received}".encode())
        await writer.drain()
        writer.close()


async def test_a_stalled_endpoint_holds_back_the_client_instead_of_filling_the_proxy(client: ApiClient) -> None:
    port = free_port(CLUSTER_IP)
    async with Sink("127.10.0.207") as sink, proxy(client) as p:
        await make_service(client, "llm", port)
        await client.create(client.kind("discovery.k8s.io/v1", "EndpointSlice"), "default",
                            endpoint_slice("llm", sink.port, ("127.10.0.207", True)))
        await eventually(lambda: _async(bool(p.slices.list("default")) and (CLUSTER_IP, port) in p.addresses))
        reader, writer = await asyncio.open_connection(CLUSTER_IP, port)
        chunk, count = b"y" * (1024 * 1024), 48  # more than the loopback socket buffers hold

        async def send() -> None:
            for _ in range(count):
                writer.write(chunk)
                await writer.drain()
            writer.write_eof()

        sending = asyncio.create_task(send())
        inbound = await eventually(lambda: _async(next((c for c in p._connections if c.peer is not None), None)))
        assert inbound.peer is not None and inbound.peer.transport is not None and inbound.transport is not None
        upstream = inbound.peer.transport
        await eventually(lambda: _async(upstream.get_write_buffer_size() > 0 and not inbound.transport.is_reading()))
        await asyncio.sleep(0.2)
        assert not sending.done()
        assert upstream.get_write_buffer_size() <= 2 * BUFFER  # bounded: the high-water mark plus one read
        sink.release.set()
        await sending
        assert await reader.read() == str(count * len(chunk)).encode()
        writer.close()


async def test_stop_closes_open_connections(client: ApiClient) -> None:
    port = free_port(CLUSTER_IP)
    async with Backend("127.10.0.208", "pod") as pod:
        pod.hold.clear()
        async with proxy(client) as p:
            await make_service(client, "llm", port)
            await client.create(client.kind("discovery.k8s.io/v1", "EndpointSlice"), "default",
                                endpoint_slice("llm", pod.port, ("127.10.0.208", True)))
            await eventually(lambda: _async(bool(p.slices.list("default")) and (CLUSTER_IP, port) in p.addresses))
            reader, writer = await asyncio.open_connection(CLUSTER_IP, port)
            writer.write(b"ping")
            writer.write_eof()
            await eventually(lambda: _async(pod.served == 1))
        assert await asyncio.wait_for(reader.read(), 2) == b""  # the proxy went away: the client is told
        writer.close()
