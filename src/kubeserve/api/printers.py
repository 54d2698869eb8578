"""Server-side printers for the built-in kinds: the columns and cells `kubectl get` shows.

kubectl 1.32 has no client-side printers, so every column a user sees for a Pod, Service, Event or
Route comes from these functions (via `tables.table`). Each follows its counterpart in Kubernetes
`pkg/printers/internalversion/printers.go` (openshift-apiserver's `printRoute` for Route): the same
column names, types and priorities and the same cell formats ("1/2", "3 (2m ago)", "80:30080/TCP",
"<none>", integer cells in "string" columns). The apiserver always prints wide, so priority-1 cells are
always present and kubectl drops them unless `-o wide`. Where a real apiserver would have defaulted a
field before printing (a Service's type, a Deployment's replicas, an HPA's CPU target), the printer
assumes that default, so an object stored without defaulting prints as a real cluster prints it.

Each printer is a small row function registered per (group, kind) in `PRINTERS`; `tables` builds the
Table around it.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kubeserve.api.errors import ApiError
from kubeserve.api.selectors import LabelSelector

Obj = Mapping[str, Any]
Cells = list[Any]
RowFunc = Callable[[Obj, datetime], Cells]
Conditions = Callable[[Obj], list[dict[str, str]]]

NAME_DESCRIPTION = (
    "Name must be unique within a namespace. Is required when creating resources, although some resources "
    "may allow a client to request the generation of an appropriate name automatically. Name is primarily "
    "intended for creation idempotence and configuration definition. Cannot be updated. More info: "
    "https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names"
)
AGE_DESCRIPTION = (
    "CreationTimestamp is a timestamp representing the server time when this object was created. It is "
    "not guaranteed to be set in happens-before order across separate operations. Clients may not set this "
    "value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for "
    "lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata"
)


@dataclass(frozen=True)
class Column:
    name: str
    type: str = "string"
    description: str = ""
    priority: int = 0
    format: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "format": self.format,
                "description": self.description, "priority": self.priority}


@dataclass(frozen=True)
class Printer:
    columns: tuple[Column, ...]
    row: RowFunc
    conditions: Conditions | None = None


def C(name: str, description: str = "", type: str = "string", *, wide: bool = False) -> Column:
    """A column; `wide` ones have priority 1 (shown by `kubectl get -o wide` only)."""
    return Column(name, type, description, 1 if wide else 0)


NAME = Column("Name", format="name", description=NAME_DESCRIPTION)
AGE = Column("Age", description=AGE_DESCRIPTION)
CONTAINERS = C("Containers", "Names of each container in the template.", wide=True)
IMAGES = C("Images", "Images referenced by each container in the template.", wide=True)

PRINTERS: dict[tuple[str, str], Printer] = {}


def _register(group: str, kind: str, *columns: Column,
              conditions: Conditions | None = None) -> Callable[[RowFunc], RowFunc]:
    def add(fn: RowFunc) -> RowFunc:
        PRINTERS[(group, kind)] = Printer(tuple(columns), fn, conditions)
        return fn
    return add


# --------------------------------------------------------------------------------------------------
# Time

_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


def parse_rfc3339(value: str) -> datetime:
    """Parse an RFC 3339 timestamp (Time or MicroTime); ValueError when it is not one."""
    text = value.strip().upper()
    if not _RFC3339.match(text):
        raise ValueError(f"not an RFC 3339 timestamp: {value!r}")
    return datetime.fromisoformat(text)


def parse_time(value: Any) -> datetime | None:
    """A timestamp field as an aware datetime; None when it is missing, empty or malformed."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return parse_rfc3339(value)
    except ValueError:
        return None


