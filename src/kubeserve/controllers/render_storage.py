"""Getting the model to /mnt/models in the predictor pod: the storage initializer, or the claim itself.

KServe's storage-initializer injector (pkg/webhook/admission/pod/storage_initializer_injector.go) does this to
the pod after the controller renders it; kubeserve renders the result directly, so what the Deployment holds is
what runs:

- `pvc://<claim>/<path>`: no init container. The claim is the volume `kserve-pvc-source`, mounted at
  /mnt/models with the path as `subPath`, read-only (ParsePvcURI: the first segment is the claim, the rest
  the path).
- any other URI (oci://, s3://, hf://, http(s)://, gs://, file://, a local path): the init container
  `storage-initializer` with args `[URI, /mnt/models]`, KServe's resources and FallbackToLogsOnError, writing
  into the emptyDir `kserve-provision-location`, which `kserve-container` mounts read-only at /mnt/models.
  (KServe's modelcar sidecar for oci:// needs a shared process namespace; kubeserve's initializer unpacks
  the modelcar instead.)
- `storage: {key, path}` (the guide's data connection): the URI is `s3://<AWS_S3_BUCKET>/<path>` (a
  `parameters.bucket` overrides the bucket) and the init container takes the connection's variables from
  the Secret by `secretKeyRef`, so no secret value is ever copied into the Deployment.
- oci:// with `imagePullSecrets`: the first one is mounted into the init container and `REGISTRY_AUTH_FILE`
  points at its `.dockerconfigjson`.

`storage.kserve.io/readonly: "false"` on the InferenceService mounts the model read-write, as in KServe.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kubeserve.client import Obj
from kubeserve.controllers.render_types import RenderError, RenderSettings

MODEL_MOUNT_PATH = "/mnt/models"
INITIALIZER_NAME = "storage-initializer"
PROVISION_VOLUME = "kserve-provision-location"
PVC_VOLUME = "kserve-pvc-source"
REGISTRY_AUTH_VOLUME = "kserve-registry-auth"
REGISTRY_AUTH_DIR = "/var/run/secrets/kserve.io/registry-auth"
READONLY_ANNOTATION = "storage.kserve.io/readonly"
INVALID = "InvalidPredictorSpec"

# KServe's SupportedStorageURIPrefixList.
SUPPORTED_PREFIXES = ("gs://", "s3://", "pvc://", "file://", "https://", "http://", "hdfs://", "webhdfs://",
                      "oci://", "hf://")
# A data connection's variables: the ones the S3 provider needs, then the ones it may use.
REQUIRED_KEYS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_S3_ENDPOINT")
OPTIONAL_KEYS = ("AWS_S3_BUCKET", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_SESSION_TOKEN", "AWS_CA_BUNDLE",
                 "AWS_ENDPOINT_URL", "S3_ENDPOINT", "S3_USE_HTTPS", "S3_VERIFY_SSL", "awsAnonymousCredential")


@dataclass(frozen=True)
class StoragePlan:
    uri: str
    secret_name: str | None = None
    secret_keys: tuple[str, ...] = ()
    """The Secret's keys the init container takes as environment variables (values stay in the Secret)."""


def plan_storage(model: Obj, storage_secret: Obj | None) -> StoragePlan | None:
    """Where the model comes from, or None for a predictor without storageUri or storage."""
    uri = model.get("storageUri")
    storage = model.get("storage") or {}
    if uri and storage.get("path"):
        raise RenderError(INVALID, "set only one of spec.predictor.model.storageUri and "
                                   "spec.predictor.model.storage.path")
    if uri:
        check_uri(str(uri))
        return StoragePlan(str(uri))
    if not storage:
        return None
    key = storage.get("key")
    if not key:
        raise RenderError(INVALID, "spec.predictor.model.storage has no key: name the data connection Secret "
                                   "(storage.key) that holds the S3 credentials and bucket")
    if storage_secret is None:
        raise RenderError(INVALID, f"the data connection Secret {key!r} (spec.predictor.model.storage.key) "
                                   "was not found in the namespace")
    data = {name: str(value) for name, value in (storage_secret.get("data") or {}).items()}
    parameters = storage.get("parameters") or {}
    bucket = str(parameters.get("bucket") or data.get("AWS_S3_BUCKET") or "").strip()
    if not bucket:
        raise RenderError(INVALID, f"the data connection Secret {key!r} has no AWS_S3_BUCKET: add it, or set "
                                   "spec.predictor.model.storage.parameters.bucket")
    path = str(storage.get("path") or "").lstrip("/")
    keys = tuple(name for name in REQUIRED_KEYS + OPTIONAL_KEYS if name in data)
    return StoragePlan(f"s3://{bucket}/{path}", str(storage_secret.get("name") or key), keys)


