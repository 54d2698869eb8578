"""The v2 endpoints answered over any OpenAI back end, independent of the web framework.

`answer` takes a request's method, path and body and returns the status, headers and body (or stream of
server-sent events) to send; the back end is the small `OpenAIBackend` interface its caller implements:
the gateway's HTTP proxy to a predictor (`kubeserve.gateway.v2app`, on aiohttp) or vLLM's own ASGI app
called in-process (`kubeserve.runtimes.v2asgi`). This module makes no connections itself and, like the
rest of the package, imports only the standard library, so both places share one dispatch.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from kubeserve.protocols.v2 import completion_body, encode_infer_response, parse_infer_request, texts_from_completion
from kubeserve.protocols.v2_binary import HEADER_LENGTH, decompress
from kubeserve.protocols.v2_errors import NOT_FOUND, UNAVAILABLE, V2Error, error_body, error_from_openai
from kubeserve.protocols.v2_generate import (
    generate_completion_body,
    generate_response,
    parse_generate_request,
    stream_error_event,
    stream_event,
    text_from_completion,
)
from kubeserve.protocols.v2_routes import (
    V2Route,
    match_route,
    model_metadata,
    model_ready,
    models_list,
    resolve_model,
    server_metadata,
)

JSON = "application/json"


class BackendError(Exception):
    """The OpenAI back end answered non-200 (`status`, its JSON `body`) or could not be reached (503)."""

    def __init__(self, status: int, body: dict[str, Any] | None = None) -> None:
        super().__init__(f"the model server answered {status}: {body}")
        self.status = status
        self.body = body or {}


class OpenAIBackend(Protocol):
    """What the v2 front needs of an OpenAI-compatible model server."""

    async def models(self) -> list[str]:
        """The ids of `GET /v1/models`; raises BackendError when it cannot be asked."""
        ...

    async def complete(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """`POST /v1/completions` (not streaming): the status and the JSON answer."""
        ...

    def complete_stream(self, body: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        """`POST /v1/completions` with `stream: true`: the parsed chunks; raises BackendError."""
        ...

    async def ready(self) -> bool:
        """Whether the model server is healthy."""
        ...


@dataclass(frozen=True)
class Answer:
    """What to send: a status, headers and either a body or a stream of body chunks."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": JSON})
    stream: AsyncGenerator[bytes, None] | None = None


def _json(obj: dict[str, Any], status: int = 200) -> Answer:
    return Answer(status, json.dumps(obj).encode())


def error_answer(err: V2Error) -> Answer:
    return _json(error_body(err.message), err.status)


def backend_error(err: BackendError) -> V2Error:
    """The v2 error for a failed back-end call; an unreachable back end is a 503 with advice."""
    if err.status == UNAVAILABLE and not err.body:
        return V2Error(UNAVAILABLE, "the model server is not reachable; it may still be starting, retry shortly")
    return error_from_openai(err.status, err.body)


async def _served(backend: OpenAIBackend) -> list[str]:
    try:
        return await backend.models()
    except BackendError as err:
        raise backend_error(err) from None


async def _complete(backend: OpenAIBackend, body: dict[str, Any]) -> dict[str, Any]:
    try:
        status, answer = await backend.complete(body)
    except BackendError as err:
        raise backend_error(err) from None
    if status != 200:
        raise error_from_openai(status, answer)
    return answer


async def _infer(backend: OpenAIBackend, name: str, default_model: str, body: bytes,
                 header_length: str | None) -> Answer:
    plan = parse_infer_request(body, header_length)
    model = resolve_model(name, await _served(backend), default_model)
    texts = texts_from_completion(await _complete(backend, completion_body(plan, model)), len(plan.prompts))
    raw, length = encode_infer_response(plan, name, texts, plan.request_id or str(uuid.uuid4()))
    if length is None:
        return Answer(200, raw)
    return Answer(200, raw, {"Content-Type": "application/octet-stream", HEADER_LENGTH: str(length)})


