"""What the pod worker has observed of each pod, and the narrow interfaces it drives.

`PodState` and `ContainerState` are the pod worker's memory between reconciles: which run of each container
is current, how the last one ended, the back-offs, the pulls and the tasks waiting on something. They are
mutable on purpose (one owner: the pod's reconcile and the tasks it spawned). The Protocols say what the pod
worker needs of `process.ProcessManager` and `images.ImageCatalog`, so tests can pass doubles. The helpers
below read a pod spec or a status into the small values the other kubelet modules share.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from kubeserve.api.quantity import parse_quantity
from kubeserve.atomicfile import read_json_object
from kubeserve.client import Key, Obj
from kubeserve.node.kubelet import allocation, restarts
from kubeserve.node.kubelet.images import PulledImage
from kubeserve.node.kubelet.launch import Launch
from kubeserve.node.kubelet.podstatus import Exit
from kubeserve.node.kubelet.process import ExitStatus, RunningContainer
from kubeserve.node.kubelet.sandbox import Sandbox

TERMINAL = ("Succeeded", "Failed")


class ProcessManager(Protocol):
    """What the pod worker needs of `process.ProcessManager` (a Protocol, so tests can pass a double)."""

    def start(self, pod_uid: str, name: str, restart_count: int, launch: Launch,
              memory_limit: int | None, cpu_limit: float | None) -> RunningContainer: ...
    def adopt(self, pod_uid: str, name: str) -> RunningContainer | None: ...
    def exit_status(self, rc: RunningContainer) -> ExitStatus | None: ...
    async def stop(self, rc: RunningContainer, grace_seconds: float) -> ExitStatus: ...
    def kill_all(self, pod_uid: str) -> None: ...
    def enforce_limits(self) -> list[RunningContainer]: ...
    def usage(self, rc: RunningContainer) -> tuple[int, int]: ...
    def running(self) -> list[RunningContainer]: ...
    def last_exit(self, pod_uid: str, name: str) -> ExitStatus | None: ...
    def last_run(self, pod_uid: str, name: str) -> int | None: ...
    async def run_in(self, rc: RunningContainer, argv: list[str], timeout: float) -> tuple[int, bytes]: ...


class ImageCatalog(Protocol):
    def is_present(self, image: str) -> bool: ...
    async def pull(self, image: str, progress: Callable[[str], Awaitable[None]]) -> PulledImage: ...


class Spawn(Protocol):
    """Runs a coroutine as a task; when it ends (not cancelled), the pod `key` is reconciled again."""

    def __call__(self, coro: Awaitable[Any], key: Key | None = None) -> asyncio.Task[Any]: ...


# -- what the pod worker has observed of each pod -----------------------------------------------------------

@dataclass
class ContainerState:
    name: str
    init: bool
    sidecar: bool = False  # an init container with restartPolicy Always: runs beside the main containers
    run: int = 0  # restartCount: the number of the current (or latest) run, also its log file's name
    ran: bool = False  # run `run` has been started, so the next start is run + 1
    rc: RunningContainer | None = None
    started_mono: float = 0.0
    exit: Exit | None = None  # how run `run` ended, while it is not running
    last: Exit | None = None  # lastState
    backoff: restarts.BackOff | None = None
    reported: restarts.BackOff | None = None  # the back-off already announced with a BackOff Event
    restart: bool = False  # exited and will run again (after `backoff`)
    config_error: tuple[str, float] | None = None  # (message, retry at)
    started: bool = False
    ready: bool = False
    kill_message: str | None = None  # a probe asked for a restart
    probe_task: asyncio.Task[None] | None = None
    stop_task: asyncio.Task[ExitStatus] | None = None

    @property
    def finished(self) -> bool:
        return self.rc is None and self.exit is not None and not self.restart

    @property
    def succeeded(self) -> bool:
        return self.finished and self.exit is not None and self.exit.exit_code == 0


@dataclass
class PullState:
    task: asyncio.Task[None] | None = None
    error: tuple[str, str] | None = None  # (reason, message)
    failed_at: float = 0.0
    backoff: restarts.BackOff | None = None


@dataclass
class StopDeadline:
    """When a pod's graceful stop must be over, and until when it drains first (event-loop times). A second,
    shorter delete moves both earlier, never later; whoever waits on `moved` wakes when they move."""

    at: float
    drain_until: float
    moved: asyncio.Event = field(default_factory=asyncio.Event)

    @classmethod
    def start(cls, now: float, grace: float, drain: float) -> StopDeadline:
        return cls(at=now + grace, drain_until=now + drain_seconds(grace, drain))

    def shorten(self, now: float, grace: float, drain: float) -> bool:
        """Honour a new grace period counted from `now` if it ends earlier; True when the deadline moved."""
        if now + grace >= self.at:
            return False
        self.at = now + grace
        self.drain_until = min(self.drain_until, now + drain_seconds(grace, drain))
        moved, self.moved = self.moved, asyncio.Event()
        moved.set()
        return True


@dataclass
class PodState:
    uid: str
    namespace: str
    name: str
    ip: str | None = None
    devices: allocation.Devices | None = None
    sandbox: Sandbox | None = None
    sandbox_backoff: restarts.BackOff | None = None
    start_time: str | None = None
    failure: tuple[str, str] | None = None  # (reason, message): the pod failed as a whole (admission, eviction)
    containers: dict[str, ContainerState] = field(default_factory=dict)
    images: dict[str, PulledImage] = field(default_factory=dict)
    pulls: dict[str, PullState] = field(default_factory=dict)
    terminating: asyncio.Task[None] | None = None
    stop_deadline: StopDeadline | None = None  # set with `terminating`
    done: bool = False  # phase is Succeeded/Failed: nothing runs any more

    @property
    def key(self) -> Key:
        return self.namespace, self.name

    @property
    def completed(self) -> bool:
        """Every main container has finished for good (restartPolicy Never or OnFailure): the sidecars stop and
        are not restarted, as Kubernetes does once a pod's work is done."""
        main = [cs for cs in self.containers.values() if not cs.init]
        return bool(main) and all(cs.finished for cs in main)

    @property
    def ref(self) -> Obj:
        return {"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": self.name, "namespace": self.namespace, "uid": self.uid}}

    def tasks(self) -> list[asyncio.Task[Any]]:
        out: list[asyncio.Task[Any]] = [p.task for p in self.pulls.values() if p.task is not None]
        for cs in self.containers.values():
            out += [t for t in (cs.probe_task, cs.stop_task) if t is not None]
        return out


