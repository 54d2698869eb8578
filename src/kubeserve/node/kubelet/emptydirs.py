"""emptyDir `sizeLimit`: measuring the volumes and the eviction that follows, as the kubelet's eviction
manager does for local storage.

Kubernetes evicts a pod whose emptyDir holds more than its `sizeLimit` (memory-backed ones included: their
tmpfs pages are the usage), with reason `Evicted` and the message `Usage of EmptyDir volume "cache" exceeds
the limit "10Mi".`. The decisions here are pure (`size_limits`, `over_limit`); `directory_usage` is the one
measurement, a walk with `os.scandir` that sums allocated blocks as `du` does, run off the event loop and
only for pods that set a limit, every few seconds.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from kubeserve.api.quantity import parse_quantity
from kubeserve.client import Obj


@dataclass(frozen=True)
class SizeLimit:
    volume: str
    limit: int  # bytes
    text: str  # as the pod spec wrote it, for the message


def size_limits(pod: Obj) -> list[SizeLimit]:
    """The emptyDir volumes of the pod that set a (parseable, positive) sizeLimit."""
    out: list[SizeLimit] = []
    for volume in (pod.get("spec") or {}).get("volumes") or []:
        if "emptyDir" not in volume:
            continue
        text = (volume.get("emptyDir") or {}).get("sizeLimit")
        if text is None:
            continue
        with contextlib.suppress(ValueError, ZeroDivisionError):
            limit = int(parse_quantity(text))
            if limit > 0:
                out.append(SizeLimit(volume=str(volume.get("name")), limit=limit, text=str(text)))
    return out


def over_limit(limits: list[SizeLimit], usage: Mapping[str, int]) -> SizeLimit | None:
    """The first volume whose usage exceeds its limit (strictly, as Kubernetes compares), or None."""
    return next((s for s in limits if usage.get(s.volume, 0) > s.limit), None)


def eviction_message(exceeded: SizeLimit) -> str:
    return f'Usage of EmptyDir volume "{exceeded.volume}" exceeds the limit "{exceeded.text}".'


def directory_usage(root: Path) -> int:
    """Bytes allocated under `root` (files and directories, symlinks not followed, hard links once).
    A directory that vanishes while being walked counts as what was seen of it."""
    total = 0
    seen: set[tuple[int, int]] = set()
    stack = [str(root)]
    while stack:
        with contextlib.suppress(OSError), os.scandir(stack.pop()) as entries:
            for entry in entries:
                with contextlib.suppress(OSError):
                    st = entry.stat(follow_symlinks=False)
                    if st.st_nlink > 1 and not entry.is_dir(follow_symlinks=False):
                        if (st.st_dev, st.st_ino) in seen:
                            continue
                        seen.add((st.st_dev, st.st_ino))
                    total += st.st_blocks * 512
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(entry.path)
    return total


def measure(volumes: Mapping[str, Path], limits: list[SizeLimit]) -> dict[str, int]:
    """The usage of each limited volume (blocking: call it in a thread)."""
    return {s.volume: directory_usage(volumes[s.volume]) for s in limits if s.volume in volumes}
