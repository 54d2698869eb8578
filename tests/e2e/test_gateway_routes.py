"""Routes on the wire without a model server (issue 6): admission (generated hosts, host conflicts, the exposed
label rule), path-based routes, weights, edge/passthrough/reencrypt TLS with the Route's own certificates,
insecure policies, and auth-enabled InferenceServices (401/403/200 with `kubectl create token`).

Backends are the built-in HTTP test server image, or TLS servers in this process behind a selector-less
Service with a hand-written EndpointSlice (how a user points a Service at something outside the cluster).
"""

from __future__ import annotations

import base64
import json
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness import KubeServe, eventually
from servers.http import HttpServer, Resource
from servers.tls import make_tls_files

ISVC_LABEL = "serving.kserve.io/inferenceservice"


def apply(ks: KubeServe, ns: str, *docs: dict[str, Any]) -> None:
    ks.kubectl("apply", "-n", ns, "-f", "-", input=yaml.safe_dump_all(docs))


def curl(ks: KubeServe, *args: str) -> tuple[int, str]:
    got = subprocess.run(["curl", "-sS", "-w", "\n%{http_code}", *args], capture_output=True, text=True,
                         env={**ks.env(), "CURL_CA_BUNDLE": str(ks.ca)}, timeout=60)
    if got.returncode != 0:
        return 0, got.stderr
    body, _, code = got.stdout.rpartition("\n")
    return int(code), body


def admitted(ks: KubeServe, ns: str, route: str) -> dict[str, str]:
    obj = ks.kubectl_json("get", "route", route, "-n", ns)
    for ingress in (obj.get("status") or {}).get("ingress") or []:
        for condition in ingress.get("conditions") or []:
            if condition["type"] == "Admitted":
                return {**condition, "host": ingress.get("host", "")}
    return {}


def wait_admitted(ks: KubeServe, ns: str, route: str, status: str = "True", timeout: float = 30) -> dict[str, str]:
    result: dict[str, str] = eventually(
        lambda: (lambda c: c if c.get("status") == status else None)(admitted(ks, ns, route)), timeout=timeout)
    return result


def web_deployment(name: str, message: str) -> list[dict[str, Any]]:
    labels = {"app": name}
    return [
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
         "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                  "template": {"metadata": {"labels": labels},
                               "spec": {"containers": [{"name": "web", "image": "kubeserve/http-test-server",
                                                        "args": ["--port=8080"],
                                                        "env": [{"name": "MESSAGE", "value": message}],
                                                        "readinessProbe": {"httpGet": {"path": "/ready",
                                                                                       "port": 8080}}}]}}}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
         "spec": {"selector": labels, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}},
    ]


# A ServingRuntime whose "model server" is the HTTP test server: InferenceServices on it are Ready in seconds.
WEB_RUNTIME = {
    "apiVersion": "serving.kserve.io/v1alpha1", "kind": "ServingRuntime", "metadata": {"name": "web-runtime"},
    "spec": {"supportedModelFormats": [{"name": "vLLM", "autoSelect": True}],
             "containers": [{"name": "kserve-container", "image": "kubeserve/http-test-server",
                             "args": ["--port=8080"]}]}}


def route(name: str, service: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "route.openshift.io/v1", "kind": "Route", "metadata": {"name": name},
            "spec": {"to": {"kind": "Service", "name": service, "weight": 100}, **spec}}


def https(ks: KubeServe, host: str, path: str = "/") -> str:
    port, _ = ks.router_ports
    return f"https://{host}{'' if port == 443 else f':{port}'}{path}"


def http(ks: KubeServe, host: str, path: str = "/") -> str:
    _, port = ks.router_ports
    return f"http://{host}{'' if port == 80 else f':{port}'}{path}"


def wait_answer(ks: KubeServe, url: str, *args: str, code: int = 200, timeout: float = 60) -> str:
    def check() -> str | None:
        got_code, body = curl(ks, *args, url)
        return body if got_code == code else None
    result: str = eventually(check, timeout=timeout, interval=0.3)
    return result


