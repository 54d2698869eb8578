"""Stepping a pod's containers: collect exits, decide restarts, and move each container towards running.

One call per reconcile. `harvest` notices runs that ended (on their own, by a probe's kill, by a memory
limit) and decides with `restarts` whether and when they run again. `run` walks the init containers in
order, one at a time, then the app containers, and for each does the next thing it needs: announce or wait
out a back-off, pull its image, build its launch and start it, or keep its probes going. Native sidecars
(init containers with restartPolicy Always) count as done once started and keep running beside the app
containers; once those are done for good, the sidecars are stopped. Whatever waits
runs as a task that re-enqueues the pod; a deadline goes into `wake` so the reconcile requeues itself.
`container_view` turns the observed state into what `podstatus` renders.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable

from kubeserve.client import EventRecorder, Key, Obj
from kubeserve.node.kubelet import allocation, restarts
from kubeserve.node.kubelet.launch import ConfigError, build_launch, check_container_name
from kubeserve.node.kubelet.podstate import (
    ContainerState,
    PodState,
    ProcessManager,
    Spawn,
    container_specs,
    grace_seconds,
    has_probes,
    is_sidecar,
    limits,
    to_exit,
)
from kubeserve.node.kubelet.podstatus import ContainerView, Exit
from kubeserve.node.kubelet.prober import probe_container
from kubeserve.node.kubelet.process import ExitStatus, ProcessError, RunningContainer
from kubeserve.node.kubelet.pulls import ImagePuller, waiting_reason
from kubeserve.node.kubelet.sandbox import Lookups


class ContainerRunner:
    def __init__(self, processes: ProcessManager, recorder: EventRecorder, puller: ImagePuller, lookups: Lookups,
                 backoff: restarts.BackOffPolicy, spawn: Spawn, enqueue: Callable[[Key], None]) -> None:
        self.processes = processes
        self.recorder = recorder
        self.puller = puller
        self.lookups = lookups
        self.backoff = backoff
        self.spawn = spawn
        self.enqueue = enqueue

    # -- exits ------------------------------------------------------------------------------------------

    def harvest(self, pod: Obj, ps: PodState, now: float) -> list[tuple[ContainerState, Exit]]:
        """Collect the exits of containers that ended since the last look; returns them."""
        ended_now: list[tuple[ContainerState, Exit]] = []
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
            self.on_exit(pod, ps, cs, to_exit(ended, cs.run), now, ran_for=now - cs.started_mono)
            assert cs.exit is not None
            ended_now.append((cs, cs.exit))
        return ended_now

    def on_exit(self, pod: Obj, ps: PodState, cs: ContainerState, ended: Exit, now: float,
                ran_for: float = 0.0) -> None:
        cs.exit = ended
        policy = (pod.get("spec") or {}).get("restartPolicy") or "Always"
        # A pod that failed as a whole (evicted) runs nothing again, whatever its restartPolicy; nor do the
        # sidecars of a pod whose main containers are done.
        cs.restart = ps.failure is None and not (cs.sidecar and ps.completed) and restarts.should_restart(
            policy, ended.exit_code, init=cs.init, sidecar=cs.sidecar)
        if cs.restart:
            cs.backoff = restarts.crash_backoff(cs.backoff, now, ran_for, self.backoff)

    async def stop_all(self, pod: Obj, ps: PodState, grace: float) -> bool:
        """Stop every running container of a pod that failed as a whole (an eviction), with `grace`; True while
        some still run (their stop tasks enqueue the pod when they end)."""
        for pull in ps.pulls.values():
            if pull.task is not None:
                pull.task.cancel()
                pull.task = None
        running = False
        for cs in ps.containers.values():
            if cs.rc is None:
                continue
            running = True
            if cs.probe_task is not None:
                cs.probe_task.cancel()
                cs.probe_task = None
            if cs.stop_task is None:
                await self.recorder.record(ps.ref, "Normal", "Killing", f"Stopping container {cs.name}")
                cs.stop_task = self.spawn(self.processes.stop(cs.rc, grace), ps.key)
        return running

    # -- towards running --------------------------------------------------------------------------------

    async def run(self, pod: Obj, ps: PodState, now: float, wake: list[float]) -> None:
        specs = container_specs(pod)
        for spec, init in specs:
            if spec["name"] not in ps.containers:
                ps.containers[spec["name"]] = ContainerState(name=spec["name"], init=init,
                                                             sidecar=is_sidecar(spec, init))
        if ps.completed:
            await self._stop_sidecars(pod, ps)
            return
        # Once a main container has run, the pod is initialized for good: regular init containers never run
        # again and a sidecar that restarts does not hold the main containers back (as in Kubernetes).
        initialized = any(cs.ran for cs in ps.containers.values() if not cs.init)
        for spec, init in specs:
            cs = ps.containers[spec["name"]]
            if init and not cs.sidecar and (cs.succeeded or initialized):
                continue
            await self._step(pod, ps, spec, cs, now, wake)
            if init and not initialized and not (cs.sidecar and cs.rc is not None and cs.started):
                # Init containers run one at a time, in order, the app containers after all of them; a sidecar
                # counts as done once it runs and its startupProbe (if any) passed, and keeps running.
                return

    async def _stop_sidecars(self, pod: Obj, ps: PodState) -> None:
        """The main containers are done for good: stop the sidecars (Kubernetes stops them in reverse order
        after the main containers; here all at once, each with the pod's grace period) and restart none."""
        for cs in ps.containers.values():
            if not cs.sidecar:
                continue
            cs.restart = False
            if cs.rc is None or cs.stop_task is not None:
                continue
            if cs.probe_task is not None:
                cs.probe_task.cancel()
                cs.probe_task = None
            await self.recorder.record(ps.ref, "Normal", "Killing", f"Stopping container {cs.name}")
            cs.stop_task = self.spawn(self.processes.stop(cs.rc, grace_seconds(pod)), ps.key)

    async def _step(self, pod: Obj, ps: PodState, spec: Obj, cs: ContainerState, now: float,
                    wake: list[float]) -> None:
        """Move one container towards running: restart it, back off, pull its image, or start it."""
        if cs.rc is not None:
            if cs.kill_message and cs.stop_task is None:
                await self.recorder.record(ps.ref, "Normal", "Killing", cs.kill_message)
                cs.stop_task = self.spawn(self.processes.stop(cs.rc, grace_seconds(pod)), ps.key)
            elif cs.probe_task is None and has_probes(spec) and not cs.kill_message:
                cs.probe_task = self._probe(ps, spec, cs, cs.rc)
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
        try:
            check_container_name(pod, spec)
        except ConfigError as exc:
            await self._config_error(ps, cs, exc.message, now, wake)
            return
        image = await self.puller.image(ps, spec, now, wake)
        if image is None:
            return
        assert ps.sandbox is not None
        devices = (ps.devices or {}).get(cs.name, {})
        try:
            launch = build_launch(pod, spec, image, ps.sandbox, self.lookups, allocation.device_env(devices))
        except ConfigError as exc:
            await self._config_error(ps, cs, exc.message, now, wake)
            return
        cs.config_error = None
        run = cs.run + 1 if cs.ran else cs.run
        memory, cpu = limits(spec)
        try:
            # start() waits (blocking) for the shim to record the pid: keep other pods' reconciles running.
            rc = await asyncio.to_thread(self.processes.start, ps.uid, cs.name, run, launch, memory, cpu)
        except (ProcessError, OSError) as exc:
            retry = now + self.backoff.base
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
        if has_probes(spec):
            cs.probe_task = self._probe(ps, spec, cs, rc)

    async def _config_error(self, ps: PodState, cs: ContainerState, message: str, now: float,
                            wake: list[float]) -> None:
        """The container cannot be created as specified (CreateContainerConfigError): try again after a while."""
        retry = now + self.backoff.base
        cs.config_error = (message, retry)
        wake.append(retry)
        await self.recorder.record(ps.ref, "Warning", "Failed", f"Error: {message}")

    def _probe(self, ps: PodState, spec: Obj, cs: ContainerState, rc: RunningContainer) -> asyncio.Task[None]:
        return self.spawn(probe_container(ps, spec, cs, rc, self.processes, self.recorder, self.enqueue), None)


def container_view(ps: PodState, spec: Obj, now: float) -> ContainerView:
    """What `podstatus` needs to know of one container: running since, waiting why, how it ended."""
    cs = ps.containers.get(spec["name"]) or ContainerState(name=spec["name"], init=False)
    image = str(spec.get("image") or "")
    view = ContainerView(name=cs.name, image=image, restart_count=cs.run, exit=cs.exit, last=cs.last,
                         started=cs.started, ready=cs.ready and cs.rc is not None)
    if cs.rc is not None:
        return dataclasses.replace(view, running_since=cs.rc.started_at)
    if cs.restart and cs.backoff is not None and now < cs.backoff.retry_at:
        message = restarts.crash_loop_message(cs.backoff.delay, cs.name, ps.name, ps.namespace, ps.uid)
        return dataclasses.replace(view, waiting=("CrashLoopBackOff", message))
    if cs.config_error is not None:
        return dataclasses.replace(view, waiting=("CreateContainerConfigError", cs.config_error[0]))
    pulling = waiting_reason(ps.pulls.get(image), image, now) if image not in ps.images else None
    if pulling is not None:
        return dataclasses.replace(view, waiting=pulling)
    if cs.exit is not None and cs.restart:
        return dataclasses.replace(view, waiting=("ContainerCreating" if not cs.init else "PodInitializing", ""))
    return view


def oom_event(pod: Obj, name: str, exit_code: int = 137) -> tuple[str, str]:
    """The Warning Event for a container killed for its memory use: (reason, message).

    Why an Event of our own: `kubectl describe pod` shows OOMKilled only in the latest run's lastState and never
    says which limit was hit, and the node-level OOM events (SystemOOM, node-problem-detector's OOMKilling) go to
    the Node, which `describe pod` does not show. Reason `OOMKilled` is the word the status already uses, so
    users find it by the name they know; the message names the limit and the fix, and repeated kills fold into
    one Event with a count.
    """
    spec = next((c for c, _ in container_specs(pod) if c.get("name") == name), {})
    limit = ((spec.get("resources") or {}).get("limits") or {}).get("memory")
    if limit is None:
        return "OOMKilled", (f"Container {name} was killed because the machine ran out of memory "
                             f"(exit code {exit_code})")
    return "OOMKilled", (f"Container {name} was killed for using more memory than its limit of {limit} (exit code "
                         f"{exit_code}); raise resources.limits.memory or make it use less memory")
