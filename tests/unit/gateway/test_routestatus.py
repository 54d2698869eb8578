"""Route status as the router writes it: the pure `route_ingress`/`router_port` as tables, then the
RouteAdmitter against the in-process API server (statuses, the port annotation, Events, writes only on change)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from kubeserve.client import ApiClient, Informer
from kubeserve.gateway.admission import Admission, AdmissionSettings
from kubeserve.gateway.routestatus import ROUTER_PORT_ANNOTATION, RouteAdmitter, route_ingress, router_port
from unit.node.inproc_api import api_client, eventually

Obj = dict[str, Any]
DEFAULT = AdmissionSettings()
HIGH = AdmissionSettings(https_port=8443, http_port=8080)
ADMITTED = Admission("h.apps.localhost", "", True)
REFUSED = Admission("h.apps.localhost", "", False, "HostAlreadyClaimed", "route a already exposes h")
T0, T1 = "2026-01-01T00:00:00Z", "2026-01-01T00:00:09Z"


def ingress_entry(status: str, when: str, router: str = "default", **extra: str) -> Obj:
    return {"host": "h.apps.localhost", "routerName": router,
            "conditions": [{"type": "Admitted", "status": status, **extra, "lastTransitionTime": when}],
            "wildcardPolicy": "None", "routerCanonicalHostname": f"router-{router}.apps.localhost"}


def with_status(*entries: Obj) -> Obj:
    return {"metadata": {"name": "r", "namespace": "demo"}, "spec": {"host": "h.apps.localhost"},
            "status": {"ingress": list(entries)}}


INGRESS = [
    # (case, route, verdict, expected ingress)
    ("first-admission", with_status(), ADMITTED, [ingress_entry("True", T1)]),
    ("unchanged-keeps-time", with_status(ingress_entry("True", T0)), ADMITTED, [ingress_entry("True", T0)]),
    ("flip-moves-time", with_status(ingress_entry("True", T0)), REFUSED,
     [ingress_entry("False", T1, reason="HostAlreadyClaimed", message="route a already exposes h")]),
    ("new-reason-keeps-time", with_status(ingress_entry("False", T0, reason="X", message="y")), REFUSED,
     [ingress_entry("False", T0, reason="HostAlreadyClaimed", message="route a already exposes h")]),
    ("other-routers-kept", with_status(ingress_entry("True", T0, router="sharded")), ADMITTED,
     [ingress_entry("True", T1), ingress_entry("True", T0, router="sharded")]),
]


@pytest.mark.parametrize(("route", "verdict", "expected"), [c[1:] for c in INGRESS], ids=[c[0] for c in INGRESS])
def test_route_ingress(route: Obj, verdict: Admission, expected: list[Obj]) -> None:
    assert route_ingress(route, verdict, DEFAULT, T1) == expected


@pytest.mark.parametrize(("tls", "settings", "port"), [
    (True, DEFAULT, None),
    (False, DEFAULT, None),
    (True, HIGH, "8443"),
    (False, HIGH, "8080"),
    (False, AdmissionSettings(https_port=8443), None),
    (True, AdmissionSettings(http_port=8080), None),
])
def test_router_port(tls: bool, settings: AdmissionSettings, port: str | None) -> None:
    spec: Obj = {"tls": {"termination": "edge"}} if tls else {}
    assert router_port({"spec": spec}, settings) == port


# -- the RouteAdmitter against the real API server ---------------------------------------------------------

@pytest.fixture
async def client() -> AsyncIterator[ApiClient]:
    async with api_client("demo", "other") as c:
        yield c


def informers(client: ApiClient) -> tuple[Informer, Informer, Informer]:
    return (Informer(client, client.kind("route.openshift.io/v1", "Route")),
            Informer(client, client.kind("v1", "Service")),
            Informer(client, client.kind("serving.kserve.io/v1beta1", "InferenceService")))


def route_body(name: str, host: str = "", to: str = "web", tls: bool = True) -> Obj:
    spec: Obj = {"to": {"kind": "Service", "name": to}, "port": {"targetPort": "http"}}
    if host:
        spec["host"] = host
    if tls:
        spec["tls"] = {"termination": "edge", "insecureEdgeTerminationPolicy": "Redirect"}
    return {"apiVersion": "route.openshift.io/v1", "kind": "Route", "metadata": {"name": name}, "spec": spec}


def admitted(route: Obj | None) -> Obj | None:
    ingress = ((route or {}).get("status") or {}).get("ingress") or []
    return next((c for c in ingress[0]["conditions"] if c["type"] == "Admitted"), None) if ingress else None


async def test_admitter_writes_status_annotation_and_events(client: ApiClient) -> None:
    kind = client.kind("route.openshift.io/v1", "Route")
    routes, services, isvcs = informers(client)
    admitter = RouteAdmitter(client, routes, services, isvcs, HIGH)
    await client.create(kind, "demo", route_body("first", "shared.apps.localhost"))
    await admitter.start()
    try:
        await client.create(kind, "other", route_body("second", "shared.apps.localhost"))
        await client.create(kind, "demo", route_body("plain", tls=False))

        async def settled() -> Obj | None:
            second = await client.get(kind, "other", "second")
            return second if admitted(second) else None

        second = await eventually(settled)
        condition = admitted(second)
        assert condition is not None
        assert (condition["status"], condition["reason"]) == ("False", "HostAlreadyClaimed")
        assert "a route in another namespace holds shared.apps.localhost" in condition["message"]
        async def first_settled() -> Obj | None:
            first = await client.get(kind, "demo", "first")
            done = admitted(first) and ROUTER_PORT_ANNOTATION in (first["metadata"].get("annotations") or {})
            return first if done else None

        first = await eventually(first_settled)
        assert admitted(first) == {"type": "Admitted", "status": "True",
                                   "lastTransitionTime": admitted(first)["lastTransitionTime"]}  # type: ignore[index]
        assert first["status"]["ingress"][0]["routerCanonicalHostname"] == "router-default.apps.localhost"
        assert first["metadata"]["annotations"][ROUTER_PORT_ANNOTATION] == "8443"

        async def plain_port() -> str | None:
            plain = await client.get(kind, "demo", "plain")
            return ((plain["metadata"].get("annotations") or {}).get(ROUTER_PORT_ANNOTATION)
                    if admitted(plain) else None)

        assert await eventually(plain_port) == "8080"
        plain = await client.get(kind, "demo", "plain")
        assert plain["spec"]["host"] == "plain-demo.apps.localhost"  # generated by the API server

        events, _ = await client.list(client.kind("v1", "Event"), "other")
        assert [(e["reason"], e["involvedObject"]["name"]) for e in events] == [("HostAlreadyClaimed", "second")]

        # The older Route goes: the other one takes the host, and its condition's time moves.
        before = admitted(second)
        await client.delete(kind, "demo", "first")

        async def taken_over() -> Obj | None:
            condition = admitted(await client.get(kind, "other", "second"))
            return condition if condition and condition["status"] == "True" else None

        after = await eventually(taken_over)
        assert before is not None and "reason" not in after

        # Nothing changes: nothing is written.
        rv = (await client.get(kind, "other", "second"))["metadata"]["resourceVersion"]
        await admitter.sync()
        assert (await client.get(kind, "other", "second"))["metadata"]["resourceVersion"] == rv
    finally:
        await admitter.stop()
        for informer in (routes, services, isvcs):
            await informer.stop()


async def test_a_route_to_an_unexposed_inference_service_is_refused_until_labelled(client: ApiClient) -> None:
    kind = client.kind("route.openshift.io/v1", "Route")
    isvc_kind = client.kind("serving.kserve.io/v1beta1", "InferenceService")
    await client.create(isvc_kind, "demo", {
        "apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService", "metadata": {"name": "granite-model"},
        "spec": {"predictor": {"model": {"modelFormat": {"name": "vLLM"}, "runtime": "granite-model"}}}})
    routes, services, isvcs = informers(client)
    admitter = RouteAdmitter(client, routes, services, isvcs, DEFAULT)
    await admitter.start()
    try:
        await client.create(kind, "demo", route_body("granite-model", to="granite-model-predictor"))

        async def condition_is(status: str) -> Obj | None:
            route = await client.get(kind, "demo", "granite-model")
            condition = admitted(route)
            return route if condition and condition["status"] == status else None

        route = await eventually(lambda: condition_is("False"))
        condition = admitted(route)
        assert condition is not None and condition["reason"] == "InferenceServiceNotExposed"
        assert condition["message"].endswith(
            "kubectl label inferenceservice granite-model networking.kserve.io/visibility=exposed -n demo")
        assert ROUTER_PORT_ANNOTATION not in (route["metadata"].get("annotations") or {})
        await client.patch(isvc_kind, "demo", "granite-model",
                           {"metadata": {"labels": {"networking.kserve.io/visibility": "exposed"}}})
        route = await eventually(lambda: condition_is("True"))
        assert route["status"]["ingress"][0]["host"] == "granite-model-demo.apps.localhost"
    finally:
        await admitter.stop()
        for informer in (routes, services, isvcs):
            await informer.stop()
