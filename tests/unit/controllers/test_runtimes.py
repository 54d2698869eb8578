"""Runtime resolution: KServe's named lookup, auto-selection order, and each problem's reason."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from kubeserve.controllers.runtimes import RuntimeChoice, RuntimeProblem, predictor_model, select_runtime

GUIDE = Path(__file__).parents[2] / "fixtures" / "guide"


def runtime(name: str, *formats: dict[str, Any], created: str = "2024-01-01T00:00:00Z",
            **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": name, "creationTimestamp": created},
            "spec": {"containers": [{"name": "kserve-container", "image": f"img/{name}"}],
                     "supportedModelFormats": list(formats), **spec}}


def fmt(name: str = "vLLM", auto: bool | None = True, **extra: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": name, **extra}
    if auto is not None:
        entry["autoSelect"] = auto
    return entry


def isvc(runtime_name: str | None = None, format_name: str = "vLLM", **model: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"modelFormat": {"name": format_name}, "storageUri": "oci://r/m:1", **model}
    if runtime_name:
        spec["runtime"] = runtime_name
    return {"metadata": {"name": "m", "namespace": "team"}, "spec": {"predictor": {"model": spec}}}


def test_guide_pairs_resolve_to_their_runtime() -> None:
    for service in sorted(GUIDE.glob("*-service.yaml")):
        obj = yaml.safe_load(service.read_text())
        name = obj["spec"]["predictor"]["model"]["runtime"]
        runtimes = [yaml.safe_load(path.read_text()) for path in sorted(GUIDE.glob("*-runtime.yaml"))]
        choice = select_runtime(obj, runtimes, [])
        assert isinstance(choice, RuntimeChoice), (service.name, choice)
        assert (choice.kind, choice.name) == ("ServingRuntime", name)


def test_named_runtime_prefers_the_namespace_then_the_cluster() -> None:
    local, cluster = runtime("vllm", fmt()), runtime("vllm", fmt())
    assert select_runtime(isvc("vllm"), [local], [cluster]) == RuntimeChoice("ServingRuntime", "vllm", local)
    assert select_runtime(isvc("vllm"), [], [cluster]) == RuntimeChoice("ClusterServingRuntime", "vllm", cluster)


def test_named_runtime_need_not_auto_select() -> None:
    choice = select_runtime(isvc("vllm"), [runtime("vllm", fmt(auto=False))], [])
    assert isinstance(choice, RuntimeChoice)


@pytest.mark.parametrize(("service", "runtimes", "reason", "words"), [
    (isvc("nope"), [runtime("vllm", fmt())], "RuntimeNotRecognized", ["'nope'", "team"]),
    (isvc("vllm"), [runtime("vllm", fmt(), disabled=True)], "RuntimeDisabled", ["vllm", "disabled"]),
    (isvc("vllm"), [runtime("vllm", fmt("sklearn"))], "NoSupportingRuntime", ["'vLLM'", "'sklearn'"]),
    (isvc("vllm", modelFormat={"name": "vLLM", "version": "2"}), [runtime("vllm", fmt(version="1"))],
     "NoSupportingRuntime", ["version '2'"]),
    (isvc("vllm", protocolVersion="grpc-v2"), [runtime("vllm", fmt(), protocolVersions=["v1", "v2"])],
     "NoSupportingRuntime", ["grpc-v2"]),
    (isvc(), [], "NoSupportingRuntime", ["'vLLM'", "autoSelect: true", "spec.predictor.model.runtime", "team"]),
    (isvc(), [runtime("vllm", fmt(auto=False))], "NoSupportingRuntime", ["'vLLM'"]),
    (isvc(), [runtime("vllm", fmt(), disabled=True)], "NoSupportingRuntime", ["'vLLM'"]),
    (isvc(), [runtime("vllm", fmt(), multiModel=True)], "NoSupportingRuntime", ["'vLLM'"]),
    (isvc(), [runtime("vllm", fmt(), protocolVersions=["v2"])], "NoSupportingRuntime", ["'vLLM'"]),
    ({"metadata": {"name": "m"}, "spec": {"predictor": {}}}, [], "InvalidPredictorSpec", ["model"]),
])
def test_problems(service: dict[str, Any], runtimes: list[dict[str, Any]], reason: str, words: list[str]) -> None:
    problem = select_runtime(service, runtimes, [])
    assert isinstance(problem, RuntimeProblem)
    assert problem.reason == reason
    for word in words:
        assert word in problem.message


@pytest.mark.parametrize(("local", "cluster", "expected"), [
    # Every ServingRuntime precedes every ClusterServingRuntime, whatever the priorities.
    ([runtime("ns-a", fmt())], [runtime("cl-a", fmt(priority=9))], "ns-a"),
    ([], [runtime("cl-a", fmt()), runtime("cl-b", fmt(priority=1))], "cl-b"),
    # A priority beats none; higher beats lower.
    ([runtime("a", fmt()), runtime("b", fmt(priority=1))], [], "b"),
    ([runtime("a", fmt(priority=1)), runtime("b", fmt(priority=5))], [], "b"),
    # Without priorities: lower protocol first, then newest, then name.
    ([runtime("a", fmt(), protocolVersions=["v2"]), runtime("b", fmt(), protocolVersions=["v1", "v2"])], [], "b"),
    ([runtime("a", fmt(), protocolVersions=["v1"]), runtime("b", fmt())], [], "a"),
    ([runtime("a", fmt(), created="2024-01-01T00:00:00Z"), runtime("b", fmt(), created="2024-06-01T00:00:00Z")],
     [], "b"),
    ([runtime("b", fmt()), runtime("a", fmt())], [], "a"),
    # Equal priority keeps that order.
    ([runtime("b", fmt(priority=2)), runtime("a", fmt(priority=2))], [], "a"),
    # Only formats with autoSelect: true count; the priority is the named format's.
    ([runtime("a", fmt(auto=None)), runtime("b", fmt("other", priority=9), fmt())], [], "b"),
    ([runtime("a", fmt("other", priority=9), fmt()), runtime("b", fmt(priority=1))], [], "b"),
])
def test_auto_selection_order(local: list[dict[str, Any]], cluster: list[dict[str, Any]], expected: str) -> None:
    choice = select_runtime(isvc(), local, cluster)
    assert isinstance(choice, RuntimeChoice)
    assert choice.name == expected
    assert choice.kind == ("ServingRuntime" if any(r["metadata"]["name"] == expected for r in local)
                           else "ClusterServingRuntime")


def test_version_matching() -> None:
    versioned = isvc(modelFormat={"name": "vLLM", "version": "1"})
    assert isinstance(select_runtime(versioned, [runtime("a", fmt(version="1"))], []), RuntimeChoice)
    assert isinstance(select_runtime(versioned, [runtime("a", fmt())], []), RuntimeProblem)
    # A model without a version is served by any version of its format.
    assert isinstance(select_runtime(isvc(), [runtime("a", fmt(version="3"))], []), RuntimeChoice)


def test_old_style_framework_predictor() -> None:
    old = {"metadata": {"name": "hf", "namespace": "team"},
           "spec": {"predictor": {"huggingface": {"storageUri": "hf://org/model", "args": ["--x"]}}}}
    model = predictor_model(old)
    assert model == {"storageUri": "hf://org/model", "args": ["--x"], "modelFormat": {"name": "huggingface"}}
    hf = runtime("kserve-huggingfaceserver", fmt("huggingface"))
    assert select_runtime(old, [], [hf]) == RuntimeChoice("ClusterServingRuntime", "kserve-huggingfaceserver", hf)
