"""Defaulting: what the apiserver fills in on write, and the initial status of new objects."""

from __future__ import annotations

import base64
import copy
from typing import Any

import pytest

from kubeserve.api.defaults import apply_defaults, initial_status
from kubeserve.api.kinds import KINDS, Registry, ResourceKind

Obj = dict[str, Any]
REGISTRY = Registry()


def kind(group: str, name: str) -> ResourceKind:
    found = REGISTRY.by_group_kind(group, name)
    assert found is not None
    return found


def defaulted(group: str, name: str, obj: Obj) -> Obj:
    out = copy.deepcopy(obj)
    apply_defaults(kind(group, name), out)
    return out


# ---- Secret ------------------------------------------------------------------------------------------------


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        ({}, {"type": "Opaque"}),
        ({"type": "kubernetes.io/tls"}, {"type": "kubernetes.io/tls"}),
        ({"stringData": {"AWS_ACCESS_KEY_ID": "minio"}},
         {"data": {"AWS_ACCESS_KEY_ID": b64("minio")}, "type": "Opaque"}),
        ({"data": {"a": b64("x")}, "stringData": {"b": "y"}},
         {"data": {"a": b64("x"), "b": b64("y")}, "type": "Opaque"}),
        ({"data": {"a": b64("x")}, "stringData": {"a": "wins"}}, {"data": {"a": b64("wins")}, "type": "Opaque"}),
        ({"stringData": {}}, {"type": "Opaque"}),
        ({"stringData": {"unicode": "naïve ✓"}}, {"data": {"unicode": b64("naïve ✓")}, "type": "Opaque"}),
        ({"stringData": {"port": 9000}}, {"data": {"port": b64("9000")}, "type": "Opaque"}),  # YAML numbers
        ({"data": None, "stringData": {"k": "v"}}, {"data": {"k": b64("v")}, "type": "Opaque"}),
        ({"stringData": None}, {"type": "Opaque"}),
        ({"stringData": {"k": None}}, {"data": {"k": ""}, "type": "Opaque"}),  # null is Go's zero value, ""
    ],
    ids=["empty", "keeps-type", "string-data", "merge", "string-data-wins", "empty-string-data", "unicode", "number",
         "null-data", "null-string-data", "null-value"],
)
def test_secret(obj: Obj, expected: Obj) -> None:
    assert defaulted("", "Secret", obj) == expected


def test_secret_defaulting_is_idempotent() -> None:
    once = defaulted("", "Secret", {"stringData": {"k": "v"}})
    assert defaulted("", "Secret", once) == once


# ---- Namespace, Service, Deployment, ReplicaSet, PVC, Route ------------------------------------------------------


@pytest.mark.parametrize(
    ("obj", "finalizers"),
    [({}, ["kubernetes"]), ({"spec": {}}, ["kubernetes"]), ({"spec": {"finalizers": []}}, [])],
)
def test_namespace(obj: Obj, finalizers: list[str]) -> None:
    assert defaulted("", "Namespace", obj)["spec"]["finalizers"] == finalizers


def test_service() -> None:
    svc = {"spec": {"ports": [{"port": 8080}, {"port": 80, "targetPort": 8080, "protocol": "UDP"}, {"name": "x"}]}}
    out = defaulted("", "Service", svc)
    assert out["spec"]["type"] == "ClusterIP"
    assert out["spec"]["sessionAffinity"] == "None"
    assert out["spec"]["ports"] == [
        {"port": 8080, "protocol": "TCP", "targetPort": 8080},
        {"port": 80, "targetPort": 8080, "protocol": "UDP"},
        {"name": "x", "protocol": "TCP"},
    ]
    assert defaulted("", "Service", {"spec": {"type": "NodePort"}})["spec"]["type"] == "NodePort"


def test_deployment() -> None:
    out = defaulted("apps", "Deployment", {"spec": {}})["spec"]
    assert out == {"replicas": 1, "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600,
                   "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}}


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [
        ({"type": "Recreate"}, {"type": "Recreate"}),
        ({}, {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}),
        ({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}},
         {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}),
    ],
)
def test_deployment_strategy(strategy: Obj, expected: Obj) -> None:
    out = defaulted("apps", "Deployment", {"spec": {"replicas": 0, "strategy": strategy}})["spec"]
    assert out["strategy"] == expected
    assert out["replicas"] == 0  # an explicit zero is kept


def test_replicaset_and_pvc() -> None:
    assert defaulted("apps", "ReplicaSet", {})["spec"] == {"replicas": 1}
    assert defaulted("apps", "ReplicaSet", {"spec": {"replicas": 3}})["spec"] == {"replicas": 3}
    assert defaulted("", "PersistentVolumeClaim", {"spec": {}})["spec"] == {"volumeMode": "Filesystem"}
    assert defaulted("", "PersistentVolumeClaim", {"spec": {"volumeMode": "Block"}})["spec"] == {"volumeMode": "Block"}


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"to": {"kind": "Service", "name": "s"}},
         {"to": {"kind": "Service", "name": "s", "weight": 100}, "wildcardPolicy": "None"}),
        ({"to": {"kind": "Service", "name": "s", "weight": 0}},
         {"to": {"kind": "Service", "name": "s", "weight": 0}, "wildcardPolicy": "None"}),
        ({}, {"wildcardPolicy": "None"}),
    ],
)
def test_route(spec: Obj, expected: Obj) -> None:
    assert defaulted("route.openshift.io", "Route", {"spec": spec})["spec"] == expected


