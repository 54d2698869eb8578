"""An in-process API server (the real one, on 127.0.0.1 via aiohttp's test server) and an `ApiClient`
connected to it, for component tests: `async with api_client() as client: ...`."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from aiohttp.test_utils import TestServer

from kubeserve.apiserver.app import ApiServerSettings, build_app
from kubeserve.client import ApiClient, ClientConfig
from kubeserve.store import SqliteStore

TOKEN = "t"


@contextlib.asynccontextmanager
async def api_client(*namespaces: str) -> AsyncIterator[ApiClient]:
    store = SqliteStore(":memory:")
    server = TestServer(build_app(store, ApiServerSettings(tokens=(TOKEN,))))
    await server.start_server()
    client = await ApiClient.open(ClientConfig(server=str(server.make_url("")).rstrip("/"), token=TOKEN))
    try:
        ns = client.kind("v1", "Namespace")
        for name in ("default", *namespaces):
            await client.create(ns, "", {"metadata": {"name": name}})
        yield client
    finally:
        await client.close()
        await server.close()
        store.close()


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = 5.0, interval: float = 0.02) -> Any:
    """Poll `check` until it returns something truthy (and return that), failing after `timeout`."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = await check()
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last result: {result!r})")
        await asyncio.sleep(interval)
