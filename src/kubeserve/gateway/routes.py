"""The route table: which admitted Route answers a request for a host and path, and where its backends are.

Pure: built from the Routes, Services, EndpointSlices and InferenceServices the gateway's informers hold, and
rebuilt whenever one of them changes, so a request pays for two dict lookups and a short path scan instead
of a search through the cluster's objects. Only Routes this router admitted (`status.ingress[]` with our
`routerName` and `Admitted=True`) are served, at the host their admission recorded; admission itself is
`admission.admit`.

A Route's `port.targetPort` names the port of the *endpoints* (OpenShift's reading): a string is a Service
port name (EndpointSlice ports carry the Service port's name), a number is the target port number. Without
it the Service's first port is used.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property

from kubeserve.client import Obj
from kubeserve.gateway.services import SERVICE_NAME_LABEL, ready_endpoints

ISVC_LABEL = "serving.kserve.io/inferenceservice"
AUTH_ANNOTATION = "security.opendatahub.io/enable-auth"


@dataclass(frozen=True)
class Backend:
    """One Service behind a Route, with its weight and the ready endpoints (`ip:port`) of the chosen port."""

    service: str
    weight: int
    endpoints: tuple[str, ...]


@dataclass(frozen=True)
class RouteEntry:
    namespace: str
    name: str
    host: str
    path: str  # "" or a prefix starting with "/"
    termination: str  # "" (plain HTTP), "edge", "passthrough" or "reencrypt"
    insecure_policy: str  # for TLS routes: "Redirect", "Allow" or "None"
    backends: tuple[Backend, ...]
    certificate: str = ""  # PEM: the Route's own certificate (+ key, + CA chain) for edge/reencrypt
    key: str = ""
    ca_certificate: str = ""
    destination_ca: str = ""  # PEM the backend's certificate is verified against (reencrypt)
    inference_service: str = ""  # the InferenceService whose predictor this Route reaches, if any
    auth: bool = False  # `security.opendatahub.io/enable-auth: 'true'` on that InferenceService
    served_model: str = ""  # the name `/v2/models` lists when the backend cannot be asked

    @property
    def label(self) -> str:
        return f"{self.namespace}/{self.name}"

    @cached_property
    def endpoints(self) -> tuple[str, ...]:
        """Every ready endpoint of every backend with a weight above zero (weights pick among Services)."""
        out: list[str] = []
        for backend in self.backends:
            if backend.weight > 0:
                out.extend(e for e in backend.endpoints if e not in out)
        return tuple(out)


@dataclass
class RouteTable:
    """host -> the Routes on it, longest path first."""

    by_host: dict[str, list[RouteEntry]] = field(default_factory=dict)

    def match(self, host: str, path: str) -> RouteEntry | None:
        for entry in self.by_host.get(_bare_host(host), ()):
            if not entry.path or path == entry.path or path.startswith(entry.path.rstrip("/") + "/"):
                return entry
        return None

    def hosts(self) -> set[str]:
        return set(self.by_host)


def admitted_host(route: Obj, router_name: str) -> str | None:
    """The host this router admitted the Route at, or None if it has not admitted it."""
    for ingress in (route.get("status") or {}).get("ingress") or []:
        if not isinstance(ingress, dict) or ingress.get("routerName", router_name) != router_name:
            continue
        for condition in ingress.get("conditions") or []:
            if condition.get("type") == "Admitted" and condition.get("status") == "True":
                host = ingress.get("host")
                return host if isinstance(host, str) and host else None
    return None


def build_table(routes: Iterable[Obj], services: Iterable[Obj], slices: Iterable[Obj],
                inference_services: Iterable[Obj], router_name: str) -> RouteTable:
    service_index = {_key(s): s for s in services}
    slice_index: dict[tuple[str, str], list[Obj]] = {}
    for slice_ in slices:
        meta = slice_.get("metadata") or {}
        owner = (meta.get("labels") or {}).get(SERVICE_NAME_LABEL)
        if owner:
            slice_index.setdefault((meta.get("namespace", ""), owner), []).append(slice_)
    isvc_index = {_key(i): i for i in inference_services}
    table = RouteTable()
    for route in routes:
        host = admitted_host(route, router_name)
        if host is None:
            continue
        entry = _entry(route, host, service_index, slice_index, isvc_index)
        table.by_host.setdefault(host, []).append(entry)
    for entries in table.by_host.values():
        entries.sort(key=lambda e: len(e.path), reverse=True)
    return table


def _entry(route: Obj, host: str, services: Mapping[tuple[str, str], Obj],
           slices: Mapping[tuple[str, str], list[Obj]], isvcs: Mapping[tuple[str, str], Obj]) -> RouteEntry:
    meta = route.get("metadata") or {}
    spec = route.get("spec") or {}
    namespace = meta.get("namespace", "")
    tls = spec.get("tls") or {}
    target = (spec.get("port") or {}).get("targetPort")
    backends = []
    for ref in [spec.get("to") or {}, *(spec.get("alternateBackends") or [])]:
        if (ref.get("kind") or "Service") != "Service" or not ref.get("name"):
            continue
        weight = ref.get("weight")
        service = services.get((namespace, ref["name"]))
        port_name = _endpoint_port_name(service, target)
        endpoints = _ready(slices.get((namespace, ref["name"]), []), port_name, target)
        backends.append(Backend(ref["name"], weight if isinstance(weight, int) else 100, tuple(endpoints)))
    isvc = _inference_service(namespace, backends[0].service if backends else "", services, isvcs)
    isvc_meta = (isvc or {}).get("metadata") or {}
    annotations = isvc_meta.get("annotations") or {}
    termination = str(tls.get("termination") or "").lower() if tls else ""
    return RouteEntry(
        namespace=namespace, name=meta.get("name", ""), host=host, path=str(spec.get("path") or ""),
        termination=termination, insecure_policy=str(tls.get("insecureEdgeTerminationPolicy") or "None"),
        backends=tuple(backends), certificate=str(tls.get("certificate") or ""), key=str(tls.get("key") or ""),
        ca_certificate=str(tls.get("caCertificate") or ""),
        destination_ca=str(tls.get("destinationCACertificate") or ""),
        inference_service=isvc_meta.get("name", ""),
        auth=str(annotations.get(AUTH_ANNOTATION, "")).lower() == "true",
        served_model=isvc_meta.get("name", ""),
    )


def _inference_service(namespace: str, service_name: str, services: Mapping[tuple[str, str], Obj],
                       isvcs: Mapping[tuple[str, str], Obj]) -> Obj | None:
    """The InferenceService whose predictor Service this is: by KServe's label, else by `<isvc>-predictor`."""
    service = services.get((namespace, service_name)) or {}
    labelled = ((service.get("metadata") or {}).get("labels") or {}).get(ISVC_LABEL)
    if labelled and (namespace, labelled) in isvcs:
        return isvcs[(namespace, labelled)]
    if service_name.endswith("-predictor"):
        return isvcs.get((namespace, service_name.removesuffix("-predictor")))
    return None


def _endpoint_port_name(service: Obj | None, target: object) -> str | None:
    """The Service port name whose endpoints the Route uses (None: match the slice port by number)."""
    ports: Sequence[Obj] = ((service or {}).get("spec") or {}).get("ports") or []
    if isinstance(target, str) and target:
        if target.isdigit():
            return None
        return target
    if target is None and ports:
        return str(ports[0].get("name") or "")
    return None


def _ready(slices: Iterable[Obj], port_name: str | None, target: object) -> list[str]:
    if port_name is None:
        number = int(target) if isinstance(target, int) or (isinstance(target, str) and target.isdigit()) else None
        if number is None:
            return []
        return ready_endpoints(slices, None, number)
    return ready_endpoints(slices, port_name)


def _key(obj: Obj) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return meta.get("namespace", ""), meta.get("name", "")


def _bare_host(host: str) -> str:
    """`Host: name.apps.localhost:8443` → `name.apps.localhost` (IPv6 literals keep their brackets)."""
    host = host.strip().lower()
    if host.startswith("["):
        return host.split("]")[0] + "]"
    return host.rsplit(":", 1)[0] if ":" in host else host
