"""The pod worker: runs the pods bound to this node as local process trees and writes their status.

Level-triggered like every controller here: a reconcile per pod key re-reads the pod from the informer,
compares it with what this process has observed (`PodState`: containers, pulls, back-offs), starts what
should run, and writes `status` once, only when it changed. Everything that waits runs as a task that
enqueues the pod when it is done: image pulls, graceful stops, probes. A ~1 s tick notices container exits
and memory-limit kills, since those are files and signals, not API events.

The primitives (images, sandbox, launch, process, probes; docs/design/kubelet-interfaces.md) know nothing
of the API; the decisions are pure (allocation, restarts, podstatus). A kubelet that starts again adopts
the containers that kept running (the shim outlives us) and kills those whose pod is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from kubeserve.api import errors
from kubeserve.atomicfile import write_atomic
from kubeserve.client import ApiClient, Controller, EventRecorder, Informer, Key, Obj, Result, object_key
from kubeserve.node.fit import parse_quantity
from kubeserve.node.kubelet import allocation, podstatus, restarts
from kubeserve.node.kubelet.images import ImagePullError, PulledImage
from kubeserve.node.kubelet.launch import ConfigError, Launch, build_launch
from kubeserve.node.kubelet.podstatus import ContainerView, Exit, Observation
from kubeserve.node.kubelet.probes import run_probe
from kubeserve.node.kubelet.process import ExitStatus, ProcessError, RunningContainer
from kubeserve.node.kubelet.sandbox import Lookups, Sandbox, SandboxError, prepare_sandbox, remove_sandbox, write_hosts

log = logging.getLogger(__name__)

TERMINAL = ("Succeeded", "Failed")
DEVICES_FILE = "devices.json"


@dataclass(frozen=True)
class KubeletSettings:
    node_name: str
    pods_dir: Path
    pod_cidr_prefix: str = "127.10"
    inventory: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # resource -> device ids
    isolation: str = "path-rewrite"  # already resolved: "mount-namespace" | "path-rewrite"
    sync_period: float = 1.0  # how often running containers are checked for exits and memory limits
    host_ip: str = "127.0.0.1"
    backoff_base: float = 10.0  # CrashLoopBackOff / ImagePullBackOff: base, doubling to the cap
    backoff_cap: float = 300.0
    backoff_reset: float = 600.0  # a run this long resets the crash back-off
    shutdown_grace: float = 10.0  # `kubeserve down` stops every container within this many seconds
    pull_progress_interval: float = 10.0  # at most one progress Event per image this often
    workers: int = 4
    resync: float = 30.0

    @property
    def backoff(self) -> restarts.BackOffPolicy:
        return restarts.BackOffPolicy(self.backoff_base, self.backoff_cap, self.backoff_reset)


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
    async def run_in(self, rc: RunningContainer, argv: list[str], timeout: float) -> tuple[int, bytes]: ...


class ImageCatalog(Protocol):
    def is_present(self, image: str) -> bool: ...
    async def pull(self, image: str, progress: Callable[[str], Awaitable[None]]) -> PulledImage: ...


# -- what the pod worker has observed of each pod -----------------------------------------------------------

@dataclass
class ContainerState:
    name: str
    init: bool
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
class PodState:
    uid: str
    namespace: str
    name: str
    ip: str | None = None
    devices: allocation.Devices | None = None
    sandbox: Sandbox | None = None
    sandbox_backoff: restarts.BackOff | None = None
    start_time: str | None = None
    failure: tuple[str, str] | None = None
    containers: dict[str, ContainerState] = field(default_factory=dict)
    images: dict[str, PulledImage] = field(default_factory=dict)
    pulls: dict[str, PullState] = field(default_factory=dict)
    terminating: asyncio.Task[None] | None = None
    done: bool = False  # phase is Succeeded/Failed: nothing runs any more

    @property
    def key(self) -> Key:
        return self.namespace, self.name

    @property
    def ref(self) -> Obj:
        return {"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": self.name, "namespace": self.namespace, "uid": self.uid}}

    def tasks(self) -> list[asyncio.Task[Any]]:
        out: list[asyncio.Task[Any]] = [p.task for p in self.pulls.values() if p.task is not None]
        for cs in self.containers.values():
            out += [t for t in (cs.probe_task, cs.stop_task) if t is not None]
        return out


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _epoch(stamp: str) -> float:
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return time.time()


def _exit(status: ExitStatus, run: int) -> Exit:
    return Exit(exit_code=status.exit_code, reason=status.reason, started_at=status.started_at,
                finished_at=status.finished_at, signal=status.signal, run=run)


def _grace(pod: Obj) -> float:
    meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
    grace = meta.get("deletionGracePeriodSeconds")
    if grace is None:
        grace = spec.get("terminationGracePeriodSeconds")
    return float(30 if grace is None else max(int(grace), 0))


def _limits(container: Obj) -> tuple[int | None, float | None]:
    limits = (container.get("resources") or {}).get("limits") or {}
    memory = cpu = None
    with contextlib.suppress(ValueError, ZeroDivisionError):
        if limits.get("memory") is not None:
            memory = int(parse_quantity(limits["memory"]))
    with contextlib.suppress(ValueError, ZeroDivisionError):
        if limits.get("cpu") is not None:
            cpu = float(parse_quantity(limits["cpu"]))
    return memory, cpu


def _specs(pod: Obj) -> list[tuple[Obj, bool]]:
    spec = pod.get("spec") or {}
    return [(c, True) for c in spec.get("initContainers") or []] + [(c, False) for c in spec.get("containers") or []]


class Kubelet:
    def __init__(self, client: ApiClient, settings: KubeletSettings, processes: ProcessManager,
                 images: ImageCatalog, recorder: EventRecorder) -> None:
        self.client = client
        self.settings = settings
        self.processes = processes
        self.images = images
        self.recorder = recorder
        self._pod_kind = client.kind("v1", "Pod")
        self._pods = Informer(client, self._pod_kind, field_selector=f"spec.nodeName={settings.node_name}")
        self._secrets = Informer(client, client.kind("v1", "Secret"))
        self._config_maps = Informer(client, client.kind("v1", "ConfigMap"))
        self._services = Informer(client, client.kind("v1", "Service"))
        self._pvcs = Informer(client, client.kind("v1", "PersistentVolumeClaim"))
        self._pvs = Informer(client, client.kind("v1", "PersistentVolume"))
        self._informers = [self._pods, self._secrets, self._config_maps, self._services, self._pvcs, self._pvs]
        self._controller = Controller("kubelet", self._reconcile, workers=settings.workers, resync=settings.resync)
        self._state: dict[Key, PodState] = {}
        self._lookups = Lookups(secret=self._secrets.get, config_map=self._config_maps.get,
                                pvc_path=self._pvc_path, services=self._services.list)
        self._tick_task: asyncio.Task[None] | None = None
        self._hosts_pending = False

    # -- life cycle -------------------------------------------------------------------------------------

    async def start(self) -> None:
        for informer in self._informers:
            informer.start()
        await asyncio.gather(*(informer.wait_synced() for informer in self._informers))
        self._adopt()
        self._controller.watch_primary(self._pods)
        for informer in (self._secrets, self._config_maps):
            self._controller.watch(informer, self._pods_in_namespace)
        for informer in (self._pvcs, self._pvs):
            self._controller.watch(informer, lambda _obj: [object_key(p) for p in self._pods.list()])
        self._services.add_handler(lambda _old, _new: self._schedule_hosts())
        self._controller.start()
        self._tick_task = asyncio.get_running_loop().create_task(self._tick(), name="kubelet tick")

    async def stop(self, kill: bool = True) -> None:
        """Stop the loops. `kill`: also stop every container (SIGTERM, a short grace, then SIGKILL), so no
        process outlives `kubeserve down`; without it containers keep running for the next kubelet to adopt."""
        if self._tick_task is not None:
            self._tick_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._tick_task
            self._tick_task = None
        await self._controller.stop()
        for informer in self._informers:
            await informer.stop()
        tasks = [t for ps in self._state.values() for t in ps.tasks()]
        tasks += [ps.terminating for ps in self._state.values() if ps.terminating is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if kill:
            await self._stop_everything()
        self._state.clear()

    async def _stop_everything(self) -> None:
        cap = self.settings.shutdown_grace
        stops = []
        for ps in self._state.values():
            pod = self._pods.get(ps.namespace, ps.name) or {}
            grace = min(_grace(pod), cap)
            stops += [self.processes.stop(cs.rc, grace) for cs in ps.containers.values() if cs.rc is not None]
        if stops:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(*stops, return_exceptions=True), cap + 1)
        uids = {ps.uid for ps in self._state.values()} | {rc.pod_uid for rc in self.processes.running()}
        for uid in uids:
            self.processes.kill_all(uid)

    def pod_usage(self, namespace: str, name: str) -> dict[str, tuple[int, int]]:
        """(cpu nanocores, memory bytes) of each running container, for the kubelet server's stats."""
        ps = self._state.get((namespace, name))
        if ps is None:
            return {}
        out = {}
        for cs in ps.containers.values():
            if cs.rc is not None:
                with contextlib.suppress(OSError, ValueError):
                    out[cs.name] = self.processes.usage(cs.rc)
        return out

    # -- adoption ---------------------------------------------------------------------------------------

    def _adopt(self) -> None:
        """Before any reconcile: take over containers of our pods that kept running, and kill process trees
        left under pods_dir by pods that are gone (never orphaned, never doubled)."""
        live: set[str] = set()
        for pod in self._pods.list():
            ps = self._restore(pod)
            self._state[ps.key] = ps
            live.add(ps.uid)
        root = self.settings.pods_dir
        if not root.is_dir():
            return
        for pod_dir in root.iterdir():
            if not pod_dir.is_dir() or pod_dir.name in live:
                continue
            containers = pod_dir / "containers"
            if containers.is_dir():
                for container in containers.iterdir():
                    with contextlib.suppress(OSError, ValueError):
                        self.processes.adopt(pod_dir.name, container.name)
            log.info("killing containers of pod %s, which no longer exists", pod_dir.name)
            self.processes.kill_all(pod_dir.name)
            remove_sandbox(pod_dir, pod_dir.name)

    def _restore(self, pod: Obj) -> PodState:
        meta, status = pod.get("metadata") or {}, pod.get("status") or {}
        uid = str(meta.get("uid", ""))
        ps = PodState(uid=uid, namespace=meta.get("namespace", ""), name=meta.get("name", ""))
        pod_dir = self.settings.pods_dir / uid
        ps.ip = status.get("podIP") or _read_json(pod_dir / "sandbox.json").get("ip")
        saved = _read_json(pod_dir / DEVICES_FILE)
        ps.devices = {c: {r: tuple(ids) for r, ids in per.items()} for c, per in saved.items()} if saved else None
        ps.start_time = status.get("startTime")
        ps.done = status.get("phase") in TERMINAL
        reported = {s.get("name"): s for s in [*(status.get("initContainerStatuses") or []),
                                               *(status.get("containerStatuses") or [])]}
        now = asyncio.get_running_loop().time()
        for spec, init in _specs(pod):
            cs = ContainerState(name=spec["name"], init=init)
            ps.containers[cs.name] = cs
            seen = reported.get(cs.name) or {}
            cs.run = int(seen.get("restartCount") or 0)
            cs.last = _exit_from_status((seen.get("lastState") or {}).get("terminated"))
            rc = self.processes.adopt(uid, cs.name)
            if rc is not None:
                cs.rc, cs.run, cs.ran = rc, rc.restart_count, True
                cs.started_mono = now - max(time.time() - _epoch(rc.started_at), 0.0)
                cs.started = bool(seen.get("started", not spec.get("startupProbe")))
                cs.ready = bool(seen.get("ready", not spec.get("readinessProbe")))
                continue
            ended = self.processes.last_exit(uid, cs.name)
            if ended is not None and not ps.done:
                cs.ran = True
                self._on_exit(pod, ps, cs, _exit(ended, cs.run), now)
            elif ended is not None:
                cs.ran, cs.exit = True, _exit(ended, cs.run)
        return ps

    # -- watches ----------------------------------------------------------------------------------------

    def _pods_in_namespace(self, obj: Obj) -> list[Key]:
        namespace = (obj.get("metadata") or {}).get("namespace", "")
        return [object_key(p) for p in self._pods.list(namespace)]

    def _pvc_path(self, namespace: str, claim: str) -> Path | None:
        pvc = self._pvcs.get(namespace, claim)
        if pvc is None or (pvc.get("status") or {}).get("phase") != "Bound":
            return None
        volume = (pvc.get("spec") or {}).get("volumeName")
        pv = self._pvs.get("", volume) if volume else None
        if pv is None:
            return None
        spec = pv.get("spec") or {}
        path = (spec.get("hostPath") or {}).get("path") or (spec.get("local") or {}).get("path")
        return Path(path) if path else None

    def _schedule_hosts(self) -> None:
        """Services changed: rewrite every pod's hosts file once, after this burst of changes."""
        if not self._hosts_pending:
            self._hosts_pending = True
            asyncio.get_running_loop().call_later(0.05, self._refresh_hosts)

    def _refresh_hosts(self) -> None:
        self._hosts_pending = False
        services = self._services.list()
        for ps in self._state.values():
            pod = self._pods.get(ps.namespace, ps.name)
            if ps.sandbox is not None and pod is not None:
                try:
                    write_hosts(ps.sandbox, pod, services)
                except OSError as exc:
                    log.warning("could not rewrite the hosts file of pod %s/%s: %s", ps.namespace, ps.name, exc)

    async def _tick(self) -> None:
        """Exits and memory-limit kills are not API events: look for them every sync period."""
        while True:
            await asyncio.sleep(self.settings.sync_period)
            try:
                for rc in self.processes.enforce_limits():
                    log.info("container %s of pod %s exceeded its memory limit and was killed", rc.name, rc.pod_uid)
                for ps in list(self._state.values()):
                    if any(cs.rc is not None and self.processes.exit_status(cs.rc) is not None
                           for cs in ps.containers.values()):
                        self._controller.enqueue(ps.key)
            except Exception:  # one bad read must not stop exit detection for every pod
                log.exception("kubelet sync tick failed")

    # -- reconcile --------------------------------------------------------------------------------------

    async def _reconcile(self, key: Key) -> Result | None:
        pod = self._pods.get(*key)
        ps = self._state.get(key)
        uid = str(((pod or {}).get("metadata") or {}).get("uid", ""))
        if ps is not None and (pod is None or ps.uid != uid):
            await self._forget(ps)  # gone from the API (or replaced by a namesake): nothing may keep running
            ps = None
        if pod is None:
            return None
        if (pod.get("metadata") or {}).get("deletionTimestamp"):
            return await self._terminate(pod, ps)
        if ps is None:
            ps = self._restore(pod)
            self._state[key] = ps
        if ps.done:
            return None
        now = asyncio.get_running_loop().time()
        wake: list[float] = []
        if ps.failure is None:
            self._admit(pod, ps)
        if ps.failure is None and ps.sandbox is None:
            await self._prepare(pod, ps, now, wake)
        self._harvest(pod, ps, now)
        if ps.failure is None and ps.sandbox is not None:
            await self._run_containers(pod, ps, now, wake)
        status = await self._write_status(pod, ps, now)
        if status.get("phase") in TERMINAL:
            await self._finish(ps)
            return None
        return Result(requeue_after=max(min(wake) - now, 0.05)) if wake else None

    def _admit(self, pod: Obj, ps: PodState) -> None:
        others = [p for k, p in self._state.items() if k != ps.key and not p.done]
        if ps.ip is None:
            taken: set[str] = {p.ip for p in others if p.ip}
            for obj in self._pods.list():
                status = obj.get("status") or {}
                if (obj.get("metadata") or {}).get("uid") != ps.uid and status.get("phase") not in TERMINAL:
                    taken.add(str(status.get("podIP") or ""))
            ps.ip = allocation.allocate_ip(self.settings.pod_cidr_prefix, taken - {""},
                                           (pod.get("status") or {}).get("podIP"))
        if ps.start_time is None:
            ps.start_time = _now()
        if ps.devices is None:
            requests = allocation.device_requests(pod, self.settings.inventory)
            held: set[tuple[str, str]] = set()
            for other in others:
                held |= allocation.held_devices(other.devices or {})
            try:
                ps.devices = allocation.allocate_devices(requests, self.settings.inventory, held)
            except allocation.AllocationError as exc:
                ps.failure = ("UnexpectedAdmissionError", str(exc))
                self._spawn(self.recorder.record(ps.ref, "Warning", "UnexpectedAdmissionError", str(exc)))
                return
            if ps.devices:
                pod_dir = self.settings.pods_dir / ps.uid
                pod_dir.mkdir(parents=True, exist_ok=True)
                write_atomic(pod_dir / DEVICES_FILE, json.dumps(ps.devices).encode(), 0o644)

    async def _prepare(self, pod: Obj, ps: PodState, now: float, wake: list[float]) -> None:
        if ps.sandbox_backoff is not None and now < ps.sandbox_backoff.retry_at:
            wake.append(ps.sandbox_backoff.retry_at)
            return
        assert ps.ip is not None
        try:
            ps.sandbox = prepare_sandbox(pod, self.settings.pods_dir / ps.uid, ps.ip, self._lookups,
                                         self.settings.isolation)
            ps.sandbox_backoff = None
        except SandboxError as exc:
            ps.sandbox_backoff = restarts.pull_backoff(ps.sandbox_backoff, now, self.settings.backoff)
            wake.append(ps.sandbox_backoff.retry_at)
            await self.recorder.record(ps.ref, "Warning", exc.reason or "FailedMount", exc.message)
        except OSError as exc:
            ps.sandbox_backoff = restarts.pull_backoff(ps.sandbox_backoff, now, self.settings.backoff)
            wake.append(ps.sandbox_backoff.retry_at)
            await self.recorder.record(ps.ref, "Warning", "FailedMount", f"preparing the pod directory: {exc}")

    def _harvest(self, pod: Obj, ps: PodState, now: float) -> None:
        """Collect the exits of containers that ended since the last look."""
        for cs in ps.containers.values():
            if cs.rc is None:
                continue
            ended: ExitStatus | None = None
            if cs.stop_task is not None and cs.stop_task.done():
                if not cs.stop_task.cancelled() and cs.stop_task.exception() is None:
                    ended = cs.stop_task.result()
                cs.stop_task = None
            if ended is None:
                ended = self.processes.exit_status(cs.rc)
            if ended is None:
                continue
            if cs.probe_task is not None:
                cs.probe_task.cancel()
                cs.probe_task = None
            cs.rc = None
            cs.started = cs.ready = False
            cs.kill_message = None
            self._on_exit(pod, ps, cs, _exit(ended, cs.run), now, ran_for=now - cs.started_mono)

    def _on_exit(self, pod: Obj, ps: PodState, cs: ContainerState, ended: Exit, now: float,
                 ran_for: float = 0.0) -> None:
        cs.exit = ended
        policy = (pod.get("spec") or {}).get("restartPolicy") or "Always"
        cs.restart = restarts.should_restart(policy, ended.exit_code, init=cs.init)
        if cs.restart:
            cs.backoff = restarts.crash_backoff(cs.backoff, now, ran_for, self.settings.backoff)

    async def _run_containers(self, pod: Obj, ps: PodState, now: float, wake: list[float]) -> None:
        specs = _specs(pod)
        for spec, init in specs:
            if spec["name"] not in ps.containers:
                ps.containers[spec["name"]] = ContainerState(name=spec["name"], init=init)
        for spec, init in specs:
            cs = ps.containers[spec["name"]]
            if init and cs.succeeded:
                continue
            await self._step(pod, ps, spec, cs, now, wake)
            if init:
                return  # init containers run one at a time, in order; the app containers after all of them

    async def _step(self, pod: Obj, ps: PodState, spec: Obj, cs: ContainerState, now: float,
                    wake: list[float]) -> None:
        """Move one container towards running: restart it, back off, pull its image, or start it."""
        if cs.rc is not None:
            if cs.kill_message and cs.stop_task is None:
                await self.recorder.record(ps.ref, "Normal", "Killing", cs.kill_message)
                cs.stop_task = self._spawn(self.processes.stop(cs.rc, _grace(pod)), ps.key)
            elif cs.probe_task is None and _has_probes(spec) and not cs.kill_message:
                cs.probe_task = self._spawn(self._probe(ps, spec, cs, cs.rc), None)
            return
        if cs.exit is not None and not cs.restart:
            return
        if cs.restart and cs.backoff is not None and now < cs.backoff.retry_at:
            wake.append(cs.backoff.retry_at)
            if cs.reported is not cs.backoff:
                cs.reported = cs.backoff
                await self.recorder.record(ps.ref, "Warning", "BackOff",
                                           f"Back-off restarting failed container {cs.name} in pod "
                                           f"{ps.name}_{ps.namespace}({ps.uid})")
            return
        if cs.config_error is not None and now < cs.config_error[1]:
            wake.append(cs.config_error[1])
            return
        image = await self._image(pod, ps, spec, now, wake)
        if image is None:
            return
        assert ps.sandbox is not None
        devices = (ps.devices or {}).get(cs.name, {})
        try:
            launch = build_launch(pod, spec, image, ps.sandbox, self._lookups, allocation.device_env(devices))
        except ConfigError as exc:
            retry = now + self.settings.backoff_base
            cs.config_error = (exc.message, retry)
            wake.append(retry)
            await self.recorder.record(ps.ref, "Warning", "Failed", f"Error: {exc.message}")
            return
        cs.config_error = None
        run = cs.run + 1 if cs.ran else cs.run
        memory, cpu = _limits(spec)
        try:
            # start() waits (blocking) for the shim to record the pid: keep other pods' reconciles running.
            rc = await asyncio.to_thread(self.processes.start, ps.uid, cs.name, run, launch, memory, cpu)
        except (ProcessError, OSError) as exc:
            retry = now + self.settings.backoff_base
            cs.config_error = (f"failed to start container {cs.name}: {exc}", retry)
            wake.append(retry)
            await self.recorder.record(ps.ref, "Warning", "Failed", f"Error: {exc}")
            return
        if cs.exit is not None:
            cs.last = cs.exit
        cs.exit, cs.restart, cs.rc, cs.run, cs.ran = None, False, rc, run, True
        cs.started_mono = now
        cs.started = not spec.get("startupProbe")
        cs.ready = cs.started and not spec.get("readinessProbe")
        await self.recorder.record(ps.ref, "Normal", "Created", f"Created container {cs.name}")
        await self.recorder.record(ps.ref, "Normal", "Started", f"Started container {cs.name}")
        if _has_probes(spec):
            cs.probe_task = self._spawn(self._probe(ps, spec, cs, rc), None)

    # -- images -----------------------------------------------------------------------------------------

    async def _image(self, pod: Obj, ps: PodState, spec: Obj, now: float, wake: list[float]) -> PulledImage | None:
        """The container's image when pulled; else start (or wait for, or back off) its pull."""
        image = str(spec.get("image") or "")
        if image in ps.images:
            return ps.images[image]
        pull = ps.pulls.setdefault(image, PullState())
        if pull.task is not None:
            if not pull.task.done():
                return None
            pull.task = None
            if image in ps.images:
                return ps.images[image]
        if pull.backoff is not None and now < pull.backoff.retry_at:
            shown_until = _err_image_pull_until(pull)
            wake.append(shown_until if now < shown_until < pull.backoff.retry_at else pull.backoff.retry_at)
            return None
        present = self.images.is_present(image)
        if not present and spec.get("imagePullPolicy") == "Never":
            message = f'Container image "{image}" is not present with pull policy of Never'
            pull.error = ("ErrImageNeverPull", message)
            await self.recorder.record(ps.ref, "Warning", "ErrImageNeverPull", message)
            pull.backoff = restarts.pull_backoff(pull.backoff, now, self.settings.backoff)
            pull.failed_at = now
            wake.append(pull.backoff.retry_at)
            return None
        if not present:
            await self.recorder.record(ps.ref, "Normal", "Pulling", f'Pulling image "{image}"')
        pull.task = self._spawn(self._pull(ps, image, present, pull), ps.key)
        return None

    async def _pull(self, ps: PodState, image: str, present: bool, pull: PullState) -> None:
        loop = asyncio.get_running_loop()
        began = loop.time()
        last_report = began

        async def progress(line: str) -> None:
            nonlocal last_report
            if not present and loop.time() - last_report >= self.settings.pull_progress_interval:
                last_report = loop.time()
                await self.recorder.record(ps.ref, "Normal", "Pulling", f'Pulling image "{image}": {line}')

        try:
            pulled = await self.images.pull(image, progress)
        except ImagePullError as exc:
            now = loop.time()
            pull.error = (exc.reason, exc.message)
            pull.failed_at = now
            pull.backoff = restarts.pull_backoff(pull.backoff, now, self.settings.backoff)
            await self.recorder.record(ps.ref, "Warning", "Failed", f'Failed to pull image "{image}": {exc.message}')
            return
        ps.images[image] = pulled
        pull.error, pull.backoff = None, None
        if present:
            await self.recorder.record(ps.ref, "Normal", "Pulled",
                                       f'Container image "{image}" already present on machine')
        else:
            took = restarts.go_duration(round(loop.time() - began, 3))
            await self.recorder.record(ps.ref, "Normal", "Pulled", f'Successfully pulled image "{image}" in {took}')

    # -- probes -----------------------------------------------------------------------------------------

    async def _probe(self, ps: PodState, spec: Obj, cs: ContainerState, rc: RunningContainer) -> None:
        """Startup gates liveness and readiness; each verdict that changes something enqueues the pod."""
        async def exec_in(argv: list[str], timeout: float) -> tuple[int, bytes]:
            return await self.processes.run_in(rc, argv, timeout)

        async def loop(kind: str, probe: Obj) -> None:
            await asyncio.sleep(float(probe.get("initialDelaySeconds") or 0))
            period = max(float(probe.get("periodSeconds") or 10), 1.0)
            success_threshold = max(int(probe.get("successThreshold") or 1), 1)
            failure_threshold = max(int(probe.get("failureThreshold") or 3), 1)
            successes = failures = 0
            while True:
                result = await run_probe(probe, ps.ip or "", spec, exec_in)
                if result.success:
                    successes, failures = successes + 1, 0
                else:
                    successes, failures = 0, failures + 1
                    await self.recorder.record(ps.ref, "Warning", "Unhealthy",
                                               f"{kind} probe failed: {result.message}".rstrip())
                if kind == "Startup" and successes >= 1:
                    cs.started, cs.ready = True, not spec.get("readinessProbe")
                    self._controller.enqueue(ps.key)
                    return
                if kind in ("Startup", "Liveness") and failures >= failure_threshold:
                    cs.kill_message = f"Container {cs.name} failed {kind.lower()} probe, will be restarted"
                    self._controller.enqueue(ps.key)
                    return
                if kind == "Readiness":
                    ready = cs.ready
                    if successes >= success_threshold:
                        ready = True
                    elif failures >= failure_threshold:
                        ready = False
                    if ready != cs.ready:
                        cs.ready = ready
                        self._controller.enqueue(ps.key)
                await asyncio.sleep(period)

        if spec.get("startupProbe") and not cs.started:
            await loop("Startup", spec["startupProbe"])
            if not cs.started:
                return
        await asyncio.gather(*(loop(kind, spec[field_name])
                               for kind, field_name in (("Liveness", "livenessProbe"), ("Readiness", "readinessProbe"))
                               if spec.get(field_name)))

    # -- status -----------------------------------------------------------------------------------------

    def _view(self, ps: PodState, spec: Obj, now: float) -> ContainerView:
        cs = ps.containers.get(spec["name"]) or ContainerState(name=spec["name"], init=False)
        image = str(spec.get("image") or "")
        view = ContainerView(name=cs.name, image=image, restart_count=cs.run, exit=cs.exit, last=cs.last,
                             started=cs.started, ready=cs.ready and cs.rc is not None)
        if cs.rc is not None:
            return _replace(view, running_since=cs.rc.started_at)
        pull = ps.pulls.get(image)
        if cs.restart and cs.backoff is not None and now < cs.backoff.retry_at:
            message = restarts.crash_loop_message(cs.backoff.delay, cs.name, ps.name, ps.namespace, ps.uid)
            return _replace(view, waiting=("CrashLoopBackOff", message))
        if cs.config_error is not None:
            return _replace(view, waiting=("CreateContainerConfigError", cs.config_error[0]))
        if pull is not None and pull.error is not None and image not in ps.images:
            reason, message = pull.error
            if reason == "ErrImagePull" and now >= _err_image_pull_until(pull):
                reason, message = "ImagePullBackOff", f'Back-off pulling image "{image}"'
            return _replace(view, waiting=(reason, message))
        if cs.exit is not None and cs.restart:
            return _replace(view, waiting=("ContainerCreating" if not cs.init else "PodInitializing", ""))
        return view

    async def _write_status(self, pod: Obj, ps: PodState, now: float) -> Obj:
        spec = pod.get("spec") or {}
        obs = Observation(
            uid=ps.uid, host_ip=self.settings.host_ip, pod_ip=ps.ip, start_time=ps.start_time,
            sandbox_ready=ps.sandbox is not None,
            init=[self._view(ps, c, now) for c in spec.get("initContainers") or []],
            containers=[self._view(ps, c, now) for c in spec.get("containers") or []],
            failure=ps.failure)
        status = podstatus.pod_status(pod, obs, _now())
        patch = podstatus.status_patch(pod.get("status") or {}, status)
        if patch is not None:
            with contextlib.suppress(errors.NotFound):  # deleted meanwhile: the informer will tell us
                await self.client.patch(self._pod_kind, ps.namespace, ps.name, {"status": patch},
                                        subresource="status")
        return status

    # -- the end of a pod -------------------------------------------------------------------------------

    async def _finish(self, ps: PodState) -> None:
        """Succeeded or Failed: nothing runs any more; the devices and address go back to the pool."""
        ps.done = True
        for task in ps.tasks():
            task.cancel()
        self.processes.kill_all(ps.uid)

    async def _terminate(self, pod: Obj, ps: PodState | None) -> Result | None:
        """Graceful deletion: SIGTERM, the grace period, SIGKILL; then the final DELETE removes the pod."""
        meta = pod.get("metadata") or {}
        uid = str(meta.get("uid", ""))
        if ps is None:
            ps = self._restore(pod)
            self._state[ps.key] = ps
        if ps.terminating is None:
            for pull in ps.pulls.values():
                if pull.task is not None:
                    pull.task.cancel()
            for cs in ps.containers.values():
                if cs.probe_task is not None:
                    cs.probe_task.cancel()
            ps.terminating = self._spawn(self._stop_pod(pod, ps), ps.key)
            return None
        if not ps.terminating.done():
            return None
        self.processes.kill_all(uid)
        # NotFound: already gone; Conflict: a new pod of the same name, not ours to delete.
        with contextlib.suppress(errors.NotFound, errors.Conflict):
            await self.client.delete(self._pod_kind, ps.namespace, ps.name, grace_period_seconds=0,
                                     preconditions_uid=uid)
        await self._forget(ps)
        return None

    async def _stop_pod(self, pod: Obj, ps: PodState) -> None:
        grace = _grace(pod)

        async def stop(cs: ContainerState) -> None:
            if cs.rc is None:
                return
            await self.recorder.record(ps.ref, "Normal", "Killing", f"Stopping container {cs.name}")
            if cs.stop_task is None:
                cs.stop_task = asyncio.ensure_future(self.processes.stop(cs.rc, grace))
            with contextlib.suppress(Exception):
                await cs.stop_task

        await asyncio.gather(*(stop(cs) for cs in ps.containers.values()))

    async def _forget(self, ps: PodState) -> None:
        self._state.pop(ps.key, None)
        tasks = ps.tasks() + ([ps.terminating] if ps.terminating is not None else [])
        for task in tasks:
            if task is not asyncio.current_task():
                task.cancel()
        self.processes.kill_all(ps.uid)
        await asyncio.to_thread(remove_sandbox, self.settings.pods_dir / ps.uid, ps.uid)

    # -- helpers ----------------------------------------------------------------------------------------

    def _spawn(self, coro: Awaitable[Any], key: Key | None = None) -> asyncio.Task[Any]:
        """Run `coro` as a task; when it ends, reconcile `key` again."""
        task = asyncio.ensure_future(coro)

        def done(t: asyncio.Task[Any]) -> None:
            if not t.cancelled() and t.exception() is not None:
                log.warning("kubelet task failed: %s", t.exception(), exc_info=t.exception())
            if key is not None and not t.cancelled():
                self._controller.enqueue(key)

        task.add_done_callback(done)
        return task


def _err_image_pull_until(pull: PullState) -> float:
    """A failed pull reads ErrImagePull for a moment, then ImagePullBackOff until the retry, as on a real
    kubelet (whose next sync comes a few seconds later)."""
    delay = pull.backoff.delay if pull.backoff is not None else 0.0
    return pull.failed_at + min(2.0, delay / 2)


def _replace(view: ContainerView, **changes: Any) -> ContainerView:
    return dataclasses.replace(view, **changes)


def _has_probes(spec: Obj) -> bool:
    return any(spec.get(p) for p in ("startupProbe", "livenessProbe", "readinessProbe"))


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _exit_from_status(terminated: Obj | None) -> Exit | None:
    if not terminated:
        return None
    run = 0
    with contextlib.suppress(ValueError, IndexError):
        run = int(str(terminated.get("containerID", "")).rsplit("/", 1)[1])
    return Exit(exit_code=int(terminated.get("exitCode") or 0), reason=str(terminated.get("reason") or ""),
                started_at=str(terminated.get("startedAt") or ""), finished_at=str(terminated.get("finishedAt") or ""),
                signal=terminated.get("signal"), run=run)
