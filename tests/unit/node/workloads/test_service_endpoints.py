"""Endpoints and EndpointSlices computed from a Service and its pods."""

from __future__ import annotations

from typing import Any

import pytest

from kubeserve.node.workloads import serviceendpoints as se

Obj = dict[str, Any]


def service(ports: list[Obj] | None = None, selector: dict[str, str] | None = None, **spec: Any) -> Obj:
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "web", "namespace": "default", "uid": "svc-uid", "labels": {"team": "a"}},
            "spec": {"selector": {"app": "web"} if selector is None else selector,
                     "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]
                     if ports is None else ports, **spec}}


def pod(name: str, ip: str = "", ready: bool = True, phase: str = "Running", deleting: bool = False,
        container_port: int = 8080, node: str = "node1") -> Obj:
    meta: Obj = {"name": name, "namespace": "default", "uid": f"uid-{name}", "labels": {"app": "web"}}
    if deleting:
        meta["deletionTimestamp"] = "2025-01-01T00:00:00Z"
    status: Obj = {"phase": phase, "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}
    if ip:
        status["podIP"] = ip
    return {"metadata": meta,
            "spec": {"nodeName": node, "containers": [{"name": "main", "ports": [
                {"name": "http", "containerPort": container_port, "protocol": "TCP"}]}]},
            "status": status}


def ref(name: str) -> Obj:
    return {"kind": "Pod", "namespace": "default", "name": name, "uid": f"uid-{name}"}


@pytest.mark.parametrize(("port", "expected"), [
    ({"port": 80, "targetPort": 9000}, 9000),
    ({"port": 80}, 80),
    ({"port": 80, "targetPort": "http"}, 8080),
    ({"port": 80, "targetPort": "http", "protocol": "UDP"}, None),  # the name must match the protocol too
    ({"port": 80, "targetPort": "grpc"}, None),
    ({"port": 80, "targetPort": "9001"}, 9001),
])
def test_resolve_port(port: Obj, expected: int | None) -> None:
    assert se.resolve_port(port, pod("a")) == expected


def test_service_without_selector_is_not_ours() -> None:
    assert se.service_selector(service(selector={})) is None
    assert se.service_selector(service()) is not None


def test_endpoints_split_ready_and_not_ready() -> None:
    pods = [pod("b", "127.10.0.3"), pod("a", "127.10.0.10"), pod("c", "127.10.0.4", ready=False),
            pod("no-ip"), pod("done", "127.10.0.5", phase="Succeeded"), pod("dying", "127.10.0.6", deleting=True)]
    ep = se.endpoints_for(service(), pods)
    assert ep["metadata"]["name"] == "web"
    assert ep["metadata"]["labels"] == {"team": "a", "endpoints.kubernetes.io/managed-by": "endpoint-controller"}
    assert ep["metadata"]["ownerReferences"][0]["uid"] == "svc-uid"
    assert ep["subsets"] == [{
        "addresses": [{"ip": "127.10.0.3", "nodeName": "node1", "targetRef": ref("b")},
                      {"ip": "127.10.0.10", "nodeName": "node1", "targetRef": ref("a")}],
        "notReadyAddresses": [{"ip": "127.10.0.4", "nodeName": "node1", "targetRef": ref("c")}],
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
    }]


def test_endpoints_group_pods_by_resolved_ports() -> None:
    ep = se.endpoints_for(service(), [pod("a", "127.10.0.2"), pod("b", "127.10.0.3", container_port=9090)])
    assert [s["ports"][0]["port"] for s in ep["subsets"]] == [8080, 9090]


def test_publish_not_ready_addresses() -> None:
    ep = se.endpoints_for(service(publishNotReadyAddresses=True), [pod("a", "127.10.0.2", ready=False)])
    assert [a["ip"] for a in ep["subsets"][0]["addresses"]] == ["127.10.0.2"]


def test_no_pods_means_no_subsets() -> None:
    assert "subsets" not in se.endpoints_for(service(), [])


def test_slice() -> None:
    pods = [pod("a", "127.10.0.2"), pod("b", "127.10.0.3", ready=False), pod("c", "127.10.0.4", deleting=True),
            pod("d", "127.10.0.5", ready=False, deleting=True), pod("no-ip")]
    slices = se.slices_for(service(), pods)
    assert len(slices) == 1
    es = slices[0]
    assert es["metadata"]["name"].startswith("web-") and len(es["metadata"]["name"]) == len("web-") + 5
    assert es["metadata"]["labels"] == {"team": "a", "kubernetes.io/service-name": "web",
                                        "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"}
    assert es["addressType"] == "IPv4"
    assert es["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
    assert [(e["addresses"], e["conditions"]) for e in es["endpoints"]] == [
        (["127.10.0.2"], {"ready": True, "serving": True, "terminating": False}),
        (["127.10.0.3"], {"ready": False, "serving": False, "terminating": False}),
        (["127.10.0.4"], {"ready": False, "serving": True, "terminating": True}),
        (["127.10.0.5"], {"ready": False, "serving": False, "terminating": True}),
    ]
    assert es["endpoints"][0]["nodeName"] == "node1" and es["endpoints"][0]["targetRef"] == ref("a")
    assert se.slices_for(service(), pods)[0]["metadata"]["name"] == es["metadata"]["name"]  # stable


def test_placeholder_slice_and_unnamed_port() -> None:
    (es,) = se.slices_for(service(ports=[{"port": 80, "targetPort": 8080, "protocol": "TCP"}]), [])
    assert es["endpoints"] == [] and es["ports"] == []
    (es,) = se.slices_for(service(ports=[{"port": 80, "targetPort": 8080, "protocol": "TCP"}]),
                          [pod("a", "127.10.0.2")])
    assert es["ports"] == [{"name": "", "port": 8080, "protocol": "TCP"}]


def test_headless_label() -> None:
    (es,) = se.slices_for(service(clusterIP="None"), [])
    assert es["metadata"]["labels"]["service.kubernetes.io/headless"] == ""


def test_differs_only_on_what_the_controller_owns() -> None:
    desired = se.endpoints_for(service(), [pod("a", "127.10.0.2")])
    stored = {**desired, "metadata": {**desired["metadata"], "resourceVersion": "5",
                                      "annotations": {"x": "y"}, "uid": "u"}}
    assert not se.differs(desired, stored)
    assert se.differs(se.endpoints_for(service(), []), stored)
    merged = se.merged(se.endpoints_for(service(), []), stored)
    assert "subsets" not in merged and merged["metadata"]["resourceVersion"] == "5"
    assert merged["metadata"]["annotations"] == {"x": "y"}
    (slice_desired,) = se.slices_for(service(), [pod("a", "127.10.0.2")])
    assert not se.differs(slice_desired, {**slice_desired, "metadata": {**slice_desired["metadata"], "uid": "u"}})
    assert se.differs(slice_desired, {**slice_desired, "endpoints": []})
