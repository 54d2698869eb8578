"""The KServe v2 protocol inside vLLM's own server: `--middleware kubeserve.runtimes.v2asgi.V2Middleware`.

vLLM speaks only OpenAI, yet the guide posts v2 `text_input` requests at it, and a client port-forwarding to
the predictor (`kubectl port-forward service/<name>-predictor`) bypasses the gateway's translation. This
ASGI middleware answers `/v2…` paths in-process: it calls the app it wraps with synthesized
`GET /v1/models`, `POST /v1/completions` and `GET /health` requests, so vLLM's own validation, auth
(`--api-key`: the caller's Authorization header is passed on) and streaming apply, and every other path
goes to vLLM untouched. It runs in vLLM's environment, so it uses only the standard library and
`kubeserve.protocols` (the same dispatch the gateway uses).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Any

from kubeserve.protocols.v2_binary import HEADER_LENGTH
from kubeserve.protocols.v2_service import Answer, BackendError, answer

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# Headers of the caller's request that the synthesized OpenAI requests keep (auth, tracing, host).
_KEEP = frozenset({b"authorization", b"host", b"traceparent", b"tracestate", b"x-request-id"})
_FALLBACK_MODEL = "model"


def is_v2(path: str) -> bool:
    return path == "/v2" or path.startswith("/v2/")


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


def _failed(err: Exception) -> BackendError:
    return BackendError(502, {"error": {"message": f"the model server failed: {type(err).__name__}: {err}"}})


def _json_or_error(status: int, raw: bytes) -> dict[str, Any]:
    try:
        parsed = json.loads(raw) if raw else {}
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict):
        raise BackendError(502 if status == 200 else status,
                           {"error": {"message": f"the model server answered {status} with no JSON object"}})
    return parsed


class InProcessBackend:
    """The OpenAI back end as the wrapped ASGI app, called in-process for one v2 request."""

    def __init__(self, app: ASGIApp, scope: Scope, receive: Receive) -> None:
        self._app = app
        self._scope = scope
        self._receive = receive

    def _request(self, method: str, path: str, body: bytes) -> tuple[Scope, Receive]:
        headers = [(k, v) for k, v in self._scope.get("headers", []) if k.lower() in _KEEP]
        headers += [(b"content-type", b"application/json"), (b"accept", b"application/json"),
                    (b"content-length", str(len(body)).encode())]
        scope = {**self._scope, "method": method, "path": path, "raw_path": path.encode(), "query_string": b"",
                 "headers": headers}
        delivered = False

        async def receive() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            # Afterwards the only news is the caller's disconnect, which vLLM uses to abort generation.
            return await self._receive()

        return scope, receive

    async def _call(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        status = 500
        chunks: list[bytes] = []

        async def send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            elif message["type"] == "http.response.body":
                chunks.append(bytes(message.get("body", b"")))

        scope, receive = self._request(method, path, body)
        try:
            await self._app(scope, receive, send)
        except Exception as err:
            raise _failed(err) from None
        return status, b"".join(chunks)

    async def models(self) -> list[str]:
        status, raw = await self._call("GET", "/v1/models")
        listing = _json_or_error(status, raw)
        if status != 200:
            raise BackendError(status, listing)
        data = listing.get("data")
        return [m["id"] for m in data if isinstance(m, dict) and isinstance(m.get("id"), str)] \
            if isinstance(data, list) else []

    async def complete(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        status, raw = await self._call("POST", "/v1/completions", json.dumps(body).encode())
        return status, _json_or_error(status, raw)

    async def complete_stream(self, body: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        queue: asyncio.Queue[Message | None] = asyncio.Queue()
        scope, receive = self._request("POST", "/v1/completions", json.dumps(body).encode())

        async def run() -> None:
            try:
                await self._app(scope, receive, queue.put)
            except Exception as err:
                await queue.put({"type": "kubeserve.failed", "error": err})
            finally:
                await queue.put(None)

        task = asyncio.create_task(run())
        try:
            start = await queue.get()
            if start is not None and start["type"] == "kubeserve.failed":
                raise _failed(start["error"])
            if start is None or start["type"] != "http.response.start":
                raise _failed(RuntimeError("the app ended without starting a response"))
            status = int(start["status"])
            buffer = b""
            while (message := await queue.get()) is not None:
                if message["type"] == "kubeserve.failed":
                    raise _failed(message["error"])
                if message["type"] != "http.response.body":
                    continue
                buffer += bytes(message.get("body", b""))
                if status != 200:
                    continue
                *events, buffer = buffer.split(b"\n\n")
                for event in events:
                    for chunk in _sse_data(event):
                        yield chunk
                if not message.get("more_body", False):
                    break
            if status != 200:
                raise BackendError(status, _json_or_error(status, buffer))
        finally:
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def ready(self) -> bool:
        status, _ = await self._call("GET", "/health")
        return status == 200


def _sse_data(event: bytes) -> list[dict[str, Any]]:
    chunks: list[dict[str, Any]] = []
    for line in event.decode("utf-8", "replace").splitlines():
        if not line.startswith("data:"):
            continue
        payload = line[len("data:"):].strip()
        if payload == "[DONE]":
            continue
        try:
            parsed = json.loads(payload)
        except ValueError:
            continue
        if isinstance(parsed, dict):
            chunks.append(parsed)
    return chunks


class V2Middleware:
    """ASGI middleware serving the v2 protocol over the wrapped OpenAI app (vLLM's `--middleware`)."""

    def __init__(self, app: ASGIApp, default_model: str = "") -> None:
        self.app = app
        self.default_model = default_model

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") != "http" or not is_v2(str(scope.get("path", ""))):
            await self.app(scope, receive, send)
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        backend = InProcessBackend(self.app, scope, receive)
        default_model = self.default_model or await self._first_model(backend)
        result = await answer(str(scope.get("method", "GET")), str(scope["path"]), bytes(body), backend,
                              default_model, header_length=_header(scope, HEADER_LENGTH.lower().encode()),
                              content_encoding=_header(scope, b"content-encoding"))
        await _send(result, send)

    @staticmethod
    async def _first_model(backend: InProcessBackend) -> str:
        try:
            served = await backend.models()
        except BackendError:
            return _FALLBACK_MODEL
        return served[0] if served else _FALLBACK_MODEL


async def _send(result: Answer, send: Send) -> None:
    headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in result.headers.items()]
    if result.stream is None:
        headers.append((b"content-length", str(len(result.body)).encode()))
        await send({"type": "http.response.start", "status": result.status, "headers": headers})
        await send({"type": "http.response.body", "body": result.body, "more_body": False})
        return
    await send({"type": "http.response.start", "status": result.status, "headers": headers})
    async with contextlib.aclosing(result.stream) as chunks:
        async for chunk in chunks:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})
