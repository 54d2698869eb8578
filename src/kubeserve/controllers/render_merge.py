"""Merging the runtime's container and pod fields with the InferenceService's, the way KServe merges them.

KServe merges with Kubernetes' strategic merge patch, the runtime as the original and the InferenceService as
the patch (pkg/utils MergeContainerWithPatch; inferenceservice/utils MergeRuntimeContainers and MergePodSpec).
What that means for the fields a predictor sets, reproduced here without Go's schema machinery:

- scalars (image, workingDir, imagePullPolicy, …) and atomic lists (`command`, `envFrom`, `tolerations`): the
  InferenceService's value replaces the runtime's when it gives one;
- `args`: the runtime's args followed by the InferenceService's (MergeRuntimeContainers concatenates them);
- lists with a merge key (`env` by name, `ports` by containerPort, `volumeMounts` by mountPath,
  `volumeDevices` by devicePath, `volumes`/`imagePullSecrets`/`initContainers` by name): entries with the same
  key are merged (an env entry is replaced whole, which is what reconcileEnvValueConflicts leaves of a
  value/valueFrom clash), new entries are appended;
- objects (`resources.limits`, `nodeSelector`, `affinity`, probes, …): merged key by key, recursively, so
  `resources.limits["nvidia.com/gpu"]` from the InferenceService overrides only that resource.

Only the runtime's pod-level fields KServe carries (nodeSelector, affinity, tolerations, volumes,
imagePullSecrets, schedulerName, resourceClaims) are merged with the predictor's pod fields.
"""

from __future__ import annotations

import copy
from typing import Any

from kubeserve.client import Obj

# Fields of predictor.model that say which model and runtime, not how the container runs.
MODEL_ONLY_FIELDS = frozenset({"modelFormat", "runtime", "storageUri", "storage", "protocolVersion",
                               "runtimeVersion", "name"})

# corev1.PodSpec's fields: what a predictor may set at pod level (the rest of predictor is KServe's own).
POD_FIELDS = frozenset({
    "volumes", "initContainers", "restartPolicy", "terminationGracePeriodSeconds", "activeDeadlineSeconds",
    "dnsPolicy", "nodeSelector", "serviceAccountName", "serviceAccount", "automountServiceAccountToken",
    "nodeName", "hostNetwork", "hostPID", "hostIPC", "shareProcessNamespace", "securityContext",
    "imagePullSecrets", "hostname", "subdomain", "affinity", "schedulerName", "tolerations", "hostAliases",
    "priorityClassName", "priority", "dnsConfig", "readinessGates", "runtimeClassName", "enableServiceLinks",
    "preemptionPolicy", "overhead", "topologySpreadConstraints", "setHostnameAsFQDN", "os", "hostUsers",
    "schedulingGates", "resourceClaims"})
RUNTIME_POD_FIELDS = ("nodeSelector", "affinity", "tolerations", "volumes", "imagePullSecrets", "schedulerName",
                      "resourceClaims")

_MERGE_KEYS = {"env": "name", "ports": "containerPort", "volumeMounts": "mountPath",
               "volumeDevices": "devicePath", "volumes": "name", "imagePullSecrets": "name",
               "initContainers": "name", "containers": "name", "resourceClaims": "name"}
_REPLACE_WHOLE = frozenset({"env"})


def model_container(model: Obj) -> Obj:
    """The container fields of `predictor.model` (ModelSpec embeds corev1.Container)."""
    return {key: copy.deepcopy(value) for key, value in model.items() if key not in MODEL_ONLY_FIELDS}


def merge_container(runtime_container: Obj, overlay: Obj) -> Obj:
    """The runtime's container with the InferenceService's container fields merged in."""
    merged = merge_objects(runtime_container, overlay)
    merged["name"] = runtime_container.get("name") or overlay.get("name")
    args = list(runtime_container.get("args") or []) + list(overlay.get("args") or [])
    if args:
        merged["args"] = args
    return merged


def merge_pod_spec(runtime_spec: Obj, predictor: Obj) -> Obj:
    """The runtime's pod-level fields with the predictor's pod fields merged in (no containers)."""
    base = {field: copy.deepcopy(runtime_spec[field]) for field in RUNTIME_POD_FIELDS
            if runtime_spec.get(field) not in (None, [], {})}
    overlay = {field: value for field, value in predictor.items() if field in POD_FIELDS}
    return merge_objects(base, overlay)


def merge_objects(base: Obj, overlay: Obj) -> Obj:
    out: dict[str, Any] = copy.deepcopy(base)
    for key, value in overlay.items():
        if value is None or value == [] or value == {} or value == "":
            continue  # Go's omitempty: an unset field in the patch leaves the original alone
        current = out.get(key)
        if isinstance(value, dict) and isinstance(current, dict):
            out[key] = merge_objects(current, value)
        elif isinstance(value, list) and isinstance(current, list) and key in _MERGE_KEYS:
            out[key] = merge_lists(current, value, _MERGE_KEYS[key], replace_whole=key in _REPLACE_WHOLE)
        else:
            out[key] = copy.deepcopy(value)
    return out


def merge_lists(base: list[Any], overlay: list[Any], merge_key: str, *, replace_whole: bool = False) -> list[Any]:
    out = copy.deepcopy(base)
    for item in overlay:
        key = item.get(merge_key) if isinstance(item, dict) else None
        index = next((i for i, existing in enumerate(out)
                      if key is not None and isinstance(existing, dict) and existing.get(merge_key) == key), None)
        if index is None:
            out.append(copy.deepcopy(item))
        elif replace_whole or not isinstance(item, dict):
            out[index] = copy.deepcopy(item)
        else:
            out[index] = merge_objects(out[index], item)
    return out
