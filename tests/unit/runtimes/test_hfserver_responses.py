"""OpenAI response shapes, SSE framing, stop strings while streaming, and the Prometheus text."""

from __future__ import annotations

import json

import pytest

from kubeserve.runtimes.hfserver.metrics import Metrics
from kubeserve.runtimes.hfserver.responses import (
    SSE_DONE,
    Reply,
    StopScanner,
    Usage,
    chat_body,
    chat_chunk,
    completion_body,
    completion_chunk,
    finish_reason,
    models_body,
    sse,
    truncate_at_stop,
    usage_chunk,
)

R = Reply("cmpl-1", 1700000000, "m")


def test_bodies() -> None:
    u = Usage(3, 4)
    assert u.body() == {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}
    c = completion_body(R, "hi", "length", u)
    assert (c["object"], c["choices"][0]["text"], c["choices"][0]["finish_reason"], c["usage"]["total_tokens"]) == (
        "text_completion", "hi", "length", 7)
    ch = chat_body(R, "hi", "stop", u)
    assert (ch["object"], ch["choices"][0]["message"]) == ("chat.completion", {"role": "assistant", "content": "hi"})
    assert chat_chunk(R, {"content": "x"})["choices"][0] == {"index": 0, "delta": {"content": "x"}, "logprobs": None,
                                                              "finish_reason": None}
    assert completion_chunk(R, "", "stop")["choices"][0]["finish_reason"] == "stop"
    assert usage_chunk(R, "chat.completion.chunk", u)["choices"] == []
    assert models_body("m", 5, 1024)["data"][0]["id"] == "m"


def test_sse_framing() -> None:
    event = sse({"a": "é\n"})
    assert event.startswith(b"data: ") and event.endswith(b"\n\n") and event.count(b"\n") == 2
    assert json.loads(event[len(b"data: "):]) == {"a": "é\n"}
    assert SSE_DONE == b"data: [DONE]\n\n"


@pytest.mark.parametrize(("text", "stops", "out"), [
    ("hello world", (), ("hello world", False)),
    ("hello world", ("o w",), ("hell", True)),
    ("hello world", ("d", "l"), ("he", True)),
    ("hello", ("x",), ("hello", False)),
    ("stop", ("stop",), ("", True)),
])
def test_truncate_at_stop(text: str, stops: tuple[str, ...], out: tuple[str, bool]) -> None:
    assert truncate_at_stop(text, stops) == out


@pytest.mark.parametrize(("stopped", "generated", "budget", "reason"), [
    (False, 8, 8, "length"), (True, 8, 8, "stop"), (False, 3, 8, "stop"), (True, 3, 8, "stop"),
])
def test_finish_reason(stopped: bool, generated: int, budget: int, reason: str) -> None:
    assert finish_reason(stopped, generated, budget) == reason


@pytest.mark.parametrize(("pieces", "stops", "sent", "stopped"), [
    (["ab", "cd"], (), ["ab", "cd", ""], False),
    (["hello ", "wor", "ld"], ("world",), ["hello ", "", "", ""], True),
    (["hello w", "ax"], ("world",), ["hello ", "wax", ""], False),  # held back, then released
    (["a<", "/", "s> tail"], ("</s>",), ["a", "", "", ""], True),
    (["a<", "b"], ("</s>",), ["a", "<b", ""], False),
    (["ab<"], ("</s>",), ["ab", "<"], False),  # flush releases a partial match at the end
    (["xENDy", "more"], ("END",), ["x", "", ""], True),
])
def test_stop_scanner(pieces: list[str], stops: tuple[str, ...], sent: list[str], stopped: bool) -> None:
    scanner = StopScanner(stops)
    out = [scanner.feed(p) for p in pieces] + [scanner.flush()]
    assert out == sent
    assert scanner.stopped is stopped


def test_metrics_text() -> None:
    m = Metrics('m"1')
    m.answered("/v1/completions", 200)
    m.answered("/v1/completions", 200)
    m.answered("/v1/chat/completions", 400)
    m.generated(3, 5, "length")
    m.generated(2, 1, "stop")
    text = m.render(running=1, waiting=2)
    lines = set(text.splitlines())
    assert 'vllm:num_requests_running{model_name="m\\"1"} 1' in lines
    assert 'vllm:num_requests_waiting{model_name="m\\"1"} 2' in lines
    assert 'vllm:prompt_tokens_total{model_name="m\\"1"} 5' in lines
    assert 'vllm:generation_tokens_total{model_name="m\\"1"} 6' in lines
    assert 'vllm:request_success_total{model_name="m\\"1",finished_reason="length"} 1' in lines
    assert 'hfserver_requests_total{model_name="m\\"1",path="/v1/completions",code="200"} 2' in lines
    assert 'hfserver_requests_total{model_name="m\\"1",path="/v1/chat/completions",code="400"} 1' in lines
    assert text.endswith("\n")
