"""The route table from Routes, Services, EndpointSlices and InferenceServices: only admitted Routes, the longest
path first, targetPort by name or number, unready endpoints left out, weights, and the InferenceService
(with its auth annotation) behind a predictor Service."""

from __future__ import annotations

from typing import Any

import pytest

from kubeserve.gateway.routes import RouteTable, build_table

NS = "ns"


def route(name: str, service: str, *, host: str = "h.apps.localhost", admitted: bool = True, path: str = "",
          target: Any = None, tls: dict[str, Any] | None = None, alternates: list[dict[str, Any]] | None = None,
          router: str = "default") -> dict[str, Any]:
    spec: dict[str, Any] = {"host": host, "to": {"kind": "Service", "name": service, "weight": 100}}
    if path:
        spec["path"] = path
    if target is not None:
        spec["port"] = {"targetPort": target}
    if tls:
        spec["tls"] = tls
    if alternates:
        spec["alternateBackends"] = alternates
    status = {"ingress": [{"host": host, "routerName": router, "conditions": [
        {"type": "Admitted", "status": "True" if admitted else "False"}]}]}
    return {"metadata": {"namespace": NS, "name": name}, "spec": spec, "status": status}


def service(name: str, ports: list[tuple[str, int, int]], labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {"metadata": {"namespace": NS, "name": name, "labels": labels or {}},
            "spec": {"ports": [{"name": n, "port": p, "targetPort": t} for n, p, t in ports]}}


def slice_(service_name: str, ports: list[tuple[str, int]], endpoints: list[tuple[str, bool]]) -> dict[str, Any]:
    return {"metadata": {"namespace": NS, "name": f"{service_name}-x",
                         "labels": {"kubernetes.io/service-name": service_name}},
            "addressType": "IPv4", "ports": [{"name": n, "port": p} for n, p in ports],
            "endpoints": [{"addresses": [a], "conditions": {"ready": r}} for a, r in endpoints]}


def isvc(name: str, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    return {"metadata": {"namespace": NS, "name": name, "annotations": annotations or {}}}


WEB = service("web", [("http", 80, 8080), ("metrics", 9090, 9090)])
WEB_SLICE = slice_("web", [("http", 8080), ("metrics", 9090)], [("127.10.0.1", True), ("127.10.0.2", False)])


def table(*routes: dict[str, Any], services: tuple[dict[str, Any], ...] = (WEB,),
          slices: tuple[dict[str, Any], ...] = (WEB_SLICE,), isvcs: tuple[dict[str, Any], ...] = ()) -> RouteTable:
    return build_table(routes, services, slices, isvcs, "default")


def test_only_routes_admitted_by_this_router_are_served() -> None:
    built = table(route("a", "web"), route("b", "web", host="b.apps.localhost", admitted=False),
                  route("c", "web", host="c.apps.localhost", router="other"))
    assert built.hosts() == {"h.apps.localhost"}
    assert built.match("H.apps.localhost:8443", "/v1/models") is not None
    assert built.match("b.apps.localhost", "/") is None


@pytest.mark.parametrize(("target", "expected"), [
    (None, ("127.10.0.1:8080",)),  # the Service's first port
    ("http", ("127.10.0.1:8080",)),
    ("metrics", ("127.10.0.1:9090",)),
    (9090, ("127.10.0.1:9090",)),
    ("8080", ("127.10.0.1:8080",)),
    ("nope", ()),
])
def test_target_port_by_name_or_number_and_unready_endpoints_left_out(target: Any, expected: tuple[str, ...]) -> None:
    entry = table(route("a", "web", target=target)).match("h.apps.localhost", "/")
    assert entry is not None and entry.endpoints == expected


def test_the_longest_path_wins_and_paths_match_whole_segments() -> None:
    built = table(route("root", "web"), route("api", "web", path="/api"), route("v2", "web", path="/api/v2"))
    assert built.match("h.apps.localhost", "/api/v2/models").name == "v2"  # type: ignore[union-attr]
    assert built.match("h.apps.localhost", "/api/x").name == "api"  # type: ignore[union-attr]
    assert built.match("h.apps.localhost", "/apis").name == "root"  # type: ignore[union-attr]
    assert built.match("h.apps.localhost", "/").name == "root"  # type: ignore[union-attr]


def test_weights_and_alternate_backends() -> None:
    other = service("other", [("http", 80, 8080)])
    other_slice = slice_("other", [("http", 8080)], [("127.10.0.9", True)])
    entry = table(route("a", "web", alternates=[{"kind": "Service", "name": "other", "weight": 0}]),
                  services=(WEB, other), slices=(WEB_SLICE, other_slice)).match("h.apps.localhost", "/")
    assert entry is not None
    assert [(b.service, b.weight, b.endpoints) for b in entry.backends] == [
        ("web", 100, ("127.10.0.1:8080",)), ("other", 0, ("127.10.0.9:8080",))]
    assert entry.endpoints == ("127.10.0.1:8080",)  # weight 0 takes no traffic


def test_an_inference_services_predictor_carries_its_name_and_auth() -> None:
    predictor = service("granite-predictor", [("http", 80, 8080)],
                        labels={"serving.kserve.io/inferenceservice": "granite"})
    entry = table(route("granite", "granite-predictor",
                        tls={"termination": "Edge", "insecureEdgeTerminationPolicy": "Redirect"}),
                  services=(predictor,), slices=(slice_("granite-predictor", [("http", 8080)], [("10.1", True)]),),
                  isvcs=(isvc("granite", {"security.opendatahub.io/enable-auth": "True"}),)
                  ).match("h.apps.localhost", "/")
    assert entry is not None
    assert (entry.inference_service, entry.auth, entry.termination, entry.insecure_policy) == (
        "granite", True, "edge", "Redirect")


def test_a_plain_service_is_no_inference_service() -> None:
    entry = table(route("a", "web")).match("h.apps.localhost", "/")
    assert entry is not None and entry.inference_service == "" and not entry.auth and entry.termination == ""
