"""Rendering the guide's InferenceServices: the Deployment, Service, HPA and Route each one gets."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubeserve.controllers.render import Predictor, RenderError, RenderSettings, container_port, render_predictor
from kubeserve.controllers.runtimes import RuntimeChoice

GUIDE = Path(__file__).parents[2] / "fixtures" / "guide"
S3_SECRET = {"name": "model-s3-storage", "data": {
    "AWS_ACCESS_KEY_ID": "your-access-key", "AWS_SECRET_ACCESS_KEY": "your-secret-key",
    "AWS_S3_ENDPOINT": "https://s3.amazonaws.com", "AWS_S3_BUCKET": "your-model-bucket",
    "AWS_DEFAULT_REGION": "us-east-1"}}
PAIRS = ["granite-model", "cpu-model", "minimal-model", "amd-model", "s3-model", "pvc-model", "autoscale-model",
         "multi-gpu-model", "quantized-model"]


def load(name: str) -> dict[str, Any]:
    obj: dict[str, Any] = yaml.safe_load((GUIDE / f"{name}.yaml").read_text())
    return obj


def guide(name: str, **meta: Any) -> tuple[dict[str, Any], RuntimeChoice]:
    isvc = load(f"{name}-service")
    isvc["metadata"].update({"namespace": "team", **meta})
    runtime = load(f"{name}-runtime")
    return isvc, RuntimeChoice("ServingRuntime", runtime["metadata"]["name"], runtime)


def render(name: str, settings: RenderSettings | None = None, **meta: Any) -> Predictor:
    isvc, choice = guide(name, **meta)
    return render_predictor(isvc, choice, settings or RenderSettings(), storage_secret=S3_SECRET)


def kserve(predictor: Predictor) -> dict[str, Any]:
    container: dict[str, Any] = predictor.deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["name"] == "kserve-container"
    return container


@pytest.mark.parametrize("name", PAIRS)
def test_every_guide_pair_renders_kserve_shapes(name: str) -> None:
    predictor = render(name)
    isvc, choice = guide(name)
    deployment, service = predictor.deployment, predictor.service
    for obj in (deployment, service, deployment["spec"]["template"]):
        labels = obj["metadata"]["labels"]
        assert labels["serving.kserve.io/inferenceservice"] == name
        assert labels["component"] == "predictor"
        assert labels["app"] == f"isvc.{name}-predictor"
        for key, value in (isvc["metadata"].get("labels") or {}).items():
            assert labels[key] == value
    assert deployment["metadata"]["name"] == service["metadata"]["name"] == f"{name}-predictor"
    assert deployment["metadata"]["namespace"] == service["metadata"]["namespace"] == "team"
    assert deployment["spec"]["selector"]["matchLabels"] == {"app": f"isvc.{name}-predictor"}
    assert service["spec"]["selector"] == {"app": f"isvc.{name}-predictor"}
    assert service["spec"]["ports"][0] == {"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}
    assert predictor.container_port == 8080
    container = kserve(predictor)
    runtime_container = choice.obj["spec"]["containers"][0]
    assert container["image"] == runtime_container["image"]
    wanted_args = [arg.replace("{{.Name}}", name) for arg in runtime_container["args"]]
    wanted_args += isvc["spec"]["predictor"]["model"].get("args") or []
    assert container["args"] == wanted_args
    assert "{{" not in json.dumps(deployment)
    assert any(m["mountPath"] == "/mnt/models" and m["readOnly"] for m in container["volumeMounts"])
    assert container["readinessProbe"]["tcpSocket"] == {"port": 8080}
    assert "ownerReferences" not in deployment["metadata"]  # the fixture has no uid
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "RollingUpdate",
                                              "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}


def test_granite_gpu_tolerations_shm_and_route() -> None:
    predictor = render("granite-model")
    pod = predictor.deployment["spec"]["template"]["spec"]
    assert pod["tolerations"] == [{"effect": "NoSchedule", "key": "nvidia.com/gpu", "operator": "Exists"}]
    assert {"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": "2Gi"}} in pod["volumes"]
    container = kserve(predictor)
    assert {"mountPath": "/dev/shm", "name": "shm"} in container["volumeMounts"]
    # The InferenceService's resources override the runtime's per key; the runtime's others stay.
    assert container["resources"] == {"limits": {"memory": "24Gi", "nvidia.com/gpu": "1", "cpu": "4"},
                                      "requests": {"memory": "16Gi", "cpu": "2", "nvidia.com/gpu": "1"}}
    assert predictor.hpa is None
    annotations = predictor.deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["openshift.io/display-name"] == "Granite 3.1 8B Instruct"
    # The guide's own Route file is what OpenShift AI creates, plus the namespace.
    expected = load("granite-model-route")
    expected["metadata"]["namespace"] = "team"
    assert predictor.route == expected


@pytest.mark.parametrize(("name", "exposed"), [
    ("granite-model", True), ("autoscale-model", True), ("multi-gpu-model", True), ("quantized-model", True),
    ("cpu-model", False), ("minimal-model", False), ("s3-model", False), ("pvc-model", False),
    ("amd-model", False)])
def test_route_only_when_exposed(name: str, exposed: bool) -> None:
    assert (render(name).route is not None) == exposed


def test_route_host_from_the_domain_setting() -> None:
    route = render("granite-model", RenderSettings(route_domain="apps.example.com")).route
    assert route is not None
    assert route["spec"]["host"] == "granite-model-team.apps.example.com"


def test_cpu_model_keeps_the_runtime_args_and_sets_cpu_resources() -> None:
    container = kserve(render("cpu-model"))
    assert "--device=cpu" in container["args"]
    assert container["resources"] == {"requests": {"cpu": "8", "memory": "32Gi"},
                                      "limits": {"cpu": "16", "memory": "48Gi"}}
    assert "tolerations" not in render("cpu-model").deployment["spec"]["template"]["spec"]


def test_minimal_model_has_no_resources_and_no_extra_annotations() -> None:
    predictor = render("minimal-model")
    assert "resources" not in kserve(predictor)
    assert predictor.deployment["spec"]["template"]["metadata"]["annotations"] == {
        "internal.serving.kserve.io/storage-initializer-sourceuri":
            "oci://registry.redhat.io/rhelai1/modelcar-granite-3-1-8b-instruct:1.5"}


def test_amd_model_keeps_the_explicit_command() -> None:
    container = kserve(render("amd-model"))
    assert container["command"] == ["python", "-m", "vllm.entrypoints.openai.api_server"]
    assert container["resources"]["limits"] == {"amd.com/gpu": "1"}


def test_autoscale_model_hpa_and_prometheus_annotations() -> None:
    predictor = render("autoscale-model")
    assert predictor.hpa == {
        "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "metadata": predictor.deployment["metadata"],
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "autoscale-model-predictor"},
                 "minReplicas": 1, "maxReplicas": 5,
                 "metrics": [{"type": "Resource", "resource": {
                     "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}}]}}
    annotations = predictor.deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == "8080"
    assert annotations["prometheus.io/path"] == "/metrics"


def test_multi_gpu_model_env_hpa_and_tolerations() -> None:
    predictor = render("multi-gpu-model")
    container = kserve(predictor)
    assert {"name": "VLLM_ATTENTION_BACKEND", "value": "FLASHINFER"} in container["env"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "2"
    assert "--tensor-parallel-size=2" in container["args"]
    assert predictor.hpa is not None and predictor.hpa["spec"]["maxReplicas"] == 3
    assert predictor.hpa["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"] == 80
    assert len(predictor.deployment["spec"]["template"]["spec"]["tolerations"]) == 2


def test_custom_args_runtime_with_a_service_naming_it() -> None:
    runtime = load("custom-args-runtime")
    isvc = {"metadata": {"name": "fast", "namespace": "team"}, "spec": {"predictor": {"model": {
        "modelFormat": {"name": "vLLM"}, "runtime": "custom-args-model", "storageUri": "hf://org/model",
        "args": ["--max-num-seqs=64"]}}}}
    predictor = render_predictor(isvc, RuntimeChoice("ServingRuntime", "custom-args-model", runtime),
                                 RenderSettings())
    args = kserve(predictor)["args"]
    assert args[2] == "--served-model-name=fast"
    assert args[-2:] == ["--enable-prefix-caching", "--max-num-seqs=64"]  # the service's args come last


def test_owner_references_when_the_service_has_a_uid() -> None:
    predictor = render("granite-model", uid="abc-123")
    ref = {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService", "name": "granite-model",
           "uid": "abc-123", "controller": True, "blockOwnerDeletion": True}
    for obj in (predictor.deployment, predictor.service, predictor.route):
        assert obj is not None and obj["metadata"]["ownerReferences"] == [ref]
    assert "ownerReferences" not in predictor.deployment["spec"]["template"]["metadata"]


@pytest.mark.parametrize(("mode", "min_replicas", "replicas", "noted"), [
    (None, None, 1, False), ("RawDeployment", 2, 2, False), ("RawDeployment", 0, 1, False),
    ("Serverless", 0, 0, True), ("Serverless", None, 1, True)])
def test_deployment_modes_and_replicas(mode: str | None, min_replicas: int | None, replicas: int,
                                       noted: bool) -> None:
    isvc, choice = guide("cpu-model")
    if mode:
        isvc["metadata"]["annotations"] = {"serving.kserve.io/deploymentMode": mode}
    if min_replicas is not None:
        isvc["spec"]["predictor"]["minReplicas"] = min_replicas
    predictor = render_predictor(isvc, choice, RenderSettings())
    assert predictor.deployment["spec"]["replicas"] == replicas
    assert any("Serverless" in note for note in predictor.notes) == noted


def test_settings_and_deployment_strategy_choose_the_rollout() -> None:
    predictor = render("cpu-model", RenderSettings(max_unavailable=0, max_surge=1))
    assert predictor.deployment["spec"]["strategy"]["rollingUpdate"] == {"maxUnavailable": 0, "maxSurge": 1}
    isvc, choice = guide("cpu-model")
    isvc["spec"]["predictor"]["deploymentStrategy"] = {"type": "Recreate"}
    assert render_predictor(isvc, choice, RenderSettings()).deployment["spec"]["strategy"] == {"type": "Recreate"}


@pytest.mark.parametrize(("container", "port"), [
    ({"ports": [{"containerPort": 9000}], "args": ["--port=8080"]}, 9000),
    ({"args": ["--port=8081"]}, 8081),
    ({"args": ["--host", "0.0.0.0", "--port", "8082"]}, 8082),
    ({"args": ["--portal=1"]}, 8080),
    ({}, 8080)])
def test_container_port(container: dict[str, Any], port: int) -> None:
    assert container_port(container) == port


def test_service_targets_a_declared_port_and_exposes_the_others() -> None:
    isvc, choice = guide("minimal-model")
    choice.obj["spec"]["containers"][0]["ports"] = [{"containerPort": 9000, "name": "h2c"},
                                                    {"containerPort": 9001, "name": "grpc"}]
    predictor = render_predictor(isvc, choice, RenderSettings())
    assert predictor.service["spec"]["ports"] == [
        {"name": "http", "port": 80, "targetPort": 9000, "protocol": "TCP"},
        {"name": "grpc", "port": 9001, "targetPort": 9001, "protocol": "TCP"}]
    assert kserve(predictor)["readinessProbe"]["tcpSocket"] == {"port": 9000}


@pytest.mark.parametrize(("change", "words"), [
    (lambda rt: rt["spec"].update(containers=[]), ["no containers"]),
    (lambda rt: rt["spec"]["containers"][0].update(name="server"), ["kserve-container"]),
    (lambda rt: rt["spec"]["containers"][0]["args"].append("{{.Spec.x}}"), ["placeholders", "Spec"]),
])
def test_runtimes_that_cannot_be_rendered(change: Any, words: list[str]) -> None:
    isvc, choice = guide("minimal-model")
    change(choice.obj)
    with pytest.raises(RenderError) as caught:
        render_predictor(isvc, choice, RenderSettings())
    assert caught.value.reason == "InvalidPredictorSpec"
    for word in words:
        assert word in caught.value.message
