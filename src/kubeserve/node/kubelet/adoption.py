"""What a pod worker that starts again takes over: the containers that kept running, and nothing else.

The shim outlives the kubelet (docs/design/embedded-node.md), so a restarted kubeserve finds its pods'
process trees still running. `restore` rebuilds a pod's `PodState` from the API's status and the files under
`pods/<uid>/` (adopting live containers, reading the exits of those that ended meanwhile); `reap_orphans`
kills the trees and removes the directories of pods that no longer exist. Never orphaned, never doubled.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from kubeserve.client import Obj
from kubeserve.node.kubelet.podstate import (
    TERMINAL,
    ContainerState,
    PodState,
    ProcessManager,
    container_specs,
    epoch,
    exit_from_status,
    is_sidecar,
    read_json,
    to_exit,
)
from kubeserve.node.kubelet.podstatus import Exit
from kubeserve.node.kubelet.sandbox import remove_sandbox

log = logging.getLogger(__name__)

DEVICES_FILE = "devices.json"
OnExit = Callable[[Obj, PodState, ContainerState, Exit, float], None]


def restore(pod: Obj, processes: ProcessManager, pods_dir: Path, on_exit: OnExit, now: float) -> PodState:
    """The PodState of a pod this process has not seen yet (first sight, or after a restart of kubeserve)."""
    meta, status = pod.get("metadata") or {}, pod.get("status") or {}
    uid = str(meta.get("uid", ""))
    ps = PodState(uid=uid, namespace=meta.get("namespace", ""), name=meta.get("name", ""))
    pod_dir = pods_dir / uid
    ps.ip = status.get("podIP") or read_json(pod_dir / "sandbox.json").get("ip")
    saved = read_json(pod_dir / DEVICES_FILE)
    ps.devices = {c: {r: tuple(ids) for r, ids in per.items()} for c, per in saved.items()} if saved else None
    ps.start_time = status.get("startTime")
    ps.done = status.get("phase") in TERMINAL
    reported = {s.get("name"): s for s in [*(status.get("initContainerStatuses") or []),
                                           *(status.get("containerStatuses") or [])]}
    for spec, init in container_specs(pod):
        cs = ContainerState(name=spec["name"], init=init, sidecar=is_sidecar(spec, init))
        ps.containers[cs.name] = cs
        seen = reported.get(cs.name) or {}
        cs.run = int(seen.get("restartCount") or 0)
        # A run may have started (and ended) after the last status write: its number is on disk, and reusing it
        # would overwrite its log and exit record. So the highest number either side knows is the current run.
        on_disk = processes.last_run(uid, cs.name)
        if on_disk is not None and on_disk >= cs.run:
            cs.run, cs.ran = on_disk, True
        cs.last = exit_from_status((seen.get("lastState") or {}).get("terminated"))
        rc = processes.adopt(uid, cs.name)
        if rc is not None:
            cs.rc, cs.run, cs.ran = rc, rc.restart_count, True
            cs.started_mono = now - max(time.time() - epoch(rc.started_at), 0.0)
            cs.started = bool(seen.get("started", not spec.get("startupProbe")))
            cs.ready = bool(seen.get("ready", not spec.get("readinessProbe")))
            continue
        ended = processes.last_exit(uid, cs.name)
        if ended is not None and not ps.done:
            cs.ran = True
            on_exit(pod, ps, cs, to_exit(ended, cs.run), now)
        elif ended is not None:
            cs.ran, cs.exit = True, to_exit(ended, cs.run)
    return ps


def reap_orphans(pods_dir: Path, live: Iterable[str], processes: ProcessManager) -> None:
    """Kill the process trees left under pods_dir by pods that are gone, and remove their directories."""
    if not pods_dir.is_dir():
        return
    keep = set(live)
    for pod_dir in pods_dir.iterdir():
        if not pod_dir.is_dir() or pod_dir.name in keep:
            continue
        containers = pod_dir / "containers"
        if containers.is_dir():
            for container in containers.iterdir():
                with contextlib.suppress(OSError, ValueError):
                    processes.adopt(pod_dir.name, container.name)
        log.info("killing containers of pod %s, which no longer exists", pod_dir.name)
        processes.kill_all(pod_dir.name)
        remove_sandbox(pod_dir, pod_dir.name)
