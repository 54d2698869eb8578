"""KServe's merge of runtime and InferenceService, metadata precedence, and the HPA rules."""

from __future__ import annotations

from typing import Any

import pytest

from kubeserve.controllers.render import RenderSettings, render_predictor
from kubeserve.controllers.render_merge import merge_container, merge_pod_spec, model_container
from kubeserve.controllers.render_scale import render_hpa, replicas, wants_hpa
from kubeserve.controllers.runtimes import RuntimeChoice

BASE = {
    "name": "kserve-container", "image": "runtime:1", "command": ["serve"],
    "args": ["--port=8080", "--served-model-name={{.Name}}"],
    "env": [{"name": "A", "value": "runtime"}, {"name": "B", "value": "runtime"},
            {"name": "S", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}],
    "resources": {"limits": {"cpu": "2", "memory": "8Gi", "nvidia.com/gpu": "1"}, "requests": {"memory": "4Gi"}},
    "ports": [{"containerPort": 8080, "protocol": "TCP"}],
    "volumeMounts": [{"name": "shm", "mountPath": "/dev/shm"}],
}


@pytest.mark.parametrize(("overlay", "field", "expected"), [
    ({}, "image", "runtime:1"),
    ({"image": "mine:2"}, "image", "mine:2"),
    ({"command": ["python", "-m", "x"]}, "command", ["python", "-m", "x"]),
    ({}, "command", ["serve"]),
    ({"args": ["--max-model-len=4096"]}, "args", ["--port=8080", "--served-model-name={{.Name}}",
                                                  "--max-model-len=4096"]),
    ({"env": [{"name": "B", "value": "isvc"}, {"name": "C", "value": "isvc"}]}, "env",
     [{"name": "A", "value": "runtime"}, {"name": "B", "value": "isvc"},
      {"name": "S", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}, {"name": "C", "value": "isvc"}]),
    # A value replaces a valueFrom of the same name whole (KServe's reconcileEnvValueConflicts).
    ({"env": [{"name": "S", "value": "plain"}]}, "env",
     [{"name": "A", "value": "runtime"}, {"name": "B", "value": "runtime"}, {"name": "S", "value": "plain"}]),
    ({"resources": {"limits": {"nvidia.com/gpu": "2"}, "requests": {"cpu": "1"}}}, "resources",
     {"limits": {"cpu": "2", "memory": "8Gi", "nvidia.com/gpu": "2"}, "requests": {"memory": "4Gi", "cpu": "1"}}),
    ({"ports": [{"containerPort": 8080, "name": "http1"}, {"containerPort": 9090}]}, "ports",
     [{"containerPort": 8080, "protocol": "TCP", "name": "http1"}, {"containerPort": 9090}]),
    ({"volumeMounts": [{"name": "cache", "mountPath": "/cache"}]}, "volumeMounts",
     [{"name": "shm", "mountPath": "/dev/shm"}, {"name": "cache", "mountPath": "/cache"}]),
    ({"name": "other"}, "name", "kserve-container"),
])
def test_container_merge(overlay: dict[str, Any], field: str, expected: Any) -> None:
    assert merge_container(BASE, overlay)[field] == expected


def test_model_container_drops_the_model_fields() -> None:
    model = {"modelFormat": {"name": "vLLM"}, "runtime": "r", "storageUri": "s3://b/m", "protocolVersion": "v2",
             "storage": {"key": "k"}, "runtimeVersion": "1", "args": ["--x"], "env": [{"name": "A"}]}
    assert model_container(model) == {"args": ["--x"], "env": [{"name": "A"}]}


