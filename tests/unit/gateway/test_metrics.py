"""The gateway's metrics: stable names and labels in the exposition, and token usage read from responses."""

from __future__ import annotations

import json
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from kubeserve.gateway.metrics import GatewayMetrics, RequestLabels, UsageTracker

LABELS = RequestLabels(namespace="ns", route="chat", inferenceservice="llm", protocol="openai")
SERVICE = {"namespace": "ns", "route": "chat", "inferenceservice": "llm"}


def samples(metrics: GatewayMetrics) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    body, content_type = metrics.exposition()
    assert content_type.startswith("text/plain")
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(body.decode()) for s in family.samples}


def value(metrics: GatewayMetrics, name: str, **labels: str) -> float | None:
    return samples(metrics).get((name, frozenset(labels.items())))


def test_requests_latency_and_tokens_by_service() -> None:
    m = GatewayMetrics()
    m.observe(LABELS, 200, duration=1.5, ttfb=0.2, prompt_tokens=10, completion_tokens=5)
    m.observe(LABELS, 200, duration=0.5, ttfb=0.004, prompt_tokens=3, completion_tokens=None)
    m.observe(LABELS, 503, duration=0.001)
    p = "kubeserve_gateway_"
    assert value(m, p + "requests_total", **SERVICE, protocol="openai", code="200") == 2
    assert value(m, p + "requests_total", **SERVICE, protocol="openai", code="503") == 1
    assert value(m, p + "request_duration_seconds_count", **SERVICE) == 3
    assert value(m, p + "request_duration_seconds_sum", **SERVICE) == pytest.approx(2.001)
    assert value(m, p + "time_to_first_byte_seconds_count", **SERVICE) == 2  # the 503 had no first byte
    assert value(m, p + "time_to_first_byte_seconds_bucket", **SERVICE, le="0.005") == 1
    assert value(m, p + "time_to_first_byte_seconds_bucket", **SERVICE, le="60.0") == 2
    assert value(m, p + "prompt_tokens_total", **SERVICE) == 13
    assert value(m, p + "completion_tokens_total", **SERVICE) == 5


@pytest.mark.parametrize(("reason", "counted_as"), [
    ("no_endpoints", "no_endpoints"),
    ("connect_failed", "connect_failed"),
    ("timeout", "timeout"),
    ("something new", "other"),
])
def test_errors_by_a_fixed_set_of_reasons(reason: str, counted_as: str) -> None:
    m = GatewayMetrics()
    m.error(LABELS, reason)
    assert value(m, "kubeserve_gateway_request_errors_total", **SERVICE, reason=counted_as) == 1


def test_inflight_ejections_and_forgetting_an_endpoint() -> None:
    m = GatewayMetrics()
    ep = {"namespace": "ns", "route": "chat", "endpoint": "127.0.0.5:8080"}
    m.upstream_started(LABELS, "127.0.0.5:8080")
    m.upstream_started(LABELS, "127.0.0.5:8080")
    m.upstream_finished(LABELS, "127.0.0.5:8080")
    m.ejected(LABELS, "127.0.0.5:8080")
    assert value(m, "kubeserve_gateway_upstream_inflight", **ep) == 1
    assert value(m, "kubeserve_gateway_endpoint_ejections_total", **ep) == 1
    m.forget_endpoint("ns", "chat", "127.0.0.5:8080")
    m.forget_endpoint("ns", "chat", "never-seen")
    assert value(m, "kubeserve_gateway_upstream_inflight", **ep) is None


def test_each_gateway_has_its_own_registry_and_openmetrics_on_request() -> None:
    one, two = GatewayMetrics(), GatewayMetrics()
    one.observe(LABELS, 200, 0.1)
    assert value(two, "kubeserve_gateway_requests_total", **SERVICE, protocol="openai", code="200") is None
    body, content_type = one.exposition("application/openmetrics-text; version=1.0.0")
    assert content_type.startswith("application/openmetrics-text") and body.endswith(b"# EOF\n")


# -- token usage --------------------------------------------------------------------------------------------

def sse(*events: Any, done: bool = True) -> bytes:
    out = b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events)
    return out + (b"data: [DONE]\n\n" if done else b"")


def chat_delta(text: str) -> dict[str, Any]:
    return {"choices": [{"index": 0, "delta": {"content": text}}]}


