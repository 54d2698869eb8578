"""Acceptance test 2b: KServe's own SDK, `KServeClient` (kserve 0.21, kubernetes<37), against kubeserve.

kserve 0.21 needs kubernetes<37 and python-dateutil<3, so it lives in its own environment
(`.venvs/kserve`, made by `make tools`); tests/e2e/kserve_client_script.py runs there, and this test plays
the controller: once the script is waiting in `wait_isvc_ready(watch=True)` it sets Ready (and
observedGeneration) through the status subresource, first not ready, then ready.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from pathlib import Path
from typing import IO, Any

import pytest

from harness import KubeServe

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def kubeserve(api_only_kubeserve: KubeServe) -> KubeServe:
    """These tests write InferenceService status themselves, as KServe's controller would, so they run
    against a kubeserve whose own serving controller is off."""
    return api_only_kubeserve


REPO = Path(__file__).resolve().parents[2]
KSERVE_PYTHON = REPO / ".venvs" / "kserve" / "bin" / "python"
SCRIPT = Path(__file__).with_name("kserve_client_script.py")
NAME = "granite-model"


def status_patch(kubeserve: KubeServe, namespace: str, status: dict[str, Any]) -> dict[str, Any]:
    code, body, _ = kubeserve.request(
        "PATCH", f"/apis/serving.kserve.io/v1beta1/namespaces/{namespace}/inferenceservices/{NAME}/status",
        {"status": status}, content_type="application/merge-patch+json")
    assert code == 200, body
    return dict(body)


def read_line(stream: IO[str], prefix: str, timeout: float, lines: list[str]) -> str:
    """The payload of the next stdout line starting with `prefix` (other lines are kept for messages)."""
    found: list[str] = []

    def reader() -> None:
        for line in stream:
            lines.append(line)
            if line.startswith(prefix + " "):
                found.append(line[len(prefix) + 1:])
                return

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    thread.join(timeout)
    if not found:
        raise AssertionError(f"no {prefix} line from the KServeClient script within {timeout}s; stdout:\n"
                             + "".join(lines))
    return found[0]


def test_kserve_client(kubeserve: KubeServe, namespace: str) -> None:
    if not KSERVE_PYTHON.exists():
        pytest.fail(f"{KSERVE_PYTHON} is missing: run `make tools` (it creates .venvs/kserve with "
                    "kserve==0.21.*, kubernetes<37, python-dateutil<3)")
    versions = subprocess.run(
        [str(KSERVE_PYTHON), "-c", "import importlib.metadata as m; "
         "print(m.version('kserve'), m.version('kubernetes'))"], capture_output=True, text=True, check=False)
    assert versions.returncode == 0, f"kserve is not importable in .venvs/kserve: {versions.stderr}"
    kserve_version, kubernetes_version = versions.stdout.split()
    assert kserve_version.startswith("0.21."), kserve_version
    assert int(kubernetes_version.split(".")[0]) < 37, kubernetes_version

    lines: list[str] = []
    process = subprocess.Popen([str(KSERVE_PYTHON), str(SCRIPT), str(kubeserve.kubeconfig), namespace],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=kubeserve.env())
    try:
        assert process.stdout is not None
        waiting = json.loads(read_line(process.stdout, "WAITING", 60, lines))
        generation = waiting["generation"]
        assert generation == 3  # create, a spec patch, a replace

        # The script is (about to be) inside wait_isvc_ready(watch=True): a status that is not ready yet,
        # then the Ready one. The watch must see both as MODIFIED events.
        time.sleep(1.5)
        not_ready = status_patch(kubeserve, namespace, {
            "observedGeneration": generation,
            "conditions": [{"type": "PredictorReady", "status": "False", "lastTransitionTime": "2025-01-01T00:00:00Z"},
                           {"type": "Ready", "status": "False", "lastTransitionTime": "2025-01-01T00:00:00Z"}]})
        assert not_ready["metadata"]["generation"] == generation
        time.sleep(1.5)
        status_patch(kubeserve, namespace, {
            "observedGeneration": generation,
            "url": f"https://{NAME}-{namespace}.apps.example.com",
            "address": {"url": f"http://{NAME}-predictor.{namespace}.svc.cluster.local"},
            "conditions": [{"type": "PredictorReady", "status": "True", "lastTransitionTime": "2025-01-01T00:00:00Z"},
                           {"type": "IngressReady", "status": "True", "lastTransitionTime": "2025-01-01T00:00:00Z"},
                           {"type": "Ready", "status": "True", "lastTransitionTime": "2025-01-01T00:00:00Z"}],
            "components": {"predictor": {"latestReadyRevision": f"{NAME}-predictor-00001",
                                         "traffic": [{"percent": 100, "latestRevision": True,
                                                      "revisionName": f"{NAME}-predictor-00001"}]}}})
        result = json.loads(read_line(process.stdout, "RESULT", 90, lines))
        process.wait(30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
    stderr = process.stderr.read() if process.stderr else ""
    assert "error" not in result, result["error"] + "\n" + stderr
    assert process.returncode == 0, stderr

    created = result["created"]
    assert (created["apiVersion"], created["kind"]) == ("serving.kserve.io/v1beta1", "InferenceService")
    assert created["metadata"]["namespace"] == namespace and created["metadata"]["generation"] == 1
    model = created["spec"]["predictor"]["model"]
    assert model["modelFormat"] == {"name": "vLLM"}
    assert model["runtime"] == "granite-model"
    assert model["storageUri"] == "oci://registry.redhat.io/rhelai1/modelcar-granite-3-1-8b-instruct:1.5"
    assert model["resources"]["limits"]["nvidia.com/gpu"] == "1"

    assert result["get"]["metadata"]["uid"] == created["metadata"]["uid"]
    assert result["list"] == [NAME]

    patched = result["patched"]
    assert patched["spec"]["predictor"]["minReplicas"] == 2 and patched["spec"]["predictor"]["maxReplicas"] == 5
    assert patched["metadata"]["generation"] == 2
    assert patched["metadata"]["labels"]["networking.kserve.io/visibility"] == "exposed"
    replaced = result["replaced"]
    assert replaced["spec"]["predictor"]["model"]["storageUri"].endswith(":1.6")
    assert replaced["spec"]["predictor"]["minReplicas"] == 2
    assert replaced["metadata"]["generation"] == 3
    assert replaced["metadata"]["uid"] == created["metadata"]["uid"]
    assert result["ready_before_wait"] is False

    # wait_isvc_ready(watch=True) returned because of the Ready event, not the 60 s timeout
    assert "wait_error" not in result, result["wait_error"]
    assert result["wait_seconds"] < 30, result
    rows = [line.split() for line in result["watch_output"].splitlines() if line.startswith(NAME)]
    assert [NAME, "False"] in [row[:2] for row in rows], result["watch_output"]
    assert rows[-1][:2] == [NAME, "True"], result["watch_output"]
    assert rows[-1][-1] == f"https://{NAME}-{namespace}.apps.example.com"
    assert result["ready_after_wait"] is True
    assert result["ready_for_generation"] is True
    assert result["after_wait"]["status"]["observedGeneration"] == 3

    deleted = result["deleted"]
    assert deleted["kind"] == "Status" and deleted["status"] == "Success", deleted
    assert deleted["details"]["name"] == NAME
    assert "(404)" in result["get_after_delete"] and "NotFound" in result["get_after_delete"]
    assert kubeserve.kubectl("get", "inferenceservices", "-n", namespace, "-o", "name").stdout.strip() == ""
