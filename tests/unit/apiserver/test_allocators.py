"""Service ClusterIP allocation: the pure allocator, and the registry allocating on create and keeping the
address on update."""

from __future__ import annotations

from typing import Any

import pytest
from world import NS, REGISTRY, T0, W, kind

from kubeserve.api import errors
from kubeserve.apiserver import allocators
from kubeserve.apiserver.registry import Objects
from kubeserve.store import SqliteStore

SVC = kind("", "v1", "Service")
Obj = dict[str, Any]


def service(name: str = "s", **spec: Any) -> Obj:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "default"},
            "spec": {"selector": {"app": name}, "ports": [{"port": 80}], **spec}}


@pytest.mark.parametrize(("used", "expected"), [
    (set(), "127.96.0.10"),
    ({"127.96.0.10", "127.96.0.11"}, "127.96.0.12"),
    ({"127.96.0.11"}, "127.96.0.10"),
    ({f"127.96.0.{i}" for i in range(10, 255)}, "127.96.0.255"),  # .255 of a /24 inside the /16 is a host
])
def test_next_free(used: set[str], expected: str) -> None:
    assert allocators.next_free(used) == expected


@pytest.mark.parametrize(("spec", "used", "cluster_ip", "cause"), [
    ({}, set(), "127.96.0.10", ""),
    ({"clusterIP": ""}, {"127.96.0.10"}, "127.96.0.11", ""),
    ({"clusterIP": "None"}, set(), "None", ""),
    ({"clusterIP": "127.96.3.4"}, set(), "127.96.3.4", ""),
    ({"clusterIPs": ["127.96.3.4"]}, set(), "127.96.3.4", ""),
    ({"clusterIP": "10.96.0.1"}, set(), None, "is not in the valid range. The range of valid IPs is 127.96.0.0/16"),
    ({"clusterIP": "127.96.0.10"}, {"127.96.0.10"}, None, "provided IP is already allocated"),
    ({"clusterIP": "banana"}, set(), None, "must be a valid IP address"),
    ({"type": "ExternalName", "externalName": "example.com"}, set(), "absent", ""),
])
def test_allocate(spec: Obj, used: set[str], cluster_ip: str | None, cause: str) -> None:
    obj = service(**spec)
    causes = allocators.allocate(obj, used)
    if cause:
        assert len(causes) == 1 and causes[0].field == "spec.clusterIP" and cause in causes[0].message
        return
    assert causes == []
    if cluster_ip == "absent":
        assert "clusterIP" not in obj["spec"]
        return
    assert obj["spec"]["clusterIP"] == cluster_ip
    assert obj["spec"]["clusterIPs"] == [cluster_ip]
    assert obj["spec"]["ipFamilies"] == ["IPv4"]
    assert obj["spec"]["ipFamilyPolicy"] == "SingleStack"


@pytest.fixture
def objects(store: SqliteStore) -> Objects:
    o = Objects(store, REGISTRY, clock=lambda: T0)
    o.create(NS, "", {"metadata": {"name": "default"}}, W)
    return o


def test_create_allocates_and_defaults(objects: Objects) -> None:
    first = objects.create(SVC, "default", service("a"), W).object
    second = objects.create(SVC, "default", service("b"), W).object
    headless = objects.create(SVC, "default", service("h", clusterIP="None"), W).object
    assert first["spec"]["clusterIP"] == "127.96.0.10"
    assert second["spec"]["clusterIP"] == "127.96.0.11"
    assert headless["spec"]["clusterIP"] == "None"
    assert first["spec"]["type"] == "ClusterIP"
    assert first["spec"]["sessionAffinity"] == "None"
    assert first["spec"]["ports"] == [{"port": 80, "protocol": "TCP", "targetPort": 80}]
    # a freed address is reused
    objects.delete(SVC, "default", "a")
    assert objects.create(SVC, "default", service("c"), W).object["spec"]["clusterIP"] == "127.96.0.10"


def test_create_refuses_taken_or_foreign_addresses(objects: Objects) -> None:
    objects.create(SVC, "default", service("a"), W)
    with pytest.raises(errors.Invalid, match=r'Service "b" is invalid: spec.clusterIP: .*already allocated'):
        objects.create(SVC, "default", service("b", clusterIP="127.96.0.10"), W)
    with pytest.raises(errors.Invalid, match="not in the valid range"):
        objects.create(SVC, "default", service("c", clusterIP="10.0.0.1"), W)


def test_update_keeps_the_address_and_refuses_changes(objects: Objects) -> None:
    created = objects.create(SVC, "default", service("a"), W).object
    replaced = service("a")  # a PUT that leaves clusterIP out keeps it
    replaced["metadata"]["resourceVersion"] = created["metadata"]["resourceVersion"]
    replaced["spec"]["ports"] = [{"port": 81}]
    updated = objects.update(SVC, "default", "a", replaced, W).object
    assert updated["spec"]["clusterIP"] == "127.96.0.10"
    assert updated["spec"]["clusterIPs"] == ["127.96.0.10"]
    assert updated["spec"]["ipFamilies"] == ["IPv4"]
    with pytest.raises(errors.Invalid, match=r"spec.clusterIP: Invalid value: \"127.96.0.99\": field is immutable"):
        objects.patch(SVC, "default", "a", "application/merge-patch+json", {"spec": {"clusterIP": "127.96.0.99"}}, W)
    patched = objects.patch(SVC, "default", "a", "application/merge-patch+json",
                            {"metadata": {"labels": {"x": "y"}}}, W).object
    assert patched["spec"]["clusterIP"] == "127.96.0.10"


def test_update_refuses_a_changed_cluster_ips(objects: Objects) -> None:
    objects.create(SVC, "default", service("a"), W)
    with pytest.raises(errors.Invalid, match=r"spec.clusterIPs\[0\]: .*may not change once set"):
        objects.patch(SVC, "default", "a", "application/merge-patch+json", {"spec": {"clusterIPs": ["127.96.0.9"]}}, W)


def test_type_changes_take_and_give_back_addresses(objects: Objects) -> None:
    merge = "application/merge-patch+json"
    objects.create(SVC, "default", {"metadata": {"name": "ext"},
                                    "spec": {"type": "ExternalName", "externalName": "example.com"}}, W)
    to_cluster_ip = {"spec": {"type": "ClusterIP", "externalName": None, "selector": {"app": "web"},
                              "ports": [{"port": 80}]}}
    spec = objects.patch(SVC, "default", "ext", merge, to_cluster_ip, W).object["spec"]
    assert (spec["clusterIP"], spec["clusterIPs"]) == ("127.96.0.10", ["127.96.0.10"])

    back = {"spec": {"type": "ExternalName", "externalName": "example.com", "selector": None, "ports": None}}
    spec = objects.patch(SVC, "default", "ext", merge, back, W).object["spec"]
    assert "clusterIP" not in spec and "clusterIPs" not in spec
    assert objects.create(SVC, "default", service("next"), W).object["spec"]["clusterIP"] == "127.96.0.10"
