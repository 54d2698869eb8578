"""OpenAI response bodies, streamed chunks and Server-Sent Events framing, and the `stop` string rules.

OpenAI clients (the `openai` SDK, LangChain, curl scripts from the guide) parse these exact shapes: a
`text_completion` or `chat.completion` object with `choices` and `usage`; when streaming, one
`data: {json}\\n\\n` event per `*.chunk`, then `data: [DONE]\\n\\n`. With `stream_options.include_usage`, a last
chunk carries `usage` and empty `choices`, as OpenAI sends it.

`stop` strings end the text *before* the match, as OpenAI does. While streaming, text that might be the start
of a stop string is held back until the next piece shows whether it is one (`StopScanner`).

Pure: no torch, no I/O.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

SSE_DONE = b"data: [DONE]\n\n"


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int

    def body(self) -> dict[str, int]:
        return {"prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
                "total_tokens": self.prompt_tokens + self.completion_tokens}


@dataclass(frozen=True)
class Reply:
    """Who answers: the response id, its creation time and the served model name, shared by every chunk."""

    id: str
    created: int
    model: str


def sse(payload: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"


def completion_body(reply: Reply, text: str, finish_reason: str, usage: Usage) -> dict[str, Any]:
    return {"id": reply.id, "object": "text_completion", "created": reply.created, "model": reply.model,
            "choices": [{"index": 0, "text": text, "logprobs": None, "finish_reason": finish_reason}],
            "usage": usage.body()}


def chat_body(reply: Reply, text: str, finish_reason: str, usage: Usage) -> dict[str, Any]:
    return {"id": reply.id, "object": "chat.completion", "created": reply.created, "model": reply.model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "logprobs": None,
                         "finish_reason": finish_reason}],
            "usage": usage.body()}


def completion_chunk(reply: Reply, text: str, finish_reason: str | None = None) -> dict[str, Any]:
    return {"id": reply.id, "object": "text_completion", "created": reply.created, "model": reply.model,
            "choices": [{"index": 0, "text": text, "logprobs": None, "finish_reason": finish_reason}]}


def chat_chunk(reply: Reply, delta: dict[str, str], finish_reason: str | None = None) -> dict[str, Any]:
    return {"id": reply.id, "object": "chat.completion.chunk", "created": reply.created, "model": reply.model,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}]}


def usage_chunk(reply: Reply, obj: str, usage: Usage) -> dict[str, Any]:
    return {"id": reply.id, "object": obj, "created": reply.created, "model": reply.model, "choices": [],
            "usage": usage.body()}


def models_body(name: str, created: int, max_model_len: int) -> dict[str, Any]:
    return {"object": "list", "data": [{"id": name, "object": "model", "created": created, "owned_by": "kserve",
                                        "root": name, "parent": None, "max_model_len": max_model_len}]}


def truncate_at_stop(text: str, stops: tuple[str, ...]) -> tuple[str, bool]:
    """The text before the earliest stop string, and whether one was found."""
    cut = min((i for i in (text.find(s) for s in stops) if i >= 0), default=-1)
    return (text, False) if cut < 0 else (text[:cut], True)


def finish_reason(stopped: bool, generated: int, max_new_tokens: int) -> str:
    """`length` when the token budget ran out without a stop string or end-of-sequence token, else `stop`."""
    return "length" if not stopped and generated >= max_new_tokens else "stop"


class StopScanner:
    """Feeds streamed text through the stop strings: returns what is safe to send now.

    `feed` returns the text that can be sent (never part of a stop string); once a stop string is seen,
    `stopped` is True and everything after it is dropped. `flush` returns what was held back at the end.
    """

    def __init__(self, stops: tuple[str, ...]) -> None:
        self.stops = stops
        self.pending = ""
        self.stopped = False

    def feed(self, piece: str) -> str:
        if self.stopped:
            return ""
        text = self.pending + piece
        head, hit = truncate_at_stop(text, self.stops)
        if hit:
            self.pending, self.stopped = "", True
            return head
        hold = max((n for s in self.stops for n in range(min(len(s) - 1, len(text)), 0, -1)
                    if text.endswith(s[:n])), default=0)
        self.pending = text[len(text) - hold:] if hold else ""
        return text[:len(text) - hold]

    def flush(self) -> str:
        rest, self.pending = ("" if self.stopped else self.pending), ""
        return rest
