"""The gateway end to end (issue 6): the guide's complete example sequence through a Route with real vLLM, the
real curl, the openai client and tritonclient; malformed v2 bodies; two replicas with one killed mid-load;
the gateway's metrics.

The guide's GPU runtime is applied with its image switched to the CPU one (this machine has no GPU; the
kubeserve under test reports two fake ones so the example schedules). Where the gateway could bind 443 (CI
runs as root) the guide's `curl https://$ROUTE_URL/...` runs exactly as written; elsewhere the port is added
to ROUTE_URL. curl trusts kubeserve's CA through CURL_CA_BUNDLE, as a user's `export` would.
"""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness import GUIDE, REPO, KubeServe, eventually
from servers.registry import Registry, mirror_conf

pytestmark = pytest.mark.skipif(not (REPO / ".venvs" / "vllm" / "bin" / "python").exists(),
                                reason="vLLM is not installed: `make tools` creates .venvs/vllm")

INFER_BODY = """{
    "inputs": [{"name": "text_input", "shape": [1], "datatype": "BYTES", "data": ["What is machine learning?"]}],
    "parameters": {"temperature": 0.7, "max_tokens": 100}
  }"""


@dataclass(frozen=True)
class Granite:
    namespace: str
    route_url: str  # host[:port], as the guide's ROUTE_URL (with the port where it is not 443)
    host: str
    https_port: int
    http_port: int
    infer_output: str


def curl_env(ks: KubeServe) -> dict[str, str]:
    return {**ks.env(), "CURL_CA_BUNDLE": str(ks.ca)}


def run_script(ks: KubeServe, script: str, cwd: Path, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-euo", "pipefail", "-c", script], capture_output=True, text=True,
                          cwd=cwd, env=curl_env(ks), timeout=timeout)


@pytest.fixture(scope="module")
def granite(kubeserve: KubeServe, guide_registry: Registry, tmp_path_factory: pytest.TempPathFactory) -> Iterator[
        Granite]:
    """The guide's "Deploy the complete example" steps 1 to 6, as a shell script, in a fresh namespace."""
    (kubeserve.home / "registries.conf").write_text(mirror_conf(guide_registry.host))
    workdir = tmp_path_factory.mktemp("granite")
    runtime = (GUIDE / "granite-model-runtime.yaml").read_text().replace("quay.io/modh/vllm:rhoai-2.20-cuda",
                                                                           "quay.io/modh/vllm:rhoai-2.20-cpu")
    (workdir / "granite-model-runtime.yaml").write_text(runtime)
    for name in ("granite-model-service.yaml", "granite-model-route.yaml"):
        (workdir / name).write_text((GUIDE / name).read_text())
    ns = f"gw-{uuid.uuid4().hex[:8]}"
    kubeserve.kubectl("create", "namespace", ns)
    https_port, http_port = kubeserve.router_ports
    port_suffix = "" if https_port == 443 else f":{https_port}"
    script = f"""
kubectl apply -f granite-model-runtime.yaml -n {ns}
kubectl apply -f granite-model-service.yaml -n {ns}
kubectl wait --for=condition=Ready inferenceservice/granite-model --timeout=600s -n {ns}
kubectl apply -f granite-model-route.yaml -n {ns}
ROUTE_URL=$(kubectl get route granite-model -n {ns} -o jsonpath='{{.spec.host}}'){port_suffix}
echo "ROUTE_URL=$ROUTE_URL"
curl -sS --fail-with-body -X POST "https://$ROUTE_URL/v2/models/granite-model/infer" \\
  -H "Content-Type: application/json" \\
  -d '{INFER_BODY}'
"""
    done = run_script(kubeserve, script, workdir)
    if done.returncode != 0:
        described = kubeserve.kubectl("describe", "inferenceservice,route", "-n", ns, check=False).stdout
        pytest.fail(f"the guide's sequence failed:\n{done.stdout}\n{done.stderr}\n{described}")
    route_url = done.stdout.split("ROUTE_URL=", 1)[1].split()[0]
    yield Granite(ns, route_url, route_url.split(":")[0], https_port, http_port,
                  done.stdout.split(route_url, 1)[1].strip())
    kubeserve.kubectl("delete", "namespace", ns, "--wait=false", check=False)


