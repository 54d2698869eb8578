"""Drives KServe's own SDK (`KServeClient`, kserve 0.21 with kubernetes<37) against kubeserve.

Run by tests/e2e/test_kserve_client.py with the interpreter of the separate `.venvs/kserve` environment
(`make tools`), because kserve 0.21 does not work with the kubernetes 37 client of the main venv:

    .venvs/kserve/bin/python tests/e2e/kserve_client_script.py KUBECONFIG NAMESPACE

Protocol on stdout (one line each, flushed): `WAITING <json>` once the InferenceService is created, patched and
replaced and `wait_isvc_ready(watch=True)` is about to start (the test then sets Ready through the status
subresource), and finally `RESULT <json>` with everything the test asserts. Exceptions are caught per
step and reported in the result, so the test shows what failed.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
import time
import traceback
from typing import Any

from kserve import (
    KServeClient,
    V1beta1InferenceService,
    V1beta1InferenceServiceSpec,
    V1beta1ModelFormat,
    V1beta1ModelSpec,
    V1beta1PredictorSpec,
    constants,
)
from kubernetes import client

NAME = "granite-model"
STORAGE_URI = "oci://registry.redhat.io/rhelai1/modelcar-granite-3-1-8b-instruct:1.5"


def emit(tag: str, payload: Any) -> None:
    sys.stdout.write(f"{tag} {json.dumps(payload, default=str)}\n")
    sys.stdout.flush()


def build_isvc(namespace: str) -> V1beta1InferenceService:
    """The guide's granite-model-service.yaml, built from the SDK's models."""
    return V1beta1InferenceService(
        api_version=constants.KSERVE_V1BETA1,
        kind=constants.KSERVE_KIND_INFERENCESERVICE,
        metadata=client.V1ObjectMeta(
            name=NAME, namespace=namespace,
            annotations={"openshift.io/display-name": "Granite 3.1 8B Instruct"},
            labels={"opendatahub.io/dashboard": "true", "networking.kserve.io/visibility": "exposed"}),
        spec=V1beta1InferenceServiceSpec(predictor=V1beta1PredictorSpec(
            model=V1beta1ModelSpec(
                model_format=V1beta1ModelFormat(name="vLLM"),
                runtime="granite-model",
                storage_uri=STORAGE_URI,
                resources=client.V1ResourceRequirements(
                    requests={"cpu": "2", "memory": "16Gi", "nvidia.com/gpu": "1"},
                    limits={"cpu": "4", "memory": "24Gi", "nvidia.com/gpu": "1"})),
            tolerations=[client.V1Toleration(effect="NoSchedule", key="nvidia.com/gpu", operator="Exists")])))


def main(kubeconfig: str, namespace: str) -> dict[str, Any]:
    result: dict[str, Any] = {}
    kserve = KServeClient(config_file=kubeconfig)
    isvc = build_isvc(namespace)

    created = kserve.create(isvc)
    result["created"] = created

    result["get"] = kserve.get(NAME, namespace=namespace)
    result["list"] = [i["metadata"]["name"] for i in kserve.get(namespace=namespace)["items"]]

    isvc.spec.predictor.min_replicas = 2
    isvc.spec.predictor.max_replicas = 5
    result["patched"] = kserve.patch(NAME, isvc, namespace=namespace)

    isvc.spec.predictor.model.storage_uri = STORAGE_URI.replace(":1.5", ":1.6")
    result["replaced"] = kserve.replace(NAME, isvc, namespace=namespace)  # GET for resourceVersion, then PUT
    result["ready_before_wait"] = kserve.is_isvc_ready(NAME, namespace=namespace)

    emit("WAITING", {"generation": result["replaced"]["metadata"]["generation"]})
    watch_output = io.StringIO()
    started = time.monotonic()
    try:
        with contextlib.redirect_stdout(watch_output):  # isvc_watch prints a table row per event
            kserve.wait_isvc_ready(NAME, namespace=namespace, watch=True, timeout_seconds=60)
    except Exception:
        result["wait_error"] = traceback.format_exc()
    result["wait_seconds"] = time.monotonic() - started
    result["watch_output"] = watch_output.getvalue()
    result["ready_after_wait"] = kserve.is_isvc_ready(NAME, namespace=namespace)
    result["ready_for_generation"] = kserve.is_isvc_ready(
        NAME, namespace=namespace, expected_generation=result["replaced"]["metadata"]["generation"])
    result["after_wait"] = kserve.get(NAME, namespace=namespace)

    result["deleted"] = kserve.delete(NAME, namespace=namespace)
    try:
        kserve.get(NAME, namespace=namespace)
        result["get_after_delete"] = "found"
    except RuntimeError as err:
        result["get_after_delete"] = str(err)
    return result


if __name__ == "__main__":
    try:
        emit("RESULT", main(sys.argv[1], sys.argv[2]))
    except Exception:
        emit("RESULT", {"error": traceback.format_exc()})
        sys.exit(1)
