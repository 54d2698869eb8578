"""The HTTP surface: OpenAI's API at `/v1` (and KServe's `/openai/v1`), KServe v2 health, Prometheus metrics.

Routes:
- `GET /v1/models`, `POST /v1/completions`, `POST /v1/chat/completions` (also under `/openai/v1/…`, where
  KServe's huggingfaceserver puts them); `stream: true` answers Server-Sent Events.
- `GET /v1/models/{name}`: OpenAI's model object, with KServe v1's `name` and `ready` in the same body.
- `GET /health` (vLLM's), `GET /v2/health/live`, `GET /v2/health/ready`, `GET /v2/models/{name}[/ready]`.
- `GET /metrics`: see `metrics.py`.

Every error, including unknown paths, is OpenAI's `{"error": {...}}` body; none is an HTML page or a bare 500.
The model is loaded before the server listens, so anything that answers is ready.

Built on Starlette, which both kubeserve's environment and the model server's have; the engine is passed in,
so this module does not import torch.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from .metrics import Metrics
from .options import Options
from .parsing import ApiError, ChatRequest, CompletionRequest, bad, check_model, parse_chat, parse_completion
from .responses import (
    SSE_DONE,
    Reply,
    StopScanner,
    Usage,
    chat_body,
    chat_chunk,
    completion_body,
    completion_chunk,
    models_body,
    sse,
    usage_chunk,
)

if TYPE_CHECKING:
    from .engine import Engine, Generated, Prepared

Endpoint = Callable[[Request], Awaitable[Response]]


def build_app(engine: Engine, options: Options, created: int) -> Starlette:
    name = options.model_name
    metrics = Metrics(name)

    def answer(path: str, status: int, body: Any) -> JSONResponse:
        metrics.answered(path, status)
        return JSONResponse(body, status_code=status)

    async def read_json(request: Request) -> object:
        try:
            return json.loads(await request.body())
        except ValueError as exc:
            raise bad("the request body is not valid JSON", code="invalid_json") from exc

    def usage(done: Generated) -> Usage:
        metrics.generated(done.prompt_tokens, done.completion_tokens, done.finish_reason)
        return Usage(done.prompt_tokens, done.completion_tokens)

    async def events(reply: Reply, prepared: Prepared, req: CompletionRequest | ChatRequest) -> AsyncIterator[bytes]:
        chat = isinstance(req, ChatRequest)

        def chunk(text: str, reason: str | None = None) -> dict[str, Any]:
            if chat:
                return chat_chunk(reply, {"content": text} if text or reason is None else {}, reason)
            return completion_chunk(reply, text, reason)

        if chat:
            yield sse(chat_chunk(reply, {"role": "assistant", "content": ""}))
        scanner = StopScanner(req.sampling.stop)
        stream = engine.stream(prepared)
        try:
            async for item in stream:
                if isinstance(item, str):
                    if text := scanner.feed(item):
                        yield sse(chunk(text))
                    continue
                if rest := scanner.flush():
                    yield sse(chunk(rest))
                yield sse(chunk("", item.finish_reason))
                counted = usage(item)
                if req.include_usage:
                    yield sse(usage_chunk(reply, "chat.completion.chunk" if chat else "text_completion", counted))
        except Exception as exc:  # the stream has started: the error can only travel as an event
            yield sse(ApiError(500, f"generation failed: {exc}", code="generation_failed").body())
        finally:
            await stream.aclose()
        yield SSE_DONE

    def openai(path: str, parse: Callable[[object], CompletionRequest | ChatRequest]) -> Endpoint:
        async def endpoint(request: Request) -> Response:
            try:
                req = parse(await read_json(request))
                check_model(req.model, name)
                ids = engine.encode_chat(req.messages) if isinstance(req, ChatRequest) else \
                    engine.encode_prompt(req.prompt)
                prepared = engine.prepare(ids, req.sampling)
            except ApiError as exc:
                return answer(path, exc.status, exc.body())
            chat = isinstance(req, ChatRequest)
            reply = Reply(f"{'chatcmpl' if chat else 'cmpl'}-{uuid.uuid4().hex}", int(time.time()), name)
            if req.stream:
                metrics.answered(path, 200)
                return StreamingResponse(events(reply, prepared, req), media_type="text/event-stream",
                                         headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
            try:
                done = await engine.generate(prepared)
            except Exception as exc:  # CUDA out of memory and the like: the server stays up
                return answer(path, 500, ApiError(500, f"generation failed: {exc}", code="generation_failed").body())
            body = (chat_body if chat else completion_body)(reply, done.text, done.finish_reason, usage(done))
            return answer(path, 200, body)
        return endpoint

    def model_or_404(request: Request) -> str:
        requested = request.path_params["name"]
        check_model(requested, name)
        return str(requested)

    async def list_models(request: Request) -> Response:
        return answer("/v1/models", 200, models_body(name, created, engine.max_model_len))

    async def get_model(request: Request) -> Response:
        try:
            model_or_404(request)
        except ApiError as exc:
            return answer("/v1/models/{name}", exc.status, exc.body())
        body = models_body(name, created, engine.max_model_len)["data"][0]
        return answer("/v1/models/{name}", 200, {**body, "name": name, "ready": True})

    async def v2_model(request: Request) -> Response:
        try:
            model_or_404(request)
        except ApiError as exc:
            return JSONResponse({"error": exc.message}, status_code=404)  # KServe v2's error shape
        if request.url.path.endswith("/ready"):
            return JSONResponse({"name": name, "ready": True})
        return JSONResponse({"name": name, "versions": [], "platform": "huggingface", "inputs": [], "outputs": []})

    async def health(request: Request) -> Response:
        return Response(status_code=200)

    async def live(request: Request) -> Response:
        return JSONResponse({"live": True})

    async def ready(request: Request) -> Response:
        return JSONResponse({"ready": True})

    async def prometheus(request: Request) -> Response:
        running = 1 if engine.busy else 0
        return PlainTextResponse(metrics.render(running, max(engine.pending - running, 0)),
                                 media_type="text/plain; version=0.0.4")

    async def http_error(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        message = {404: f"no route {request.method} {request.url.path}",
                   405: f"method {request.method} not allowed on {request.url.path}"}.get(status, "internal error")
        err = ApiError(status, message, code={404: "not_found", 405: "method_not_allowed"}.get(status, "internal"))
        return JSONResponse(err.body(), status_code=status)

    completions, chat = openai("/v1/completions", parse_completion), openai("/v1/chat/completions", parse_chat)
    routes = [Route("/health", health), Route("/metrics", prometheus),
              Route("/v2/health/live", live), Route("/v2/health/ready", ready),
              Route("/v2/models/{name}", v2_model), Route("/v2/models/{name}/ready", v2_model)]
    for prefix in ("/v1", "/openai/v1"):
        routes += [Route(f"{prefix}/models", list_models), Route(f"{prefix}/models/{{name:path}}", get_model),
                   Route(f"{prefix}/completions", completions, methods=["POST"]),
                   Route(f"{prefix}/chat/completions", chat, methods=["POST"])]
    return Starlette(routes=routes, exception_handlers={404: http_error, 405: http_error, 500: http_error})
