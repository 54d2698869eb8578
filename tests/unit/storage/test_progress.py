"""Progress: the rate over a recent window, the throttled sink, and the log line the controller parses."""

import threading

import pytest

from kubeserve.storage.progress import ProgressReporter, Snapshot, format_progress_line, parse_progress_line


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_updates_are_throttled_and_rate_is_recent():
    clock, seen = Clock(), []
    reporter = ProgressReporter("oci://r/m:1", seen.append, interval=2.0, clock=clock)
    reporter.set_total(100 << 20)
    clock.now += 1
    reporter.advance(10 << 20)
    assert seen == []  # within the interval
    clock.now += 1.5
    reporter.advance(10 << 20)
    assert len(seen) == 1
    assert seen[0].done == 20 << 20 and seen[0].total == 100 << 20 and seen[0].percent == 20
    assert seen[0].rate == pytest.approx((20 << 20) / 2.5)
    # After a long stall the rate reflects only the last few seconds, not the whole run.
    clock.now += 60
    reporter.advance(1 << 20)
    assert reporter.snapshot().rate < (1 << 20)
    assert reporter.finish().done == 21 << 20


def test_advance_from_threads_counts_every_byte():
    reporter = ProgressReporter("s3://b/p", lambda _s: None, interval=0.0)
    threads = [threading.Thread(target=lambda: [reporter.advance(1) for _ in range(10000)]) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert reporter.done == 40000


@pytest.mark.parametrize("snap", [
    Snapshot("oci://registry.redhat.io/rhelai1/m:1.5", 120 << 20, 500 << 20, 80.5 * (1 << 20)),
    Snapshot("s3://bucket/models/granite", 512, None, 0.0),
    Snapshot("hf://org/model:main", 3 << 30, 3 << 30, 1 << 30),
])
def test_log_line_round_trips(snap):
    line = format_progress_line(snap)
    parsed = parse_progress_line(line)
    assert parsed is not None
    assert parsed.source == snap.source
    assert parsed.done == pytest.approx(snap.done, rel=0.01)
    assert (parsed.total is None) == (snap.total is None)
    assert parse_progress_line("Loading weights...") is None


def test_line_reads_as_documented():
    line = format_progress_line(Snapshot("oci://r/m:1", 120 << 20, 500 << 20, 80.1 * (1 << 20)))
    assert line == "Downloading oci://r/m:1: 120.0 MiB of 500.0 MiB (24%) at 80.1 MiB/s"
