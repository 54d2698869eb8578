"""The gateway's `/metrics`: what every Route and InferenceService served, in Prometheus text format.

The names are an interface (dashboards, alerts and the autoscaler's queries use them), so they are fixed here
in one place, all prefixed ``kubeserve_gateway_``:

    requests_total{namespace,route,inferenceservice,protocol,code}       requests answered, by HTTP status
    request_errors_total{namespace,route,inferenceservice,reason}        failures, reason from ERROR_REASONS
    request_duration_seconds{namespace,route,inferenceservice}           histogram, request to last byte
    time_to_first_byte_seconds{namespace,route,inferenceservice}         histogram, request to first byte
    prompt_tokens_total{namespace,route,inferenceservice}                from the runtime's `usage`
    completion_tokens_total{namespace,route,inferenceservice}            `usage`, or one per streamed delta
    upstream_inflight{namespace,route,endpoint}                          requests in flight to each replica
    endpoint_ejections_total{namespace,route,endpoint}                   passive-health ejections

`GatewayMetrics` owns its registry (no global one), so two gateways in one process, or two tests, never
share counts. `UsageTracker` is pure: the proxy feeds it the upstream response bytes as they stream past and
asks for the token counts at the end, without holding a whole response or parsing one twice.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import choose_encoder

PREFIX = "kubeserve_gateway_"
ERROR_REASONS = frozenset({
    "no_endpoints", "connect_failed", "upstream_reset", "upstream_error", "timeout", "unauthorized",
    "forbidden", "auth_unavailable", "bad_request", "not_found", "payload_too_large", "client_disconnect", "other",
})
# LLM requests span a cached one-token answer (milliseconds) to a long generation (minutes).
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0,
                    300.0, 600.0)
# Time to first byte is prefill plus queueing: the range where prefix caching and balancing show.
TTFB_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 7.5, 10.0, 20.0, 30.0,
                60.0)
USAGE_LIMIT = 4 * 1024 * 1024  # larger non-streaming bodies are passed on without counting their tokens

_SERVICE = ("namespace", "route", "inferenceservice")


@dataclass(frozen=True)
class RequestLabels:
    """Who served a request: the Route it came through and the InferenceService behind it."""

    namespace: str
    route: str
    inferenceservice: str
    protocol: str  # "openai" or "v2": the protocol the client spoke

    def service(self) -> tuple[str, str, str]:
        return self.namespace, self.route, self.inferenceservice


class GatewayMetrics:
    """The gateway's metrics and their exposition; one per gateway."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self._requests = Counter(PREFIX + "requests", "Requests answered by the gateway, by HTTP status code.",
                                 (*_SERVICE, "protocol", "code"), registry=r)
        self._errors = Counter(PREFIX + "request_errors", "Requests that failed, by reason.",
                               (*_SERVICE, "reason"), registry=r)
        self._duration = Histogram(PREFIX + "request_duration_seconds",
                                   "Seconds from the request's arrival to its response's last byte.",
                                   _SERVICE, buckets=DURATION_BUCKETS, registry=r)
        self._ttfb = Histogram(PREFIX + "time_to_first_byte_seconds",
                               "Seconds from the request's arrival to the first response byte from a replica.",
                               _SERVICE, buckets=TTFB_BUCKETS, registry=r)
        self._prompt = Counter(PREFIX + "prompt_tokens", "Prompt tokens, as reported by the runtime.",
                               _SERVICE, registry=r)
        self._completion = Counter(PREFIX + "completion_tokens",
                                   "Completion tokens, as reported by the runtime; for streams without a usage "
                                   "report, one per streamed delta (an estimate).", _SERVICE, registry=r)
        self._inflight = Gauge(PREFIX + "upstream_inflight", "Requests in flight to each replica.",
                               ("namespace", "route", "endpoint"), registry=r)
        self._ejections = Counter(PREFIX + "endpoint_ejections", "Replicas ejected by passive health checks.",
                                  ("namespace", "route", "endpoint"), registry=r)

    def observe(self, labels: RequestLabels, code: int, duration: float, ttfb: float | None = None,
                prompt_tokens: int | None = None, completion_tokens: int | None = None) -> None:
        """Record one finished request; `ttfb` None when no replica answered, tokens None when unknown."""
        service = labels.service()
        self._requests.labels(*service, labels.protocol, str(code)).inc()
        self._duration.labels(*service).observe(max(0.0, duration))
        if ttfb is not None:
            self._ttfb.labels(*service).observe(max(0.0, ttfb))
        if prompt_tokens:
            self._prompt.labels(*service).inc(prompt_tokens)
        if completion_tokens:
            self._completion.labels(*service).inc(completion_tokens)

    def error(self, labels: RequestLabels, reason: str) -> None:
        """Count a failure; a reason outside ERROR_REASONS counts as "other", keeping the label set fixed."""
        self._errors.labels(*labels.service(), reason if reason in ERROR_REASONS else "other").inc()

    def upstream_started(self, labels: RequestLabels, endpoint: str) -> None:
        self._inflight.labels(labels.namespace, labels.route, endpoint).inc()

    def upstream_finished(self, labels: RequestLabels, endpoint: str) -> None:
        self._inflight.labels(labels.namespace, labels.route, endpoint).dec()

    def ejected(self, labels: RequestLabels, endpoint: str) -> None:
        self._ejections.labels(labels.namespace, labels.route, endpoint).inc()

    def forget_endpoint(self, namespace: str, route: str, endpoint: str) -> None:
        """Drop a departed replica's series (once drained), so pod churn does not grow the exposition."""
        for metric in (self._inflight, self._ejections):
            with contextlib.suppress(KeyError):  # older prometheus_client raises for an unknown series
                metric.remove(namespace, route, endpoint)

    def exposition(self, accept: str = "") -> tuple[bytes, str]:
        """The body and Content-Type for `GET /metrics`: Prometheus text, or OpenMetrics if `accept` asks."""
        encoder, content_type = choose_encoder(accept)
        return encoder(self.registry), content_type