USAGE = {"choices": [], "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}}
JSON_BODY = json.dumps({"choices": [{"text": "hi"}], "usage": {"prompt_tokens": 7, "completion_tokens": 2}})


@pytest.mark.parametrize(("content_type", "body", "expected"), [
    ("application/json", JSON_BODY.encode(), (7, 2)),
    ("application/json; charset=utf-8", JSON_BODY.encode(), (7, 2)),
    ("application/json", b'{"error": {"message": "bad"}}', (None, None)),
    ("application/json", b'{"usage": {"prompt_tokens": true, "completion_tokens": 2}}', (None, 2)),
    ("application/json", b"not json", (None, None)),
    ("application/json", b"\xff\xfe", (None, None)),
    ("text/plain", JSON_BODY.encode(), (None, None)),
    ("text/event-stream", sse(chat_delta("a"), chat_delta("b"), USAGE), (12, 3)),  # usage wins over counting
    ("text/event-stream", sse(chat_delta("a"), chat_delta(""), chat_delta("b")), (None, 2)),  # estimate
    ("text/event-stream", sse({"choices": [{"text": "x"}, {"text": "y"}]}), (None, 2)),  # completions, n=2
    ("text/event-stream", sse({"choices": [{"delta": {"tool_calls": [{"index": 0}]}}]}), (None, 1)),
    ("text/event-stream", sse(chat_delta("a"), done=False).rstrip(b"\n"), (None, 1)),  # no final newline
    ("text/event-stream", sse(chat_delta("a")).replace(b"\n", b"\r\n"), (None, 1)),
    ("text/event-stream", b": keep-alive\n\nevent: x\ndata: [DONE]\n\n", (None, None)),
    ("text/event-stream", b"data: {\"choices\": [{\"delta\":\ndata: {\"content\": \"a\"}}]}\n\n", (None, 1)),
    ("text/event-stream", b"data: not json\n\n" + sse(chat_delta("a")), (None, 1)),
])
def test_usage_whole_and_byte_by_byte(content_type: str, body: bytes, expected: tuple[int | None, ...]) -> None:
    whole = UsageTracker(content_type)
    whole.feed(body)
    assert whole.result() == expected
    split = UsageTracker(content_type)  # chunk boundaries anywhere, even inside a UTF-8 character or a line
    for i in range(len(body)):
        split.feed(body[i:i + 1])
    assert split.result() == expected
    assert split.result() == expected  # asking twice gives the same answer


@pytest.mark.parametrize(("body", "expected"), [
    (b"\n  " + JSON_BODY.encode(), (7, 2)),
    (sse(chat_delta("a"), USAGE), (12, 3)),
    (b": ping\n\n" + sse(chat_delta("a")), (None, 1)),
    (b"<html>oops</html>", (None, None)),
    (b"", (None, None)),
])
def test_usage_sniffed_without_a_content_type(body: bytes, expected: tuple[int | None, ...]) -> None:
    tracker = UsageTracker()
    for i in range(len(body)):
        tracker.feed(body[i:i + 1])
    assert tracker.result() == expected


def test_usage_continuous_stats_last_wins() -> None:
    events = [{"choices": [{"delta": {"content": "a"}}], "usage": {"prompt_tokens": 5, "completion_tokens": n}}
              for n in (1, 2, 3)]
    tracker = UsageTracker("text/event-stream")
    tracker.feed(sse(*events))
    assert tracker.result() == (5, 3)


def test_usage_memory_is_bounded() -> None:
    big = UsageTracker("application/json", limit=100)
    big.feed(JSON_BODY.encode() + b" " * 200)
    assert big.result() == (None, None)
    long_line = UsageTracker("text/event-stream", limit=100)
    long_line.feed(b"data: " + b"x" * 150)  # over the limit before its newline: skipped
    long_line.feed(b"y" * 50 + b"\n\n" + sse(chat_delta("a"), USAGE))
    assert long_line.result() == (12, 3)
    assert long_line._buffer == bytearray()


def test_feeding_after_the_result_changes_nothing() -> None:
    tracker = UsageTracker("text/event-stream")
    tracker.feed(sse(chat_delta("a")))
    assert tracker.result() == (None, 1)
    tracker.feed(sse(chat_delta("b")))
    assert tracker.result() == (None, 1)