# -- reading specs and statuses -----------------------------------------------------------------------------

def epoch(stamp: str) -> float:
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return time.time()


def to_exit(status: ExitStatus, run: int) -> Exit:
    return Exit(exit_code=status.exit_code, reason=status.reason, started_at=status.started_at,
                finished_at=status.finished_at, signal=status.signal, run=run, message=status.message)


def exit_from_status(terminated: Obj | None) -> Exit | None:
    """A `state.terminated` the API server holds, back into an Exit (the run number is in containerID)."""
    if not terminated:
        return None
    run = 0
    with contextlib.suppress(ValueError, IndexError):
        run = int(str(terminated.get("containerID", "")).rsplit("/", 1)[1])
    return Exit(exit_code=int(terminated.get("exitCode") or 0), reason=str(terminated.get("reason") or ""),
                started_at=str(terminated.get("startedAt") or ""), finished_at=str(terminated.get("finishedAt") or ""),
                signal=terminated.get("signal"), run=run, message=str(terminated.get("message") or ""))


def grace_seconds(pod: Obj) -> float:
    meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
    grace = meta.get("deletionGracePeriodSeconds")
    if grace is None:
        grace = spec.get("terminationGracePeriodSeconds")
    return float(30 if grace is None else max(int(grace), 0))


def drain_seconds(grace: float, drain: float) -> float:
    """How long a deleted pod keeps serving before SIGTERM: the configured drain, but never more than half the
    grace period, so a short grace (0 or 1 s, a second delete) leaves the process its time to stop."""
    return max(0.0, min(drain, grace / 2))


def limits(container: Obj) -> tuple[int | None, float | None]:
    """(memory bytes, cpu cores) from the container's limits; unparseable values read as no limit."""
    given = (container.get("resources") or {}).get("limits") or {}
    memory = cpu = None
    with contextlib.suppress(ValueError, ZeroDivisionError):
        if given.get("memory") is not None:
            memory = int(parse_quantity(given["memory"]))
    with contextlib.suppress(ValueError, ZeroDivisionError):
        if given.get("cpu") is not None:
            cpu = float(parse_quantity(given["cpu"]))
    return memory, cpu


def container_specs(pod: Obj) -> list[tuple[Obj, bool]]:
    """(container spec, is init) for every container, init containers first."""
    spec = pod.get("spec") or {}
    return [(c, True) for c in spec.get("initContainers") or []] + [(c, False) for c in spec.get("containers") or []]


def is_sidecar(spec: Obj, init: bool) -> bool:
    """A native sidecar (Kubernetes 1.29+): an init container with restartPolicy Always."""
    return init and spec.get("restartPolicy") == "Always"


def has_probes(spec: Obj) -> bool:
    return any(spec.get(p) for p in ("startupProbe", "livenessProbe", "readinessProbe"))


def read_json(path: Path) -> dict[str, Any]:
    return read_json_object(path) or {}
