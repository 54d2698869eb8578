"""kubectl 1.32's typed-client creates, which POST protobuf bodies, run verbatim against a real `kubeserve up`.

Each command here sends `application/vnd.kubernetes.protobuf` (see
tests/unit/apiserver/fixtures/protobuf/README.md for the recorded bodies); before the table-driven decoder
they all failed with 415. The checks go past "created": the Deployment rolls out and its Service gets
endpoints, so the decoded objects are the ones the JSON would have made.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from harness import KubeServe, eventually


def get(kubeserve: KubeServe, ns: str, *what: str) -> Any:
    return kubeserve.kubectl_json("get", *what, "-n", ns)


def ready_addresses(kubeserve: KubeServe, ns: str, name: str) -> int:
    result = kubeserve.kubectl("get", "endpoints", name, "-n", ns, "-o", "json", check=False)
    if result.returncode != 0:
        return 0
    subsets = json.loads(result.stdout).get("subsets") or []
    return sum(len(s.get("addresses") or []) for s in subsets)


def test_create_deployment_rolls_out_and_expose_gets_endpoints(kubeserve: KubeServe, namespace: str) -> None:
    ns = namespace
    kubeserve.kubectl("create", "deployment", "hello", "--image=kubeserve/http-test-server", "--replicas=2",
                      "--port=8080", "-n", ns)
    deployment = get(kubeserve, ns, "deployment", "hello")
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["selector"] == {"matchLabels": {"app": "hello"}}
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "kubeserve/http-test-server"
    assert container["ports"][0]["containerPort"] == 8080
    kubeserve.kubectl("rollout", "status", "deployment/hello", "-n", ns, "--timeout=60s", timeout=90)

    kubeserve.kubectl("expose", "deployment", "hello", "--port=80", "--target-port=8080", "-n", ns)
    eventually(lambda: ready_addresses(kubeserve, ns, "hello") == 2, timeout=30, interval=0.3)


def test_create_service_clusterip_selects_the_deployment_pods(kubeserve: KubeServe, namespace: str) -> None:
    ns = namespace
    kubeserve.kubectl("create", "deployment", "x", "--image=kubeserve/http-test-server", "-n", ns)
    kubeserve.kubectl("create", "service", "clusterip", "x", "--tcp=80:8080", "-n", ns)
    service = get(kubeserve, ns, "service", "x")
    assert service["spec"]["type"] == "ClusterIP"
    assert service["spec"]["selector"] == {"app": "x"}
    assert [(p["name"], p["port"], p["targetPort"], p["protocol"]) for p in service["spec"]["ports"]] == [
        ("80-8080", 80, 8080, "TCP")
    ]
    assert service["spec"]["clusterIP"]
    eventually(lambda: ready_addresses(kubeserve, ns, "x") == 1, timeout=60, interval=0.3)


def test_create_service_nodeport_and_headless(kubeserve: KubeServe, namespace: str) -> None:
    ns = namespace
    kubeserve.kubectl("create", "service", "nodeport", "np", "--tcp=80:8080", "-n", ns)
    kubeserve.kubectl("create", "service", "clusterip", "headless", "--clusterip=None", "-n", ns)
    kubeserve.kubectl("create", "service", "externalname", "en", "--external-name=example.com", "-n", ns)
    assert get(kubeserve, ns, "service", "np")["spec"]["type"] == "NodePort"
    assert get(kubeserve, ns, "service", "headless")["spec"]["clusterIP"] == "None"
    assert get(kubeserve, ns, "service", "en")["spec"]["externalName"] == "example.com"


def test_create_deployment_with_zero_replicas_and_a_command(kubeserve: KubeServe, namespace: str) -> None:
    ns = namespace
    kubeserve.kubectl("create", "deployment", "idle", "--image=kubeserve/http-test-server", "--replicas=0", "-n", ns)
    assert get(kubeserve, ns, "deployment", "idle")["spec"]["replicas"] == 0
    kubeserve.kubectl("create", "deployment", "cmd", "--image=kubeserve/http-test-server", "-n", ns,
                      "--", "python", "-m", "kubeserve.runtimes.testserver", "--port=9090")
    container = get(kubeserve, ns, "deployment", "cmd")["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["python", "-m", "kubeserve.runtimes.testserver", "--port=9090"]


def test_create_serviceaccount(kubeserve: KubeServe, namespace: str) -> None:
    kubeserve.kubectl("create", "serviceaccount", "sa", "-n", namespace)
    assert get(kubeserve, namespace, "serviceaccount", "sa")["metadata"]["name"] == "sa"


def test_debug_copy_to_creates_the_pod_copy(kubeserve: KubeServe, namespace: str) -> None:
    ns = namespace
    kubeserve.kubectl("run", "p1", "--image=kubeserve/http-test-server", "--env=A=B", "--port=8080", "-n", ns)
    kubeserve.kubectl("debug", "p1", "--copy-to=p1-copy", "--image=kubeserve/http-test-server", "--container=dbg",
                      "-n", ns, "--", "python", "-m", "kubeserve.runtimes.testserver", "--port=9090")
    containers = get(kubeserve, ns, "pod", "p1-copy")["spec"]["containers"]
    assert [c["name"] for c in containers] == ["p1", "dbg"]
    assert containers[0]["env"] == [{"name": "A", "value": "B"}]


@pytest.mark.xfail(strict=True, reason="kubectl 1.32's `autoscale` POSTs an autoscaling/v1 HorizontalPodAutoscaler "
                   "(as protobuf, which decodes), but kubeserve serves HPAs only as autoscaling/v2: 404")
def test_autoscale(kubeserve: KubeServe, namespace: str) -> None:
    ns = namespace
    kubeserve.kubectl("create", "deployment", "hello", "--image=kubeserve/http-test-server", "-n", ns)
    kubeserve.kubectl("autoscale", "deployment", "hello", "--min=1", "--max=3", "--cpu-percent=80", "-n", ns)
    hpa = kubeserve.kubectl_json("get", "hpa", "hello", "-n", ns)
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (1, 3)
