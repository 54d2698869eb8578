"""Admission: the guide's rules (README's table), each as warning or error, with the field in the message."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kubeserve.api.admission import KSERVE, Review, review

Obj = dict[str, Any]
RUNTIME_API = f"{KSERVE}/v1alpha1"


def isvc(name: str = "granite", runtime: str | None = "granite", **model: Any) -> Obj:
    m: Obj = {"modelFormat": {"name": "vLLM"}, "storageUri": "oci://quay.io/x/granite:1", **model}
    if runtime is not None:
        m["runtime"] = runtime
    return {"apiVersion": f"{KSERVE}/v1beta1", "kind": "InferenceService",
            "metadata": {"name": name, "namespace": "ns"}, "spec": {"predictor": {"model": m}}}


def runtime(name: str = "granite", args: list[str] | None = None, formats: tuple[str, ...] = ("vLLM",),
            gpus: str | None = None, kind: str = "ServingRuntime") -> Obj:
    container: Obj = {"name": "kserve-container", "image": "quay.io/modh/vllm:cuda",
                      "args": args if args is not None else ["--port=8080", "--model=/mnt/models"]}
    if gpus is not None:
        container["resources"] = {"limits": {"nvidia.com/gpu": gpus}}
    return {"apiVersion": RUNTIME_API, "kind": kind, "metadata": {"name": name, "namespace": "ns"},
            "spec": {"supportedModelFormats": [{"name": f, "autoSelect": True} for f in formats],
                     "containers": [container]}}


class World:
    """The look-up admission gets: objects by (apiVersion, kind, namespace, name), and a log of the asks."""

    def __init__(self, *objs: Obj) -> None:
        self.objects = {(o["apiVersion"], o["kind"], o["metadata"].get("namespace", "") if o["kind"] != (
            "ClusterServingRuntime") else "", o["metadata"]["name"]): o for o in objs}
        self.asked: list[tuple[str, str, str, str]] = []

    def __call__(self, api_version: str, kind: str, namespace: str, name: str) -> Obj | None:
        self.asked.append((api_version, kind, namespace, name))
        return self.objects.get((api_version, kind, namespace, name))


def admit_isvc(obj: Obj, *world: Obj) -> Review:
    return review(KSERVE, "InferenceService", obj, None, World(*world))


# ---- the matching pair of the guide: no findings -------------------------------------------------------


def test_guide_pair_is_clean() -> None:
    assert admit_isvc(isvc(), runtime()) == Review()


@pytest.mark.parametrize(
    ("group", "kind"),
    [("", "ConfigMap"), ("apps", "Deployment"), ("route.openshift.io", "Route"), (KSERVE, "Other")],
)
def test_other_kinds_are_not_reviewed(group: str, kind: str) -> None:
    bad = isvc(storageUri="ftp://x")
    world = World()
    assert review(group, kind, bad, None, world) == Review()
    assert world.asked == []


@pytest.mark.parametrize("predictor", [{}, {"model": None}, {"model": "x"}, None])
def test_isvc_without_a_model_is_left_to_validation(predictor: Any) -> None:
    obj = isvc()
    obj["spec"]["predictor"] = predictor
    assert admit_isvc(obj) == Review()


# ---- warnings -----------------------------------------------------------------------------------------


def test_runtime_with_a_different_name_warns() -> None:
    result = admit_isvc(isvc("granite", runtime="vllm-runtime"), runtime("vllm-runtime"))
    assert result.errors == ()
    assert len(result.warnings) == 1
    warning = result.warnings[0]
    assert warning.startswith("spec.predictor.model.runtime:")
    assert '"vllm-runtime"' in warning and '"granite"' in warning
    assert "rename" in warning


def test_missing_runtime_warns() -> None:
    world = World()
    result = review(KSERVE, "InferenceService", isvc(), None, world)
    assert result.errors == ()
    assert len(result.warnings) == 1
    assert result.warnings[0].startswith("spec.predictor.model.runtime:")
    assert 'ServingRuntime "granite" does not exist in namespace "ns"' in result.warnings[0]
    assert "kubectl apply" in result.warnings[0]
    # it looked in the namespace first, then for a cluster-wide runtime
    assert world.asked == [(RUNTIME_API, "ServingRuntime", "ns", "granite"),
                           (RUNTIME_API, "ClusterServingRuntime", "", "granite")]


def test_cluster_serving_runtime_counts() -> None:
    assert admit_isvc(isvc(), runtime(kind="ClusterServingRuntime")) == Review()


def test_runtime_in_another_namespace_does_not_count() -> None:
    elsewhere = runtime()
    elsewhere["metadata"]["namespace"] = "other"
    assert any("does not exist" in w for w in admit_isvc(isvc(), elsewhere).warnings)


def test_no_runtime_named_means_no_runtime_warnings() -> None:
    world = World()
    assert review(KSERVE, "InferenceService", isvc(runtime=None), None, world) == Review()
    assert world.asked == []


@pytest.mark.parametrize(
    ("wanted", "supported", "warns"),
    [
        ("vLLM", ("vLLM",), False),
        ("vllm", ("vLLM",), False),  # format names compare case-insensitively
        ("onnx", ("vLLM",), True),
        ("pytorch", ("vLLM", "pytorch"), False),
        ("vLLM", (), True),
    ],
)
def test_model_format_support(wanted: str, supported: tuple[str, ...], warns: bool) -> None:
    result = admit_isvc(isvc(modelFormat={"name": wanted}), runtime(formats=supported))
    assert result.errors == ()
    if warns:
        assert len(result.warnings) == 1
        warning = result.warnings[0]
        assert warning.startswith("spec.predictor.model.modelFormat.name:")
        assert f'"{wanted}"' in warning
        assert ("it supports: " + (", ".join(supported) or "none")) in warning
    else:
        assert result.warnings == ()


@pytest.mark.parametrize(
    ("isvc_gpus", "runtime_gpus", "warns"),
    [
        ("1", "1", False),
        (1, "1", False),  # a number and a string of the same count agree
        ("2", "1", True),
        ("1", None, False),  # only one side says: nothing to compare
        (None, "2", False),
    ],
)
def test_gpu_limits_must_match(isvc_gpus: Any, runtime_gpus: str | None, warns: bool) -> None:
    model: Obj = {}
    if isvc_gpus is not None:
        model["resources"] = {"limits": {"nvidia.com/gpu": isvc_gpus}}
    result = admit_isvc(isvc(**model), runtime(gpus=runtime_gpus))
    assert result.errors == ()
    if warns:
        assert len(result.warnings) == 1
        assert result.warnings[0].startswith("spec.predictor.model.resources.limits[nvidia.com/gpu]:")
        assert "asks for 2" in result.warnings[0] and "asks for 1" in result.warnings[0]
    else:
        assert result.warnings == ()


@pytest.mark.parametrize("resource", ["amd.com/gpu", "habana.ai/gaudi", "intel.com/gpu"])
def test_other_accelerators_are_compared_too(resource: str) -> None:
    rt = runtime()
    rt["spec"]["containers"][0]["resources"] = {"limits": {resource: "4"}}
    result = admit_isvc(isvc(resources={"limits": {resource: "1"}}), rt)
    assert len(result.warnings) == 1
    assert f"[{resource}]" in result.warnings[0]


def test_warnings_accumulate() -> None:
    rt = runtime("shared", formats=("onnx",), gpus="2")
    result = admit_isvc(isvc("granite", runtime="shared", resources={"limits": {"nvidia.com/gpu": "1"}}), rt)
    fields = sorted(w.split(":", 1)[0] for w in result.warnings)
    assert fields == ["spec.predictor.model.modelFormat.name", "spec.predictor.model.resources.limits[nvidia.com/gpu]",
                      "spec.predictor.model.runtime"]


# ---- tensor parallelism --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "size"),
    [
        (["--tensor-parallel-size=2"], 2),
        (["--tensor-parallel-size", "4"], 4),
        (["-tp", "2"], 2),
        (["-tp=8"], 8),
        (["--tensor-parallel-size=2", "--distributed-executor-backend=ray"], 2),
        (["--tensor-parallel-size=2", "--distributed-executor-backend", "ray"], 2),
        (["--distributed-executor-backend=mp", "--tensor-parallel-size=2", "--distributed-executor-backend=ray"], 2),
    ],
)
def test_tensor_parallel_without_mp_is_an_error_on_the_runtime(args: list[str], size: int) -> None:
    result = review(KSERVE, "ServingRuntime", runtime(args=["--port=8080", *args]), None, World())
    assert result.warnings == ()
    assert len(result.errors) == 1
    cause = result.errors[0]
    assert (cause.reason, cause.field) == ("FieldValueInvalid", "spec.containers[0].args")
    assert f"--tensor-parallel-size={size}" in cause.message
    assert "--distributed-executor-backend=mp" in cause.message


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["--tensor-parallel-size=1"],
        ["--tensor-parallel-size=2", "--distributed-executor-backend=mp"],
        ["--distributed-executor-backend", "mp", "--tensor-parallel-size", "2"],
        ["-tp", "4", "--distributed-executor-backend=mp"],
    ],
)
def test_tensor_parallel_accepted(args: list[str]) -> None:
    assert review(KSERVE, "ServingRuntime", runtime(args=args), None, World()) == Review()
    assert review(KSERVE, "ClusterServingRuntime", runtime(args=args, kind="ClusterServingRuntime"), None,
                  World()) == Review()


def test_tensor_parallel_on_a_later_container() -> None:
    rt = runtime()
    rt["spec"]["containers"].append({"name": "side", "image": "x", "args": ["--tensor-parallel-size=2"]})
    result = review(KSERVE, "ServingRuntime", rt, None, World())
    assert [c.field for c in result.errors] == ["spec.containers[1].args"]


def test_tensor_parallel_size_must_be_an_integer() -> None:
    result = review(KSERVE, "ServingRuntime", runtime(args=["--tensor-parallel-size=two"]), None, World())
    assert len(result.errors) == 1
    assert '"two"' in result.errors[0].message
    assert result.errors[0].field == "spec.containers[0].args"


@pytest.mark.parametrize(
    ("runtime_args", "isvc_args", "error"),
    [
        ([], ["--tensor-parallel-size=2"], True),
        (["--distributed-executor-backend=mp"], ["--tensor-parallel-size=2"], False),  # the runtime's args count
        (["--tensor-parallel-size=2", "--distributed-executor-backend=mp"], [], False),
        (["--tensor-parallel-size=2", "--distributed-executor-backend=mp"], ["--distributed-executor-backend=ray"],
         True),  # the InferenceService's args come last and win
        ([], ["--tensor-parallel-size=2", "--distributed-executor-backend=mp"], False),
    ],
)
def test_tensor_parallel_on_the_inference_service(runtime_args: list[str], isvc_args: list[str], error: bool) -> None:
    result = admit_isvc(isvc(args=isvc_args), runtime(args=runtime_args))
    if error:
        assert [c.field for c in result.errors] == ["spec.predictor.model.args"]
        assert "--distributed-executor-backend=mp" in result.errors[0].message
    else:
        assert result.errors == ()


def test_tensor_parallel_checked_without_a_runtime() -> None:
    result = admit_isvc(isvc(args=["--tensor-parallel-size=2"]))  # runtime missing: a warning, and the error
    assert [c.field for c in result.errors] == ["spec.predictor.model.args"]
    assert any("does not exist" in w for w in result.warnings)


# ---- storage ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "uri",
    [
        "oci://quay.io/redhat-ai-services/modelcar-catalog:granite-3.0-2b-instruct",
        "s3://bucket/models/granite",
        "pvc://model-pvc/granite",
        "pvc://model-pvc",
        "hf://ibm-granite/granite-3.0-2b-instruct",
        "https://example.com/model.tar.gz",
        "gs://bucket/m",
        "file:///srv/models/granite",
        "/srv/models/granite",
        "pvc://claim/a..b/c",  # ".." only as a whole segment is refused
    ],
)
def test_storage_uri_accepted(uri: str) -> None:
    assert admit_isvc(isvc(storageUri=uri), runtime()).errors == ()


@pytest.mark.parametrize(
    ("uri", "reason", "says"),
    [
        ("ftp://host/model", "FieldValueNotSupported", 'unknown storage scheme "ftp://"'),
        ("S3://bucket/m", "FieldValueNotSupported", "unknown storage scheme"),
        ("models/granite", "FieldValueInvalid", "needs a scheme"),
        ("pvc:///granite", "FieldValueInvalid", "name the claim"),
        ("pvc://claim/../other-claim/m", "FieldValueInvalid", 'remove ".." segments'),
        ("pvc://claim/a/../../x", "FieldValueInvalid", 'remove ".." segments'),
        ("pvc://claim/..", "FieldValueInvalid", 'remove ".." segments'),
        ("pvc://../etc", "FieldValueInvalid", 'remove ".." segments'),
    ],
)
def test_storage_uri_errors(uri: str, reason: str, says: str) -> None:
    result = admit_isvc(isvc(storageUri=uri), runtime())
    assert len(result.errors) == 1
    cause = result.errors[0]
    assert (cause.reason, cause.field) == (reason, "spec.predictor.model.storageUri")
    assert f'"{uri}"' in cause.message
    assert says in cause.message


@pytest.mark.parametrize(("path", "error"), [("models/granite", False), ("../secrets", True), ("a/../../b", True),
                                             ("a..b", False)])
def test_storage_path(path: str, error: bool) -> None:
    obj = isvc(storage={"key": "aws-connection-my-storage", "path": path})
    del obj["spec"]["predictor"]["model"]["storageUri"]
    result = admit_isvc(obj, runtime())
    if error:
        assert [c.field for c in result.errors] == ["spec.predictor.model.storage.path"]
        assert f'"{path}"' in result.errors[0].message
    else:
        assert result.errors == ()


def test_errors_and_warnings_together() -> None:
    obj = isvc("granite", runtime="other", storageUri="ftp://x", args=["--tensor-parallel-size=2"])
    result = admit_isvc(obj)
    assert sorted(c.field for c in result.errors) == ["spec.predictor.model.args", "spec.predictor.model.storageUri"]
    assert len(result.warnings) == 2


def test_review_does_not_mutate() -> None:
    obj, rt = isvc(runtime="x", args=["--tensor-parallel-size=2"]), runtime("x")
    before = copy.deepcopy((obj, rt))
    admit_isvc(obj, rt)
    assert (obj, rt) == before