async def _generate(backend: OpenAIBackend, name: str, default_model: str, body: bytes) -> Answer:
    plan = parse_generate_request(body)
    model = resolve_model(name, await _served(backend), default_model)
    answer = await _complete(backend, generate_completion_body(plan, model, stream=False))
    return _json(generate_response(name, text_from_completion(answer), plan.request_id))


async def _events(name: str, request_id: str | None, first: dict[str, Any] | None,
                  chunks: AsyncIterator[dict[str, Any]]) -> AsyncGenerator[bytes, None]:
    chunk = first
    try:
        while chunk is not None:
            event = stream_event(name, chunk, request_id)
            if event is not None:
                yield event
            chunk = await anext(chunks, None)
    except BackendError as err:
        yield stream_error_event(backend_error(err).message)
    except V2Error as err:
        yield stream_error_event(err.message)
    finally:
        # A client that goes away must end the back end's generation too, not leave it running.
        close = getattr(chunks, "aclose", None)
        if close is not None:
            await close()


async def _generate_stream(backend: OpenAIBackend, name: str, default_model: str, body: bytes) -> Answer:
    plan = parse_generate_request(body)
    model = resolve_model(name, await _served(backend), default_model)
    chunks = backend.complete_stream(generate_completion_body(plan, model, stream=True))
    try:
        # Wait for the first chunk before committing to 200, so a refusal is still a plain v2 error.
        first = await anext(chunks, None)
    except BackendError as err:
        raise backend_error(err) from None
    return Answer(200, headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"},
                  stream=_events(name, plan.request_id, first, chunks))


def listed_models(served: list[str], default_model: str) -> list[str]:
    """The v2 names to list: the InferenceService's name, which addresses a one-model server whatever its
    served id, and the served ids too when the server has several."""
    names = [default_model] if len(served) <= 1 or default_model in served else []
    return names + [name for name in served if name not in names and len(served) > 1]


async def _metadata(route: V2Route, backend: OpenAIBackend, default_model: str, server_version: str) -> Answer:
    if route.endpoint == "server_metadata":
        return _json(server_metadata("kubeserve", server_version))
    if route.endpoint == "live":
        return _json({"live": True})
    if route.endpoint == "ready":
        ready = await backend.ready()
        return _json({"ready": ready}, 200 if ready else UNAVAILABLE)
    try:
        served = await backend.models()
    except BackendError:
        served = []
    if route.endpoint == "models":
        return _json(models_list(listed_models(served, default_model)))
    name = str(route.model)
    if route.endpoint == "model_metadata":
        if served:
            resolve_model(name, served, default_model)
        elif name != default_model:
            raise V2Error(NOT_FOUND, f"unknown model '{name}'; this server serves '{default_model}'")
        return _json(model_metadata(name))
    # model_ready: a model is ready when the server lists it and reports healthy.
    if not served:
        return _json(model_ready(name, False), UNAVAILABLE)
    resolve_model(name, served, default_model)
    ready = await backend.ready()
    return _json(model_ready(name, ready), 200 if ready else UNAVAILABLE)


async def answer(method: str, path: str, body: bytes, backend: OpenAIBackend, default_model: str, *,
                 header_length: str | None = None, content_encoding: str | None = None,
                 server_version: str = "") -> Answer:
    """The answer to any `/v2…` request; every failure is a v2 error answer, never an exception."""
    try:
        route = match_route(method, path)
        if route.endpoint in ("infer", "generate", "generate_stream"):
            raw = decompress(body, content_encoding)
            name = str(route.model)
            if route.endpoint == "infer":
                return await _infer(backend, name, default_model, raw, header_length)
            if route.endpoint == "generate":
                return await _generate(backend, name, default_model, raw)
            return await _generate_stream(backend, name, default_model, raw)
        return await _metadata(route, backend, default_model, server_version)
    except V2Error as err:
        return error_answer(err)
    except BackendError as err:
        return error_answer(backend_error(err))
