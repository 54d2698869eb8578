"""Download progress: bytes done and total, and the recent rate, shown as a progress bar on a terminal and as
one stable log line every few seconds otherwise (an init container's log, where the InferenceService
controller reads it to put progress in status and Events).

The log line is a contract; `parse_progress_line` reads back what `format_progress_line` writes:

    Downloading oci://registry/model:tag: 120.0 MiB of 500.0 MiB (24%) at 80.1 MiB/s
"""

from __future__ import annotations

import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO

_RATE_WINDOW = 5.0


@dataclass(frozen=True)
class Snapshot:
    source: str
    done: int
    total: int | None
    rate: float
    """Bytes per second over the last few seconds."""

    @property
    def percent(self) -> int | None:
        if not self.total:
            return None
        return min(100, int(self.done * 100 / self.total))


def human_bytes(count: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(count) < 1024 or unit == "GiB":
            return f"{count:.0f} B" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    raise AssertionError("unreachable")


def format_progress_line(snap: Snapshot) -> str:
    amount = human_bytes(snap.done)
    if snap.total is not None:
        amount += f" of {human_bytes(snap.total)} ({snap.percent}%)"
    return f"Downloading {snap.source}: {amount} at {human_bytes(snap.rate)}/s"


_UNITS = {"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}
_LINE = re.compile(r"^Downloading (?P<source>\S+): (?P<done>[\d.]+) (?P<du>B|KiB|MiB|GiB)"
                   r"(?: of (?P<total>[\d.]+) (?P<tu>B|KiB|MiB|GiB) \(\d+%\))?"
                   r" at (?P<rate>[\d.]+) (?P<ru>B|KiB|MiB|GiB)/s$")


def parse_progress_line(line: str) -> Snapshot | None:
    match = _LINE.match(line.strip())
    if not match:
        return None
    total = None
    if match["total"] is not None:
        total = int(float(match["total"]) * _UNITS[match["tu"]])
    return Snapshot(source=match["source"], done=int(float(match["done"]) * _UNITS[match["du"]]), total=total,
                    rate=float(match["rate"]) * _UNITS[match["ru"]])


class ProgressReporter:
    """Implements `types.Progress`. Thread-safe; `on_update` runs at most every `interval` seconds (and once
    at `finish`), on whichever thread advanced the count."""

    def __init__(self, source: str, on_update: Callable[[Snapshot], None], *, interval: float = 2.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._source = source
        self._on_update = on_update
        self._interval = interval
        self._clock = clock
        self._lock = threading.Lock()
        self._done = 0
        self._total: int | None = None
        self._samples: deque[tuple[float, int]] = deque()
        self._last_update = clock()
        self._samples.append((self._last_update, 0))

    @property
    def done(self) -> int:
        return self._done

    def set_total(self, total: int | None) -> None:
        with self._lock:
            self._total = total

    def advance(self, done: int) -> None:
        with self._lock:
            self._done += done
            now = self._clock()
            self._samples.append((now, self._done))
            while len(self._samples) > 2 and now - self._samples[0][0] > _RATE_WINDOW:
                self._samples.popleft()
            if now - self._last_update < self._interval:
                return
            self._last_update = now
            snap = self._snapshot(now)
        self._on_update(snap)

    def snapshot(self) -> Snapshot:
        with self._lock:
            return self._snapshot(self._clock())

    def finish(self) -> Snapshot:
        snap = self.snapshot()
        self._on_update(snap)
        return snap

    def _snapshot(self, now: float) -> Snapshot:
        first_time, first_done = self._samples[0]
        span = now - first_time
        rate = (self._done - first_done) / span if span > 0 else 0.0
        return Snapshot(self._source, self._done, self._total, rate)


def line_sink(stream: IO[str]) -> Callable[[Snapshot], None]:
    def emit(snap: Snapshot) -> None:
        print(format_progress_line(snap), file=stream, flush=True)
    return emit
