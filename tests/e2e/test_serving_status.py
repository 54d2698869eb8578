"""Every InferenceService explains its own state (issue 5, acceptance 2 to 4), on a kubeserve of its own with no
GPU (the shared session server has fake GPUs): the guide's complete working example stays not Ready with
`Insufficient nvidia.com/gpu` in describe, conditions and Events; a missing runtime, a model format nobody
supports and a runtime deleted while in use each leave their documented condition; a runtime/service pair
with mismatched names works and says why the dashboard will not link them; `kubectl get isvc -w` shows the
transitions. Runtimes here run the built-in HTTP test server image so nothing waits for a model server."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from harness import KubectlLines, KubeServe, eventually, start_kubeserve

GUIDE = Path(__file__).parent.parent / "fixtures" / "guide"
NS = "status-e2e"


@pytest.fixture(scope="module")
def cpu_only(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeServe]:
    server = start_kubeserve(tmp_path_factory.mktemp("kubeserve-cpu-only"), env={"KUBESERVE_GPUS": "nvidia.com/gpu=0"})
    server.kubectl("create", "namespace", NS)
    yield server
    server.stop()


def condition(ks: KubeServe, name: str, kind: str) -> dict[str, str]:
    isvc = ks.kubectl_json("get", "inferenceservice", name, "-n", NS)
    return next((c for c in (isvc.get("status") or {}).get("conditions") or [] if c["type"] == kind), {})


def wait_condition(ks: KubeServe, name: str, kind: str, status: str, reason: str | None = None,
                   timeout: float = 60) -> dict[str, str]:
    def check() -> dict[str, str] | None:
        found = condition(ks, name, kind)
        ok = found.get("status") == status and (reason is None or found.get("reason") == reason)
        return found if ok else None
    result: dict[str, str] = eventually(check, timeout=timeout)
    return result


def test_spec_example_without_a_gpu_says_insufficient_gpu(cpu_only: KubeServe) -> None:
    for name in ("granite-model-runtime.yaml", "granite-model-service.yaml", "granite-model-route.yaml"):
        cpu_only.kubectl("apply", "-n", NS, "-f", str(GUIDE / name))
    ready = wait_condition(cpu_only, "granite-model", "PredictorReady", "False", "Unschedulable")
    assert "Insufficient nvidia.com/gpu" in ready["message"], ready
    assert wait_condition(cpu_only, "granite-model", "Ready", "False")["reason"] == "Unschedulable"
    described = cpu_only.kubectl("describe", "inferenceservice", "granite-model", "-n", NS).stdout
    assert "Insufficient nvidia.com/gpu" in described
    events = cpu_only.kubectl("get", "events", "-n", NS, "--field-selector",
                              "involvedObject.kind=InferenceService,involvedObject.name=granite-model").stdout
    assert "Insufficient nvidia.com/gpu" in events
    # The guide's own Route file, applied on top, is kept as the user wrote it.
    route = cpu_only.kubectl_json("get", "route", "granite-model", "-n", NS)
    assert route["spec"]["to"]["name"] == "granite-model-predictor"
    assert route["spec"]["tls"] == {"termination": "edge", "insecureEdgeTerminationPolicy": "Redirect"}
    listing = cpu_only.kubectl("get", "servingruntime,inferenceservice,route,service,deployment,pod", "-n", NS,
                               "-l", "serving.kserve.io/inferenceservice=granite-model").stdout
    assert "deployment.apps/granite-model-predictor" in listing and "service/granite-model-predictor" in listing


def test_runtime_problems_leave_precise_conditions(cpu_only: KubeServe) -> None:
    missing = yaml.safe_load((GUIDE / "minimal-model-service.yaml").read_text())
    missing["metadata"]["name"] = "no-runtime"
    missing["spec"]["predictor"]["model"]["runtime"] = "does-not-exist"
    cpu_only.kubectl("apply", "-n", NS, "-f", "-", input=yaml.safe_dump(missing))
    found = wait_condition(cpu_only, "no-runtime", "PredictorReady", "False", "RuntimeNotRecognized")
    assert "does-not-exist" in found["message"]

    unsupported = yaml.safe_load((GUIDE / "minimal-model-service.yaml").read_text())
    unsupported["metadata"]["name"] = "odd-format"
    del unsupported["spec"]["predictor"]["model"]["runtime"]
    unsupported["spec"]["predictor"]["model"]["modelFormat"] = {"name": "onnx"}
    cpu_only.kubectl("apply", "-n", NS, "-f", "-", input=yaml.safe_dump(unsupported))
    found = wait_condition(cpu_only, "odd-format", "PredictorReady", "False", "NoSupportingRuntime")
    assert "onnx" in found["message"]
    status = cpu_only.kubectl_json("get", "inferenceservice", "odd-format", "-n", NS)["status"]
    assert status["modelStatus"]["transitionStatus"] == "InvalidSpec"
    assert status["modelStatus"]["lastFailureInfo"]["reason"] == "NoSupportingRuntime"


def runtime_yaml(name: str, *, served_name: str | None = None) -> str:
    return yaml.safe_dump({
        "apiVersion": "serving.kserve.io/v1alpha1", "kind": "ServingRuntime", "metadata": {"name": name},
        "spec": {"supportedModelFormats": [{"name": "vLLM", "autoSelect": True}],
                 "containers": [{"name": "kserve-container", "image": "kubeserve/http-test-server",
                                 "args": ["--port=8080"]}]}})


def isvc(name: str, runtime: str) -> str:
    return yaml.safe_dump({
        "apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService", "metadata": {"name": name},
        "spec": {"predictor": {"model": {"modelFormat": {"name": "vLLM"}, "runtime": runtime}}}})


def test_watch_shows_transitions_and_columns(cpu_only: KubeServe) -> None:
    watch = KubectlLines(cpu_only, "get", "inferenceservice", "-n", NS, "-w")
    try:
        time.sleep(1)  # the watch is open before the object exists (kubectl prints no header until then)
        cpu_only.kubectl("apply", "-n", NS, "-f", "-", input=runtime_yaml("watched"))
        cpu_only.kubectl("apply", "-n", NS, "-f", "-", input=isvc("watched", "watched"))
        cpu_only.kubectl("wait", "--for=condition=Ready", "inferenceservice/watched", "-n", NS, "--timeout=90s",
                         timeout=100)
        watch.until(lambda line: line.startswith("watched ") and " True " in line, timeout=30)
    finally:
        watch.stop()
    ready_column = [word for line in watch.seen if line.startswith("watched ")
                    for word in line.split() if word in ("True", "False")]
    assert ready_column[0] == "False" and ready_column[-1] == "True", "\n".join(watch.seen)
    columns = cpu_only.kubectl(
        "get", "inferenceservices", "-n", NS, "-o",
        "custom-columns=NAME:.metadata.name,RUNTIME:.spec.predictor.model.runtime,"
        "MODEL:.spec.predictor.model.storageUri,READY:.status.conditions[?(@.type=='Ready')].status,"
        "URL:.status.url").stdout
    line = next(row for row in columns.splitlines() if row.startswith("watched "))
    assert line.split() == ["watched", "watched", "<none>", "True",
                            f"http://watched-predictor.{NS}.svc.cluster.local"]
    jsonpath = cpu_only.kubectl("get", "inferenceservice", "watched", "-n", NS, "-o",
                                "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}").stdout
    assert jsonpath == "True"


def test_runtime_deleted_while_in_use(cpu_only: KubeServe) -> None:
    cpu_only.kubectl("apply", "-n", NS, "-f", "-", input=runtime_yaml("doomed"))
    cpu_only.kubectl("apply", "-n", NS, "-f", "-", input=isvc("doomed", "doomed"))
    wait_condition(cpu_only, "doomed", "Ready", "True", timeout=90)
    cpu_only.kubectl("delete", "servingruntime", "doomed", "-n", NS)
    found = wait_condition(cpu_only, "doomed", "PredictorReady", "False", "RuntimeNotRecognized")
    assert "doomed" in found["message"]
    # It comes back when the runtime does.
    cpu_only.kubectl("apply", "-n", NS, "-f", "-", input=runtime_yaml("doomed"))
    wait_condition(cpu_only, "doomed", "Ready", "True", timeout=90)


def test_mismatched_names_work_and_say_why_the_dashboard_will_not_link_them(cpu_only: KubeServe) -> None:
    cpu_only.kubectl("apply", "-n", NS, "-f", "-", input=runtime_yaml("shared-runtime"))
    applied = cpu_only.kubectl("apply", "-n", NS, "-f", "-", input=isvc("other-name", "shared-runtime"))
    assert "different names" in applied.stderr
    wait_condition(cpu_only, "other-name", "Ready", "True", timeout=90)
    events = cpu_only.kubectl("get", "events", "-n", NS, "-o", "json", "--field-selector",
                              "involvedObject.name=other-name")
    reasons = {e["reason"]: e["message"] for e in json.loads(events.stdout)["items"]}
    assert "RuntimeNameMismatch" in reasons, reasons
    assert "shared-runtime" in reasons["RuntimeNameMismatch"]


def test_delete_cascades_and_force_delete_works(cpu_only: KubeServe) -> None:
    cpu_only.kubectl("apply", "-n", NS, "-f", "-", input=runtime_yaml("gone"))
    cpu_only.kubectl("apply", "-n", NS, "-f", "-", input=isvc("gone", "gone"))
    wait_condition(cpu_only, "gone", "Ready", "True", timeout=90)
    got = cpu_only.kubectl_json("get", "inferenceservice", "gone", "-n", NS)
    assert "inferenceservice.finalizers" in got["metadata"]["finalizers"]
    cpu_only.kubectl("delete", "inferenceservice", "gone", "-n", NS, "--timeout=60s", timeout=70)
    eventually(lambda: cpu_only.kubectl("get", "deployment", "gone-predictor", "-n", NS, check=False).returncode != 0,
               timeout=30)
    eventually(lambda: not cpu_only.kubectl("get", "pods", "-n", NS, "-l",
                                            "serving.kserve.io/inferenceservice=gone", "-o", "name").stdout.strip(),
               timeout=60)
    # The guide's force deletion: finalizers cleared by hand, then delete --force --grace-period=0.
    cpu_only.kubectl("apply", "-n", NS, "-f", "-", input=isvc("forced", "gone"))
    wait_condition(cpu_only, "forced", "Ready", "True", timeout=90)
    cpu_only.kubectl("patch", "inferenceservice", "forced", "-n", NS, "--type=merge", "-p",
                     '{"metadata":{"finalizers":null}}')
    cpu_only.kubectl("delete", "inferenceservice", "forced", "-n", NS, "--force", "--grace-period=0")
    assert cpu_only.kubectl("get", "inferenceservice", "forced", "-n", NS, check=False).returncode != 0
    eventually(lambda: cpu_only.kubectl("get", "deployment", "forced-predictor", "-n", NS,
                                        check=False).returncode != 0, timeout=30)
