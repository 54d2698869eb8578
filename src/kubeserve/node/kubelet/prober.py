"""The probe loops of one running container: startup gates liveness and readiness, as the kubelet's prober.

Each loop runs `probes.run_probe` every `periodSeconds` after `initialDelaySeconds` (a readiness probe more
often until it first succeeds: `FAST_UNTIL_READY`) and counts successes and failures against the
thresholds. A verdict changes the container's state (`started`, `ready`, or `kill_message` asking the pod
worker for a restart) and enqueues the pod; the loops never stop or start a container themselves, so the
pod's reconcile stays the only place that does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from kubeserve.client import EventRecorder, Key, Obj
from kubeserve.node.kubelet.podstate import ContainerState, PodState, ProcessManager
from kubeserve.node.kubelet.probes import run_probe
from kubeserve.node.kubelet.process import RunningContainer

FAST_UNTIL_READY = 0.25
"""Until its readiness probe first succeeds, a container is probed this often rather than every
periodSeconds: a model server that finishes loading is in its Service within a quarter second, not up to a
whole period (KServe's default probe: 10 s) later. Failures still become Events at most once per period."""


async def probe_container(ps: PodState, spec: Obj, cs: ContainerState, rc: RunningContainer,
                          processes: ProcessManager, recorder: EventRecorder,
                          enqueue: Callable[[Key], None]) -> None:
    """Startup gates liveness and readiness; each verdict that changes something enqueues the pod."""
    async def exec_in(argv: list[str], timeout: float) -> tuple[int, bytes]:
        return await processes.run_in(rc, argv, timeout)

    async def loop(kind: str, probe: Obj) -> None:
        await asyncio.sleep(float(probe.get("initialDelaySeconds") or 0))
        period = max(float(probe.get("periodSeconds") or 10), 1.0)
        success_threshold = max(int(probe.get("successThreshold") or 1), 1)
        failure_threshold = max(int(probe.get("failureThreshold") or 3), 1)
        successes = failures = 0
        ever_ready = False
        clock = asyncio.get_running_loop().time
        last_event = float("-inf")
        while True:
            result = await run_probe(probe, ps.ip or "", spec, exec_in)
            if result.success:
                successes, failures = successes + 1, 0
            else:
                successes, failures = 0, failures + 1
                if clock() - last_event >= period:  # as often as the probe is declared, however often it runs
                    last_event = clock()
                    await recorder.record(ps.ref, "Warning", "Unhealthy",
                                          f"{kind} probe failed: {result.message}".rstrip())
            if kind == "Startup" and successes >= 1:
                cs.started, cs.ready = True, not spec.get("readinessProbe")
                enqueue(ps.key)
                return
            if kind in ("Startup", "Liveness") and failures >= failure_threshold:
                cs.kill_message = f"Container {cs.name} failed {kind.lower()} probe, will be restarted"
                enqueue(ps.key)
                return
            if kind == "Readiness":
                ready = cs.ready
                if successes >= success_threshold:
                    ready = True
                elif failures >= failure_threshold:
                    ready = False
                if ready != cs.ready:
                    cs.ready = ready
                    enqueue(ps.key)
                ever_ready = ever_ready or ready
            fast = kind == "Readiness" and not ever_ready
            await asyncio.sleep(min(period, FAST_UNTIL_READY) if fast else period)

    if spec.get("startupProbe") and not cs.started:
        await loop("Startup", spec["startupProbe"])
        if not cs.started:
            return
    await asyncio.gather(*(loop(kind, spec[field_name])
                           for kind, field_name in (("Liveness", "livenessProbe"), ("Readiness", "readinessProbe"))
                           if spec.get(field_name)))
