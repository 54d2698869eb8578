"""The Endpoints and EndpointSlices a Service with a selector should have, given its pods (pure).

Follows kube-controller-manager's endpoints and endpointslice controllers: a pod is an endpoint once it
has an IP and has not finished; Endpoints list Ready pods under `addresses` and the others under
`notReadyAddresses` (terminating pods are left out unless `publishNotReadyAddresses`), grouped into
subsets by their resolved port set; EndpointSlices keep terminating pods with `ready=false`,
`serving=<Ready>`, `terminating=true`. A `targetPort` name resolves through the pod's container ports.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kubeserve.api.selectors import LabelSelector
from kubeserve.node.workloads import owners
from kubeserve.node.workloads import pods as podinfo
from kubeserve.node.workloads.templatehash import fnv32a, safe_encode

Obj = dict[str, Any]

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
SLICE_MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by"
SLICE_MANAGER = "endpointslice-controller.k8s.io"
ENDPOINTS_MANAGED_BY_LABEL = "endpoints.kubernetes.io/managed-by"
ENDPOINTS_MANAGER = "endpoint-controller"
HEADLESS_LABEL = "service.kubernetes.io/headless"

PortKey = tuple[tuple[str, int, str, str], ...]  # (name, port, protocol, appProtocol) per port


def service_selector(service: Obj) -> LabelSelector | None:
    """The pods a Service selects; None for a Service without a selector (its endpoints are someone else's)."""
    selector = (service.get("spec") or {}).get("selector")
    if not selector:
        return None
    return LabelSelector.from_dict({"matchLabels": selector})


def resolve_port(service_port: Obj, pod: Obj) -> int | None:
    """podutil.FindPort: a numeric targetPort as is; a named one from the pod's container ports."""
    target = service_port.get("targetPort", service_port.get("port"))
    if isinstance(target, int) and not isinstance(target, bool):
        return target
    if isinstance(target, str) and target.isdigit():
        return int(target)
    if not isinstance(target, str) or not target:
        return None
    protocol = service_port.get("protocol") or "TCP"
    spec = pod.get("spec") or {}
    sidecars = [c for c in spec.get("initContainers") or [] if c.get("restartPolicy") == "Always"]
    for container in [*(spec.get("containers") or []), *sidecars]:
        for port in container.get("ports") or []:
            if port.get("name") == target and (port.get("protocol") or "TCP") == protocol:
                return int(port["containerPort"])
    return None


def is_endpoint(pod: Obj, include_terminating: bool) -> bool:
    """ShouldPodBeInEndpoints: has an IP, has not finished, and (unless included) is not terminating."""
    if podinfo.phase(pod) in ("Succeeded", "Failed") or not podinfo.pod_ip(pod):
        return False
    return include_terminating or not podinfo.is_terminating(pod)


def _port_key(service: Obj, pod: Obj) -> PortKey:
    out = []
    for port in (service.get("spec") or {}).get("ports") or []:
        number = resolve_port(port, pod)
        if number is not None:
            out.append((str(port.get("name") or ""), number, str(port.get("protocol") or "TCP"),
                        str(port.get("appProtocol") or "")))
    return tuple(sorted(out))


def _endpoint_port(port: tuple[str, int, str, str], always_name: bool) -> Obj:
    name, number, protocol, app_protocol = port
    out: Obj = {"name": name} if (name or always_name) else {}
    out.update({"port": number, "protocol": protocol})
    if app_protocol:
        out["appProtocol"] = app_protocol
    return out


def _target_ref(pod: Obj) -> Obj:
    meta = pod.get("metadata") or {}
    return {"kind": "Pod", "namespace": meta.get("namespace", ""), "name": meta.get("name", ""),
            "uid": meta.get("uid", "")}


def _labels(service: Obj, extra: dict[str, str]) -> dict[str, str]:
    labels = dict((service.get("metadata") or {}).get("labels") or {})
    if (service.get("spec") or {}).get("clusterIP") == "None":
        labels[HEADLESS_LABEL] = ""
    labels.update(extra)
    return labels


def _is_headless(service: Obj) -> bool:
    return (service.get("spec") or {}).get("clusterIP") == "None"


def endpoints_for(service: Obj, pods: Sequence[Obj]) -> Obj:
    meta = service.get("metadata") or {}
    spec = service.get("spec") or {}
    tolerate_unready = bool(spec.get("publishNotReadyAddresses"))
    has_ports = bool(spec.get("ports"))
    groups: dict[PortKey, tuple[list[Obj], list[Obj]]] = {}
    for pod in pods:
        if not is_endpoint(pod, tolerate_unready):
            continue
        key = _port_key(service, pod)
        if (has_ports and not key) or (not has_ports and not _is_headless(service)):
            continue  # no port resolves on this pod (or a non-headless Service with no ports at all)
        address: Obj = {"ip": podinfo.pod_ip(pod)}
        node = (pod.get("spec") or {}).get("nodeName")
        if node:
            address["nodeName"] = node
        address["targetRef"] = _target_ref(pod)
        ready, not_ready = groups.setdefault(key, ([], []))
        (ready if tolerate_unready or podinfo.is_ready(pod) else not_ready).append(address)
    subsets = []
    for key in sorted(groups):
        ready, not_ready = groups[key]
        subset: Obj = {}
        if ready:
            subset["addresses"] = sorted(ready, key=_address_order)
        if not_ready:
            subset["notReadyAddresses"] = sorted(not_ready, key=_address_order)
        if key:
            subset["ports"] = [_endpoint_port(p, False) for p in key]
        subsets.append(subset)
    out: Obj = {
        "apiVersion": "v1", "kind": "Endpoints",
        "metadata": {"name": meta.get("name", ""), "namespace": meta.get("namespace", ""),
                     "labels": _labels(service, {ENDPOINTS_MANAGED_BY_LABEL: ENDPOINTS_MANAGER}),
                     "ownerReferences": [owners.owner_reference(service)]},
    }
    if subsets:
        out["subsets"] = subsets
    return out


def _address_order(address: Obj) -> tuple[tuple[int, ...], str]:
    ip = str(address.get("ip", ""))
    parts = tuple(int(p) for p in ip.split(".") if p.isdigit()) if "." in ip else ()
    return parts, str((address.get("targetRef") or {}).get("uid", ""))


def _endpoint_order(endpoint: Obj) -> tuple[tuple[tuple[int, ...], str], str]:
    return _address_order({"ip": endpoint["addresses"][0]}), str(endpoint["targetRef"]["name"])


def slice_name(service: Obj, key: PortKey | None) -> str:
    """`<service>-<suffix>`: stable per Service (by uid) and port set, so a lagging cache never makes two."""
    meta = service.get("metadata") or {}
    seed = f"{meta.get('uid', '')}/{key!r}" if key else str(meta.get("uid", "") or meta.get("name", ""))
    suffix = safe_encode(str(fnv32a(seed.encode())))[:5]
    return f"{str(meta.get('name', ''))[:57]}-{suffix}"


def slices_for(service: Obj, pods: Sequence[Obj]) -> list[Obj]:
    """One EndpointSlice per distinct port set (normally exactly one); a placeholder when there are no pods."""
    meta = service.get("metadata") or {}
    groups: dict[PortKey, list[Obj]] = {}
    for pod in pods:
        ip = podinfo.pod_ip(pod)
        if not is_endpoint(pod, True) or ":" in ip:
            continue  # IPv4 slices only
        serving = podinfo.is_ready(pod)
        terminating = podinfo.is_terminating(pod)
        ready = bool((service.get("spec") or {}).get("publishNotReadyAddresses")) or (serving and not terminating)
        endpoint: Obj = {"addresses": [ip],
                         "conditions": {"ready": ready, "serving": serving, "terminating": terminating}}
        node = (pod.get("spec") or {}).get("nodeName")
        if node:
            endpoint["nodeName"] = node
        endpoint["targetRef"] = _target_ref(pod)
        groups.setdefault(_port_key(service, pod), []).append(endpoint)
    if not groups:
        groups[()] = []
    keys = sorted(groups)
    out: list[Obj] = []
    for index, key in enumerate(keys):
        out.append({
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": slice_name(service, None if index == 0 else key),
                         "namespace": meta.get("namespace", ""),
                         "labels": _labels(service, {SERVICE_NAME_LABEL: str(meta.get("name", "")),
                                                     SLICE_MANAGED_BY_LABEL: SLICE_MANAGER}),
                         "ownerReferences": [owners.owner_reference(service)]},
            "addressType": "IPv4",
            "endpoints": sorted(groups[key], key=_endpoint_order),
            "ports": [_endpoint_port(p, True) for p in key],
        })
    return out