@pytest.mark.parametrize(
    ("group", "name"),
    [("", "ConfigMap"), ("serving.kserve.io", "InferenceService"), ("serving.kserve.io", "ServingRuntime"),
     ("dashboard.opendatahub.io", "AcceleratorProfile")],
)
def test_kinds_without_defaults_are_untouched(group: str, name: str) -> None:
    obj = {"metadata": {"name": "x"}, "spec": {"a": 1}}
    assert defaulted(group, name, obj) == obj


@pytest.mark.parametrize("k", KINDS, ids=lambda k: k.kind)
def test_defaulting_is_idempotent_for_every_kind(k: ResourceKind) -> None:
    obj: Obj = {"metadata": {"name": "x"}, "spec": {"ports": [{"port": 1}], "to": {"name": "s"}}}
    apply_defaults(k, obj)
    again = copy.deepcopy(obj)
    apply_defaults(k, again)
    assert again == obj


@pytest.mark.parametrize(
    ("group", "name", "expected"),
    [
        ("", "Namespace", {"finalizers": ["kubernetes"]}),
        ("", "Service", {"type": "ClusterIP", "sessionAffinity": "None"}),
        ("apps", "Deployment", {"replicas": 1, "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600,
                                "strategy": {"type": "RollingUpdate",
                                             "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}}),
        ("apps", "ReplicaSet", {"replicas": 1}),
        ("", "PersistentVolumeClaim", {"volumeMode": "Filesystem"}),
        ("route.openshift.io", "Route", {"wildcardPolicy": "None"}),
    ],
)
def test_null_spec_is_defaulted_like_a_missing_one(group: str, name: str, expected: Obj) -> None:
    assert defaulted(group, name, {"spec": None})["spec"] == expected
    assert defaulted(group, name, {})["spec"] == expected


def test_null_deployment_strategy() -> None:
    out = defaulted("apps", "Deployment", {"spec": {"strategy": None}})
    assert out["spec"]["strategy"] == {"type": "RollingUpdate",
                                       "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}


# ---- initial status -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("group", "name", "status"),
    [
        ("", "Namespace", {"phase": "Active"}),
        ("", "PersistentVolumeClaim", {"phase": "Pending"}),
        ("", "PersistentVolume", {"phase": "Pending"}),
        ("", "Pod", {"phase": "Pending", "qosClass": "BestEffort"}),
        ("apps", "Deployment", None),
        ("serving.kserve.io", "InferenceService", None),
    ],
)
def test_initial_status(group: str, name: str, status: Obj | None) -> None:
    obj: Obj = {"metadata": {"name": "x"}}
    initial_status(kind(group, name), obj)
    assert obj.get("status") == status


def test_initial_status_is_a_fresh_copy() -> None:
    a: Obj = {}
    b: Obj = {}
    initial_status(kind("", "Namespace"), a)
    a["status"]["phase"] = "Terminating"
    initial_status(kind("", "Namespace"), b)
    assert b["status"] == {"phase": "Active"}


def test_pod_specs_get_kubernetes_defaults_in_pods_and_templates() -> None:
    spec = {"containers": [{"name": "a", "image": "busybox", "ports": [{"containerPort": 80}],
                            "readinessProbe": {"httpGet": {"port": 80}}},
                           {"name": "b", "image": "quay.io/x/y:1.2", "imagePullPolicy": "Never",
                            "livenessProbe": {"exec": {"command": ["true"]}, "periodSeconds": 2}}]}
    pod = defaulted("", "Pod", {"spec": spec})["spec"]
    assert (pod["restartPolicy"], pod["terminationGracePeriodSeconds"], pod["dnsPolicy"], pod["schedulerName"]) == (
        "Always", 30, "ClusterFirst", "default-scheduler")
    a, b = pod["containers"]
    assert (a["imagePullPolicy"], b["imagePullPolicy"]) == ("Always", "Never")
    assert a["ports"] == [{"containerPort": 80, "protocol": "TCP"}]
    assert a["readinessProbe"] == {"httpGet": {"port": 80, "path": "/", "scheme": "HTTP"}, "timeoutSeconds": 1,
                                   "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3}
    assert b["livenessProbe"]["periodSeconds"] == 2  # what the user set stays
    template = {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "img:1"}]}}
    deployment = defaulted("apps", "Deployment", {"spec": {"template": template}})
    assert deployment["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] == "IfNotPresent"
