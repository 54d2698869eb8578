"""The model-download progress line: what the storage initializer logs every few seconds while it downloads,
and what the InferenceService controller reads back (from the init container's log) to show progress in
status and Events. A wire format shared by two components, so it lives here:

    Downloading oci://registry/model:tag: 120.0 MiB of 500.0 MiB (24%) at 80.1 MiB/s
"""

from __future__ import annotations

import re
from dataclasses import dataclass


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