@contextlib.contextmanager
def localhost_names_resolve() -> Iterator[None]:
    """`*.localhost` → 127.0.0.1 for Python clients (RFC 6761; curl and browsers do this themselves, glibc
    without nss-myhostname does not). Only name resolution is replaced: the traffic is real."""
    import gevent.socket

    real = socket.getaddrinfo
    real_gevent = gevent.socket.getaddrinfo

    def resolve(host: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(host, str) and host.endswith(".localhost"):
            host = "127.0.0.1"
        return real(host, *args, **kwargs)

    def resolve_gevent(host: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(host, str) and host.endswith(".localhost"):
            host = "127.0.0.1"
        return real_gevent(host, *args, **kwargs)

    socket.getaddrinfo = resolve
    gevent.socket.getaddrinfo = resolve_gevent
    try:
        yield
    finally:
        socket.getaddrinfo = real
        gevent.socket.getaddrinfo = real_gevent


def test_guide_sequence_serves_v2_infer_through_the_route(kubeserve: KubeServe, granite: Granite) -> None:
    answer = json.loads(granite.infer_output)
    assert answer["model_name"] == "granite-model"
    [output] = answer["outputs"]
    assert output["name"] == "text_output" and output["datatype"] == "BYTES" and output["shape"] == [1]
    assert isinstance(output["data"][0], str) and output["data"][0]

    ns = granite.namespace
    # The guide's troubleshooting command reads the Admitted condition.
    admitted = kubeserve.kubectl("get", "route", "granite-model", "-n", ns, "-o",
                                 "jsonpath={.status.ingress[0].conditions[?(@.type==\"Admitted\")]}").stdout
    assert json.loads(admitted)["status"] == "True"
    assert granite.host == f"granite-model-{ns}.apps.localhost"
    isvc = kubeserve.kubectl_json("get", "inferenceservice", "granite-model", "-n", ns)
    port = "" if granite.https_port == 443 else f":{granite.https_port}"
    assert isvc["status"]["url"] == f"https://{granite.host}{port}"
    conditions = {c["type"]: c["status"] for c in isvc["status"]["conditions"]}
    assert conditions["IngressReady"] == "True" and conditions["Ready"] == "True"
    listing = kubeserve.kubectl("get", "route", "granite-model", "-n", ns).stdout
    assert f"{granite.host}{port}" in listing and "edge/Redirect" in listing

    # insecureEdgeTerminationPolicy: Redirect
    http_port = "" if granite.http_port == 80 else f":{granite.http_port}"
    redirected = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code} %{redirect_url}",
                                 f"http://{granite.host}{http_port}/v2/models"], capture_output=True, text=True,
                                env=curl_env(kubeserve), timeout=30)
    assert redirected.stdout == f"302 https://{granite.host}{port}/v2/models", redirected

    # The v2 metadata endpoints, and the OpenAI API on the same Route.
    base = f"https://{granite.route_url}"
    for path, check in [("/v2", lambda b: "name" in b), ("/v2/health/ready", lambda b: True),
                        ("/v2/models/granite-model", lambda b: b["name"] == "granite-model"),
                        ("/v2/models/granite-model/ready", lambda b: True),
                        ("/v1/models", lambda b: b["data"][0]["id"] == "granite-model")]:
        got = subprocess.run(["curl", "-sS", "--fail-with-body", base + path], capture_output=True, text=True,
                             env=curl_env(kubeserve), timeout=30)
        assert got.returncode == 0, (path, got.stdout, got.stderr)
        assert check(json.loads(got.stdout) if got.stdout.strip() else {}), (path, got.stdout)


