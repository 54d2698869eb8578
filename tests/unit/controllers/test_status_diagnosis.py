"""The log parsing and per-pod rules behind PredictorReady's reason."""

from __future__ import annotations

import pytest
from status_builders import done, ended, pod, ready_pod, running, terminated, waiting

from kubeserve.controllers.status_diagnosis import (
    LINE_LIMIT,
    diagnose_pods,
    last_lines,
    last_progress,
    pod_cause,
    storage_error,
)

PROGRESS = "Downloading s3://models/granite: 1.0 GiB of 2.0 GiB (50%) at 10.0 MiB/s"


@pytest.mark.parametrize(("tail", "expected"), [
    (None, None),
    ("", None),
    ("Downloading …\nerror: ModelNotFound: s3://b/k: no such key\n", ("ModelNotFound", "s3://b/k: no such key")),
    ("error: AccessDenied: first\nerror: DownloadFailed: second\n", ("DownloadFailed", "second")),
    ("Traceback (most recent call last):\nerror: not a reason line\n", None),
    ("  error: DiskFull: /mnt/models: no space left  \n", ("DiskFull", "/mnt/models: no space left")),
])
def test_storage_error(tail: str | None, expected: tuple[str, str] | None) -> None:
    assert storage_error(tail) == expected


@pytest.mark.parametrize(("tail", "expected"), [
    (None, None),
    ("starting\n", None),
    (f"{PROGRESS}\nDownloading s3://models/granite: 1.5 GiB of 2.0 GiB (75%) at 10.0 MiB/s\nhello\n",
     "Downloading s3://models/granite: 1.5 GiB of 2.0 GiB (75%) at 10.0 MiB/s"),
    (f"  {PROGRESS}  \n", PROGRESS),
])
def test_last_progress(tail: str | None, expected: str | None) -> None:
    assert last_progress(tail) == expected


def test_last_lines_skips_blanks_and_truncates_long_lines() -> None:
    tail = "a\n\n  \nb\n" + "x" * (LINE_LIMIT + 50) + "\n"
    assert last_lines(tail, 2) == ["b", "x" * LINE_LIMIT + "…"]
    assert last_lines(None) == []


def test_a_failed_pod_reports_the_kubelets_reason() -> None:
    failed = pod(phase="Failed", reason="OutOfnvidia.com/gpu",
                 message="Pod was rejected: Node didn't have enough resource: nvidia.com/gpu")
    cause = pod_cause(failed, None, None)
    assert (cause.reason, cause.model_state) == ("OutOfnvidia.com/gpu", "FailedToLoad")
    assert cause.failure is not None and cause.failure.reason == "RuntimeUnhealthy"


def test_another_init_container_failing() -> None:
    cause = pod_cause(pod(init=[done(), terminated(3, name="fetch-adapter")]), None, None)
    assert (cause.reason, cause.message) == ("InitContainerFailed", "init container fetch-adapter exited with code 3")
    assert cause.failure is not None and cause.failure.exit_code == 3


def test_a_waiting_init_container_after_success_is_pending() -> None:
    cause = pod_cause(pod(init=[done()], containers=[waiting("PodInitializing")]), None, None)
    assert (cause.reason, cause.model_state) == ("PodInitializing", "Pending")


def test_ready_pods_are_not_diagnosed_and_failures_are_counted() -> None:
    crashing = pod("c", init=[done()], containers=[waiting("CrashLoopBackOff", restarts=1, last=ended(1))])
    oom = pod("o", init=[done()], containers=[running(restarts=1, last=ended(137, "OOMKilled"))])
    cause, failed = diagnose_pods([ready_pod(), crashing, oom], None, None)
    assert failed == 2
    assert cause is not None and cause.reason == "OOMKilled"  # the earlier-ranked cause of the two
    assert diagnose_pods([ready_pod()], None, None) == (None, 0)


def test_among_equal_causes_the_newest_pod_speaks() -> None:
    old = pod("old", scheduled="0/1 nodes: old message", created="2025-01-01T00:00:00Z")
    new = pod("new", scheduled="0/1 nodes: new message", created="2025-01-01T00:00:05Z")
    cause, _ = diagnose_pods([old, new], None, None)
    assert cause is not None and cause.message == "0/1 nodes: new message"