def test_generated_hosts_paths_conflicts_and_insecure_policies(kubeserve: KubeServe, namespace: str) -> None:
    ns = namespace
    apply(kubeserve, ns, *web_deployment("alpha", "from alpha"), *web_deployment("beta", "from beta"))
    apply(kubeserve, ns, route("web", "alpha", tls={"termination": "edge", "insecureEdgeTerminationPolicy": "Allow"}))
    host = kubeserve.kubectl("get", "route", "web", "-n", ns, "-o", "jsonpath={.spec.host}").stdout
    assert host == f"web-{ns}.apps.localhost"
    wait_admitted(kubeserve, ns, "web")
    assert json.loads(wait_answer(kubeserve, https(kubeserve, host)))["message"] == "from alpha"
    # Allow: served over plain HTTP too.
    assert json.loads(wait_answer(kubeserve, http(kubeserve, host)))["message"] == "from alpha"

    # Path-based: a second Route on the same host with a path, in the same namespace.
    apply(kubeserve, ns, route("web-beta", "beta", host=host, path="/env", tls={"termination": "edge"}))
    wait_admitted(kubeserve, ns, "web-beta")
    assert wait_answer(kubeserve, https(kubeserve, host, "/env/MESSAGE")) == "from beta"
    assert json.loads(wait_answer(kubeserve, https(kubeserve, host, "/")))["message"] == "from alpha"
    # insecureEdgeTerminationPolicy None (the default): plain HTTP is refused, with where to go instead.
    code, body = curl(kubeserve, http(kubeserve, host, "/env/MESSAGE"))
    assert code == 503 and "https://" in body

    # The same host and path claimed later, from another namespace: the older Route keeps it.
    other = f"{ns}-b"
    kubeserve.kubectl("create", "namespace", other)
    try:
        apply(kubeserve, other, *web_deployment("alpha", "impostor"), route("web", "alpha", host=host))
        refused = wait_admitted(kubeserve, other, "web", "False")
        assert refused["reason"] == "HostAlreadyClaimed" and ns in refused["message"]
        assert json.loads(wait_answer(kubeserve, https(kubeserve, host)))["message"] == "from alpha"
        listing = kubeserve.kubectl("get", "route", "web", "-n", other).stdout
        assert "HostAlreadyClaimed" in listing
    finally:
        kubeserve.kubectl("delete", "namespace", other, "--wait=false", check=False)

    # Weights: all traffic to the backend with weight, none to the one at 0.
    apply(kubeserve, ns, route("weighted", "alpha", tls={"termination": "edge"},
                               alternateBackends=[{"kind": "Service", "name": "beta", "weight": 0}]))
    weighted = wait_admitted(kubeserve, ns, "weighted")["host"]
    wait_answer(kubeserve, https(kubeserve, weighted))
    messages = {json.loads(curl(kubeserve, https(kubeserve, weighted))[1])["message"] for _ in range(6)}
    assert messages == {"from alpha"}


def test_unexposed_inferenceservice_is_not_admitted_and_says_which_label(kubeserve: KubeServe,
                                                                          namespace: str) -> None:
    ns = namespace
    apply(kubeserve, ns, WEB_RUNTIME)
    apply(kubeserve, ns, {
        "apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService", "metadata": {"name": "private"},
        "spec": {"predictor": {"model": {"modelFormat": {"name": "vLLM"}, "runtime": "web-runtime"}}}})
    kubeserve.kubectl("wait", "--for=condition=Ready", "inferenceservice/private", "-n", ns, "--timeout=120s",
                      timeout=130)
    apply(kubeserve, ns, route("private", "private-predictor", port={"targetPort": "http"},
                               tls={"termination": "edge", "insecureEdgeTerminationPolicy": "Redirect"}))
    refused = wait_admitted(kubeserve, ns, "private", "False")
    assert refused["reason"] == "InferenceServiceNotExposed"
    assert "networking.kserve.io/visibility=exposed" in refused["message"]
    code, _ = curl(kubeserve, https(kubeserve, refused["host"]))
    assert code == 503
    events = kubeserve.kubectl("get", "events", "-n", ns, "--field-selector", "involvedObject.name=private").stdout
    assert "networking.kserve.io/visibility=exposed" in events

    kubeserve.kubectl("label", "inferenceservice", "private", "networking.kserve.io/visibility=exposed", "-n", ns)
    host = wait_admitted(kubeserve, ns, "private")["host"]
    assert "podIP" in json.loads(wait_answer(kubeserve, https(kubeserve, host)))
    url = eventually(lambda: kubeserve.kubectl_json("get", "inferenceservice", "private", "-n", ns)["status"].get(
        "url", "").startswith("https://") and kubeserve.kubectl_json("get", "inferenceservice", "private", "-n",
                                                                      ns)["status"]["url"], timeout=30)
    assert url == https(kubeserve, host).rstrip("/")


def test_auth_enabled_inferenceservice_needs_a_token_of_its_namespace(kubeserve: KubeServe, namespace: str) -> None:
    ns = namespace
    apply(kubeserve, ns, WEB_RUNTIME)
    apply(kubeserve, ns, {
        "apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
        "metadata": {"name": "secure", "labels": {"networking.kserve.io/visibility": "exposed"},
                     "annotations": {"security.opendatahub.io/enable-auth": "true"}},
        "spec": {"predictor": {"model": {"modelFormat": {"name": "vLLM"}, "runtime": "web-runtime"}}}})
    kubeserve.kubectl("wait", "--for=condition=Ready", "inferenceservice/secure", "-n", ns, "--timeout=120s",
                      timeout=130)
    base = kubeserve.kubectl_json("get", "inferenceservice", "secure", "-n", ns)["status"]["url"]
    url = base + "/v1/models"  # refusals in the OpenAI error shape
    code, body = curl(kubeserve, url)
    assert code == 401 and "kubectl create token" in json.loads(body)["error"]["message"], body

    other = f"{ns}-other"
    kubeserve.kubectl("create", "namespace", other)
    try:
        foreign = eventually(lambda: (lambda r: r.stdout.strip() if r.returncode == 0 else None)(
            kubeserve.kubectl("create", "token", "default", "-n", other, check=False)), timeout=30)
        code, body = curl(kubeserve, "-H", f"Authorization: Bearer {foreign}", url)
        assert code == 403 and ns in body, body
    finally:
        kubeserve.kubectl("delete", "namespace", other, "--wait=false", check=False)

    token = kubeserve.kubectl("create", "token", "default", "-n", ns).stdout.strip()
    code, body = curl(kubeserve, "-H", f"Authorization: Bearer {token}", base + "/")
    assert code == 200 and "podIP" in json.loads(body), body
    # A long-lived token Secret, as the dashboard creates them.
    apply(kubeserve, ns, {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
                          "metadata": {"name": "secure-token",
                                       "annotations": {"kubernetes.io/service-account.name": "default"}}})
    encoded = eventually(lambda: kubeserve.kubectl("get", "secret", "secure-token", "-n", ns, "-o",
                                                   "jsonpath={.data.token}").stdout, timeout=30)
    code, _ = curl(kubeserve, "-H", f"Authorization: Bearer {base64.b64decode(encoded).decode()}", base + "/")
    assert code == 200
    code, _ = curl(kubeserve, "-H", "Authorization: Bearer not-a-token", base + "/")
    assert code == 401


