"""The KServe v2 REST protocol in front of an OpenAI-only model server (vLLM), on aiohttp.

`serve_v2` answers every `/v2…` request: metadata and health from the back end's model list and health,
infer and generate by translating to `/v1/completions`. The dispatch and translation live in
`kubeserve.protocols` (shared with the in-process ASGI middleware); this is the aiohttp glue: read the body,
send the answer or stream it. The back end is the small `OpenAIBackend` interface the caller implements
(the gateway's proxy to a predictor, or a fake in tests), so this module makes no connections of its own.
Every failure answers with the v2 error shape `{"error": "…"}`, never a 500.
"""

from __future__ import annotations

import contextlib

from aiohttp import web

from kubeserve import __version__
from kubeserve.protocols.v2_binary import HEADER_LENGTH
from kubeserve.protocols.v2_errors import V2Error
from kubeserve.protocols.v2_service import Answer, BackendError, OpenAIBackend, answer, error_answer

__all__ = ["BackendError", "OpenAIBackend", "serve_v2"]

TOO_LARGE = 413


async def _send(request: web.BaseRequest, result: Answer) -> web.StreamResponse:
    if result.stream is None:
        return web.Response(status=result.status, body=result.body, headers=result.headers)
    async with contextlib.aclosing(result.stream) as chunks:
        response = web.StreamResponse(status=result.status, headers=result.headers)
        await response.prepare(request)
        async for chunk in chunks:
            await response.write(chunk)
        await response.write_eof()
    return response


async def serve_v2(request: web.BaseRequest, backend: OpenAIBackend, default_model: str) -> web.StreamResponse:
    """The answer to any `/v2…` request, translated to and from the OpenAI back end."""
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge as err:
        return await _send(request, error_answer(V2Error(TOO_LARGE, f"the request body is too large: {err.text}")))
    result = await answer(request.method, request.path, body, backend, default_model,
                          header_length=request.headers.get(HEADER_LENGTH),
                          content_encoding=request.headers.get("Content-Encoding"),
                          server_version=__version__)
    return await _send(request, result)