def test_openai_client_and_tritonclient_through_the_route(kubeserve: KubeServe, granite: Granite) -> None:
    import httpx
    import numpy as np
    import openai
    import tritonclient.http as triton

    trusted = ssl.create_default_context(cafile=str(kubeserve.ca))
    with localhost_names_resolve(), httpx.Client(verify=trusted, timeout=120) as http:
        client = openai.OpenAI(base_url=f"https://{granite.route_url}/v1", api_key="unused", http_client=http)
        chat = client.chat.completions.create(model="granite-model", max_tokens=8,
                                              messages=[{"role": "user", "content": "Hello"}])
        assert chat.choices[0].message.content is not None
        assert chat.usage is not None and chat.usage.completion_tokens > 0
        stream = client.chat.completions.create(model="granite-model", max_tokens=8, stream=True,
                                                messages=[{"role": "user", "content": "Tell me a story"}])
        chunks = [c.choices[0].delta.content for c in stream if c.choices and c.choices[0].delta.content]
        assert len(chunks) >= 2  # streamed token by token, not one buffered answer

        def context_factory(*_: Any, **__: Any) -> ssl.SSLContext:
            return ssl.create_default_context(cafile=str(kubeserve.ca))

        triton_client = triton.InferenceServerClient(url=granite.route_url, ssl=True,
                                                     ssl_context_factory=context_factory)
        try:
            assert triton_client.is_model_ready("granite-model")
            for binary in (True, False):
                text = triton.InferInput("text_input", [2], "BYTES")
                text.set_data_from_numpy(np.array([b"Hello", b"What is machine learning?"], dtype=np.object_),
                                         binary_data=binary)
                result = triton_client.infer("granite-model", [text], parameters={"max_tokens": 8},
                                             outputs=[triton.InferRequestedOutput("text_output",
                                                                                  binary_data=binary)])
                outputs = result.as_numpy("text_output")
                assert outputs is not None and outputs.shape == (2,)
                assert all(isinstance(o, bytes | str) and o for o in outputs)
        finally:
            triton_client.close()


@pytest.mark.parametrize(("body", "status", "mentions"), [
    (b"{not json", 400, "JSON"),
    (json.dumps({"inputs": []}).encode(), 400, "text_input"),
    (json.dumps({"inputs": [{"name": "text_input", "shape": [2], "datatype": "BYTES", "data": ["one"]}]}).encode(),
     400, "shape"),
    (json.dumps({"inputs": [{"name": "text_input", "shape": [1], "datatype": "FP32", "data": [1.0]}]}).encode(),
     400, "BYTES"),
    (json.dumps({"inputs": [{"name": "text_input", "shape": [1], "datatype": "BYTES", "data": ["hi"]}],
                 "parameters": {"max_tokens": "many"}}).encode(), 400, "max_tokens"),
])
def test_malformed_v2_bodies_get_v2_errors(kubeserve: KubeServe, granite: Granite, body: bytes, status: int,
                                           mentions: str) -> None:
    got = subprocess.run(["curl", "-sS", "-w", "\n%{http_code}", "-X", "POST", "-H", "Content-Type: application/json",
                          "--data-binary", "@-", f"https://{granite.route_url}/v2/models/granite-model/infer"],
                         input=body.decode(), capture_output=True, text=True, env=curl_env(kubeserve), timeout=60)
    text, code = got.stdout.rsplit("\n", 1)
    assert int(code) == status, got.stdout
    error = json.loads(text)["error"]
    assert isinstance(error, str) and mentions.lower() in error.lower(), error
    missing = subprocess.run(["curl", "-sS", "-w", "\n%{http_code}", f"https://{granite.route_url}/v2/models/nope"],
                             capture_output=True, text=True, env=curl_env(kubeserve), timeout=60)
    assert missing.stdout.rsplit("\n", 1)[1] == "404" and "nope" in json.loads(missing.stdout.rsplit("\n", 1)[0])[
        "error"]


def test_gateway_metrics_count_requests_and_tokens(kubeserve: KubeServe, granite: Granite) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    _, http_port = kubeserve.router_ports
    got = subprocess.run(["curl", "-sS", "--fail", f"http://127.0.0.1:{http_port}/metrics"], capture_output=True,
                         text=True, timeout=30)
    assert got.returncode == 0, got.stderr
    families = {f.name: f for f in text_string_to_metric_families(got.stdout)}
    requests = [s for s in families["kubeserve_gateway_requests"].samples
                if s.labels.get("route") == "granite-model" and s.labels.get("namespace") == granite.namespace]
    assert sum(s.value for s in requests if s.name.endswith("_total")) >= 1
    assert "kubeserve_gateway_request_duration_seconds" in families
    assert "kubeserve_gateway_time_to_first_byte_seconds" in families
    completion = [s for s in families["kubeserve_gateway_completion_tokens"].samples
                  if s.labels.get("inferenceservice") == "granite-model"]
    assert sum(s.value for s in completion) > 0


