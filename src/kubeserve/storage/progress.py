"""Download progress: bytes done and total, and the recent rate, shown as a progress bar on a terminal and as
one stable log line every few seconds otherwise (an init container's log, where the InferenceService
controller reads it back: the line's format is `kubeserve.api.modelprogress`)."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import IO

from kubeserve.api.modelprogress import Snapshot, format_progress_line, human_bytes, parse_progress_line

__all__ = ["ProgressReporter", "Snapshot", "format_progress_line", "human_bytes", "line_sink",
           "parse_progress_line"]

_RATE_WINDOW = 5.0


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
