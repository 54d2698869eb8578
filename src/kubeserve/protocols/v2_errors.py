"""KServe v2 errors: the one exception every v2 translation raises, and its `{"error": "…"}` body.

The v2 protocol's error shape is a bare message, so each failure carries the HTTP status that the gateway
answers with. Errors an OpenAI back end returns (vLLM's `{"error": {"message": …}}`, its older
`{"object": "error", "message": …}`, FastAPI's `{"detail": …}`) are translated here too, keeping client
errors as client errors: a v2 client must see *why* vLLM refused, not a bare 500.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

BAD_REQUEST = 400
NOT_FOUND = 404
METHOD_NOT_ALLOWED = 405
BAD_GATEWAY = 502
UNAVAILABLE = 503


class V2Error(Exception):
    """A v2 request that cannot be answered; `status` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def error_body(message: str) -> dict[str, Any]:
    """The v2 error body."""
    return {"error": message}


def _openai_message(body: Mapping[str, Any]) -> str | None:
    error = body.get("error")
    if isinstance(error, Mapping):
        message = error.get("message")
        if isinstance(message, str):
            return message
    if isinstance(error, str):
        return error
    message = body.get("message")
    if isinstance(message, str):
        return message
    detail = body.get("detail")
    if isinstance(detail, str):
        return detail
    if detail is not None:
        # FastAPI's validation errors: a list of {loc, msg}; keep it compact but complete.
        return json.dumps(detail, separators=(",", ":"))[:2000]
    return None


def error_from_openai(status: int, body: Mapping[str, Any] | None) -> V2Error:
    """The v2 error for an OpenAI back end's non-200 answer.

    4xx stays as it is (the request was at fault); 503 stays 503 (the engine is starting or overloaded, a
    retry may work); any other 5xx becomes 502, since the fault is upstream of the gateway.
    """
    message = _openai_message(body) if isinstance(body, Mapping) else None
    if 400 <= status < 500:
        return V2Error(status, message or f"the model server refused the request (HTTP {status})")
    if status == UNAVAILABLE:
        return V2Error(UNAVAILABLE, message or "the model server is not available yet; retry shortly")
    detail = f": {message}" if message else ""
    return V2Error(BAD_GATEWAY, f"the model server failed (HTTP {status}){detail}")
