"""Which ServingRuntime serves an InferenceService: KServe's runtime resolution, as a pure function.

The reconcile loop lists the namespace's ServingRuntimes and the ClusterServingRuntimes and asks
`select_runtime`; the answer is a `RuntimeChoice` or a `RuntimeProblem` whose reason is the one KServe writes
into `status.modelStatus.lastFailureInfo.reason` (pkg/controller/v1beta1/inferenceservice/components/
predictor.go, reconcileModel), with a message that says what to do about it.

The rules are KServe's (pkg/apis/serving/v1beta1/predictor_model.go, GetSupportingRuntimes):

- `predictor.model.runtime` names a ServingRuntime in the namespace, else the ClusterServingRuntime of that
  name. Missing: `RuntimeNotRecognized`. `spec.disabled: true`: `RuntimeDisabled`. Not listing the model
  format (and the format's version, when the InferenceService gives one), or not speaking the InferenceService's
  `protocolVersion`: `NoSupportingRuntime`. A named runtime need not set `autoSelect`.
- Unnamed: candidates are runtimes that are enabled, single-model (`multiModel` not true), list the format with
  `autoSelect: true`, and speak the protocol (an InferenceService without `protocolVersion` speaks v1; a runtime
  without `protocolVersions` speaks v1 and v2). Each scope is ordered by lowest protocol version, then newest
  `creationTimestamp`, then name; then, stably, runtimes giving the format a `priority` come first, highest
  first. Every ServingRuntime precedes every ClusterServingRuntime. None: `NoSupportingRuntime`.

Old-style predictors (`predictor.huggingface`, `predictor.sklearn`, …) are read as `predictor.model` with that
model format, as KServe's defaulting converts them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from kubeserve.client import Obj

RUNTIME_NOT_RECOGNIZED = "RuntimeNotRecognized"
RUNTIME_DISABLED = "RuntimeDisabled"
NO_SUPPORTING_RUNTIME = "NoSupportingRuntime"
INVALID_PREDICTOR_SPEC = "InvalidPredictorSpec"

# KServe's old-style predictor fields and the model format each one means.
FRAMEWORKS = {"sklearn": "sklearn", "xgboost": "xgboost", "tensorflow": "tensorflow", "pytorch": "pytorch",
              "triton": "triton", "onnx": "onnx", "pmml": "pmml", "lightgbm": "lightgbm", "paddle": "paddle",
              "huggingface": "huggingface"}
# constants.GetProtocolVersionInt: the order KServe prefers protocols in; anything else sorts last.
_PROTOCOL_ORDER = {"v1": 0, "v2": 1, "grpc-v1": 2, "grpc-v2": 3}


@dataclass(frozen=True)
class RuntimeChoice:
    kind: Literal["ServingRuntime", "ClusterServingRuntime"]
    name: str
    obj: Obj


@dataclass(frozen=True)
class RuntimeProblem:
    reason: str
    message: str


def predictor_model(isvc: Obj) -> Obj | None:
    """The InferenceService's `predictor.model`, or an old-style framework predictor read as one."""
    predictor = (isvc.get("spec") or {}).get("predictor") or {}
    model = predictor.get("model")
    if isinstance(model, dict):
        return model
    for field, format_name in FRAMEWORKS.items():
        spec = predictor.get(field)
        if isinstance(spec, dict):
            converted = {key: value for key, value in spec.items() if key != "runtimeVersion"}
            converted["modelFormat"] = {"name": format_name}
            return converted
    return None


def select_runtime(isvc: Obj, runtimes: list[Obj], cluster_runtimes: list[Obj]) -> RuntimeChoice | RuntimeProblem:
    meta = isvc.get("metadata") or {}
    namespace = str(meta.get("namespace") or "default")
    model = predictor_model(isvc)
    if model is None:
        return RuntimeProblem(INVALID_PREDICTOR_SPEC, "spec.predictor has no model: set spec.predictor.model "
                              "with a modelFormat (and optionally runtime) to choose a ServingRuntime")
    model_format = model.get("modelFormat") or {}
    format_name = str(model_format.get("name") or "")
    version = model_format.get("version") or None
    protocol = str(model.get("protocolVersion") or "v1")
    wanted = describe_format(format_name, version)
    named = model.get("runtime")
    if named:
        return _named(str(named), namespace, runtimes, cluster_runtimes, format_name, version, protocol, wanted)
    if not format_name:
        return RuntimeProblem(INVALID_PREDICTOR_SPEC, "spec.predictor.model.modelFormat.name is empty: name the "
                              "model format (e.g. vLLM) or set spec.predictor.model.runtime")
    chosen = _ordered(runtimes, format_name, version, protocol) + _ordered(cluster_runtimes, format_name, version,
                                                                          protocol)
    if chosen:
        runtime = chosen[0]
        kind: Literal["ServingRuntime", "ClusterServingRuntime"] = (
            "ServingRuntime" if any(runtime is item for item in runtimes) else "ClusterServingRuntime")
        return RuntimeChoice(kind, _name(runtime), runtime)
    return RuntimeProblem(NO_SUPPORTING_RUNTIME, (
        f"No runtime found to support predictor with model format {wanted} in namespace {namespace}: create a "
        f"ServingRuntime whose spec.supportedModelFormats lists name: {format_name}"
        + (f", version: {version}" if version else "")
        + " with autoSelect: true, or name one in spec.predictor.model.runtime"))