def human_duration(seconds: float) -> str:
    """apimachinery `duration.HumanDuration`: 2-3 significant figures ("45s", "5m12s", "2d4h", "3y")."""
    secs = int(seconds)  # truncates toward zero, like Go's int(d.Seconds())
    if secs < -1:
        return "<invalid>"
    if secs < 0:
        return "0s"
    if secs < 120:
        return f"{secs}s"
    minutes = secs // 60
    if minutes < 10:
        return f"{minutes}m" if secs % 60 == 0 else f"{minutes}m{secs % 60}s"
    if minutes < 180:
        return f"{minutes}m"
    hours = secs // 3600
    if hours < 8:
        return f"{hours}h" if minutes % 60 == 0 else f"{hours}h{minutes % 60}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d" if hours % 24 == 0 else f"{hours // 24}d{hours % 24}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        return f"{hours // 24 // 365}y" if days == 0 else f"{hours // 24 // 365}y{days}d"
    return f"{hours // 24 // 365}y"


def ago(ts: datetime, now: datetime) -> str:
    return human_duration(((now if now.tzinfo else now.replace(tzinfo=UTC)) - ts).total_seconds())


def since(value: Any, now: datetime) -> str:
    """`translateTimestampSince`: the age of a timestamp field, "<unknown>" when it is unset."""
    ts = parse_time(value)
    return "<unknown>" if ts is None else ago(ts, now)


# --------------------------------------------------------------------------------------------------
# Accessors and formatters


def _get(obj: Any, *path: str) -> Any:
    for part in path:
        obj = obj.get(part) if isinstance(obj, Mapping) else None
    return obj


def _map(obj: Any, *path: str) -> Mapping[str, Any]:
    value = _get(obj, *path)
    return value if isinstance(value, Mapping) else {}


def _list(obj: Any, *path: str) -> list[Any]:
    value = _get(obj, *path)
    return [v for v in value if v is not None] if isinstance(value, list) else []


def _str(value: Any, default: str = "") -> str:
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _int(value: Any, default: int = 0) -> int:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else default


def _name(obj: Obj) -> str:
    return _str(_get(obj, "metadata", "name"))


def _age(obj: Obj, now: datetime) -> str:
    return since(_get(obj, "metadata", "creationTimestamp"), now)


def format_labels(labels: Mapping[str, Any] | None) -> str:
    """`labels.FormatLabels`: sorted `k=v` pairs, "<none>" when empty."""
    return ",".join(f"{k}={v}" for k, v in sorted((labels or {}).items())) or "<none>"


def _selector_string(selector: Any) -> str:
    """`LabelSelectorAsSelector(sel).String()`; "<invalid>" when the selector does not convert."""
    try:
        return str(LabelSelector.from_dict(selector if isinstance(selector, Mapping) else None))
    except ApiError:
        return "<invalid>"


def _containers(obj: Obj) -> list[str]:
    containers = _list(obj, "spec", "template", "spec", "containers")
    return [",".join(_str(_get(c, key)) for c in containers) for key in ("name", "image")]


def _more(items: list[str], count: int, limit: int, empty: str) -> str:
    text = ",".join(items[:limit])
    return f"{text} + {count - limit} more..." if count > limit else (text or empty)


def _host_port(host: str, port: Any) -> str:
    try:
        v6 = isinstance(ipaddress.ip_address(host), ipaddress.IPv6Address)
    except ValueError:
        v6 = ":" in host
    return f"[{host}]:{port}" if v6 else f"{host}:{port}"


_ACCESS_MODES = {"ReadWriteOnce": "RWO", "ReadOnlyMany": "ROX", "ReadWriteMany": "RWX",
                 "ReadWriteOncePod": "RWOP"}


def _access_modes(modes: list[Any]) -> str:
    return ",".join(short for mode, short in _ACCESS_MODES.items() if mode in modes)


def _has_condition(obj: Obj, type_: str) -> bool:
    conditions = _list(obj, "status", "conditions")
    return any(_get(c, "type") == type_ and _get(c, "status") == "True" for c in conditions)


# --------------------------------------------------------------------------------------------------
# core/v1


@_register("", "Namespace", NAME, C("Status", "The status of the namespace"), AGE)
def _namespace(obj: Obj, now: datetime) -> Cells:
    default = "Terminating" if _get(obj, "metadata", "deletionTimestamp") else "Active"
    return [_name(obj), _str(_get(obj, "status", "phase"), default), _age(obj, now)]


def _restartable(container: Any) -> bool:
    return bool(_get(container, "restartPolicy") == "Always")


def _later(current: datetime | None, candidate: Any) -> datetime | None:
    ts = parse_time(candidate)
    return current if ts is None or (current is not None and ts <= current) else ts


def _terminated_reason(term: Mapping[str, Any], prefix: str) -> str:
    if term.get("reason"):
        return prefix + _str(term["reason"])
    if _int(term.get("signal")):
        return f"{prefix}Signal:{_int(term.get('signal'))}"
    return f"{prefix}ExitCode:{_int(term.get('exitCode'))}"


@dataclass
class _PodState:
    reason: str
    initializing: bool = False
    ready: int = 0
    restarts: int = 0
    last: datetime | None = None
    sidecar_restarts: int = 0
    sidecar_last: datetime | None = None


def _walk_init_containers(pod: Obj, state: _PodState) -> None:
    """The init-container half of printPod: stops at the first init container that has not completed."""
    specs = {_get(c, "name"): c for c in _list(pod, "spec", "initContainers")}
    for i, status in enumerate(_list(pod, "status", "initContainerStatuses")):
        sidecar = _restartable(specs.get(_get(status, "name")))
        finished = _get(status, "lastState", "terminated", "finishedAt")
        state.restarts += _int(_get(status, "restartCount"))
        state.last = _later(state.last, finished)
        if sidecar:
            state.sidecar_restarts += _int(_get(status, "restartCount"))
            state.sidecar_last = _later(state.sidecar_last, finished)
        terminated = _get(status, "state", "terminated")
        waiting = _str(_get(status, "state", "waiting", "reason"))
        if isinstance(terminated, Mapping) and _int(terminated.get("exitCode")) == 0:
            continue
        if sidecar and _get(status, "started") is True:
            state.ready += 1 if _get(status, "ready") is True else 0
            continue
        if isinstance(terminated, Mapping):
            state.reason = _terminated_reason(terminated, "Init:")
        elif waiting and waiting != "PodInitializing":
            state.reason = "Init:" + waiting
        else:
            state.reason = f"Init:{i}/{len(specs)}"
        state.initializing = True
        return


def _walk_containers(pod: Obj, state: _PodState) -> None:
    """The app-container half of printPod (last container first, so the first one's reason wins)."""
    state.restarts, state.last = state.sidecar_restarts, state.sidecar_last
    running = False
    for container in reversed(_list(pod, "status", "containerStatuses")):
        state.restarts += _int(_get(container, "restartCount"))
        state.last = _later(state.last, _get(container, "lastState", "terminated", "finishedAt"))
        waiting = _str(_get(container, "state", "waiting", "reason"))
        terminated = _get(container, "state", "terminated")
        if waiting:
            state.reason = waiting
        elif isinstance(terminated, Mapping):
            state.reason = _terminated_reason(terminated, "")
        elif _get(container, "ready") is True and isinstance(_get(container, "state", "running"), Mapping):
            running = True
            state.ready += 1
    if state.reason == "Completed" and running:
        state.reason = "Running" if _has_condition(pod, "Ready") else "NotReady"


def _pod_conditions(pod: Obj) -> list[dict[str, str]]:
    phase = _get(pod, "status", "phase")
    message = {"Succeeded": "The pod has completed successfully.", "Failed": "The pod failed."}.get(phase)
    return [{"type": "Completed", "status": "True", "reason": phase, "message": message}] if message else []


def _readiness_gates(pod: Obj) -> str:
    gates = _list(pod, "spec", "readinessGates")
    if not gates:
        return "<none>"
    statuses = {_get(c, "type"): _get(c, "status") for c in reversed(_list(pod, "status", "conditions"))}
    return f"{sum(1 for g in gates if statuses.get(_get(g, 'conditionType')) == 'True')}/{len(gates)}"


@_register(
    "", "Pod", NAME, C("Ready", "The aggregate readiness state of this pod for accepting traffic."),
    C("Status", "The aggregate status of the containers in this pod."),
    C("Restarts", "The number of times the containers in this pod have been restarted and when the last "
                  "container in this pod has restarted."), AGE,
    C("IP", "IP address allocated to the pod.", wide=True),
    C("Node", "The node the pod is bound to.", wide=True),
    C("Nominated Node", "The node this pod preempted other pods on.", wide=True),
    C("Readiness Gates", "Readiness gates that are true, of all the pod's gates.", wide=True),
    conditions=_pod_conditions,
)
def _pod(pod: Obj, now: datetime) -> Cells:
    status = _map(pod, "status")
    phase = _str(status.get("phase"))
    state = _PodState(_str(status.get("reason")) or phase)
    if any(_get(c, "type") == "PodScheduled" and _get(c, "reason") == "SchedulingGated"
           for c in _list(pod, "status", "conditions")):
        state.reason = "SchedulingGated"
    _walk_init_containers(pod, state)
    if not state.initializing or _has_condition(pod, "Initialized"):
        _walk_containers(pod, state)
    if _get(pod, "metadata", "deletionTimestamp"):
        if status.get("reason") == "NodeLost":
            state.reason = "Unknown"
        elif phase not in ("Succeeded", "Failed"):
            state.reason = "Terminating"
    restarts = str(state.restarts)
    if state.restarts and state.last is not None:
        restarts = f"{state.restarts} ({ago(state.last, now)} ago)"
    sidecars = sum(map(_restartable, _list(pod, "spec", "initContainers")))
    total = len(_list(pod, "spec", "containers")) + sidecars
    ips = _list(pod, "status", "podIPs")
    ip = _str(_get(ips[0], "ip")) if ips else _str(status.get("podIP"))
    return [_name(pod), f"{state.ready}/{total}", state.reason, restarts, _age(pod, now), ip or "<none>",
            _str(_get(pod, "spec", "nodeName"), "<none>"), _str(status.get("nominatedNodeName"), "<none>"),
            _readiness_gates(pod)]


def _external_ip(spec: Mapping[str, Any], status: Mapping[str, Any]) -> str:
    svc_type = _str(spec.get("type"), "ClusterIP")
    external = [_str(ip) for ip in spec.get("externalIPs") or []]
    if svc_type in ("ClusterIP", "NodePort"):
        return ",".join(external) or "<none>"
    if svc_type == "LoadBalancer":
        ingress = _list(status, "loadBalancer", "ingress")
        lb = {_str(_get(i, "ip")) or _str(_get(i, "hostname")) for i in ingress}
        return ",".join(sorted(lb - {""}) + external) or "<pending>"
    return _str(spec.get("externalName")) if svc_type == "ExternalName" else "<unknown>"


def _ports(ports: list[Any]) -> str:
    pieces = []
    for p in ports:
        node_port, proto = _int(_get(p, "nodePort")), _str(_get(p, "protocol"), "TCP")
        pieces.append(f"{_int(_get(p, 'port'))}" + (f":{node_port}" if node_port > 0 else "") + f"/{proto}")
    return ",".join(pieces) or "<none>"


@_register("", "Service", NAME, C("Type", "How the Service is exposed."),
           C("Cluster-IP", "The IP address of the service."),
           C("External-IP", "IP addresses on which the cluster also accepts traffic for this service."),
           C("Port(s)", "The ports exposed by this service."), AGE,
           C("Selector", "Route service traffic to pods whose labels match this selector.", wide=True))
def _service(svc: Obj, now: datetime) -> Cells:
    spec = _map(svc, "spec")
    ips = [_str(ip) for ip in spec.get("clusterIPs") or []] or [_str(spec.get("clusterIP"), "<none>")]
    return [_name(svc), _str(spec.get("type"), "ClusterIP"), ips[0], _external_ip(spec, _map(svc, "status")),
            _ports(_list(spec, "ports")), _age(svc, now), format_labels(_map(spec, "selector"))]


@_register("", "Secret", NAME, C("Type", "The type of the secret."), C("Data", "Number of keys in data."),
           AGE)
def _secret(obj: Obj, now: datetime) -> Cells:
    return [_name(obj), _str(obj.get("type"), "Opaque"), len(_map(obj, "data")), _age(obj, now)]


@_register("", "ConfigMap", NAME, C("Data", "Number of keys in data and binaryData."), AGE)
def _configmap(obj: Obj, now: datetime) -> Cells:
    return [_name(obj), len(_map(obj, "data")) + len(_map(obj, "binaryData")), _age(obj, now)]


@_register("", "ServiceAccount", NAME, C("Secrets", "Number of secrets the service account may use."), AGE)
def _serviceaccount(obj: Obj, now: datetime) -> Cells:
    return [_name(obj), len(_list(obj, "secrets")), _age(obj, now)]


def _class_of(obj: Obj) -> str:
    annotated = _get(obj, "metadata", "annotations", "volume.beta.kubernetes.io/storage-class")
    return _str(annotated) if annotated is not None else _str(_get(obj, "spec", "storageClassName"))


def _phase(obj: Obj) -> str:
    if _get(obj, "metadata", "deletionTimestamp"):
        return "Terminating"
    return _str(_get(obj, "status", "phase"), "Pending")


def _vac(obj: Obj) -> str:
    return _str(_get(obj, "spec", "volumeAttributesClassName"), "<unset>")


@_register("", "PersistentVolumeClaim", NAME, C("Status", "Phase of the claim."),
           C("Volume", "The PersistentVolume bound to this claim."),
           C("Capacity", "Capacity of the bound volume."),
           C("Access Modes", "Access modes of the bound volume."),
           C("StorageClass", "StorageClass of the pvc"),
           C("VolumeAttributesClass", "VolumeAttributesClass of the pvc"), AGE,
           C("VolumeMode", "What type of volume the claim requires.", wide=True))
def _pvc(obj: Obj, now: datetime) -> Cells:
    volume = _str(_get(obj, "spec", "volumeName"))
    capacity = _str(_get(obj, "status", "capacity", "storage"), "0") if volume else ""
    modes = _access_modes(_list(obj, "status", "accessModes")) if volume else ""
    return [_name(obj), _phase(obj), volume, capacity, modes, _class_of(obj), _vac(obj), _age(obj, now),
            _str(_get(obj, "spec", "volumeMode"), "Filesystem")]


@_register("", "PersistentVolume", NAME, C("Capacity", "Capacity of the volume."),
           C("Access Modes", "The ways the volume can be mounted."),
           C("Reclaim Policy", "What happens to the volume when released from its claim."),
           C("Status", "Phase of the volume."), C("Claim", "The claim bound to this volume."),
           C("StorageClass", "StorageClass of the pv"),
           C("VolumeAttributesClass", "VolumeAttributesClass of the pv"),
           C("Reason", "A brief CamelCase reason for any failure."), AGE,
           C("VolumeMode", "Filesystem or raw Block.", wide=True))
def _pv(obj: Obj, now: datetime) -> Cells:
    ref = _map(obj, "spec", "claimRef")
    return [_name(obj), _str(_get(obj, "spec", "capacity", "storage"), "0"),
            _access_modes(_list(obj, "spec", "accessModes")),
            _str(_get(obj, "spec", "persistentVolumeReclaimPolicy"), "Retain"), _phase(obj),
            f"{_str(ref.get('namespace'))}/{_str(ref.get('name'))}" if ref else "", _class_of(obj),
            _vac(obj), _str(_get(obj, "status", "reason")), _age(obj, now),
            _str(_get(obj, "spec", "volumeMode"), "Filesystem")]


@_register("", "Endpoints", NAME, C("Endpoints", "The addresses and ports of the endpoints."), AGE)
def _endpoints(obj: Obj, now: datetime) -> Cells:
    items: list[str] = []
    count = 0
    for ss in _list(obj, "subsets"):
        addresses = [_str(_get(a, "ip")) for a in _list(ss, "addresses")]
        ports = _list(ss, "ports")
        count += len(addresses) * max(len(ports), 1)
        if not ports:
            items.extend(addresses)
        for port in ports:
            items.extend(_host_port(a, _int(_get(port, "port"))) for a in addresses)
    return [_name(obj), _more(items, count, 3, "") if _list(obj, "subsets") else "<none>", _age(obj, now)]


@_register("", "Event", C("Last Seen", "When the event was last recorded."), C("Type", "Normal or Warning."),
           C("Reason", "Short, machine understandable reason for the event."),
           C("Object", "The object that this event is about."),
           C("Subobject", "The part of the object the event is about.", wide=True),
           C("Source", "The component reporting this event.", wide=True),
           C("Message", "A human-readable description of the event."),
           C("First Seen", "When the event was first recorded.", wide=True),
           C("Count", "The number of times this event has occurred.", wide=True),
           Column("Name", description=NAME_DESCRIPTION, priority=1, format="name"))
def _event(obj: Obj, now: datetime) -> Cells:
    first = since(obj.get("firstTimestamp"), now) if parse_time(obj.get("firstTimestamp")) else since(
        obj.get("eventTime"), now)
    last = since(obj.get("lastTimestamp"), now) if parse_time(obj.get("lastTimestamp")) else first
    count = _int(obj.get("count")) or 1
    if isinstance(obj.get("series"), Mapping):
        last, count = since(_get(obj, "series", "lastObservedTime"), now), _int(_get(obj, "series", "count"))
    involved = _map(obj, "involvedObject")
    target = _str(involved.get("kind")).lower()
    target += f"/{_str(involved['name'])}" if involved.get("name") else ""
    component = _str(_get(obj, "source", "component")) or _str(obj.get("reportingController"))
    instance = _str(_get(obj, "source", "host")) or _str(obj.get("reportingInstance"))
    source = f"{component}, {instance}" if instance else component
    return [last, _str(obj.get("type")), _str(obj.get("reason")), target, _str(involved.get("fieldPath")),
            source, _str(obj.get("message")).strip(), first, count, _name(obj)]


def _node_address(obj: Obj, type_: str) -> str:
    found = [_str(_get(a, "address")) for a in _list(obj, "status", "addresses") if _get(a, "type") == type_]
    return found[0] if found else "<none>"


@_register("", "Node", NAME, C("Status", "The status of the node"), C("Roles", "The roles of the node"), AGE,
           C("Version", "Kubelet version reported by the node."),
           C("Internal-IP", "The node's internal address.", wide=True),
           C("External-IP", "The node's external address.", wide=True),
           C("OS-Image", "OS image reported by the node.", wide=True),
           C("Kernel-Version", "Kernel version reported by the node.", wide=True),
           C("Container-Runtime", "Container runtime version reported by the node.", wide=True))
def _node(obj: Obj, now: datetime) -> Cells:
    ready = [_get(c, "status") for c in _list(obj, "status", "conditions") if _get(c, "type") == "Ready"]
    status = ["Unknown"] if not ready else ["Ready" if ready[0] == "True" else "NotReady"]
    if _get(obj, "spec", "unschedulable") is True:
        status.append("SchedulingDisabled")
    labels = _map(obj, "metadata", "labels")
    prefix = "node-role.kubernetes.io/"
    roles = {k.removeprefix(prefix) for k in labels if k.startswith(prefix)}
    roles.add(_str(labels.get("kubernetes.io/role")))
    info = _map(obj, "status", "nodeInfo")
    return [_name(obj), ",".join(status), ",".join(sorted(roles - {""})) or "<none>", _age(obj, now),
            _str(info.get("kubeletVersion")), _node_address(obj, "InternalIP"),
            _node_address(obj, "ExternalIP"), _str(info.get("osImage"), "<unknown>"),
            _str(info.get("kernelVersion"), "<unknown>"),
            _str(info.get("containerRuntimeVersion"), "<unknown>")]


# --------------------------------------------------------------------------------------------------
# apps, autoscaling, storage, discovery, coordination


@_register("apps", "Deployment", NAME, C("Ready", "Number of the pod with ready state"),
           C("Up-to-date", "Pods that have the desired template spec."),
           C("Available", "Pods ready for at least minReadySeconds."), AGE, CONTAINERS, IMAGES,
           C("Selector", "Label selector for the deployment's pods.", wide=True))
def _deployment(obj: Obj, now: datetime) -> Cells:
    spec, status = _map(obj, "spec"), _map(obj, "status")
    return [_name(obj), f"{_int(status.get('readyReplicas'))}/{_int(spec.get('replicas'), 1)}",
            _int(status.get("updatedReplicas")), _int(status.get("availableReplicas")), _age(obj, now),
            *_containers(obj), _selector_string(spec.get("selector"))]


@_register("apps", "ReplicaSet", NAME, C("Desired", "Number of desired replicas.", "integer"),
           C("Current", "Most recently observed number of replicas.", "integer"),
           C("Ready", "Number of ready replicas.", "integer"), AGE, CONTAINERS, IMAGES,
           C("Selector", "Label selector for the replica set's pods.", wide=True))
def _replicaset(obj: Obj, now: datetime) -> Cells:
    spec, status = _map(obj, "spec"), _map(obj, "status")
    return [_name(obj), _int(spec.get("replicas"), 1), _int(status.get("replicas")),
            _int(status.get("readyReplicas")), _age(obj, now), *_containers(obj),
            _selector_string(spec.get("selector")) or "<none>"]


_METRIC_KEYS = {"Resource": "resource", "ContainerResource": "containerResource", "Pods": "pods",
                "Object": "object", "External": "external"}


def _hpa_metric(spec: Mapping[str, Any], status: Any) -> str:
    """One `formatHPAMetrics` entry: an autoscaling/v2 metric spec and the status at the same index.

    An unset quantity prints as "<nil>", as a nil `*resource.Quantity` does in Go.
    """
    key = _METRIC_KEYS.get(_str(spec.get("type")))
    if key is None:
        return "<unknown type>"
    target = _map(spec, key, "target")
    current = _map(status, key, "current") if isinstance(_get(status, key), Mapping) else None
    cur = "<unknown>"
    if key in ("resource", "containerResource"):
        prefix = f"{_str(_get(spec, key, 'name'))}: "
        if target.get("averageValue") is not None:
            cur = cur if current is None else _str(current.get("averageValue"), "<nil>")
            return f"{prefix}{cur}/{_str(target['averageValue'])}"
        if current is not None and current.get("averageUtilization") is not None:
            cur = f"{_int(current['averageUtilization'])}%"
        util = target.get("averageUtilization")
        return f"{prefix}{cur}/" + (f"{_int(util)}%" if util is not None else "<auto>")
    if key == "pods":
        cur = cur if current is None else _str(current.get("averageValue"), "<nil>")
        return f"{cur}/{_str(target.get('averageValue'), '<nil>')}"
    if target.get("averageValue") is not None:
        cur = cur if current is None or current.get("averageValue") is None else _str(current["averageValue"])
        return f"{cur}/{_str(target['averageValue'])} (avg)"
    cur = cur if current is None else _str(current.get("value"), "<nil>")
    return f"{cur}/{_str(target.get('value'), '<nil>')}"


_DEFAULT_HPA_METRIC = {
    "type": "Resource",
    "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}},
}


def format_hpa_targets(obj: Obj) -> str:
    """The Targets cell; no `spec.metrics` at all means autoscaling/v2's default of 80% average CPU."""
    specs = _list(obj, "spec", "metrics") if "metrics" in _map(obj, "spec") else [_DEFAULT_HPA_METRIC]
    if not specs:
        return "<none>"
    statuses = _list(obj, "status", "currentMetrics")
    items = [_hpa_metric(m, statuses[i] if i < len(statuses) else None) for i, m in enumerate(specs)]
    return ", ".join(items[:2]) + (f" + {len(items) - 2} more..." if len(items) > 2 else "")


@_register("autoscaling", "HorizontalPodAutoscaler", NAME, C("Reference", "The target resource to scale."),
           C("Targets", "The metrics used to calculate the desired replica count."),
           C("MinPods", "The lower limit for the number of replicas."),
           C("MaxPods", "The upper limit for the number of replicas."),
           C("Replicas", "Current number of replicas of pods managed by this autoscaler."), AGE)
def _hpa(obj: Obj, now: datetime) -> Cells:
    ref = _map(obj, "spec", "scaleTargetRef")
    return [_name(obj), f"{_str(ref.get('kind'))}/{_str(ref.get('name'))}", format_hpa_targets(obj),
            str(_int(_get(obj, "spec", "minReplicas"), 1)), _int(_get(obj, "spec", "maxReplicas")),
            _int(_get(obj, "status", "currentReplicas")), _age(obj, now)]


_DEFAULT_CLASS = ("storageclass.kubernetes.io/is-default-class",
                  "storageclass.beta.kubernetes.io/is-default-class")


@_register("storage.k8s.io", "StorageClass", NAME, C("Provisioner", "The type of the provisioner."),
           C("ReclaimPolicy", "Reclaim policy of dynamically provisioned volumes."),
           C("VolumeBindingMode", "How claims are provisioned and bound."),
           C("AllowVolumeExpansion", "Whether volumes of this class may be expanded."), AGE)
def _storageclass(obj: Obj, now: datetime) -> Cells:
    default = any(_get(obj, "metadata", "annotations", a) == "true" for a in _DEFAULT_CLASS)
    return [_name(obj) + (" (default)" if default else ""), _str(obj.get("provisioner")),
            _str(obj.get("reclaimPolicy"), "Delete"), _str(obj.get("volumeBindingMode"), "Immediate"),
            obj.get("allowVolumeExpansion") is True, _age(obj, now)]


@_register("discovery.k8s.io", "EndpointSlice", NAME, C("AddressType", "The type of address in this slice."),
           C("Ports", "The network ports exposed by each endpoint."),
           C("Endpoints", "The endpoints' addresses."), AGE)
def _endpointslice(obj: Obj, now: datetime) -> Cells:
    ports = [_str(_get(p, "port")) or _str(_get(p, "name"), "*") for p in _list(obj, "ports")]
    addresses = [_str(a) for e in _list(obj, "endpoints") for a in _list(e, "addresses")]
    return [_name(obj), _str(obj.get("addressType")), _more(ports, len(ports), 3, "<unset>"),
            _more(addresses, len(addresses), 3, "<unset>"), _age(obj, now)]


@_register("coordination.k8s.io", "Lease", NAME, C("Holder", "The identity of the holder of the lease."), AGE)
def _lease(obj: Obj, now: datetime) -> Cells:
    return [_name(obj), _str(_get(obj, "spec", "holderIdentity")), _age(obj, now)]


# --------------------------------------------------------------------------------------------------
# route.openshift.io (openshift-apiserver's printRoute)

ROUTER_PORT_ANNOTATION = "kubeserve.io/router-port"


def _route_host(route: Obj) -> str:
    spec_host = _str(_get(route, "spec", "host"))
    host, matched, reason, admitted, rejected = spec_host, False, "", 0, 0
    ingresses = _get(route, "status", "ingress")
    for ingress in ingresses if isinstance(ingresses, list) else []:
        conditions = [c for c in _list(ingress, "conditions") if _get(c, "type") == "Admitted"]
        status = _get(conditions[0], "status") if conditions else None
        if status == "True":
            admitted += 1
            if not matched:
                matched, host = _get(ingress, "host") == spec_host, _str(_get(ingress, "host"))
        elif status == "False":
            reason, rejected = _str(_get(conditions[0], "reason")), rejected + 1
    port = _str(_get(route, "metadata", "annotations", ROUTER_PORT_ANNOTATION))
    if host and port and port != "443":
        host = f"{host}:{port}"  # kubeserve's router listens on its own port; OpenShift never appends one
    if not isinstance(ingresses, list):
        return host  # legacy: a route without status.ingress shows its spec host
    if admitted == 0:
        return reason if rejected else "Pending"
    if rejected:
        return f"{host} ... {rejected} rejected"
    return f"{host} ... {admitted - 1} more" if admitted > 1 else host


def _route_services(route: Obj) -> str:
    backends = [_map(route, "spec", "to"), *_list(route, "spec", "alternateBackends")]
    weights = [_int(_get(b, "weight"), 100) for b in backends]  # OpenShift defaults a backend's weight to 100
    total = sum(weights)
    names = [_str(_get(b, "name")) for b in backends]
    if len(backends) == 1 and total:
        return names[0]
    return ",".join(f"{n}({w * 100 // total if total else 0}%)" for n, w in zip(names, weights, strict=True))


@_register("route.openshift.io", "Route", NAME, C("Host/Port", "The host (and port) the route is served on."),
           C("Path", "Path that the router watches to route traffic to the service."),
           C("Services", "Primary and alternate route backends."),
           C("Port", "The target port on the service."),
           C("Termination", "Indicates termination type."), C("Wildcard", "Wildcard policy of the route."))
def _route(obj: Obj, now: datetime) -> Cells:
    tls = _map(obj, "spec", "tls")
    term, insecure = _str(tls.get("termination")), _str(tls.get("insecureEdgeTerminationPolicy"))
    policy = f"{term or 'default'}/{insecure}" if insecure else term
    port = _map(obj, "spec", "port")
    return [_name(obj), _route_host(obj), _str(_get(obj, "spec", "path")), _route_services(obj),
            _str(port.get("targetPort")) if port else "<all>", policy,
            _str(_get(obj, "spec", "wildcardPolicy"), "None")]