_PAYLOAD: dict[str, tuple[str, ...]] = {
    "Endpoints": ("subsets",),
    "EndpointSlice": ("addressType", "endpoints", "ports"),
}


def differs(desired: Obj, stored: Obj) -> bool:
    """Whether writing `desired` would change what the controller owns in `stored`."""
    want, have = desired.get("metadata") or {}, stored.get("metadata") or {}
    if (want.get("labels") or {}) != (have.get("labels") or {}):
        return True
    if (want.get("ownerReferences") or []) != (have.get("ownerReferences") or []):
        return True
    return any((desired.get(field) or []) != (stored.get(field) or [])
               for field in _PAYLOAD.get(str(desired.get("kind")), ()))


def merged(desired: Obj, stored: Obj) -> Obj:
    """`stored` (keeping its resourceVersion, annotations and the like) with the controller's fields replaced."""
    out = {**stored, **{k: v for k, v in desired.items() if k != "metadata"}}
    meta = dict(stored.get("metadata") or {})
    meta["labels"] = (desired.get("metadata") or {}).get("labels") or {}
    meta["ownerReferences"] = (desired.get("metadata") or {}).get("ownerReferences") or []
    out["metadata"] = meta
    if "subsets" not in desired:
        out.pop("subsets", None)
    return out