def describe_format(name: str, version: Any) -> str:
    return f"{name!r}" + (f" version {version!r}" if version else "")


def supports_format(runtime: Obj, name: str, version: Any, *, auto_select_only: bool) -> bool:
    """KServe's RuntimeSupportsModel: the runtime lists the format (and the version, when one is asked for)."""
    for entry in (runtime.get("spec") or {}).get("supportedModelFormats") or []:
        if auto_select_only and entry.get("autoSelect") is not True:
            continue
        if entry.get("name") != name:
            continue
        if version is None or (entry.get("version") is not None and str(entry.get("version")) == str(version)):
            return True
    return False


def supports_protocol(runtime: Obj, protocol: str) -> bool:
    versions = (runtime.get("spec") or {}).get("protocolVersions") or []
    if not versions:
        return protocol in ("v1", "v2")
    return protocol in versions


def _named(name: str, namespace: str, runtimes: list[Obj], cluster_runtimes: list[Obj], format_name: str,
           version: Any, protocol: str, wanted: str) -> RuntimeChoice | RuntimeProblem:
    runtime = _find(runtimes, name)
    kind: Literal["ServingRuntime", "ClusterServingRuntime"] = "ServingRuntime"
    if runtime is None:
        runtime, kind = _find(cluster_runtimes, name), "ClusterServingRuntime"
    if runtime is None:
        return RuntimeProblem(RUNTIME_NOT_RECOGNIZED, (
            f"No ServingRuntime named {name!r} in namespace {namespace} and no ClusterServingRuntime of that "
            f"name (spec.predictor.model.runtime): create it, or correct the name; waiting for the runtime to "
            f"become available"))
    spec = runtime.get("spec") or {}
    if spec.get("disabled") is True:
        return RuntimeProblem(RUNTIME_DISABLED, f"Specified runtime {kind} {name} is disabled (spec.disabled: "
                                                f"true): enable it or choose another runtime")
    if not supports_protocol(runtime, protocol):
        return RuntimeProblem(NO_SUPPORTING_RUNTIME, (
            f"Specified runtime {kind} {name} does not support protocol version {protocol} (it supports "
            f"{', '.join(spec.get('protocolVersions') or [])}): change spec.predictor.model.protocolVersion or "
            f"the runtime's spec.protocolVersions"))
    if not supports_format(runtime, format_name, version, auto_select_only=False):
        listed = [describe_format(str(entry.get("name")), entry.get("version"))
                  for entry in spec.get("supportedModelFormats") or []]
        return RuntimeProblem(NO_SUPPORTING_RUNTIME, (
            f"Specified runtime {kind} {name} does not support model format {wanted} (it supports "
            f"{', '.join(listed) or 'no model formats'}): add it to the runtime's spec.supportedModelFormats or "
            f"change spec.predictor.model.modelFormat"))
    return RuntimeChoice(kind, name, runtime)


def _find(items: Iterable[Obj], name: str) -> Obj | None:
    return next((item for item in items if _name(item) == name), None)


def _name(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("name") or "")


def _ordered(items: list[Obj], format_name: str, version: Any, protocol: str) -> list[Obj]:
    candidates = [item for item in items
                  if (item.get("spec") or {}).get("disabled") is not True
                  and (item.get("spec") or {}).get("multiModel") is not True
                  and supports_format(item, format_name, version, auto_select_only=True)
                  and supports_protocol(item, protocol)]
    # Name ascending, then newest first, then lowest protocol: Python's sort is stable, so sort by the last
    # key first. RFC 3339 timestamps in UTC ("…Z") order as strings.
    candidates.sort(key=_name)
    candidates.sort(key=lambda item: str((item.get("metadata") or {}).get("creationTimestamp") or ""),
                    reverse=True)
    candidates.sort(key=_protocol_rank)
    with_priority = [item for item in candidates if _priority(item, format_name) is not None]
    without = [item for item in candidates if _priority(item, format_name) is None]
    with_priority.sort(key=lambda item: -(_priority(item, format_name) or 0))
    return with_priority + without


def _protocol_rank(runtime: Obj) -> int:
    versions = (runtime.get("spec") or {}).get("protocolVersions") or []
    if not versions:
        return len(_PROTOCOL_ORDER)
    return min(_PROTOCOL_ORDER.get(str(version), len(_PROTOCOL_ORDER)) for version in versions)


def _priority(runtime: Obj, format_name: str) -> int | None:
    for entry in (runtime.get("spec") or {}).get("supportedModelFormats") or []:
        if entry.get("name") == format_name:  # KServe's GetPriority: the first entry of that name decides
            priority = entry.get("priority")
            return None if priority is None else int(priority)
    return None
