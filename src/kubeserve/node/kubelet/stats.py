"""The kubelet's `/stats/summary`: node and per-container CPU and memory, from the process trees that the
containers' `state.json` files name. metrics.k8s.io (`kubectl top`) is shaped from this by the API server.

CPU usage is a rate, so it needs two samples: the collector keeps the last sample of each process tree and of
the node; the very first answer for a tree uses its average since it started instead of nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

from kubeserve.atomicfile import read_json_object

_NANO = 1_000_000_000


@dataclass(frozen=True)
class _Sample:
    at: float  # wall clock seconds
    cpu_seconds: float


@dataclass(frozen=True)
class Usage:
    nano_cores: int
    cpu_seconds: float
    working_set: int


def rate(previous: _Sample | None, now: _Sample, started_at: float) -> int:
    """Nanocores between two samples; the lifetime average when there is no usable previous sample."""
    if previous is not None and now.at > previous.at and now.cpu_seconds >= previous.cpu_seconds:
        return int((now.cpu_seconds - previous.cpu_seconds) / (now.at - previous.at) * _NANO)
    lifetime = now.at - started_at
    return int(now.cpu_seconds / lifetime * _NANO) if lifetime > 0 else 0


def _tree_usage(pid: int, create_time: float | None) -> tuple[float, int, float] | None:
    """(cpu seconds, rss bytes, start time) of a process and its descendants; None when it is gone."""
    try:
        root = psutil.Process(pid)
        started = root.create_time()
        if create_time is not None and abs(started - create_time) > 1.0:
            return None  # the pid was reused by some other process
        procs = [root, *root.children(recursive=True)]
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None
    cpu, rss = 0.0, 0
    for proc in procs:
        try:
            times = proc.cpu_times()
            cpu += times.user + times.system
            rss += proc.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return cpu, rss, started



def _timestamp(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class StatsCollector:
    def __init__(self, pods_dir: Path, node_name: str, clock: Callable[[], float] = time.time) -> None:
        self.pods_dir = pods_dir
        self.node_name = node_name
        self.clock = clock
        self._samples: dict[tuple[str, str, int], _Sample] = {}
        self._node_sample: _Sample | None = None

    def _node(self, now: float) -> dict[str, Any]:
        times = psutil.cpu_times()
        busy = sum(times) - times.idle - getattr(times, "iowait", 0.0)
        sample = _Sample(now, busy)
        nano = rate(self._node_sample, sample, psutil.boot_time())
        self._node_sample = sample
        memory = psutil.virtual_memory()
        stamp = _timestamp(now)
        return {
            "nodeName": self.node_name,
            "startTime": _timestamp(psutil.boot_time()),
            "cpu": {"time": stamp, "usageNanoCores": nano, "usageCoreNanoSeconds": int(busy * _NANO)},
            "memory": {"time": stamp, "availableBytes": memory.available, "usageBytes": memory.total - memory.free,
                       "workingSetBytes": memory.total - memory.available},
        }

    def summary(self) -> dict[str, Any]:
        """Blocking (it reads /proc): call it in a thread."""
        now = self.clock()
        stamp = _timestamp(now)
        pods: list[dict[str, Any]] = []
        seen: set[tuple[str, str, int]] = set()
        for sandbox_path in sorted(self.pods_dir.glob("*/sandbox.json")):
            sandbox = read_json_object(sandbox_path)
            if sandbox is None:
                continue
            uid = str(sandbox.get("uid") or sandbox_path.parent.name)
            containers: list[dict[str, Any]] = []
            total_cpu, total_memory = 0, 0
            for state_path in sorted((sandbox_path.parent / "containers").glob("*/state.json")):
                state = read_json_object(state_path)
                if state is None or not isinstance(state.get("pid"), int):
                    continue
                name = state_path.parent.name
                create_time = state.get("createTime")
                usage = _tree_usage(state["pid"], float(create_time) if isinstance(create_time, int | float)
                                    else None)
                if usage is None:
                    continue
                cpu, rss, started = usage
                key = (uid, name, state["pid"])
                seen.add(key)
                sample = _Sample(now, cpu)
                nano = rate(self._samples.get(key), sample, started)
                self._samples[key] = sample
                total_cpu, total_memory = total_cpu + nano, total_memory + rss
                containers.append({
                    "name": name, "startTime": _timestamp(started),
                    "cpu": {"time": stamp, "usageNanoCores": nano, "usageCoreNanoSeconds": int(cpu * _NANO)},
                    "memory": {"time": stamp, "workingSetBytes": rss, "rssBytes": rss, "usageBytes": rss},
                })
            pods.append({
                "podRef": {"name": sandbox.get("name", ""), "namespace": sandbox.get("namespace", ""), "uid": uid},
                "startTime": stamp, "containers": containers,
                "cpu": {"time": stamp, "usageNanoCores": total_cpu},
                "memory": {"time": stamp, "workingSetBytes": total_memory},
            })
        for key in set(self._samples) - seen:  # forget trees that are gone
            del self._samples[key]
        return {"node": self._node(now), "pods": pods}