@pytest.mark.timeout(900)
def test_two_replicas_one_killed_mid_load_loses_only_its_requests(kubeserve: KubeServe, granite: Granite) -> None:
    ns = granite.namespace
    # Two replicas of the guide's GPU-sized example do not fit this machine: a smaller twin on the same runtime
    # takes its place (the controller creates its Route, as for every exposed InferenceService).
    kubeserve.kubectl("delete", "inferenceservice", "granite-model", "-n", ns, "--wait=true", timeout=120)
    twin = yaml.safe_load((GUIDE / "granite-model-service.yaml").read_text())
    twin["metadata"]["name"] = "twin"
    twin["spec"]["predictor"]["minReplicas"] = 2
    twin["spec"]["predictor"]["model"]["resources"] = {
        "requests": {"cpu": "500m", "memory": "2Gi", "nvidia.com/gpu": "1"},
        "limits": {"cpu": "1", "memory": "4Gi", "nvidia.com/gpu": "1"}}
    kubeserve.kubectl("apply", "-n", ns, "-f", "-", input=yaml.safe_dump(twin))
    kubeserve.kubectl("wait", "--for=condition=Ready", "inferenceservice/twin", "-n", ns, "--timeout=600s",
                      timeout=620)

    def ready_pods() -> list[str]:
        pods = kubeserve.kubectl_json("get", "pods", "-n", ns, "-l", "serving.kserve.io/inferenceservice=twin")
        return [p["metadata"]["name"] for p in pods["items"] if not p["metadata"].get("deletionTimestamp") and any(
            c["type"] == "Ready" and c["status"] == "True" for c in p.get("status", {}).get("conditions", []))]

    pods = eventually(lambda: (lambda found: found if len(found) == 2 else None)(ready_pods()), timeout=600,
                      interval=1)
    url = kubeserve.kubectl_json("get", "inferenceservice", "twin", "-n", ns)["status"]["url"]
    time.sleep(1)  # the gateway sees the second endpoint through its EndpointSlice watch

    def kill() -> float:
        killed_at = time.monotonic()
        kubeserve.kubectl("delete", "pod", pods[0], "-n", ns, "--grace-period=0", "--force", check=False)
        return killed_at

    results, killed_at = load(kubeserve, f"{url}/v1/completions", "twin", during=kill)
    failed = [r for r in results if r[2] != 200]
    in_flight_at_kill = [r for r in results if r[0] < killed_at < r[1]]
    assert results and len(results) > len(failed)
    # Only requests already running on the killed replica may fail; every other request succeeds.
    assert len(failed) <= len(in_flight_at_kill), (failed, in_flight_at_kill)
    assert all(r[0] < killed_at for r in failed), failed

    # Scale-down drains: the replica that goes is sent no new requests and finishes those it serves.
    eventually(lambda: len(ready_pods()) == 2, timeout=600, interval=1)
    time.sleep(1)

    def scale_down() -> float:
        kubeserve.kubectl("patch", "inferenceservice", "twin", "-n", ns, "--type=merge", "-p",
                          json.dumps({"spec": {"predictor": {"minReplicas": 1}}}))
        return time.monotonic()

    results, _ = load(kubeserve, f"{url}/v1/completions", "twin", during=scale_down)
    assert [r for r in results if r[2] != 200] == [] and len(results) > 4
    assert len(eventually(lambda: (lambda found: found if len(found) == 1 else None)(ready_pods()),
                          timeout=60)) == 1


def load(ks: KubeServe, url: str, model: str, during: Callable[[], float], workers: int = 4,
         before: float = 8, after: float = 12) -> tuple[list[tuple[float, float, int]], float]:
    """Completions from `workers` threads in a loop; `during` runs after `before` seconds and returns its time.
    Gives every request's (start, end, HTTP status) and that time."""
    results: list[tuple[float, float, int]] = []
    stop = threading.Event()
    lock = threading.Lock()
    body = json.dumps({"model": model, "prompt": "Once upon a time", "max_tokens": 24})

    def worker() -> None:
        while not stop.is_set():
            started = time.monotonic()
            got = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST", "-H",
                                  "Content-Type: application/json", "-d", body, url], capture_output=True, text=True,
                                 env=curl_env(ks), timeout=120)
            code = int(got.stdout) if got.stdout.isdigit() else 0
            with lock:
                results.append((started, time.monotonic(), code))

    threads = [threading.Thread(target=worker) for _ in range(workers)]
    for thread in threads:
        thread.start()
    time.sleep(before)
    at = during()
    time.sleep(after)
    stop.set()
    for thread in threads:
        thread.join(180)
    return results, at

