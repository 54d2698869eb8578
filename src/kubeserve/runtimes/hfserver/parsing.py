"""OpenAI request bodies checked and turned into frozen requests, with OpenAI-shaped errors for bad ones.

Every check lives here, before the model sees anything, so no bad input reaches `generate` and none becomes
a 500. Pure: no torch, no I/O; `kubeserve`'s own unit tests import it without the model server's packages.

Honoured: `model`, `prompt` (a string, one string in a list, or token ids), `messages` (string content or
text parts), `max_tokens` / `max_completion_tokens`, `temperature` (0 = greedy), `top_p`, `top_k`, `stop`,
`seed`, `n` (1 only), `stream`, `stream_options.include_usage`, and vLLM's `ignore_eos`. Other OpenAI fields
(penalties, `user`, `logit_bias`, …) are accepted and have no effect, as in many OpenAI-compatible servers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

DEFAULT_COMPLETION_TOKENS = 16  # OpenAI's default for /v1/completions; chat fills the context instead
MAX_STOP_STRINGS = 4


class ApiError(Exception):
    """An error answered in OpenAI's shape: `{"error": {"message", "type", "param", "code"}}`."""

    def __init__(self, status: int, message: str, *, code: str, param: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.param = param

    @property
    def type(self) -> str:
        return "invalid_request_error" if self.status < 500 else "server_error"

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


@dataclass(frozen=True)
class Sampling:
    max_tokens: int | None
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int | None = None
    stop: tuple[str, ...] = ()
    seed: int | None = None
    ignore_eos: bool = False

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0


@dataclass(frozen=True)
class Message:
    role: str
    content: str


@dataclass(frozen=True)
class CompletionRequest:
    model: str | None
    prompt: str | tuple[int, ...]
    sampling: Sampling
    stream: bool = False
    include_usage: bool = False


@dataclass(frozen=True)
class ChatRequest:
    model: str | None
    messages: tuple[Message, ...]
    sampling: Sampling
    stream: bool = False
    include_usage: bool = False


def bad(message: str, param: str | None = None, code: str = "invalid_value") -> ApiError:
    return ApiError(400, message, code=code, param=param)


def _number(body: Mapping[str, Any], name: str, default: float, low: float, high: float) -> float:
    value = body.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise bad(f"'{name}' must be a number from {low:g} to {high:g}, got {value!r}", name)
    return float(value)


def _integer(body: Mapping[str, Any], name: str, low: int) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise bad(f"'{name}' must be an integer ≥ {low}, got {value!r}", name)
    return value


def _flag(body: Mapping[str, Any], name: str) -> bool:
    value = body.get(name, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise bad(f"'{name}' must be true or false, got {value!r}", name)
    return value


def _stop(body: Mapping[str, Any]) -> tuple[str, ...]:
    value = body.get("stop")
    if value is None:
        return ()
    stops = [value] if isinstance(value, str) else value
    if not isinstance(stops, list) or not all(isinstance(s, str) and s for s in stops):
        raise bad("'stop' must be a non-empty string or a list of them", "stop")
    if len(stops) > MAX_STOP_STRINGS:
        raise bad(f"'stop' takes at most {MAX_STOP_STRINGS} strings", "stop")
    return tuple(stops)


def _sampling(body: Mapping[str, Any], default_max_tokens: int | None) -> Sampling:
    if _integer(body, "n", 1) not in (None, 1) or _integer(body, "best_of", 1) not in (None, 1):
        raise bad("only n=1 is supported by this runtime", "n")
    if body.get("logprobs") not in (None, False) or body.get("top_logprobs") is not None:
        raise bad("logprobs are not supported by this runtime", "logprobs")
    max_tokens = _integer(body, "max_completion_tokens", 1)
    if max_tokens is None:
        max_tokens = _integer(body, "max_tokens", 1)
    top_k = _integer(body, "top_k", -1)
    return Sampling(
        max_tokens=default_max_tokens if max_tokens is None else max_tokens,
        temperature=_number(body, "temperature", 1.0, 0.0, 2.0),
        top_p=_number(body, "top_p", 1.0, 1e-9, 1.0),
        top_k=None if top_k in (None, -1, 0) else top_k,
        stop=_stop(body), seed=_integer(body, "seed", 0), ignore_eos=_flag(body, "ignore_eos"),
    )


def _common(body: object) -> tuple[Mapping[str, Any], str | None, bool, bool]:
    if not isinstance(body, Mapping):
        raise bad("the request body must be a JSON object", code="invalid_json")
    model = body.get("model")
    if model is not None and not isinstance(model, str):
        raise bad("'model' must be a string", "model")
    options = body.get("stream_options") or {}
    if not isinstance(options, Mapping):
        raise bad("'stream_options' must be an object", "stream_options")
    return body, model, _flag(body, "stream"), bool(options.get("include_usage", False))


def parse_completion(raw: object) -> CompletionRequest:
    body, model, stream, usage = _common(raw)
    prompt = body.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str | list):
        prompt = prompt[0]  # OpenAI's batch form with a single prompt
    if isinstance(prompt, list) and prompt and all(isinstance(t, int) and not isinstance(t, bool) for t in prompt):
        parsed: str | tuple[int, ...] = tuple(prompt)
    elif isinstance(prompt, str) and prompt:
        parsed = prompt
    elif prompt is None:
        raise bad("'prompt' is required", "prompt", code="missing_required_parameter")
    else:
        raise bad("'prompt' must be a non-empty string or token ids (one prompt per request)", "prompt")
    return CompletionRequest(model, parsed, _sampling(body, DEFAULT_COMPLETION_TOKENS), stream, usage)


def _content(value: object, where: str) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, list) and all(isinstance(p, Mapping) and p.get("type") == "text"
                                       and isinstance(p.get("text"), str) for p in value):
        return "".join(p["text"] for p in value)
    raise bad(f"{where}.content must be a string or a list of text parts", f"{where}.content")


def parse_chat(raw: object) -> ChatRequest:
    body, model, stream, usage = _common(raw)
    messages = body.get("messages")
    if messages is None:
        raise bad("'messages' is required", "messages", code="missing_required_parameter")
    if not isinstance(messages, list) or not messages:
        raise bad("'messages' must be a non-empty list", "messages")
    parsed = []
    for i, m in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(m, Mapping) or not isinstance(m.get("role"), str) or not m["role"]:
            raise bad(f"{where} must be an object with a 'role'", where)
        parsed.append(Message(m["role"], _content(m.get("content"), where)))
    return ChatRequest(model, tuple(parsed), _sampling(body, None), stream, usage)


def check_model(requested: str | None, served: str) -> None:
    """Unknown names get OpenAI's 404 `model_not_found`; an absent name means the one served model."""
    if requested is not None and requested != served:
        raise ApiError(404, f"The model `{requested}` does not exist; this server serves `{served}`",
                       code="model_not_found", param="model")


def fallback_chat_prompt(messages: tuple[Message, ...]) -> str:
    """A plain prompt for tokenizers without a chat template (base models), so chat still answers."""
    lines = [f"{m.role}: {m.content}" for m in messages]
    return "\n".join([*lines, "assistant:"])
