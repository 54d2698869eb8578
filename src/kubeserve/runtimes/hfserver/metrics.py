"""The few Prometheus counters this server keeps, in the text exposition format at `/metrics`.

The token and queue metrics use vLLM's names (`vllm:num_requests_running`, `vllm:generation_tokens_total`,
…) so that the dashboards, the autoscaler's `scaleMetric` and Prometheus rules read this runtime and the
vLLM runtime alike; `hfserver_requests_total` counts HTTP answers by path and status code.

One `Metrics` per server (no module state); the event loop is its only writer, so no lock is needed.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


def _labels(model: str, **extra: str) -> str:
    pairs = {"model_name": model, **extra}
    return "{" + ",".join(f'{k}="{v.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
                          for k, v in pairs.items()) + "}"


@dataclass
class Metrics:
    model: str
    prompt_tokens: int = 0
    generation_tokens: int = 0
    finished: Counter[str] = field(default_factory=Counter)
    answers: Counter[tuple[str, int]] = field(default_factory=Counter)

    def answered(self, path: str, status: int) -> None:
        self.answers[(path, status)] += 1

    def generated(self, prompt_tokens: int, completion_tokens: int, finish_reason: str) -> None:
        self.prompt_tokens += prompt_tokens
        self.generation_tokens += completion_tokens
        self.finished[finish_reason] += 1

    def render(self, running: int, waiting: int) -> str:
        """The exposition text; the queue gauges come from the engine at scrape time."""
        m = self.model
        lines = [
            "# HELP vllm:num_requests_running Requests generating now.", "# TYPE vllm:num_requests_running gauge",
            f"vllm:num_requests_running{_labels(m)} {running}",
            "# HELP vllm:num_requests_waiting Requests queued for the model.",
            "# TYPE vllm:num_requests_waiting gauge",
            f"vllm:num_requests_waiting{_labels(m)} {waiting}",
            "# HELP vllm:prompt_tokens_total Prompt tokens processed.", "# TYPE vllm:prompt_tokens_total counter",
            f"vllm:prompt_tokens_total{_labels(m)} {self.prompt_tokens}",
            "# HELP vllm:generation_tokens_total Tokens generated.", "# TYPE vllm:generation_tokens_total counter",
            f"vllm:generation_tokens_total{_labels(m)} {self.generation_tokens}",
            "# HELP vllm:request_success_total Finished requests by finish reason.",
            "# TYPE vllm:request_success_total counter",
            *(f"vllm:request_success_total{_labels(m, finished_reason=r)} {n}"
              for r, n in sorted(self.finished.items())),
            "# HELP hfserver_requests_total HTTP requests answered, by path and status code.",
            "# TYPE hfserver_requests_total counter",
            *(f"hfserver_requests_total{_labels(m, path=p, code=str(c))} {n}"
              for (p, c), n in sorted(self.answers.items())),
        ]
        return "\n".join(lines) + "\n"
