"""The light Hugging Face runtime (`kubeserve.runtimes.hfserver`) as a real process serving the demo model.

One server per module, started with the model-server environment's python (the vLLM venv, which has torch
and transformers) on 127.0.0.1, as KServe's huggingfaceserver runtime passes its arguments. Every OpenAI
behaviour a client relies on is checked over a real socket: the model list, max_tokens and usage, chat with
and without streaming (SSE framing, `[DONE]`), stop strings, two requests at once, errors in OpenAI's shape,
KServe v2 health and the Prometheus text. A second, short start goes through kubeserve's own interpreter,
the way the image catalog launches it, and binds `$KUBESERVE_POD_IP`.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from harness import free_port

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]

VENV_PYTHON = Path(os.environ.get("KUBESERVE_VLLM_VENV") or REPO / ".venvs" / "vllm") / "bin" / "python"
INSTALL_LOG = Path("/tmp/vllm-install.log")
NAME = "hf-demo"


@dataclass
class HfServer:
    url: str
    process: subprocess.Popen[bytes]
    log: Path
    started_in: float

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def wait_for_venv() -> None:
    """Skips when the model-server environment is missing; waits if it is still being installed."""
    deadline = time.monotonic() + 900
    while INSTALL_LOG.exists() and not INSTALL_LOG.read_text(errors="replace").rstrip().endswith("exit 0"):
        if "exit " in INSTALL_LOG.read_text(errors="replace").rstrip().splitlines()[-1] or time.monotonic() > deadline:
            break
        time.sleep(5)
    if not VENV_PYTHON.exists():
        pytest.skip(f"no model-server environment at {VENV_PYTHON.parent.parent} (`make tools` creates it)")
    probe = subprocess.run([str(VENV_PYTHON), "-c", "import torch, transformers, starlette, uvicorn"],
                           capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        pytest.skip(f"{VENV_PYTHON} lacks torch/transformers/starlette/uvicorn: {probe.stderr.strip()[-300:]}")


def start(python: str, args: list[str], log: Path, env: dict[str, str], url: str) -> HfServer:
    began = time.monotonic()
    with open(log, "ab") as out:
        process = subprocess.Popen([python, "-m", "kubeserve.runtimes.hfserver", *args], stdout=out, stderr=out,
                                   env=env, start_new_session=True)
    server = HfServer(url, process, log, 0.0)
    deadline = began + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"hfserver exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if requests.get(f"{url}/health", timeout=2).status_code == 200:
                server.started_in = time.monotonic() - began
                return server
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"hfserver did not answer /health:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    wait_for_venv()
    from kubeserve.runtimes.demomodel import build_demo_model

    return build_demo_model(tmp_path_factory.mktemp("hf-model") / "demo")


@pytest.fixture(scope="module")
def server(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HfServer]:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    args = [f"--model_name={NAME}", f"--model_dir={model_dir}", f"--http_port={port}", "--host=127.0.0.1",
            "--max_length=512", "--enable_grpc=false"]
    hf = start(str(VENV_PYTHON), args, tmp_path_factory.mktemp("hf-log") / "server.log", env,
               f"http://127.0.0.1:{port}")
    yield hf
    hf.stop()


def post(server: HfServer, path: str, body: Any, **kwargs: Any) -> requests.Response:
    return requests.post(server.url + path, json=body, timeout=120, **kwargs)


def events(response: requests.Response) -> list[str]:
    """The `data:` payloads of an SSE stream; fails on anything that is not `data: …` followed by a blank line."""
    raw = response.content.decode()
    assert raw.endswith("\n\n"), raw[-200:]
    frames = raw[:-2].split("\n\n")
    for frame in frames:
        assert frame.startswith("data: ") and "\n" not in frame, frame
    return [f[len("data: "):] for f in frames]


def test_models_and_health(server: HfServer) -> None:
    body = requests.get(f"{server.url}/v1/models", timeout=10).json()
    assert [m["id"] for m in body["data"]] == [NAME]
    assert body["data"][0]["max_model_len"] == 512
    assert requests.get(f"{server.url}/openai/v1/models", timeout=10).json() == body
    assert requests.get(f"{server.url}/v2/health/ready", timeout=10).json() == {"ready": True}
    assert requests.get(f"{server.url}/v2/health/live", timeout=10).json() == {"live": True}
    assert requests.get(f"{server.url}/v2/models/{NAME}/ready", timeout=10).json() == {"name": NAME, "ready": True}
    assert requests.get(f"{server.url}/v1/models/{NAME}", timeout=10).json()["ready"] is True
    assert "loaded" in server.log.read_text() and server.started_in > 0


def test_completion_honours_max_tokens_and_counts_usage(server: HfServer) -> None:
    r = post(server, "/v1/completions", {"model": NAME, "prompt": "def main():", "max_tokens": 7,
                                         "temperature": 0, "ignore_eos": True})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["object"] == "text_completion" and body["model"] == NAME
    assert body["usage"]["completion_tokens"] == 7
    assert body["usage"]["prompt_tokens"] > 0
    assert body["usage"]["total_tokens"] == body["usage"]["prompt_tokens"] + 7
    assert body["choices"][0]["finish_reason"] == "length" and body["choices"][0]["text"]
    # Greedy decoding is deterministic: the same request gives the same text (the server state is not shared).
    again = post(server, "/openai/v1/completions", {"model": NAME, "prompt": "def main():", "max_tokens": 7,
                                                    "temperature": 0, "ignore_eos": True}).json()
    assert again["choices"][0]["text"] == body["choices"][0]["text"]


def test_seeded_sampling_repeats(server: HfServer) -> None:
    req = {"prompt": "import os", "max_tokens": 12, "temperature": 1.0, "top_p": 0.9, "seed": 42, "ignore_eos": True}
    first, second = (post(server, "/v1/completions", req).json()["choices"][0]["text"] for _ in range(2))
    assert first == second


def test_stop_string_ends_the_text(server: HfServer) -> None:
    base = {"prompt": "class A:", "max_tokens": 24, "temperature": 0, "ignore_eos": True}
    text = post(server, "/v1/completions", base).json()["choices"][0]["text"]
    stop = text[len(text) // 2:len(text) // 2 + 2]
    assert stop.strip(), text
    cut = post(server, "/v1/completions", {**base, "stop": [stop]}).json()
    assert cut["choices"][0]["text"] == text[:text.find(stop)]
    assert cut["choices"][0]["finish_reason"] == "stop"


def test_chat(server: HfServer) -> None:
    r = post(server, "/v1/chat/completions", {"model": NAME, "max_tokens": 5, "ignore_eos": True,
                                              "messages": [{"role": "system", "content": "be brief"},
                                                           {"role": "user", "content": "hello"}]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"]["role"] == "assistant"
    assert isinstance(body["choices"][0]["message"]["content"], str)
    assert body["usage"]["completion_tokens"] == 5 and body["choices"][0]["finish_reason"] == "length"


def test_chat_stream(server: HfServer) -> None:
    r = post(server, "/v1/chat/completions", {"model": NAME, "max_tokens": 16, "stream": True, "ignore_eos": True,
                                              "temperature": 0, "stream_options": {"include_usage": True},
                                              "messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    payloads = events(r)
    assert payloads[-1] == "[DONE]"
    chunks = [json.loads(p) for p in payloads[:-1]]
    assert all(c["object"] == "chat.completion.chunk" and c["id"] == chunks[0]["id"] for c in chunks)
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    finals = [c for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]]
    assert [c["choices"][0]["finish_reason"] for c in finals] == ["length"]
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 16
    streamed = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    same = post(server, "/v1/chat/completions", {"model": NAME, "max_tokens": 16, "ignore_eos": True,
                                                 "temperature": 0, "messages": [{"role": "user", "content": "hi"}]})
    assert streamed == same.json()["choices"][0]["message"]["content"]


def test_completion_stream_without_usage(server: HfServer) -> None:
    r = post(server, "/v1/completions", {"prompt": "x = ", "max_tokens": 4, "stream": True, "ignore_eos": True})
    payloads = events(r)
    assert payloads[-1] == "[DONE]"
    chunks = [json.loads(p) for p in payloads[:-1]]
    assert all("usage" not in c and c["object"] == "text_completion" for c in chunks)
    assert chunks[-1]["choices"][0]["finish_reason"] == "length"


def test_two_concurrent_requests_do_not_mix(server: HfServer) -> None:
    prompts = ["def alpha(self):", "while True:"]

    def alone(prompt: str) -> str:
        body = {"prompt": prompt, "max_tokens": 20, "temperature": 0, "ignore_eos": True}
        return str(post(server, "/v1/completions", body).json()["choices"][0]["text"])

    def streamed(prompt: str) -> str:
        body = {"prompt": prompt, "max_tokens": 20, "temperature": 0, "ignore_eos": True, "stream": True}
        chunks = [json.loads(p) for p in events(post(server, "/v1/completions", body))[:-1]]
        return "".join(c["choices"][0]["text"] for c in chunks)

    expected = [alone(p) for p in prompts]
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(alone, prompts))
        got_streamed = list(pool.map(streamed, prompts))
    assert got == expected
    assert got_streamed == expected


@pytest.mark.parametrize(("path", "body", "status", "code"), [
    ("/v1/chat/completions", {"model": NAME}, 400, "missing_required_parameter"),
    ("/v1/completions", {"model": NAME, "prompt": "x", "n": 2}, 400, "invalid_value"),
    ("/v1/completions", {"model": NAME, "prompt": "x", "max_tokens": 100000}, 400, "context_length_exceeded"),
    ("/v1/completions", {"model": NAME, "prompt": [999999]}, 400, "invalid_value"),
    ("/v1/chat/completions", {"model": "nope", "messages": [{"role": "user", "content": "x"}]}, 404,
     "model_not_found"),
    ("/v1/completions", {"model": "nope", "prompt": "x"}, 404, "model_not_found"),
])
def test_errors_are_openai_shaped(server: HfServer, path: str, body: Any, status: int, code: str) -> None:
    r = post(server, path, body)
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["code"] == code and error["type"] == "invalid_request_error" and error["message"]


def test_invalid_json_and_unknown_paths(server: HfServer) -> None:
    r = requests.post(f"{server.url}/v1/completions", data=b"{not json", timeout=10)
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_json"
    r = requests.get(f"{server.url}/v1/nothing", timeout=10)
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = requests.get(f"{server.url}/v1/completions", timeout=10)
    assert r.status_code == 405 and "error" in r.json()
    r = requests.get(f"{server.url}/v1/models/nope", timeout=10)
    assert r.status_code == 404 and r.json()["error"]["code"] == "model_not_found"


def test_metrics(server: HfServer) -> None:
    post(server, "/v1/completions", {"prompt": "a", "max_tokens": 3, "ignore_eos": True})
    text = requests.get(f"{server.url}/metrics", timeout=10).text
    values = {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
              for line in text.splitlines() if line and not line.startswith("#")}
    assert values[f'vllm:generation_tokens_total{{model_name="{NAME}"}}'] >= 3
    assert values[f'hfserver_requests_total{{model_name="{NAME}",path="/v1/completions",code="200"}}'] >= 1
    assert f'vllm:num_requests_running{{model_name="{NAME}"}}' in values


def test_catalog_launch_through_kubeserve_python(model_dir: Path, tmp_path: Path) -> None:
    """kubeserve's interpreter has no torch: the module re-executes itself in the model-server environment,
    and without `--host` binds the pod address from `$KUBESERVE_POD_IP`."""
    port = free_port()
    env = {**os.environ, "KUBESERVE_POD_IP": "127.0.0.1", "KUBESERVE_VLLM_VENV": str(VENV_PYTHON.parent.parent),
           "HF_HUB_OFFLINE": "1"}
    env.pop("PYTHONPATH", None)
    hf = start(sys.executable, [f"--model_name={NAME}", f"--model_dir={model_dir}", f"--http_port={port}"],
               tmp_path / "server.log", env, f"http://127.0.0.1:{port}")
    try:
        assert requests.get(f"{hf.url}/v2/health/ready", timeout=10).json() == {"ready": True}
        r = post(hf, "/v1/completions", {"model": NAME, "prompt": "a", "max_tokens": 2, "ignore_eos": True})
        assert r.json()["usage"]["completion_tokens"] == 2
    finally:
        hf.stop()
    # exec kept the pid: the SIGTERM reached uvicorn, which drained, shut down and re-raised the signal.
    assert hf.process.returncode in (0, -signal.SIGTERM), hf.log.read_text()[-2000:]
    assert "Application shutdown complete" in hf.log.read_text()


def test_missing_model_fails_with_a_message(tmp_path: Path) -> None:
    wait_for_venv()
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    result = subprocess.run([str(VENV_PYTHON), "-m", "kubeserve.runtimes.hfserver", f"--model_dir={tmp_path}"],
                            capture_output=True, text=True, env=env, check=False, timeout=120)
    assert result.returncode == 1
    assert "config.json is missing" in result.stderr.strip().splitlines()[-1]
    bad_task = subprocess.run([str(VENV_PYTHON), "-m", "kubeserve.runtimes.hfserver", "--task=fill_mask"],
                              capture_output=True, text=True, env=env, check=False, timeout=120)
    assert bad_task.returncode == 2 and "--task=fill_mask" in bad_task.stderr
