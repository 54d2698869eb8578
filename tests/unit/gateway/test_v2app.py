"""The v2 front over an OpenAI back end: every endpoint through aiohttp's test server, with a fake back end
that records what it is asked and answers as vLLM does."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from kubeserve.gateway.v2app import BackendError, serve_v2
from kubeserve.protocols.v2_binary import HEADER_LENGTH, decode_bytes_tensor, encode_bytes_tensor

GUIDE = {"inputs": [{"name": "text_input", "shape": [1], "datatype": "BYTES", "data": ["What is machine learning?"]}],
         "parameters": {"temperature": 0.7, "max_tokens": 100}}


class FakeBackend:
    """Answers each prompt with `answer to <prompt>`, its choices in reverse order as vLLM may."""

    def __init__(self, served: list[str] | None = None) -> None:
        self.served = ["granite-model"] if served is None else served
        self.bodies: list[dict[str, Any]] = []
        self.healthy = True
        self.down = False
        self.refusal: tuple[int, dict[str, Any]] | None = None
        self.stream_fails_after: int | None = None

    async def models(self) -> list[str]:
        if self.down:
            raise BackendError(503)
        return list(self.served)

    async def complete(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if self.down:
            raise BackendError(503)
        self.bodies.append(body)
        if self.refusal is not None:
            return self.refusal
        prompts = body["prompt"] if isinstance(body["prompt"], list) else [body["prompt"]]
        choices = [{"index": i, "text": f"answer to {p}", "finish_reason": "length"} for i, p in enumerate(prompts)]
        return 200, {"id": "cmpl-1", "object": "text_completion", "model": body["model"], "choices": choices[::-1]}

    async def complete_stream(self, body: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        self.bodies.append(body)
        if self.refusal is not None:
            raise BackendError(*self.refusal)
        for i, token in enumerate(["Hel", "lo", ""]):
            if self.stream_fails_after is not None and i >= self.stream_fails_after:
                raise BackendError(503)
            yield {"choices": [{"index": 0, "text": token, "finish_reason": None if token else "stop"}]}

    async def ready(self) -> bool:
        return self.healthy and not self.down


@pytest.fixture
def backend() -> FakeBackend:
    return FakeBackend()


@pytest.fixture
async def client(backend: FakeBackend) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    async def handler(request: web.Request) -> web.StreamResponse:
        return await serve_v2(request, backend, "granite-model")

    app = web.Application()
    app.router.add_route("*", "/v2{tail:.*}", handler)
    async with TestClient(TestServer(app)) as test_client:
        yield test_client


Client = TestClient[web.Request, web.Application]


async def test_the_guides_request(client: Client, backend: FakeBackend) -> None:
    response = await client.post("/v2/models/granite-model/infer", json=GUIDE)
    assert response.status == 200
    body = await response.json()
    assert body["model_name"] == "granite-model"
    assert body["id"]
    assert body["outputs"] == [{"name": "text_output", "datatype": "BYTES", "shape": [1],
                                "data": ["answer to What is machine learning?"]}]
    assert backend.bodies == [{"model": "granite-model", "prompt": ["What is machine learning?"], "n": 1,
                               "stream": False, "temperature": 0.7, "max_tokens": 100}]


async def test_several_prompts_keep_their_order(client: Client) -> None:
    request = {"id": "r1", "inputs": [{"name": "text_input", "shape": [3], "datatype": "BYTES",
                                       "data": ["a", "b", "c"]}]}
    body = await (await client.post("/v2/models/granite-model/infer", json=request)).json()
    assert body["id"] == "r1"
    assert body["outputs"][0]["data"] == ["answer to a", "answer to b", "answer to c"]


async def test_a_one_model_server_answers_to_the_inferenceservice_name(client: Client,
                                                                      backend: FakeBackend) -> None:
    backend.served = ["/mnt/models"]
    response = await client.post("/v2/models/granite-model/infer", json=GUIDE)
    assert response.status == 200
    assert (await response.json())["model_name"] == "granite-model"
    assert backend.bodies[0]["model"] == "/mnt/models"


async def test_binary_in_and_out(client: Client) -> None:
    raw = encode_bytes_tensor(["hé", "x"])
    header = json.dumps({"inputs": [{"name": "text_input", "datatype": "BYTES", "shape": [2],
                                     "parameters": {"binary_data_size": len(raw)}}],
                         "parameters": {"binary_data_output": True}}).encode()
    response = await client.post("/v2/models/granite-model/infer", data=header + raw,
                                 headers={HEADER_LENGTH: str(len(header))})
    assert response.status == 200
    length = int(response.headers[HEADER_LENGTH])
    content = await response.read()
    out = json.loads(content[:length])["outputs"][0]
    assert out["parameters"]["binary_data_size"] == len(content) - length
    assert decode_bytes_tensor(content[length:], "text_output") == ["answer to hé", "answer to x"]


@pytest.mark.parametrize(("method", "path", "payload", "status", "message"), [
    ("POST", "/v2/models/granite-model/infer", b"{oops", 400, "not valid JSON"),
    ("POST", "/v2/models/granite-model/infer", b"", 400, "empty"),
    ("POST", "/v2/models/granite-model/infer", json.dumps({"inputs": [{"name": "text_input", "shape": [2],
     "datatype": "BYTES", "data": ["a"]}]}).encode(), 400, "shape [2] holds 2 elements"),
    ("POST", "/v2/models/granite-model/infer", json.dumps({"inputs": [{"name": "text_input", "shape": [1],
     "datatype": "INT32", "data": [1]}]}).encode(), 400, "datatype BYTES"),
    ("POST", "/v2/models/granite-model/generate", b"[]", 400, "JSON object"),
    ("POST", "/v2/models/granite-model/generate_stream", b"{}", 400, "'text_input' must be a string"),
    ("GET", "/v2/models/granite-model/infer", b"", 405, "use POST"),
    ("GET", "/v2/unknown", b"", 404, "no v2 endpoint"),
])
async def test_malformed_requests_get_v2_errors(client: Client, method: str, path: str, payload: bytes, status: int,
                                                message: str) -> None:
    response = await client.request(method, path, data=payload)
    assert response.status == status
    body = await response.json()
    assert list(body) == ["error"]
    assert message in body["error"]


async def test_unknown_model_on_a_many_model_server(client: Client, backend: FakeBackend) -> None:
    backend.served = ["a", "b"]
    response = await client.post("/v2/models/granite-model/infer", json=GUIDE)
    assert response.status == 404
    assert "'a', 'b'" in (await response.json())["error"]
    assert backend.bodies == []


async def test_backend_refusals_keep_their_status(client: Client, backend: FakeBackend) -> None:
    backend.refusal = (400, {"object": "error", "message": "max_tokens is too large", "code": 400})
    response = await client.post("/v2/models/granite-model/infer", json=GUIDE)
    assert (response.status, await response.json()) == (400, {"error": "max_tokens is too large"})


async def test_backend_down_is_503(client: Client, backend: FakeBackend) -> None:
    backend.down = True
    response = await client.post("/v2/models/granite-model/infer", json=GUIDE)
    assert response.status == 503
    assert "not reachable" in (await response.json())["error"]
    assert (await client.get("/v2/health/ready")).status == 503
    assert (await client.get("/v2/health/live")).status == 200
    assert (await (await client.get("/v2/models")).json()) == {"models": ["granite-model"]}
    assert (await client.get("/v2/models/granite-model")).status == 200
    assert (await client.get("/v2/models/other")).status == 404
    ready = await client.get("/v2/models/granite-model/ready")
    assert (ready.status, await ready.json()) == (503, {"name": "granite-model", "ready": False})


async def test_metadata_and_health(client: Client, backend: FakeBackend) -> None:
    server = await (await client.get("/v2")).json()
    assert server["name"] == "kubeserve"
    assert "binary_tensor_data" in server["extensions"]
    assert (await (await client.get("/v2/health/ready")).json()) == {"ready": True}
    model = await (await client.get("/v2/models/granite-model")).json()
    assert model["inputs"] == [{"name": "text_input", "datatype": "BYTES", "shape": [-1]}]
    ready = await client.get("/v2/models/granite-model/ready")
    assert (ready.status, await ready.json()) == (200, {"name": "granite-model", "ready": True})
    backend.served = ["x", "y"]
    assert (await (await client.get("/v2/models")).json()) == {"models": ["x", "y"]}
    assert (await client.get("/v2/models/granite-model/ready")).status == 404


async def test_generate(client: Client, backend: FakeBackend) -> None:
    response = await client.post("/v2/models/granite-model/generate",
                                 json={"text_input": "Hi", "max_tokens": 5, "parameters": {"temperature": 0}})
    assert (await response.json()) == {"model_name": "granite-model", "model_version": "1",
                                       "text_output": "answer to Hi"}
    assert backend.bodies[0] == {"model": "granite-model", "prompt": "Hi", "n": 1, "stream": False,
                                 "max_tokens": 5, "temperature": 0.0}


def events(raw: bytes) -> list[dict[str, Any]]:
    return [json.loads(line[len("data: "):]) for line in raw.decode().split("\n\n") if line]


async def test_generate_stream(client: Client, backend: FakeBackend) -> None:
    response = await client.post("/v2/models/granite-model/generate_stream", json={"text_input": "Hi"})
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/event-stream")
    assert [e["text_output"] for e in events(await response.read())] == ["Hel", "lo"]
    assert backend.bodies[0]["stream"] is True


async def test_generate_stream_refused_before_the_first_chunk(client: Client, backend: FakeBackend) -> None:
    backend.refusal = (400, {"error": {"message": "prompt too long", "type": "BadRequestError"}})
    response = await client.post("/v2/models/granite-model/generate_stream", json={"text_input": "Hi"})
    assert (response.status, await response.json()) == (400, {"error": "prompt too long"})


async def test_generate_stream_failing_part_way(client: Client, backend: FakeBackend) -> None:
    backend.stream_fails_after = 1
    response = await client.post("/v2/models/granite-model/generate_stream", json={"text_input": "Hi"})
    assert response.status == 200
    got = events(await response.read())
    assert got[0]["text_output"] == "Hel"
    assert "error" in got[1]


async def test_a_body_over_the_limit_is_a_v2_413(backend: FakeBackend) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        return await serve_v2(request, backend, "granite-model")

    app = web.Application(client_max_size=64)
    app.router.add_route("*", "/v2{tail:.*}", handler)
    async with TestClient(TestServer(app)) as small:
        response = await small.post("/v2/models/granite-model/infer", json=GUIDE)
        assert response.status == 413
        assert "too large" in (await response.json())["error"]
