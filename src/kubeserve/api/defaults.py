"""Defaulting: the fields a real apiserver fills in on write, for the kinds where clients rely on them.

Kept to the defaults that clients read back (Secret `data` from `stringData`, a Namespace's phase and
finalizer, Service port protocols, Deployment strategy and replicas, the PodSpec defaults `kubectl describe`
shows for probes, pull policy and restart policy) — anything a controller owns is left to that controller.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

from kubeserve.api.kinds import ResourceKind

Obj = dict[str, Any]


def _child(obj: Obj, key: str) -> Obj:
    """`obj[key]`, to default into: made when missing or null (JSON null means unset, as in Go)."""
    value = obj.get(key)
    if value is None:
        value = obj[key] = {}
    return value if isinstance(value, dict) else {}  # not an object: validation's to report, not ours to fix


def _secret(obj: Obj) -> None:
    string_data = obj.pop("stringData", None)
    if isinstance(string_data, dict) and string_data:
        data = _child(obj, "data")
        for key, value in string_data.items():
            data[key] = base64.b64encode(("" if value is None else str(value)).encode()).decode()
    obj.setdefault("type", "Opaque")


def _namespace(obj: Obj) -> None:
    spec = _child(obj, "spec")
    spec.setdefault("finalizers", ["kubernetes"])


def _service(obj: Obj) -> None:
    spec = _child(obj, "spec")
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    for port in spec.get("ports") or []:
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")
            if "targetPort" not in port and "port" in port:
                port["targetPort"] = port["port"]


def _deployment(obj: Obj) -> None:
    spec = _child(obj, "spec")
    spec.setdefault("replicas", 1)
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    _pod_template(spec)
    strategy = _child(spec, "strategy")
    if strategy.get("type", "RollingUpdate") == "RollingUpdate":
        strategy.setdefault("type", "RollingUpdate")
        strategy.setdefault("rollingUpdate", {"maxSurge": "25%", "maxUnavailable": "25%"})


def _replicaset(obj: Obj) -> None:
    spec = _child(obj, "spec")
    spec.setdefault("replicas", 1)
    _pod_template(spec)


def _pod_template(spec: Obj) -> None:
    template = spec.get("template")
    if isinstance(template, dict) and isinstance(template.get("spec"), dict):
        _pod_spec(template["spec"])


def _pod(obj: Obj) -> None:
    _pod_spec(_child(obj, "spec"))


def _pod_spec(spec: Obj) -> None:
    """Kubernetes' SetDefaults_PodSpec and its container, port and probe defaults."""
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("enableServiceLinks", True)
    spec.setdefault("securityContext", {})
    for field in ("initContainers", "containers"):
        for container in spec.get(field) or []:
            if isinstance(container, dict):
                _container(container)


def _container(container: Obj) -> None:
    image = str(container.get("image") or "")
    tag = image.rsplit("/", 1)[-1].partition("@")[0].partition(":")[2]
    container.setdefault("imagePullPolicy", "Always" if tag in ("", "latest") and "@" not in image else "IfNotPresent")
    container.setdefault("terminationMessagePath", "/dev/termination-log")
    container.setdefault("terminationMessagePolicy", "File")
    for port in container.get("ports") or []:
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")
    for name in ("livenessProbe", "readinessProbe", "startupProbe"):
        probe = container.get(name)
        if isinstance(probe, dict):
            probe.setdefault("timeoutSeconds", 1)
            probe.setdefault("periodSeconds", 10)
            probe.setdefault("successThreshold", 1)
            probe.setdefault("failureThreshold", 3)
            http = probe.get("httpGet")
            if isinstance(http, dict):
                http.setdefault("path", "/")
                http.setdefault("scheme", "HTTP")


def _pvc(obj: Obj) -> None:
    _child(obj, "spec").setdefault("volumeMode", "Filesystem")


def _route(obj: Obj) -> None:
    spec = _child(obj, "spec")
    to = spec.get("to")
    if isinstance(to, dict):
        to.setdefault("weight", 100)
    spec.setdefault("wildcardPolicy", "None")


_DEFAULTERS: dict[tuple[str, str], Callable[[Obj], None]] = {
    ("", "Secret"): _secret,
    ("", "Namespace"): _namespace,
    ("", "Service"): _service,
    ("apps", "Deployment"): _deployment,
    ("apps", "ReplicaSet"): _replicaset,
    ("", "Pod"): _pod,
    ("", "PersistentVolumeClaim"): _pvc,
    ("route.openshift.io", "Route"): _route,
}

_INITIAL_STATUS: dict[tuple[str, str], Obj] = {
    ("", "Namespace"): {"phase": "Active"},
    ("", "PersistentVolumeClaim"): {"phase": "Pending"},
    ("", "PersistentVolume"): {"phase": "Pending"},
    ("", "Pod"): {"phase": "Pending", "qosClass": "BestEffort"},
}


def apply_defaults(kind: ResourceKind, obj: Obj) -> None:
    """Fill in defaults in place."""
    defaulter = _DEFAULTERS.get((kind.group, kind.kind))
    if defaulter is not None:
        defaulter(obj)


def initial_status(kind: ResourceKind, obj: Obj) -> None:
    """The status a newly created object starts with (status subresource kinds drop the client's)."""
    status = _INITIAL_STATUS.get((kind.group, kind.kind))
    if status is not None:
        obj["status"] = dict(status)
