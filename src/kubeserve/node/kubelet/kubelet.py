"""The pod worker: runs the pods bound to this node as local process trees and writes their status.

Level-triggered like every controller here: a reconcile per pod key re-reads the pod from the informer,
compares it with what this process has observed (`podstate.PodState`), lets `containers.ContainerRunner`
start what should run, and writes `status` once, only when it changed. Everything that waits runs as a task
that enqueues the pod when it is done: image pulls (`pulls`), graceful stops, probes (`prober`). A ~1 s tick
notices container exits and memory-limit kills, since those are files and signals, not API events.

The primitives (images, sandbox, launch, process, probes; docs/design/kubelet-interfaces.md) know nothing
of the API; the decisions are pure (allocation, restarts, podstatus). A kubelet that starts again adopts
the containers that kept running (`adoption`; the shim outlives us) and kills those whose pod is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubeserve.api import errors
from kubeserve.atomicfile import write_atomic
from kubeserve.client import ApiClient, Controller, EventRecorder, Informer, Key, Obj, Result, object_key
from kubeserve.client.background import cancel_and_wait
from kubeserve.client.controller import now_rfc3339
from kubeserve.node.kubelet import allocation, emptydirs, podstatus, restarts, volumesync
from kubeserve.node.kubelet.adoption import DEVICES_FILE, reap_orphans, restore
from kubeserve.node.kubelet.containers import ContainerRunner, container_view, oom_event
from kubeserve.node.kubelet.podstate import (
    TERMINAL,
    ContainerState,
    ImageCatalog,
    PodState,
    ProcessManager,
    StopDeadline,
    grace_seconds,
)
from kubeserve.node.kubelet.podstatus import Observation
from kubeserve.node.kubelet.pulls import ImagePuller
from kubeserve.node.kubelet.sandbox import Lookups, SandboxError, prepare_sandbox, remove_sandbox, write_hosts

__all__ = ["ImageCatalog", "Kubelet", "KubeletSettings", "ProcessManager"]

log = logging.getLogger(__name__)


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
    volume_check_period: float = 5.0  # how often emptyDir volumes with a sizeLimit are measured
    # A deleted pod keeps serving this long (within its grace period) before SIGTERM, so the Service proxy
    # has taken it out of rotation first and no new connection reaches a process that is shutting down.
    termination_drain: float = 1.0

    @property
    def backoff(self) -> restarts.BackOffPolicy:
        return restarts.BackOffPolicy(self.backoff_base, self.backoff_cap, self.backoff_reset)


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
        puller = ImagePuller(images, recorder, settings.backoff, settings.pull_progress_interval, self._spawn)
        self._containers = ContainerRunner(processes, recorder, puller, self._lookups, settings.backoff,
                                           self._spawn, self._controller.enqueue)
        self._tick_task: asyncio.Task[None] | None = None
        self._hosts_pending = False
        self._refresh_pending: dict[Key, set[str]] = {}  # pod -> volumes to materialize again
        self._next_volume_check = 0.0

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
        self._secrets.add_handler(lambda old, new: self._volume_source_changed("Secret", old or new))
        self._config_maps.add_handler(lambda old, new: self._volume_source_changed("ConfigMap", old or new))
        self._controller.start()
        self._tick_task = asyncio.get_running_loop().create_task(self._tick(), name="kubelet tick")

    async def stop(self, kill: bool = True) -> None:
        """Stop the loops. `kill`: also stop every container (SIGTERM, a short grace, then SIGKILL), so no
        process outlives `kubeserve down`; without it containers keep running for the next kubelet to adopt."""
        await cancel_and_wait(self._tick_task)
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
            grace = min(grace_seconds(pod), cap)
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
        for pod in self._pods.list():
            ps = self._restore(pod)
            self._state[ps.key] = ps
        reap_orphans(self.settings.pods_dir, (ps.uid for ps in self._state.values()), self.processes)

    def _restore(self, pod: Obj) -> PodState:
        now = asyncio.get_running_loop().time()
        return restore(pod, self.processes, self.settings.pods_dir, self._containers.on_exit, now)

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

    def _volume_source_changed(self, kind: str, obj: Obj | None) -> None:
        """A Secret or ConfigMap changed: after this burst of changes, rewrite the volumes drawing on it."""
        meta = (obj or {}).get("metadata") or {}
        namespace, name = meta.get("namespace", ""), meta.get("name", "")
        for ps in self._state.values():
            pod = self._pods.get(ps.namespace, ps.name)
            if ps.sandbox is None or ps.done or ps.terminating is not None or pod is None:
                continue
            names = volumesync.volumes_referencing(pod, kind, namespace, name)
            if names:
                if not self._refresh_pending:
                    asyncio.get_running_loop().call_later(0.05, self._refresh_volumes)
                self._refresh_pending.setdefault(ps.key, set()).update(names)

    def _refresh_volumes(self) -> None:
        pending, self._refresh_pending = self._refresh_pending, {}
        for key, names in pending.items():
            ps, pod = self._state.get(key), self._pods.get(*key)
            if ps is None or ps.sandbox is None or ps.done or pod is None:
                continue
            for _volume, message in volumesync.refresh(pod, ps.sandbox, self._lookups, names):
                self._spawn(self.recorder.record(ps.ref, "Warning", "FailedMount", message))

    async def _tick(self) -> None:
        """Exits, memory-limit kills and emptyDir usage are not API events: look for them every sync period."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.settings.sync_period)
            try:
                for rc in self.processes.enforce_limits():
                    log.info("container %s of pod %s exceeded its memory limit and was killed", rc.name, rc.pod_uid)
                for ps in list(self._state.values()):
                    if any(cs.rc is not None and self.processes.exit_status(cs.rc) is not None
                           for cs in ps.containers.values()):
                        self._controller.enqueue(ps.key)
                if loop.time() >= self._next_volume_check:
                    self._next_volume_check = loop.time() + self.settings.volume_check_period
                    await self._check_empty_dirs()
            except Exception:  # one bad read must not stop exit detection for every pod
                log.exception("kubelet sync tick failed")

    async def _check_empty_dirs(self) -> None:
        """Evict the pods whose emptyDir volumes hold more than their sizeLimit (only pods that set one)."""
        checks: list[tuple[PodState, list[emptydirs.SizeLimit]]] = []
        for ps in self._state.values():
            pod = self._pods.get(ps.namespace, ps.name)
            if ps.sandbox is None or ps.done or ps.failure is not None or ps.terminating is not None or pod is None:
                continue
            limits = emptydirs.size_limits(pod)
            if limits:
                checks.append((ps, limits))
        if not checks:
            return
        usages = await asyncio.to_thread(
            lambda: [emptydirs.measure(ps.sandbox.volumes if ps.sandbox else {}, limits) for ps, limits in checks])
        for (ps, limits), usage in zip(checks, usages, strict=True):
            exceeded = emptydirs.over_limit(limits, usage)
            if exceeded is not None and ps.failure is None and not ps.done and ps.key in self._state:
                await self._evict(ps, emptydirs.eviction_message(exceeded))

    async def _evict(self, ps: PodState, message: str) -> None:
        """Fail the pod as the eviction manager does: its containers are killed at once (grace 0, as for
        local-storage evictions), then status reads phase Failed, reason Evicted."""
        log.info("evicting pod %s/%s: %s", ps.namespace, ps.name, message)
        ps.failure = ("Evicted", message)
        await self.recorder.record(ps.ref, "Warning", "Evicted", message)
        self._controller.enqueue(ps.key)

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
        for cs, ended in self._containers.harvest(pod, ps, now):
            if ended.reason == "OOMKilled":
                reason, message = oom_event(pod, cs.name, ended.exit_code)
                await self.recorder.record(ps.ref, "Warning", reason, message)
        if ps.failure is not None and await self._containers.stop_all(pod, ps, 0.0):
            return None  # evicted: the status is written once every container has stopped
        if ps.failure is None and ps.sandbox is not None:
            await self._containers.run(pod, ps, now, wake)
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
            ps.start_time = now_rfc3339()
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

    async def _write_status(self, pod: Obj, ps: PodState, now: float) -> Obj:
        spec = pod.get("spec") or {}
        obs = Observation(
            uid=ps.uid, host_ip=self.settings.host_ip, pod_ip=ps.ip, start_time=ps.start_time,
            sandbox_ready=ps.sandbox is not None,
            init=[container_view(ps, c, now) for c in spec.get("initContainers") or []],
            containers=[container_view(ps, c, now) for c in spec.get("containers") or []],
            failure=ps.failure)
        status = podstatus.pod_status(pod, obs, now_rfc3339())
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
        """Graceful deletion: SIGTERM, the grace period, SIGKILL; then the final DELETE removes the pod. A second,
        shorter delete (the API server shortens deletionGracePeriodSeconds) moves the deadline earlier."""
        meta = pod.get("metadata") or {}
        uid = str(meta.get("uid", ""))
        if ps is None:
            ps = self._restore(pod)
            self._state[ps.key] = ps
        now = asyncio.get_running_loop().time()
        if ps.terminating is None:
            for pull in ps.pulls.values():
                if pull.task is not None:
                    pull.task.cancel()
            for cs in ps.containers.values():
                if cs.probe_task is not None:
                    cs.probe_task.cancel()
            ps.stop_deadline = StopDeadline.start(now, grace_seconds(pod), self.settings.termination_drain)
            ps.terminating = self._spawn(self._stop_pod(ps, ps.stop_deadline), ps.key)
            return None
        if not ps.terminating.done():
            if ps.stop_deadline is not None and ps.stop_deadline.shorten(now, grace_seconds(pod),
                                                                         self.settings.termination_drain):
                log.info("pod %s/%s: deleted again with a grace period of %gs", ps.namespace, ps.name,
                         grace_seconds(pod))
            return None
        # The pod's processes and sandbox are reclaimed before the final DELETE, as the kubelet does: once the
        # API says the pod is gone, nothing of it is left on the node.
        await self._forget(ps)
        # NotFound: already gone; Conflict: a new pod of the same name, not ours to delete.
        with contextlib.suppress(errors.NotFound, errors.Conflict):
            await self.client.delete(self._pod_kind, ps.namespace, ps.name, grace_period_seconds=0,
                                     preconditions_uid=uid)
        return None

    async def _stop_pod(self, ps: PodState, deadline: StopDeadline) -> None:
        loop = asyncio.get_running_loop()
        if any(cs.rc is not None for cs in ps.containers.values()):
            while (left := deadline.drain_until - loop.time()) > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(deadline.moved.wait(), left)
        await asyncio.gather(*(self._stop_container(ps, cs, deadline) for cs in ps.containers.values()))

    async def _stop_container(self, ps: PodState, cs: ContainerState, deadline: StopDeadline) -> None:
        """SIGTERM, then SIGKILL at `deadline`; when the deadline moves earlier, a second stop (ProcessManager.stop
        is idempotent) with the time left makes the SIGKILL come by the new deadline."""
        rc = cs.rc
        if rc is None:
            return
        await self.recorder.record(ps.ref, "Normal", "Killing", f"Stopping container {cs.name}")
        loop = asyncio.get_running_loop()
        # A probe's restart may already be stopping it: its end counts too.
        stops: list[asyncio.Future[Any]] = [cs.stop_task] if cs.stop_task is not None else []
        ours: list[asyncio.Future[Any]] = []
        asked = float("inf")
        moved: asyncio.Future[Any] | None = None
        try:
            while not any(stop.done() for stop in stops):
                if deadline.at < asked:
                    asked = deadline.at
                    ours.append(asyncio.ensure_future(self.processes.stop(rc, max(0.0, asked - loop.time()))))
                    stops.append(ours[-1])
                moved = asyncio.ensure_future(deadline.moved.wait())
                await asyncio.wait([*stops, moved], return_when=asyncio.FIRST_COMPLETED)
                moved.cancel()
        finally:
            for future in [*ours, *([moved] if moved is not None else [])]:
                future.cancel()
            await asyncio.gather(*ours, return_exceptions=True)

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
