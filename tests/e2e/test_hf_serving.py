"""The Hugging Face runtime behind an InferenceService (issue 5, acceptance 6): KServe's
`kserve-huggingfaceserver` runtime shape (image kserve/huggingfaceserver, model format huggingface) serving
the demo model from a PVC, answering completions and streaming chat through the predictor Service."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness import KubeServe

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(not (REPO / ".venvs" / "vllm" / "bin" / "python").exists(),
                                reason="the model-server environment is not installed: `make tools`")

RUNTIME = {
    "apiVersion": "serving.kserve.io/v1alpha1", "kind": "ServingRuntime",
    "metadata": {"name": "kserve-huggingfaceserver"},
    "spec": {
        "supportedModelFormats": [{"name": "huggingface", "version": "1", "autoSelect": True, "priority": 1}],
        "protocolVersions": ["v2", "v1"],
        "containers": [{"name": "kserve-container", "image": "kserve/huggingfaceserver:v0.15.0",
                        "args": ["--model_name={{.Name}}", "--model_dir=/mnt/models", "--http_port=8080"],
                        "resources": {"requests": {"cpu": "1", "memory": "2Gi"},
                                      "limits": {"cpu": "1", "memory": "4Gi"}}}],
    },
}

PVC = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "hf-models"},
       "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}

ISVC = {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService", "metadata": {"name": "hf-llama"},
        "spec": {"predictor": {"model": {"modelFormat": {"name": "huggingface"},
                                         "storageUri": "pvc://hf-models/llama-demo"}}}}


def post(url: str, body: dict[str, Any]) -> str:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as response:
        return response.read().decode()


@pytest.mark.timeout(900)
def test_huggingface_format_is_served_by_the_light_runtime(kubeserve: KubeServe, namespace: str,
                                                           tmp_path: Path) -> None:
    model = tmp_path / "llama-demo"
    built = subprocess.run([sys.executable, "-m", "kubeserve", "demo-model", str(model)], capture_output=True,
                           text=True, timeout=300)
    assert built.returncode == 0, built.stderr
    for doc in (PVC, RUNTIME):
        kubeserve.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(doc))
    copied = subprocess.run([sys.executable, "-m", "kubeserve", "pvc", "cp", str(model), "hf-models:llama-demo",
                             "-n", namespace, "--progress", "none"], capture_output=True, text=True,
                            env=kubeserve.env(), timeout=120)
    assert copied.returncode == 0, copied.stderr
    kubeserve.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(ISVC))
    waited = kubeserve.kubectl("wait", "--for=condition=Ready", "inferenceservice/hf-llama", "-n", namespace,
                               "--timeout=180s", timeout=190, check=False)
    if waited.returncode != 0:
        pytest.fail(kubeserve.kubectl("describe", "inferenceservice", "hf-llama", "-n", namespace).stdout)
    status = kubeserve.kubectl_json("get", "inferenceservice", "hf-llama", "-n", namespace)["status"]
    assert status["servingRuntimeName"] == "kserve-huggingfaceserver"  # chosen by model format (autoSelect)
    deployment = kubeserve.kubectl_json("get", "deployment", "hf-llama-predictor", "-n", namespace)
    mounts = deployment["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]
    assert any(m["mountPath"] == "/mnt/models" and m.get("subPath") == "llama-demo" and m.get("readOnly")
               for m in mounts), mounts  # pvc:// is mounted, not copied
    service = kubeserve.kubectl_json("get", "service", "hf-llama-predictor", "-n", namespace)
    base = f"http://{service['spec']['clusterIP']}"
    completion = json.loads(post(f"{base}/v1/completions", {"model": "hf-llama", "prompt": "def", "max_tokens": 5,
                                                            "ignore_eos": True}))
    assert completion["model"] == "hf-llama" and completion["usage"]["completion_tokens"] == 5
    stream = post(f"{base}/v1/chat/completions", {"model": "hf-llama", "stream": True, "max_tokens": 5,
                                                  "messages": [{"role": "user", "content": "Hello"}]})
    chunks = [line[len("data: "):] for line in stream.splitlines() if line.startswith("data: ")]
    assert chunks[-1] == "[DONE]" and json.loads(chunks[0])["object"] == "chat.completion.chunk"