class UsageTracker:
    """Token usage of one upstream OpenAI response, fed its bytes as they stream (pure, bounded memory).

    JSON bodies: `usage.prompt_tokens` / `usage.completion_tokens` of the whole body, unless it is over
    `limit`. Server-sent events (`stream: true`): the last `usage` object seen (vLLM sends one when the client
    asks with `stream_options.include_usage`); without one, the prompt is unknown and each chunk carrying
    content for a choice counts as one completion token, which is what vLLM streams by default. Compressed
    bodies (`Content-Encoding`) are not decoded and count as unknown. Without a content type the first
    byte decides: `{`/`[` is JSON, an SSE field or comment is a stream, anything else is not counted.
    """

    def __init__(self, content_type: str | None = None, limit: int = USAGE_LIMIT) -> None:
        """`content_type` is the upstream response's; None sniffs the body's first byte instead."""
        media = (content_type or "").split(";", 1)[0].strip().lower()
        self._sse = media == "text/event-stream"
        self._json = media == "application/json" or media.endswith("+json")
        self._sniff = content_type is None
        self._limit = limit
        self._buffer = bytearray()  # JSON: the body so far; SSE: the unfinished line
        self._overflow = False  # JSON: over the limit; SSE: skipping the rest of an over-long line
        self._data: list[bytes] = []  # SSE: data lines of the event being read
        self._data_size = 0
        self._events = 0
        self._estimate = 0
        self._usage: tuple[int | None, int | None] | None = None
        self._done = False

    def feed(self, chunk: bytes) -> None:
        if self._done or not chunk:
            return
        if self._sniff:
            first = chunk.lstrip()[:1]
            if not first:
                return  # leading whitespace says nothing (and JSON and SSE both may skip it)
            self._sniff = False
            self._json = first in (b"{", b"[")
            self._sse = first in (b"d", b":", b"e", b"i", b"r")  # data:, a comment, event:, id:, retry:
        if self._json:
            if not self._overflow:
                self._buffer += chunk
                if len(self._buffer) > self._limit:
                    self._overflow = True
                    self._buffer = bytearray()
        elif self._sse:
            self._feed_sse(chunk)

    def result(self) -> tuple[int | None, int | None]:
        """(prompt_tokens, completion_tokens), None where unknown; call after the last chunk."""
        if not self._done:
            self._done = True
            if self._json and not self._overflow:
                self._usage = _usage(_loads(bytes(self._buffer)))
            elif self._sse:
                if self._buffer and not self._overflow:  # a stream that ended without its last newline
                    self._line(bytes(self._buffer))
                self._dispatch()
            self._buffer = bytearray()
        if self._usage is not None:
            return self._usage
        return None, (self._estimate if self._sse and self._events else None)

    def _feed_sse(self, chunk: bytes) -> None:
        start = 0
        while True:
            end = chunk.find(b"\n", start)
            if end < 0:
                break
            if self._overflow:
                self._overflow = False  # the over-long line ends here; drop it
            else:
                self._buffer += chunk[start:end]
                self._line(bytes(self._buffer))
            self._buffer = bytearray()
            start = end + 1
        if not self._overflow:
            self._buffer += chunk[start:]
            if len(self._buffer) > self._limit:
                self._overflow = True
                self._buffer = bytearray()

    def _line(self, line: bytes) -> None:
        line = line.removesuffix(b"\r")
        if not line:
            self._dispatch()  # a blank line ends an event
        elif line.startswith(b"data:"):
            value = line[5:].removeprefix(b" ")
            self._data_size += len(value)
            if self._data_size <= self._limit:
                self._data.append(value)
        # comments (":"), "event:", "id:" and "retry:" lines carry nothing about usage

    def _dispatch(self) -> None:
        data, self._data, self._data_size = self._data, [], 0
        if not data:
            return
        payload = b"\n".join(data)
        if payload.strip() == b"[DONE]":
            return
        event = _loads(payload)
        if not isinstance(event, dict):
            return
        self._events += 1
        usage = _usage(event)
        if usage is not None:
            self._usage = usage  # with continuous usage stats each event's usage is cumulative: last wins
        for choice in event.get("choices") or ():
            if isinstance(choice, dict) and _has_content(choice):
                self._estimate += 1


def _loads(data: bytes) -> Any:
    try:
        return json.loads(data)
    except ValueError:  # includes UnicodeDecodeError: not ours to judge, just not countable
        return None


def _usage(body: Any) -> tuple[int | None, int | None] | None:
    usage = body.get("usage") if isinstance(body, dict) else None
    if not isinstance(usage, dict):
        return None
    prompt, completion = (_count(usage.get(k)) for k in ("prompt_tokens", "completion_tokens"))
    return None if prompt is None and completion is None else (prompt, completion)


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _has_content(choice: dict[str, Any]) -> bool:
    delta = choice.get("delta")
    if isinstance(delta, dict):  # chat: content, reasoning or a tool-call fragment
        return bool(delta.get("content") or delta.get("reasoning_content") or delta.get("tool_calls"))
    return bool(choice.get("text"))  # completions
