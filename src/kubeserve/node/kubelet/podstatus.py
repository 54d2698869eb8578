"""Pod status from what the pod worker observes: phase, conditions, container statuses, QoS class.

Pure and table-tested. The pod worker describes each container as a `ContainerView` (running since when,
waiting why, how its last run ended) and the pod as an `Observation`; `pod_status` turns them into the
`status` object Kubernetes clients read, with the kubelet's own phase rules (`getPhase`) and condition
reasons, so `kubectl get pods` shows Init:0/1, CrashLoopBackOff, Completed and so on as on a real cluster.
A condition's `lastTransitionTime` only moves when its status flips.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kubeserve.api.quantity import parse_quantity

Obj = dict[str, Any]

# The status fields the kubelet writes; everything else in `status` belongs to someone else.
OWNED = ("phase", "conditions", "hostIP", "hostIPs", "podIP", "podIPs", "startTime", "qosClass",
         "initContainerStatuses", "containerStatuses", "reason", "message")
# Conditions the kubelet writes, in the order the kubelet lists them; others (PodScheduled, readiness
# gates) are carried over as they are.
KUBELET_CONDITIONS = ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady")


@dataclass(frozen=True)
class Exit:
    exit_code: int
    reason: str  # Completed | Error | OOMKilled
    started_at: str
    finished_at: str
    signal: int | None = None
    run: int = 0  # which run ended (its restart count)
    message: str = ""  # why it could not start (StartError), as containerd says it


@dataclass(frozen=True)
class ContainerView:
    name: str
    image: str
    restart_count: int = 0
    running_since: str | None = None  # set: running
    waiting: tuple[str, str] | None = None  # (reason, message): waiting, even if it ran before
    exit: Exit | None = None  # how the latest run ended (terminated when neither running nor waiting)
    last: Exit | None = None  # lastState: the run before the current state
    started: bool = False
    ready: bool = False


@dataclass(frozen=True)
class Observation:
    uid: str
    host_ip: str
    pod_ip: str | None = None
    start_time: str | None = None
    sandbox_ready: bool = False
    init: Sequence[ContainerView] = ()
    containers: Sequence[ContainerView] = ()
    failure: tuple[str, str] | None = None  # (reason, message): the pod failed as a whole (admission)
    extra: Mapping[str, Any] = field(default_factory=dict)


def container_id(uid: str, name: str, run: int) -> str:
    return f"kubeserve://{uid}/{name}/{run}"


def _terminated(uid: str, name: str, e: Exit) -> Obj:
    out: Obj = {"exitCode": e.exit_code, "reason": e.reason, "startedAt": e.started_at,
                "finishedAt": e.finished_at, "containerID": container_id(uid, name, e.run)}
    if e.signal:
        out["signal"] = e.signal
    if e.message:
        out["message"] = e.message
    return out


def container_status(uid: str, view: ContainerView, *, default_waiting: str = "ContainerCreating") -> Obj:
    state: Obj
    last: Obj = {}
    if view.running_since is not None:
        state = {"running": {"startedAt": view.running_since}}
        if view.last is not None:
            last = {"terminated": _terminated(uid, view.name, view.last)}
    elif view.waiting is not None:
        reason, message = view.waiting
        state = {"waiting": {"reason": reason, **({"message": message} if message else {})}}
        previous = view.exit or view.last
        if previous is not None:
            last = {"terminated": _terminated(uid, view.name, previous)}
    elif view.exit is not None:
        state = {"terminated": _terminated(uid, view.name, view.exit)}
        if view.last is not None:
            last = {"terminated": _terminated(uid, view.name, view.last)}
    else:
        state = {"waiting": {"reason": default_waiting}}
    out: Obj = {
        "name": view.name, "image": view.image, "imageID": f"kubeserve://{view.image}" if _ran(view) else "",
        "ready": view.ready, "started": view.started if view.running_since is not None else False,
        "restartCount": view.restart_count, "state": state, "lastState": last,
    }
    if _ran(view):
        run = view.restart_count if view.running_since is not None or view.exit is None else view.exit.run
        out["containerID"] = container_id(uid, view.name, run)
    return out


def _ran(view: ContainerView) -> bool:
    return view.running_since is not None or view.exit is not None or view.last is not None


# -- phase ------------------------------------------------------------------------------------------------

def pod_phase(restart_policy: str, init: Sequence[Obj], containers: Sequence[Obj],
              sidecars: Collection[str] = ()) -> str:
    """The kubelet's getPhase over container statuses. `sidecars`: the init containers with restartPolicy Always,
    which count as running while they run and never towards completion."""
    pending_init = failed_init = 0
    running = waiting = stopped = succeeded = 0
    for status in init:
        state, last = status.get("state") or {}, status.get("lastState") or {}
        if status.get("name") in sidecars:
            if "running" in state:
                running += 1
                pending_init += 0 if status.get("started") else 1
            elif "terminated" not in state and "terminated" not in last:
                pending_init += 1  # not started yet; a sidecar that ended (restarting or stopped) does not count
            continue
        if "terminated" in state:
            if state["terminated"].get("exitCode") != 0:
                failed_init += 1
        elif "waiting" in state and (last.get("terminated") or {}).get("exitCode", 0) != 0:
            failed_init += 1
        else:
            pending_init += 1
    if failed_init and restart_policy == "Never":
        return "Failed"
    if pending_init or failed_init:
        return "Pending"
    for status in containers:
        state, last = status.get("state") or {}, status.get("lastState") or {}
        if "running" in state:
            running += 1
        elif "terminated" in state:
            stopped += 1
            if state["terminated"].get("exitCode") == 0:
                succeeded += 1
        elif "waiting" in state and "terminated" in last:
            stopped += 1
        else:
            waiting += 1
    if waiting:
        return "Pending"
    if running:
        return "Running"
    if stopped:
        if restart_policy == "Always":
            return "Running"
        if stopped == succeeded:
            return "Succeeded"
        if restart_policy == "Never":
            return "Failed"
        return "Running"
    return "Pending"


# -- conditions -------------------------------------------------------------------------------------------

def _condition(kind: str, ok: bool, reason: str = "", message: str = "") -> Obj:
    out: Obj = {"type": kind, "status": "True" if ok else "False"}
    if not ok and reason:
        out["reason"] = reason
    if not ok and message:
        out["message"] = message
    return out


def _has_started(status: Obj) -> bool:
    state, last = status.get("state") or {}, status.get("lastState") or {}
    return "running" in state or "terminated" in state or ("waiting" in state and "terminated" in last)


def incomplete_init(init: Sequence[Obj], containers: Sequence[Obj], sidecars: Collection[str] = ()) -> list[str]:
    """The init containers that keep the pod from being Initialized: a regular one until it succeeded, a sidecar
    until it runs with its startupProbe passed; none once a main container has started (a sidecar that
    restarts later does not take the pod back to initializing)."""
    if any(_has_started(s) for s in containers):
        return []
    return [s["name"] for s in init
            if (not s.get("started") if s.get("name") in sidecars
                else (s.get("state") or {}).get("terminated", {}).get("exitCode") != 0)]


def pod_conditions(obs: Observation, phase: str, init: Sequence[Obj], containers: Sequence[Obj],
                   readiness_gates: Sequence[str] = (), others: Mapping[str, str] | None = None,
                   sidecars: Collection[str] = ()) -> list[Obj]:
    """The kubelet's four conditions (without times); `others` holds the status of non-kubelet conditions,
    for readiness gates. Sidecars count for readiness, as main containers do."""
    done = phase in ("Succeeded", "Failed")
    incomplete = incomplete_init(init, containers, sidecars)
    unready = [s["name"] for s in init if s.get("name") in sidecars and not s.get("ready")]
    unready += [s["name"] for s in containers if not s.get("ready")]
    gates = [g for g in readiness_gates if (others or {}).get(g) != "True"]
    if done:
        initialized = _condition("Initialized", not incomplete, "PodCompleted")
        containers_ready = _condition("ContainersReady", False, "PodCompleted")
        ready = _condition("Ready", False, "PodCompleted")
    else:
        initialized = _condition("Initialized", not incomplete, "ContainersNotInitialized",
                                 f"containers with incomplete status: [{' '.join(incomplete)}]")
        message = f"containers with unready status: [{' '.join(unready)}]"
        containers_ready = _condition("ContainersReady", not unready, "ContainersNotReady", message)
        if unready:
            ready = _condition("Ready", False, "ContainersNotReady", message)
        else:
            ready = _condition("Ready", not gates, "ReadinessGatesNotReady",
                               f"corresponding condition of pod readiness gate \"{gates[0]}\" does not exist."
                               if gates else "")
    sandbox = _condition("PodReadyToStartContainers", obs.sandbox_ready and not done)
    return [sandbox, initialized, ready, containers_ready]


def merge_conditions(previous: Sequence[Obj], computed: Sequence[Obj], now: str) -> list[Obj]:
    """Carry over conditions the kubelet does not own; keep `lastTransitionTime` unless the status flipped."""
    old = {c.get("type"): c for c in previous}
    out: list[Obj] = []
    for condition in computed:
        before = old.get(condition["type"])
        stamp = before.get("lastTransitionTime") if before and before.get("status") == condition["status"] else None
        out.append({**condition, "lastTransitionTime": stamp or now})
    out.extend(c for c in previous if c.get("type") not in KUBELET_CONDITIONS)
    return out


# -- QoS --------------------------------------------------------------------------------------------------

def qos_class(spec: Obj) -> str:
    """Guaranteed: every container limits cpu and memory with equal requests; BestEffort: nothing asked."""
    containers = [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]
    any_set = False
    guaranteed = True
    for container in containers:
        resources = container.get("resources") or {}
        limits, requests = resources.get("limits") or {}, resources.get("requests") or {}
        for name in ("cpu", "memory"):
            limit, request = limits.get(name), requests.get(name, limits.get(name))
            if _positive(limit) or _positive(request):
                any_set = True
            if not _positive(limit) or request is None or _amount(request) != _amount(limit):
                guaranteed = False
    if not any_set:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


def _amount(value: Any) -> Any:
    try:
        return parse_quantity(value)
    except (ValueError, ZeroDivisionError):
        return None


def _positive(value: Any) -> bool:
    amount = _amount(value) if value is not None else None
    return amount is not None and amount > 0


# -- the whole status -------------------------------------------------------------------------------------

def sidecar_names(spec: Obj) -> frozenset[str]:
    """The native sidecars (Kubernetes 1.29+): init containers with restartPolicy Always."""
    return frozenset(str(c.get("name")) for c in spec.get("initContainers") or [] if c.get("restartPolicy") == "Always")


def pod_status(pod: Obj, obs: Observation, now: str) -> Obj:
    """The kubelet-owned fields of `status` (see `OWNED`), with non-kubelet conditions carried over."""
    spec = pod.get("spec") or {}
    old = pod.get("status") or {}
    sidecars = sidecar_names(spec)
    init = [container_status(obs.uid, v, default_waiting="PodInitializing") for v in obs.init]
    containers = [container_status(obs.uid, v, default_waiting="ContainerCreating") for v in obs.containers]
    if init and obs.sandbox_ready and incomplete_init(init, containers, sidecars):
        containers = [container_status(obs.uid, v, default_waiting="PodInitializing") for v in obs.containers]
    policy = spec.get("restartPolicy") or "Always"
    phase = "Failed" if obs.failure is not None else pod_phase(policy, init, containers, sidecars)
    others = {c.get("type", ""): c.get("status", "") for c in old.get("conditions") or []}
    gates = [g.get("conditionType", "") for g in spec.get("readinessGates") or []]
    computed = pod_conditions(obs, phase, init, containers, gates, others, sidecars)
    previous = list(old.get("conditions") or [])
    if not any(c.get("type") == "PodScheduled" for c in previous):
        previous.append({"type": "PodScheduled", "status": "True", "lastTransitionTime": now})
    status: Obj = {
        "phase": phase,
        "conditions": merge_conditions(previous, computed, now),
        "hostIP": obs.host_ip, "hostIPs": [{"ip": obs.host_ip}],
        "qosClass": qos_class(spec),
        "containerStatuses": containers,
    }
    if init:
        status["initContainerStatuses"] = init
    if obs.pod_ip:
        status["podIP"] = obs.pod_ip
        status["podIPs"] = [{"ip": obs.pod_ip}]
    if obs.start_time:
        status["startTime"] = obs.start_time
    if obs.failure is not None:
        status["reason"], status["message"] = obs.failure
    return status


def status_patch(old: Obj, new: Obj) -> Obj | None:
    """A merge patch turning `old`'s kubelet-owned fields into `new`'s, or None when nothing changed."""
    patch: Obj = {}
    for key in OWNED:
        if old.get(key) != new.get(key):
            patch[key] = new.get(key)
    return patch or None
