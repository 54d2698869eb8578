"""`tritonclient.http`, the v2 client people actually use, against the v2 front on 127.0.0.1: binary BYTES
tensors (its default), JSON tensors (`binary_data=False`), request parameters, metadata and errors.

The front runs on its own event loop in a thread, because tritonclient is a blocking client."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import tritonclient.http as httpclient
from aiohttp import web
from tritonclient.utils import InferenceServerException

from kubeserve.gateway.v2app import serve_v2


class Backend:
    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []

    async def models(self) -> list[str]:
        return ["granite-model"]

    async def complete(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        self.bodies.append(body)
        return 200, {"choices": [{"index": i, "text": f"<{p}>"} for i, p in enumerate(body["prompt"])]}

    async def complete_stream(self, body: dict[str, Any]) -> Any:
        raise NotImplementedError
        yield

    async def ready(self) -> bool:
        return True


@pytest.fixture
def served() -> Iterator[tuple[str, Backend]]:
    backend = Backend()
    loop = asyncio.new_event_loop()
    started = threading.Event()
    holder: dict[str, Any] = {}

    async def handler(request: web.Request) -> web.StreamResponse:
        return await serve_v2(request, backend, "granite-model")

    async def start() -> None:
        app = web.Application()
        app.router.add_route("*", "/v2{tail:.*}", handler)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        holder["runner"] = runner
        holder["port"] = runner.addresses[0][1]

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(start())
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert started.wait(10)
    try:
        yield f"127.0.0.1:{holder['port']}", backend
    finally:
        asyncio.run_coroutine_threadsafe(holder["runner"].cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


PROMPTS = np.array(["What is machine learning?", "héllo"], dtype=object)


@pytest.mark.parametrize(("binary_in", "outputs"), [
    (True, None),  # tritonclient's defaults: binary input, binary_data_output
    (True, [True]),  # InferRequestedOutput's default: binary
    (False, [False]),  # all JSON
    (False, None),
])
def test_infer_with_a_bytes_tensor(served: tuple[str, Backend], binary_in: bool, outputs: list[bool] | None) -> None:
    url, backend = served
    client = httpclient.InferenceServerClient(url)
    try:
        text_input = httpclient.InferInput("text_input", [len(PROMPTS)], "BYTES")
        text_input.set_data_from_numpy(PROMPTS, binary_data=binary_in)
        requested = None if outputs is None else [httpclient.InferRequestedOutput("text_output", binary_data=b)
                                                  for b in outputs]
        result = client.infer("granite-model", [text_input], outputs=requested, request_id="r-1",
                              parameters={"temperature": 0.7, "max_tokens": 100})
        texts = [t.decode() if isinstance(t, bytes) else t for t in result.as_numpy("text_output").tolist()]
        assert texts == ["<What is machine learning?>", "<héllo>"]
        assert result.get_response()["id"] == "r-1"
        assert backend.bodies[-1] == {"model": "granite-model", "prompt": ["What is machine learning?", "héllo"],
                                      "n": 1, "stream": False, "temperature": 0.7, "max_tokens": 100}
    finally:
        client.close()


def test_health_metadata_and_errors(served: tuple[str, Backend]) -> None:
    url, _ = served
    client = httpclient.InferenceServerClient(url)
    try:
        assert client.is_server_live()
        assert client.is_server_ready()
        assert client.is_model_ready("granite-model")
        assert client.get_server_metadata()["name"] == "kubeserve"
        metadata = client.get_model_metadata("granite-model")
        assert metadata["inputs"] == [{"name": "text_input", "datatype": "BYTES", "shape": [-1]}]
        wrong = httpclient.InferInput("text_input", [1], "INT32")
        wrong.set_data_from_numpy(np.array([1], dtype=np.int32))
        with pytest.raises(InferenceServerException) as caught:
            client.infer("granite-model", [wrong])
        assert caught.value.status() == "400"
        assert "datatype BYTES" in caught.value.message()
    finally:
        client.close()