def check_uri(uri: str) -> None:
    if re.match(r"\w+?://", uri) and not uri.startswith(SUPPORTED_PREFIXES):
        raise RenderError(INVALID, f"storageUri {uri!r} is not supported: it must start with one of "
                                   f"{', '.join(SUPPORTED_PREFIXES)} or be a local path")
    if uri.startswith("pvc://"):
        parse_pvc_uri(uri)


def parse_pvc_uri(uri: str) -> tuple[str, str]:
    """(claim, subPath) of `pvc://<claim>[/<path>]`; the path must stay inside the claim, as a subPath must."""
    claim, _, rest = uri[len("pvc://"):].partition("/")
    if not claim:
        raise RenderError(INVALID, f"storageUri {uri!r} names no claim: use pvc://<claim>/<path>")
    if rest.startswith("/"):
        raise RenderError(INVALID, f"storageUri {uri!r}: the path inside claim {claim!r} must be relative")
    parts = [part for part in rest.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise RenderError(INVALID, f"storageUri {uri!r}: the path must not contain '..' (it would leave the "
                                   f"claim {claim!r})")
    return claim, "/".join(parts)


def add_storage(pod_spec: Obj, container_name: str, plan: StoragePlan, settings: RenderSettings, *,
                read_only: bool) -> None:
    """Mount the model into `container_name` of `pod_spec` (a copy the caller owns), as the plan says."""
    container = next(item for item in pod_spec["containers"] if item.get("name") == container_name)
    if plan.uri.startswith("pvc://"):
        claim, sub_path = parse_pvc_uri(plan.uri)
        _add_volume(pod_spec, {"name": PVC_VOLUME,
                               "persistentVolumeClaim": {"claimName": claim, "readOnly": read_only}})
        mount: Obj = {"name": PVC_VOLUME, "mountPath": MODEL_MOUNT_PATH, "readOnly": read_only}
        if sub_path:
            mount["subPath"] = sub_path
        container.setdefault("volumeMounts", []).append(mount)
        return
    init_containers = pod_spec.setdefault("initContainers", [])
    if any(item.get("name") == INITIALIZER_NAME for item in init_containers):
        return  # a predictor that brings its own storage-initializer keeps it, as KServe does
    _add_volume(pod_spec, {"name": PROVISION_VOLUME, "emptyDir": {}})
    initializer = _initializer(plan, settings)
    if plan.uri.startswith("oci://"):
        pull_secret = next((item.get("name") for item in pod_spec.get("imagePullSecrets") or []
                            if item.get("name")), None)
        if pull_secret:
            _add_volume(pod_spec, {"name": REGISTRY_AUTH_VOLUME, "secret": {"secretName": pull_secret}})
            initializer["volumeMounts"].append({"name": REGISTRY_AUTH_VOLUME, "mountPath": REGISTRY_AUTH_DIR,
                                                "readOnly": True})
            initializer.setdefault("env", []).append(
                {"name": "REGISTRY_AUTH_FILE", "value": f"{REGISTRY_AUTH_DIR}/.dockerconfigjson"})
    init_containers.append(initializer)
    container.setdefault("volumeMounts", []).append(
        {"name": PROVISION_VOLUME, "mountPath": MODEL_MOUNT_PATH, "readOnly": read_only})


def _initializer(plan: StoragePlan, settings: RenderSettings) -> Obj:
    container: Obj = {
        "name": INITIALIZER_NAME,
        "image": settings.storage_initializer_image,
        "args": [plan.uri, MODEL_MOUNT_PATH],
        "resources": {"limits": {"cpu": settings.storage_initializer_cpu_limit,
                                 "memory": settings.storage_initializer_memory_limit},
                      "requests": {"cpu": settings.storage_initializer_cpu_request,
                                   "memory": settings.storage_initializer_memory_request}},
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "volumeMounts": [{"name": PROVISION_VOLUME, "mountPath": MODEL_MOUNT_PATH}],
    }
    if plan.secret_name:
        container["env"] = [
            {"name": key, "valueFrom": {"secretKeyRef": {"name": plan.secret_name, "key": key,
                                                         **({} if key in REQUIRED_KEYS else {"optional": True})}}}
            for key in plan.secret_keys]
    return container


def _add_volume(pod_spec: Obj, volume: Obj) -> None:
    volumes = pod_spec.setdefault("volumes", [])
    if not any(item.get("name") == volume["name"] for item in volumes):
        volumes.append(volume)


def model_read_only(isvc: Obj) -> bool:
    annotations = (isvc.get("metadata") or {}).get("annotations") or {}
    return str(annotations.get(READONLY_ANNOTATION, "true")).lower() != "false"
