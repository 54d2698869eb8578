"""Probes against the real test server (in-process) and kubelet's failure messages."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import TestServer

from kubeserve.node.kubelet.probes import run_probe
from kubeserve.runtimes.testserver import State, build_app

CONTAINER = {"name": "web", "ports": [{"name": "http", "containerPort": 0}]}


@pytest.fixture
async def server() -> AsyncIterator[TestServer]:
    srv = TestServer(build_app(State()), host="127.0.0.1")
    await srv.start_server()
    CONTAINER["ports"][0]["containerPort"] = srv.port  # type: ignore[index]
    yield srv
    await srv.close()


async def no_exec(argv: list[str], timeout: float) -> tuple[int, bytes]:
    raise AssertionError("not an exec probe")


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_http_success_and_named_port(server: TestServer) -> None:
    result = await run_probe({"httpGet": {"path": "/healthz", "port": "http"}}, "127.0.0.1", CONTAINER, no_exec)
    assert result.success


async def test_http_status_failure_message(server: TestServer) -> None:
    async with ClientSession() as session, session.post(f"http://127.0.0.1:{server.port}/ready/off") as resp:
        assert resp.status == 503
    probe = {"httpGet": {"path": "/ready", "port": server.port}}
    result = await run_probe(probe, "127.0.0.1", CONTAINER, no_exec, probe_type="Readiness")
    assert (result.success, result.message) == (False, "Readiness probe failed: HTTP probe failed with statuscode: 503")


async def test_http_connection_refused_message() -> None:
    port = closed_port()
    result = await run_probe({"httpGet": {"path": "/ready", "port": port}}, "127.0.0.1", CONTAINER, no_exec,
                             probe_type="Readiness")
    assert result.message == (f'Readiness probe failed: Get "http://127.0.0.1:{port}/ready": '
                              f"dial tcp 127.0.0.1:{port}: connect: connection refused")


async def test_http_timeout(server: TestServer) -> None:
    probe = {"httpGet": {"path": "/sleep?s=2", "port": server.port}, "timeoutSeconds": 0.2}
    result = await run_probe(probe, "127.0.0.1", CONTAINER, no_exec)
    assert not result.success
    assert "context deadline exceeded" in result.message


async def test_unknown_named_port() -> None:
    result = await run_probe({"tcpSocket": {"port": "grpc"}}, "127.0.0.1", CONTAINER, no_exec)
    assert result.message == 'couldn\'t find port: grpc in container "web"'


async def test_tcp(server: TestServer) -> None:
    assert (await run_probe({"tcpSocket": {"port": server.port}}, "127.0.0.1", CONTAINER, no_exec)).success
    port = closed_port()
    result = await run_probe({"tcpSocket": {"port": port}}, "127.0.0.1", CONTAINER, no_exec)
    assert result.message == f"dial tcp 127.0.0.1:{port}: connect: connection refused"


@pytest.mark.parametrize(("outcome", "success", "message"), [
    ((0, b"fine"), True, "fine"),
    ((1, b"unhealthy\n"), False, "Liveness probe failed: unhealthy\n"),
    (TimeoutError(), False, 'Liveness probe failed: command "cat /tmp/healthy" timed out'),
])
async def test_exec(outcome: tuple[int, bytes] | Exception, success: bool, message: str) -> None:
    seen: list[tuple[list[str], float]] = []

    async def exec_in(argv: list[str], timeout: float) -> tuple[int, bytes]:
        seen.append((argv, timeout))
        await asyncio.sleep(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    probe = {"exec": {"command": ["cat", "/tmp/healthy"]}, "timeoutSeconds": 3}
    result = await run_probe(probe, "127.0.0.1", CONTAINER, exec_in, probe_type="Liveness")
    assert (result.success, result.message) == (success, message)
    assert seen == [(["cat", "/tmp/healthy"], 3.0)]
