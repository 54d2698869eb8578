"""Restart decisions: Kubernetes' restart policy table and the CrashLoopBackOff sequence."""

from __future__ import annotations

import pytest

from kubeserve.node.kubelet.restarts import (
    BackOff,
    BackOffPolicy,
    crash_backoff,
    crash_loop_message,
    go_duration,
    pull_backoff,
    should_restart,
)

POLICY = BackOffPolicy(base=10, cap=300, reset_after=600)


@pytest.mark.parametrize(("policy", "code", "init", "expected"), [
    ("Always", 0, False, True),
    ("Always", 1, False, True),
    ("OnFailure", 0, False, False),
    ("OnFailure", 2, False, True),
    ("Never", 1, False, False),
    ("Never", 0, False, False),
    ("Always", 0, True, False),  # an init container that succeeded is done
    ("Always", 1, True, True),
    ("OnFailure", 1, True, True),
    ("Never", 1, True, False),
])
def test_should_restart(policy: str, code: int, init: bool, expected: bool) -> None:
    assert should_restart(policy, code, init=init) is expected


def test_crash_backoff_sequence_first_restart_immediate_then_doubling_to_cap() -> None:
    delays = []
    backoff: BackOff | None = None
    t = 1000.0
    for _ in range(9):
        backoff = crash_backoff(backoff, t, ran_for=1.0, policy=POLICY)
        delays.append(backoff.delay)
        assert backoff.retry_at == t + backoff.delay
        t += 100
    assert delays == [0, 10, 20, 40, 80, 160, 300, 300, 300]


def test_crash_backoff_resets_after_a_long_run() -> None:
    backoff = crash_backoff(None, 0, 1, POLICY)
    backoff = crash_backoff(backoff, 1, 1, POLICY)
    assert backoff.delay == 10
    assert crash_backoff(backoff, 2000, 600, POLICY).delay == 0
    assert crash_backoff(backoff, 2000, 599, POLICY).delay == 20


def test_pull_backoff_never_retries_at_once() -> None:
    first = pull_backoff(None, 5, POLICY)
    assert (first.delay, first.retry_at) == (10, 15)
    assert pull_backoff(first, 20, POLICY).delay == 20


@pytest.mark.parametrize(("seconds", "text"), [
    (10, "10s"), (20, "20s"), (80, "1m20s"), (160, "2m40s"), (300, "5m0s"), (0.2, "200ms"), (1.5, "1.5s"),
    (0, "0s"), (3700, "1h1m40s"),
])
def test_go_duration(seconds: float, text: str) -> None:
    assert go_duration(seconds) == text


def test_crash_loop_message_reads_like_kubelet() -> None:
    assert crash_loop_message(10, "main", "web", "default", "u1") == (
        "back-off 10s restarting failed container=main pod=web_default(u1)")


@pytest.mark.parametrize(("policy", "code"), [("Never", 0), ("Never", 1), ("OnFailure", 0), ("Always", 0)])
def test_a_sidecar_always_restarts(policy: str, code: int) -> None:
    assert should_restart(policy, code, init=True, sidecar=True) is True
