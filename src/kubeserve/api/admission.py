"""Admission for the guide's rules: what the OpenShift AI dashboard and vLLM need that a schema cannot say.

A pure function over the object being written and a look-up of other objects. Each rule yields either a
warning (sent back in `Warning` headers, which kubectl prints) or an error (a 422 Invalid whose cause
names the field and the fix).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from kubeserve.api.errors import Cause

Obj = dict[str, Any]
Lookup = Callable[[str, str, str, str], Obj | None]  # (apiVersion, kind, namespace, name) -> object

KSERVE = "serving.kserve.io"
GPU_RESOURCES = ("nvidia.com/gpu", "amd.com/gpu", "habana.ai/gaudi", "intel.com/gpu")
STORAGE_SCHEMES = ("oci", "s3", "gs", "pvc", "hf", "http", "https", "file", "hdfs", "webhdfs")


@dataclass(frozen=True)
class Review:
    warnings: tuple[str, ...] = ()
    errors: tuple[Cause, ...] = ()


def review(group: str, kind: str, obj: Obj, old: Obj | None, lookup: Lookup) -> Review:
    if group != KSERVE:
        return Review()
    if kind in ("ServingRuntime", "ClusterServingRuntime"):
        return Review(errors=tuple(_runtime_errors(obj)))
    if kind == "InferenceService":
        return _review_inference_service(obj, lookup)
    return Review()


def _runtime_errors(runtime: Obj) -> Iterator[Cause]:
    for i, container in enumerate((runtime.get("spec") or {}).get("containers") or []):
        if isinstance(container, dict):
            yield from _tensor_parallel_errors(_args_of(container), f"spec.containers[{i}].args")


def _review_inference_service(isvc: Obj, lookup: Lookup) -> Review:
    warnings: list[str] = []
    errors: list[Cause] = []
    meta = isvc.get("metadata") or {}
    name, namespace = meta.get("name", ""), meta.get("namespace", "")
    predictor = (isvc.get("spec") or {}).get("predictor") or {}
    model = predictor.get("model") if isinstance(predictor, dict) else None
    if not isinstance(model, dict):
        return Review()

    errors += _storage_errors(model)
    model_args = _args_of(model)

    runtime_name = model.get("runtime")
    runtime: Obj | None = None
    if runtime_name:
        if runtime_name != name:
            warnings.append(
                f'spec.predictor.model.runtime: ServingRuntime "{runtime_name}" and InferenceService "{name}" '
                "have different names; the OpenShift AI dashboard only links a runtime to the InferenceService "
                f'of the same name: rename the ServingRuntime to "{name}" (and set runtime: {name})')
        runtime = lookup(f"{KSERVE}/v1alpha1", "ServingRuntime", namespace, runtime_name) or lookup(
            f"{KSERVE}/v1alpha1", "ClusterServingRuntime", "", runtime_name)
        if runtime is None:
            warnings.append(
                f'spec.predictor.model.runtime: ServingRuntime "{runtime_name}" does not exist in namespace '
                f'"{namespace}": create it (kubectl apply -f <runtime>.yaml) or the InferenceService will not '
                "become Ready")
        else:
            warnings += _format_warnings(model, runtime, runtime_name)
            warnings += _gpu_warnings(model, runtime, runtime_name)

    runtime_args: list[str] = []
    if runtime is not None:
        containers = (runtime.get("spec") or {}).get("containers") or []
        if containers and isinstance(containers[0], dict):
            runtime_args = _args_of(containers[0])
    errors += _tensor_parallel_errors(runtime_args + model_args, "spec.predictor.model.args")
    return Review(tuple(warnings), tuple(errors))


def _storage_errors(model: Obj) -> Iterator[Cause]:
    uri = model.get("storageUri")
    if isinstance(uri, str) and uri:
        field = "spec.predictor.model.storageUri"
        scheme, sep, rest = uri.partition("://")
        if not sep:
            if not uri.startswith("/"):
                yield Cause("FieldValueInvalid", f'Invalid value: "{uri}": a storage URI needs a scheme; '
                            f"use one of {', '.join(s + '://' for s in STORAGE_SCHEMES)} or an absolute path",
                            field)
        elif scheme not in STORAGE_SCHEMES:
            yield Cause("FieldValueNotSupported", f'Unsupported value: "{uri}": unknown storage scheme '
                        f'"{scheme}://"; supported schemes: {", ".join(s + "://" for s in STORAGE_SCHEMES)}',
                        field)
        elif scheme == "pvc":
            claim, _, path = rest.partition("/")
            if not claim:
                yield Cause("FieldValueInvalid", f'Invalid value: "{uri}": name the claim: pvc://<pvc-name>/<path>',
                            field)
            elif _escapes(path) or claim in (".", ".."):
                yield Cause("FieldValueInvalid", f'Invalid value: "{uri}": the path must stay inside the claim; '
                            'remove ".." segments', field)
    storage = model.get("storage")
    if isinstance(storage, dict):
        storage_path = storage.get("path")
        if isinstance(storage_path, str) and _escapes(storage_path):
            yield Cause("FieldValueInvalid", f'Invalid value: "{storage_path}": the path must stay inside the bucket; '
                        'remove ".." segments', "spec.predictor.model.storage.path")


def _escapes(path: str) -> bool:
    # Any ".." segment is refused, even one that would stay inside: it is never needed and always suspect.
    return ".." in path.split("/")


def _format_warnings(model: Obj, runtime: Obj, runtime_name: str) -> list[str]:
    fmt = model.get("modelFormat") or {}
    wanted = fmt.get("name") if isinstance(fmt, dict) else None
    if not wanted:
        return []
    supported = [
        f.get("name", "") for f in (runtime.get("spec") or {}).get("supportedModelFormats") or [] if isinstance(f, dict)
    ]
    if wanted.lower() in (s.lower() for s in supported):
        return []
    return [f'spec.predictor.model.modelFormat.name: ServingRuntime "{runtime_name}" does not support model format '
            f'"{wanted}" (it supports: {", ".join(supported) or "none"}); change modelFormat.name or add the format '
            "to the runtime's supportedModelFormats"]


def _gpu_warnings(model: Obj, runtime: Obj, runtime_name: str) -> list[str]:
    containers = (runtime.get("spec") or {}).get("containers") or []
    runtime_limits = ((containers[0].get("resources") or {}).get("limits") or {}) if containers else {}
    isvc_limits = (model.get("resources") or {}).get("limits") or {}
    out = []
    for resource in GPU_RESOURCES:
        mine, theirs = isvc_limits.get(resource), runtime_limits.get(resource)
        if mine is not None and theirs is not None and str(mine) != str(theirs):
            out.append(f"spec.predictor.model.resources.limits[{resource}]: the InferenceService asks for {mine} "
                       f'but ServingRuntime "{runtime_name}" asks for {theirs}; the InferenceService value wins — '
                       "make them match to avoid surprises")
    return out


_TP = re.compile(r"^(?:--tensor-parallel-size|-tp)(?:=(.*))?$")  # vLLM accepts -tp as an alias


def _tensor_parallel_errors(args: list[str], field: str) -> Iterator[Cause]:
    size = 1
    backend: str | None = None
    for i, arg in enumerate(args):
        match = _TP.match(arg)
        if match:
            value = match.group(1) if match.group(1) is not None else (args[i + 1] if i + 1 < len(args) else "1")
            try:
                size = int(value)
            except ValueError:
                yield Cause("FieldValueInvalid", f'Invalid value: "{value}": --tensor-parallel-size must be an integer',
                            field)
                return
        if arg.startswith("--distributed-executor-backend"):
            backend = arg.partition("=")[2] or (str(args[i + 1]) if i + 1 < len(args) else "")
    if size > 1 and backend != "mp":
        yield Cause("FieldValueInvalid",
                    f"Invalid value: --tensor-parallel-size={size} requires --distributed-executor-backend=mp: "
                    "add '--distributed-executor-backend=mp' to the args", field)


def _args_of(container: Obj) -> list[str]:
    return [str(a) for a in container.get("args") or [] if a is not None]
