"""The in-process v2 middleware for vLLM, driven with ASGI messages around a fake OpenAI app."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from kubeserve.protocols.v2_binary import decode_bytes_tensor, encode_bytes_tensor
from kubeserve.runtimes.v2asgi import V2Middleware

GUIDE = {"inputs": [{"name": "text_input", "shape": [1], "datatype": "BYTES", "data": ["What is machine learning?"]}],
         "parameters": {"temperature": 0.7, "max_tokens": 100}}


class FakeOpenAI:
    """vLLM's OpenAI server, as far as the middleware asks it: models, completions (streaming too), health."""

    def __init__(self) -> None:
        self.served = ["granite-model"]
        self.api_key: str | None = None
        self.requests: list[tuple[str, str, dict[str, str], Any]] = []
        self.crash = False

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        message = await receive()
        raw = message.get("body", b"")
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        body = json.loads(raw) if raw else None
        self.requests.append((scope["method"], scope["path"], headers, body))
        if self.crash:
            raise RuntimeError("engine dead")
        if self.api_key and headers.get("authorization") != f"Bearer {self.api_key}":
            return await self.reply(send, 401, {"error": "Unauthorized"})
        if scope["path"] == "/v1/models":
            return await self.reply(send, 200, {"object": "list", "data": [{"id": m} for m in self.served]})
        if scope["path"] == "/health":
            return await self.reply(send, 200, None)
        if scope["path"] == "/v1/completions":
            if body.get("max_tokens", 0) > 1000:
                return await self.reply(send, 400, {"object": "error", "message": "max_tokens is too large"})
            if body["stream"]:
                await send({"type": "http.response.start", "status": 200,
                            "headers": [(b"content-type", b"text/event-stream")]})
                events = b"".join(f"data: {json.dumps({'choices': [{'index': 0, 'text': t}]})}\n\n".encode()
                                  for t in ["Hel", "lo"]) + b"data: [DONE]\n\n"
                for piece in (events[:10], events[10:40], events[40:]):  # events split across messages
                    await send({"type": "http.response.body", "body": piece, "more_body": True})
                return await send({"type": "http.response.body", "body": b"", "more_body": False})
            prompts = body["prompt"] if isinstance(body["prompt"], list) else [body["prompt"]]
            choices = [{"index": i, "text": f"answer to {p}"} for i, p in enumerate(prompts)][::-1]
            return await self.reply(send, 200, {"choices": choices})
        return await self.reply(send, 200, {"vllm": scope["path"]})

    async def reply(self, send: Any, status: int, body: Any) -> None:
        raw = b"" if body is None else json.dumps(body).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": raw})


async def call(app: Any, method: str, path: str, body: bytes = b"",
               headers: list[tuple[bytes, bytes]] | None = None) -> tuple[int, dict[str, str], bytes]:
    messages = [{"type": "http.request", "body": body[:5], "more_body": True},
                {"type": "http.request", "body": body[5:], "more_body": False}]
    never = asyncio.Event()

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop(0)
        await never.wait()
        return {"type": "http.disconnect"}

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": method, "path": path, "raw_path": path.encode(), "query_string": b"",
             "headers": headers or [], "app": "outer"}
    await app(scope, receive, send)
    start = sent[0]
    assert start["type"] == "http.response.start"
    assert sent[-1].get("more_body", False) is False
    return (start["status"], {k.decode(): v.decode() for k, v in start["headers"]},
            b"".join(m.get("body", b"") for m in sent[1:]))


@pytest.fixture
def openai() -> FakeOpenAI:
    return FakeOpenAI()


async def test_the_guides_request(openai: FakeOpenAI) -> None:
    status, _, raw = await call(V2Middleware(openai), "POST", "/v2/models/granite-model/infer",
                                json.dumps(GUIDE).encode())
    assert status == 200
    assert json.loads(raw)["outputs"][0]["data"] == ["answer to What is machine learning?"]
    method, path, _, body = openai.requests[-1]
    assert (method, path) == ("POST", "/v1/completions")
    assert body == {"model": "granite-model", "prompt": ["What is machine learning?"], "n": 1, "stream": False,
                    "temperature": 0.7, "max_tokens": 100}