def test_pod_spec_merge() -> None:
    runtime_spec = {
        "containers": [BASE], "nodeSelector": {"pool": "gpu", "zone": "a"},
        "tolerations": [{"key": "runtime", "operator": "Exists"}],
        "volumes": [{"name": "shm", "emptyDir": {"medium": "Memory"}}],
        "imagePullSecrets": [{"name": "runtime-pull"}], "hostIPC": True, "supportedModelFormats": [],
    }
    predictor = {
        "minReplicas": 2, "model": {}, "serviceAccountName": "sa",
        "nodeSelector": {"zone": "b"}, "tolerations": [{"key": "isvc", "operator": "Exists"}],
        "volumes": [{"name": "shm", "emptyDir": {"sizeLimit": "1Gi"}}, {"name": "extra", "emptyDir": {}}],
        "imagePullSecrets": [{"name": "isvc-pull"}],
        "affinity": {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": []}},
    }
    assert merge_pod_spec(runtime_spec, predictor) == {
        "nodeSelector": {"pool": "gpu", "zone": "b"},
        "tolerations": [{"key": "isvc", "operator": "Exists"}],  # tolerations are replaced, not merged
        "volumes": [{"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": "1Gi"}},
                    {"name": "extra", "emptyDir": {}}],
        "imagePullSecrets": [{"name": "runtime-pull"}, {"name": "isvc-pull"}],
        "serviceAccountName": "sa",
        "affinity": {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": []}},
    }


def render(runtime: dict[str, Any], isvc: dict[str, Any]) -> Any:
    return render_predictor(isvc, RuntimeChoice("ServingRuntime", runtime["metadata"]["name"], runtime),
                            RenderSettings())


def test_containers_order_and_metadata_precedence() -> None:
    runtime = {"metadata": {"name": "r", "annotations": {"prometheus.io/port": "8080", "opendatahub.io/x": "y"}},
               "spec": {"labels": {"tier": "runtime", "from-runtime": "1"},
                        "annotations": {"note": "runtime", "runtime-only": "1"},
                        "containers": [{"name": "sidecar", "image": "side"}, dict(BASE)]}}
    isvc = {"metadata": {"name": "m", "namespace": "team", "labels": {"tier": "isvc", "app": "mine"},
                         "annotations": {"note": "isvc", "kubectl.kubernetes.io/last-applied-configuration": "{}"}},
            "spec": {"predictor": {
                "labels": {"tier": "predictor"}, "annotations": {"note": "predictor"},
                "containers": [{"name": "logger", "image": "log"}],
                "model": {"modelFormat": {"name": "vLLM"}}}}}
    predictor = render(runtime, isvc)
    pod = predictor.deployment["spec"]["template"]
    assert [c["name"] for c in pod["spec"]["containers"]] == ["kserve-container", "sidecar", "logger"]
    assert pod["spec"]["containers"][0]["args"][1] == "--served-model-name=m"
    assert pod["spec"]["containers"][1] == {"name": "sidecar", "image": "side"}
    labels = pod["metadata"]["labels"]
    assert labels["tier"] == "predictor" and labels["from-runtime"] == "1"
    assert labels["app"] == "isvc.m-predictor"  # KServe's selector label wins over the isvc's own
    annotations = pod["metadata"]["annotations"]
    assert annotations == {"prometheus.io/port": "8080", "note": "predictor", "runtime-only": "1"}
    assert predictor.service["metadata"]["annotations"] == annotations


@pytest.mark.parametrize(("predictor", "annotations", "wanted"), [
    ({}, {}, False),
    ({"minReplicas": 1, "maxReplicas": 1}, {}, False),
    ({"minReplicas": 2, "maxReplicas": 2}, {}, False),
    ({"minReplicas": 0, "maxReplicas": 1}, {}, False),
    ({"maxReplicas": 3}, {}, True),
    ({"minReplicas": 1, "maxReplicas": 5}, {}, True),
    ({"scaleTarget": 50}, {}, True),
    ({"scaleMetric": "memory"}, {}, True),
    ({"maxReplicas": 3}, {"serving.kserve.io/autoscalerClass": "none"}, False),
    ({"maxReplicas": 3}, {"serving.kserve.io/autoscalerClass": "external"}, False),
    ({"maxReplicas": 3}, {"serving.kserve.io/autoscalerClass": "hpa"}, True),
])
def test_when_an_hpa_is_wanted(predictor: dict[str, Any], annotations: dict[str, str], wanted: bool) -> None:
    assert wants_hpa(predictor, annotations) == wanted


@pytest.mark.parametrize(("predictor", "low", "high", "metrics", "noted"), [
    ({"maxReplicas": 3}, 1, 3, [("cpu", 80)], False),
    ({"minReplicas": 0, "maxReplicas": 3}, 1, 3, [("cpu", 80)], False),
    ({"minReplicas": 4, "maxReplicas": 2, "scaleTarget": 60}, 4, 4, [("cpu", 60)], False),
    ({"maxReplicas": 3, "scaleMetric": "memory", "scaleTarget": 75}, 1, 3, [("memory", 75)], False),
    ({"maxReplicas": 3, "scaleMetric": "memory"}, 1, 3, [], True),
    ({"maxReplicas": 3, "scaleMetric": "gpu", "scaleTarget": 70}, 1, 3, [("cpu", 70)], True),
    ({"maxReplicas": 3, "scaleMetric": "concurrency"}, 1, 3, [("cpu", 80)], True),
])
def test_hpa_rules(predictor: dict[str, Any], low: int, high: int, metrics: list[tuple[str, int]],
                   noted: bool) -> None:
    hpa, notes = render_hpa({"name": "m-predictor"}, "m-predictor", predictor)
    assert hpa["spec"]["minReplicas"] == low and hpa["spec"]["maxReplicas"] == high
    got = [(m["resource"]["name"], m["resource"]["target"]["averageUtilization"]) for m in hpa["spec"]["metrics"]]
    assert got == metrics
    assert bool(notes) == noted


@pytest.mark.parametrize(("predictor", "serverless", "count"), [
    ({}, False, 1), ({"minReplicas": 3}, False, 3), ({"minReplicas": 0}, False, 1), ({"minReplicas": 0}, True, 0)])
def test_replicas(predictor: dict[str, Any], serverless: bool, count: int) -> None:
    assert replicas(predictor, serverless=serverless) == count
