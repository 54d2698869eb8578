"""Defaulting: the fields a real apiserver fills in on write, for the kinds where clients rely on them.

Kept deliberately small: only defaults that clients read back (Secret `data` from `stringData`, a
Namespace's phase and finalizer, Service port protocols, Deployment strategy and replicas) — anything a
controller owns is left to that controller.
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
    strategy = _child(spec, "strategy")
    if strategy.get("type", "RollingUpdate") == "RollingUpdate":
        strategy.setdefault("type", "RollingUpdate")
        strategy.setdefault("rollingUpdate", {"maxSurge": "25%", "maxUnavailable": "25%"})


def _replicaset(obj: Obj) -> None:
    _child(obj, "spec").setdefault("replicas", 1)


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