@pytest.fixture
def tls_backends(tmp_path: Path, namespace: str) -> Iterator[tuple[HttpServer, Path, HttpServer, Path]]:
    """Two TLS servers on 127.0.0.1: one whose certificate names the passthrough Route's host, one whose
    certificate names the reencrypt backend Service (`<svc>.<ns>.svc`, which the router verifies)."""
    pass_ca, pass_cert, pass_key = make_tls_files(tmp_path / "pass", (f"pass-{namespace}.apps.localhost",))
    re_ca, re_cert, re_key = make_tls_files(tmp_path / "re", (f"secure-backend.{namespace}.svc",))
    contexts = []
    for cert, key in ((pass_cert, pass_key), (re_cert, re_key)):
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        contexts.append(context)
    with HttpServer(contexts[0]) as passthrough, HttpServer(contexts[1]) as reencrypt:
        passthrough.put("/", Resource(b"passthrough backend\n", content_type="text/plain"))
        reencrypt.put("/", Resource(b"reencrypt backend\n", content_type="text/plain"))
        yield passthrough, pass_ca, reencrypt, re_ca


def external_service(name: str, port: int) -> list[dict[str, Any]]:
    return [
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
         "spec": {"ports": [{"name": "https", "port": 443, "targetPort": port}]}},
        {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
         "metadata": {"name": f"{name}-1", "labels": {"kubernetes.io/service-name": name}},
         "addressType": "IPv4", "ports": [{"name": "https", "port": port, "protocol": "TCP"}],
         "endpoints": [{"addresses": ["127.0.0.1"], "conditions": {"ready": True}}]},
    ]


def test_passthrough_and_reencrypt(kubeserve: KubeServe, namespace: str, tmp_path: Path,
                                   tls_backends: tuple[HttpServer, Path, HttpServer, Path]) -> None:
    ns = namespace
    passthrough, pass_ca, reencrypt, re_ca = tls_backends
    apply(kubeserve, ns, *external_service("pass-backend", passthrough.port),
          route("pass", "pass-backend",
                tls={"termination": "passthrough", "insecureEdgeTerminationPolicy": "Redirect"}))
    host = wait_admitted(kubeserve, ns, "pass")["host"]
    # The backend's own certificate reaches the client: it verifies against the backend's CA, not kubeserve's.
    body = wait_answer(kubeserve, https(kubeserve, host), "--cacert", str(pass_ca))
    assert body == "passthrough backend\n"

    # Reencrypt with the Route's own certificate (the guide's patch) and the backend verified by its CA.
    route_ca, route_cert, route_key = make_tls_files(tmp_path / "route", (f"secure-{ns}.apps.localhost",))
    apply(kubeserve, ns, *external_service("secure-backend", reencrypt.port),
          route("secure", "secure-backend", tls={"termination": "edge"}))
    wait_admitted(kubeserve, ns, "secure")
    kubeserve.kubectl("patch", "route", "secure", "-n", ns, "--type=merge", "-p", json.dumps({"spec": {"tls": {
        "termination": "reencrypt", "certificate": route_cert.read_text(), "key": route_key.read_text(),
        "destinationCACertificate": re_ca.read_text()}}}))
    host = wait_admitted(kubeserve, ns, "secure")["host"]
    body = wait_answer(kubeserve, https(kubeserve, host), "--cacert", str(route_ca))
    assert body == "reencrypt backend\n"
    # A certificate that does not parse is refused by admission, naming the field.
    kubeserve.kubectl("patch", "route", "secure", "-n", ns, "--type=merge", "-p",
                      json.dumps({"spec": {"tls": {"certificate": "-----BEGIN CERTIFICATE-----\nnope\n"}}}))
    refused = wait_admitted(kubeserve, ns, "secure", "False")
    assert refused["reason"] == "ExtendedValidationFailed" and "certificate" in refused["message"]
