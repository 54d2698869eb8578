"""OpenAI request bodies: what is honoured, and the OpenAI-shaped 400/404 for everything else."""

from __future__ import annotations

from typing import Any

import pytest

from kubeserve.runtimes.hfserver.parsing import (
    ApiError,
    ChatRequest,
    CompletionRequest,
    Message,
    Sampling,
    check_model,
    fallback_chat_prompt,
    parse_chat,
    parse_completion,
)

USER = [{"role": "user", "content": "hi"}]


def test_completion_defaults() -> None:
    assert parse_completion({"model": "m", "prompt": "x"}) == CompletionRequest("m", "x", Sampling(max_tokens=16))


def test_completion_sampling() -> None:
    req = parse_completion({"prompt": ["x"], "max_tokens": 5, "temperature": 0, "top_p": 0.5, "top_k": 7,
                            "stop": "\n", "seed": 3, "n": 1, "ignore_eos": True, "stream": True,
                            "stream_options": {"include_usage": True}, "frequency_penalty": 0, "user": "u"})
    assert req == CompletionRequest(None, "x", Sampling(5, 0.0, 0.5, 7, ("\n",), 3, True), True, True)
    assert req.sampling.greedy


@pytest.mark.parametrize(("prompt", "parsed"), [
    ("text", "text"), (["text"], "text"), ([1, 2, 3], (1, 2, 3)), ([[4, 5]], (4, 5)),
])
def test_prompt_forms(prompt: object, parsed: object) -> None:
    assert parse_completion({"prompt": prompt}).prompt == parsed


def test_chat() -> None:
    req = parse_chat({"model": "m", "messages": [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
        {"role": "assistant", "content": None}], "max_completion_tokens": 9, "top_k": -1})
    assert req == ChatRequest("m", (Message("system", "be brief"), Message("user", "ab"), Message("assistant", "")),
                              Sampling(max_tokens=9))


def test_chat_without_max_tokens_fills_the_context() -> None:
    assert parse_chat({"messages": USER}).sampling.max_tokens is None


BAD: list[tuple[Any, str, str | None, str]] = [
    ([], "invalid_json", None, "must be a JSON object"),
    ({}, "missing_required_parameter", "prompt", "'prompt' is required"),
    ({"prompt": ""}, "invalid_value", "prompt", "non-empty"),
    ({"prompt": ["a", "b"]}, "invalid_value", "prompt", "one prompt per request"),
    ({"prompt": [1, True]}, "invalid_value", "prompt", "token ids"),
    ({"prompt": "x", "model": 3}, "invalid_value", "model", "'model' must be a string"),
    ({"prompt": "x", "max_tokens": 0}, "invalid_value", "max_tokens", "integer ≥ 1"),
    ({"prompt": "x", "max_tokens": "5"}, "invalid_value", "max_tokens", "integer"),
    ({"prompt": "x", "temperature": 3}, "invalid_value", "temperature", "from 0 to 2"),
    ({"prompt": "x", "temperature": True}, "invalid_value", "temperature", "number"),
    ({"prompt": "x", "top_p": 0}, "invalid_value", "top_p", "number"),
    ({"prompt": "x", "n": 2}, "invalid_value", "n", "only n=1"),
    ({"prompt": "x", "best_of": 3}, "invalid_value", "n", "only n=1"),
    ({"prompt": "x", "logprobs": 2}, "invalid_value", "logprobs", "not supported"),
    ({"prompt": "x", "stop": ["a", ""]}, "invalid_value", "stop", "non-empty string"),
    ({"prompt": "x", "stop": ["a", "b", "c", "d", "e"]}, "invalid_value", "stop", "at most 4"),
    ({"prompt": "x", "stream": "yes"}, "invalid_value", "stream", "true or false"),
    ({"prompt": "x", "stream_options": 1}, "invalid_value", "stream_options", "object"),
    ({"prompt": "x", "seed": -1}, "invalid_value", "seed", "integer ≥ 0"),
]


@pytest.mark.parametrize(("body", "code", "param", "message"), BAD)
def test_bad_completion(body: Any, code: str, param: str | None, message: str) -> None:
    with pytest.raises(ApiError) as info:
        parse_completion(body)
    err = info.value
    assert (err.status, err.code, err.param) == (400, code, param)
    assert message in err.message
    assert err.body() == {"error": {"message": err.message, "type": "invalid_request_error", "param": param,
                                    "code": code}}


@pytest.mark.parametrize(("body", "code", "param"), [
    ({"model": "m"}, "missing_required_parameter", "messages"),
    ({"messages": []}, "invalid_value", "messages"),
    ({"messages": "hi"}, "invalid_value", "messages"),
    ({"messages": [{"content": "hi"}]}, "invalid_value", "messages[0]"),
    ({"messages": [{"role": "user", "content": 5}]}, "invalid_value", "messages[0].content"),
    ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]}, "invalid_value",
     "messages[0].content"),
    ({"messages": USER, "n": 3}, "invalid_value", "n"),
])
def test_bad_chat(body: Any, code: str, param: str) -> None:
    with pytest.raises(ApiError) as info:
        parse_chat(body)
    assert (info.value.status, info.value.code, info.value.param) == (400, code, param)


def test_unknown_model_is_404() -> None:
    check_model(None, "served")
    check_model("served", "served")
    with pytest.raises(ApiError) as info:
        check_model("other", "served")
    assert (info.value.status, info.value.code, info.value.type) == (404, "model_not_found", "invalid_request_error")


def test_server_errors_have_server_type() -> None:
    assert ApiError(500, "boom", code="x").body()["error"]["type"] == "server_error"


def test_fallback_chat_prompt() -> None:
    assert fallback_chat_prompt((Message("system", "s"), Message("user", "u"))) == "system: s\nuser: u\nassistant:"
