"""The HTTP test server as a real process: binds the pod IP, serves its endpoints, drains on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator

import pytest
from aiohttp import ClientSession, ClientTimeout
from aiohttp.test_utils import TestServer

from kubeserve.runtimes.testserver import State, build_app


def free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def app_server() -> AsyncIterator[TestServer]:
    srv = TestServer(build_app(State()), host="127.0.0.1")
    await srv.start_server()
    yield srv
    await srv.close()


async def test_endpoints(app_server: TestServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOSTNAME", "web-1")
    monkeypatch.setenv("MESSAGE", "hello")
    monkeypatch.setenv("KUBESERVE_POD_IP", "127.10.0.2")
    base = f"http://127.0.0.1:{app_server.port}"
    async with ClientSession() as session:
        async with session.get(base + "/") as resp:
            assert await resp.json() == {"hostname": "web-1", "podIP": "127.10.0.2", "message": "hello",
                                         "version": "1"}
        async with session.get(base + "/env/MESSAGE") as resp:
            assert await resp.text() == "hello"
        async with session.get(base + "/env/NOT_SET_ANYWHERE") as resp:
            assert resp.status == 404
        async with session.get(base + "/alloc?mb=3") as resp:
            assert (await resp.json())["heldMiB"] == 3
        for path, status in (("/ready", 200), ("/ready/off", 503), ("/ready", 503), ("/ready/on", 200)):
            method = session.post if path.count("/") == 2 else session.get
            async with method(base + path) as resp:
                assert resp.status == status, path


async def test_process_binds_pod_ip_and_drains_on_sigterm() -> None:
    host = "127.10.0.77"
    port = free_port(host)
    env = {**os.environ, "KUBESERVE_POD_IP": host, "PORT": str(port), "HOSTNAME": "p"}
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "kubeserve.runtimes.testserver", env=env,
                                                stdout=asyncio.subprocess.PIPE)
    assert proc.stdout is not None
    try:
        start = await asyncio.wait_for(proc.stdout.readline(), 10)
        assert f"listening on http://{host}:{port}" in start.decode()
        async with ClientSession(timeout=ClientTimeout(total=5)) as session:
            slow = asyncio.create_task(session.get(f"http://{host}:{port}/sleep?s=0.5"))
            await asyncio.sleep(0.2)
            proc.send_signal(signal.SIGTERM)
            sent = time.monotonic()
            async with await slow as resp:
                assert resp.status == 200
                assert await resp.text() == "slept 0.5s\n"
        assert await asyncio.wait_for(proc.wait(), 5) == 0
        assert time.monotonic() - sent < 3
        rest = (await proc.stdout.read()).decode()
        assert '"GET /sleep?s=0.5" 200' in rest
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