async def test_other_paths_pass_through(openai: FakeOpenAI) -> None:
    status, _, raw = await call(V2Middleware(openai), "POST", "/v1/chat/completions", b"{}")
    assert (status, json.loads(raw)) == (200, {"vllm": "/v1/chat/completions"})


async def test_binary_tensors(openai: FakeOpenAI) -> None:
    data = encode_bytes_tensor(["a", "b"])
    header = json.dumps({"inputs": [{"name": "text_input", "datatype": "BYTES", "shape": [2],
                                     "parameters": {"binary_data_size": len(data)}}],
                         "parameters": {"binary_data_output": True}}).encode()
    status, headers, raw = await call(V2Middleware(openai), "POST", "/v2/models/granite-model/infer", header + data,
                                      [(b"inference-header-content-length", str(len(header)).encode())])
    assert status == 200
    length = int(headers["inference-header-content-length"])
    assert decode_bytes_tensor(raw[length:], "text_output") == ["answer to a", "answer to b"]


async def test_the_callers_authorization_reaches_vllm(openai: FakeOpenAI) -> None:
    openai.api_key = "s3cret"
    app = V2Middleware(openai, default_model="granite-model")
    status, _, raw = await call(app, "POST", "/v2/models/granite-model/infer", json.dumps(GUIDE).encode())
    assert (status, json.loads(raw)) == (401, {"error": "Unauthorized"})
    status, _, _ = await call(app, "POST", "/v2/models/granite-model/infer", json.dumps(GUIDE).encode(),
                              [(b"authorization", b"Bearer s3cret")])
    assert status == 200


@pytest.mark.parametrize(("method", "path", "body", "status", "message"), [
    ("POST", "/v2/models/granite-model/infer", b"{oops", 400, "not valid JSON"),
    ("POST", "/v2/models/granite-model/infer",
     json.dumps({**GUIDE, "parameters": {"max_tokens": 5000}}).encode(), 400, "max_tokens is too large"),
    ("GET", "/v2/models/granite-model/infer", b"", 405, "use POST"),
])
async def test_errors(openai: FakeOpenAI, method: str, path: str, body: bytes, status: int, message: str) -> None:
    got, _, raw = await call(V2Middleware(openai), method, path, body)
    assert got == status
    assert message in json.loads(raw)["error"]


async def test_a_crashing_app_is_a_502(openai: FakeOpenAI) -> None:
    openai.crash = True
    status, _, raw = await call(V2Middleware(openai, "granite-model"), "POST", "/v2/models/granite-model/generate",
                                json.dumps({"text_input": "Hi"}).encode())
    assert status == 502
    assert "engine dead" in json.loads(raw)["error"]


async def test_metadata_and_health(openai: FakeOpenAI) -> None:
    app = V2Middleware(openai)
    assert (await call(app, "GET", "/v2/health/ready"))[0] == 200
    assert json.loads((await call(app, "GET", "/v2/models"))[2]) == {"models": ["granite-model"]}
    status, _, raw = await call(app, "GET", "/v2/models/granite-model/ready")
    assert (status, json.loads(raw)) == (200, {"name": "granite-model", "ready": True})
    assert json.loads((await call(app, "GET", "/v2/models/granite-model"))[2])["platform"] == "vllm"


async def test_generate_and_generate_stream(openai: FakeOpenAI) -> None:
    app = V2Middleware(openai)
    status, _, raw = await call(app, "POST", "/v2/models/granite-model/generate",
                                json.dumps({"text_input": "Hi", "max_tokens": 3}).encode())
    assert (status, json.loads(raw)["text_output"]) == (200, "answer to Hi")
    status, headers, raw = await call(app, "POST", "/v2/models/granite-model/generate_stream",
                                      json.dumps({"text_input": "Hi"}).encode())
    assert status == 200
    assert headers["content-type"] == "text/event-stream"
    events = [json.loads(e[len("data: "):]) for e in raw.decode().split("\n\n") if e]
    assert [e["text_output"] for e in events] == ["Hel", "lo"]


async def test_generate_stream_refused(openai: FakeOpenAI) -> None:
    status, _, raw = await call(V2Middleware(openai), "POST", "/v2/models/granite-model/generate_stream",
                                json.dumps({"text_input": "Hi", "max_tokens": 5000}).encode())
    assert (status, json.loads(raw)) == (400, {"error": "max_tokens is too large"})
