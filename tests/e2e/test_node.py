"""The embedded node end to end: Deployments, Services, the kubelet's process trees and kubectl's streaming
verbs, driven by the real kubectl against a real `kubeserve up` (issue 3's acceptance list).

The session server (conftest) is configured with a fake two-GPU inventory and a 1 s crash-loop back-off base.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from harness import KubeServe, eventually, free_port, start_kubeserve

TEST_IMAGE = "kubeserve/http-test-server:latest"

WEB = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 3
  selector:
    matchLabels: {app: web}
  strategy:
    rollingUpdate: {maxSurge: 1, maxUnavailable: 0}
  template:
    metadata:
      labels: {app: web}
    spec:
      terminationGracePeriodSeconds: 10
      containers:
      - name: web
        image: TEST_IMAGE
        args: ["--port=8080"]
        env:
        - {name: MESSAGE, value: v1}
        ports:
        - {name: http, containerPort: 8080}
        readinessProbe:
          httpGet: {path: /healthz, port: http}
          periodSeconds: 1
      - name: sidecar
        image: busybox
        command: ["sh", "-c", "echo sidecar of $HOSTNAME; exec sleep 3600"]
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports:
  - {name: http, port: 80, targetPort: http}
""".replace("TEST_IMAGE", TEST_IMAGE)


def pods(kubeserve: KubeServe, namespace: str, selector: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = kubeserve.kubectl_json("get", "pods", "-n", namespace, "-l", selector)["items"]
    return [p for p in items if not p["metadata"].get("deletionTimestamp")]


def http_get(url: str, timeout: float = 5) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def container_pid(kubeserve: KubeServe, pod: dict[str, Any], container: str) -> int:
    state = kubeserve.home / "pods" / pod["metadata"]["uid"] / "containers" / container / "state.json"
    return int(json.loads(state.read_text())["pid"])


def processes_with(marker: str) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        if marker in " ".join(proc.info["cmdline"] or []):
            found.append(proc)
    return found


@pytest.fixture(scope="module")
def web(kubeserve: KubeServe) -> Iterator[str]:
    """A 3-replica Deployment of the HTTP test server behind a Service, rolled out, in its own namespace."""
    namespace = f"node-{os.getpid()}"
    kubeserve.kubectl("create", "namespace", namespace)
    kubeserve.kubectl("apply", "-n", namespace, "-f", "-", input=WEB)
    kubeserve.kubectl("rollout", "status", "deployment/web", "-n", namespace, "--timeout=180s", timeout=200)
    yield namespace
    kubeserve.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


def cluster_ip(kubeserve: KubeServe, namespace: str, service: str = "web") -> str:
    ip: str = kubeserve.kubectl_json("get", "service", service, "-n", namespace)["spec"]["clusterIP"]
    return ip


# -- 1. replicas, Service balancing, port-forward, exec, logs ------------------------------------------------


def test_deployment_becomes_available_with_three_ready_replicas(kubeserve: KubeServe, web: str) -> None:
    deployment = kubeserve.kubectl_json("get", "deployment", "web", "-n", web)
    assert deployment["status"]["availableReplicas"] == 3
    conditions = {c["type"]: c for c in deployment["status"]["conditions"]}
    assert conditions["Available"]["status"] == "True"
    assert conditions["Progressing"]["reason"] == "NewReplicaSetAvailable"
    running = pods(kubeserve, web, "app=web")
    ips = {p["status"]["podIP"] for p in running}
    assert len(running) == 3 and len(ips) == 3 and all(ip.startswith("127.") for ip in ips)
    wide = kubeserve.kubectl("get", "pods", "-n", web, "-o", "wide").stdout
    assert all(ip in wide for ip in ips)


def test_service_balances_over_all_replicas(kubeserve: KubeServe, web: str) -> None:
    ip = cluster_ip(kubeserve, web)
    names = set()
    for _ in range(30):
        status, body = http_get(f"http://{ip}:80/")
        assert status == 200
        names.add(json.loads(body)["hostname"])
    assert names == {p["metadata"]["name"] for p in pods(kubeserve, web, "app=web")}


def test_endpoints_list_the_ready_pods(kubeserve: KubeServe, web: str) -> None:
    endpoints = kubeserve.kubectl_json("get", "endpoints", "web", "-n", web)
    addresses = {a["ip"] for s in endpoints["subsets"] for a in s.get("addresses", [])}
    assert addresses == {p["status"]["podIP"] for p in pods(kubeserve, web, "app=web")}
    slices = kubeserve.kubectl_json("get", "endpointslices", "-n", web, "-l", "kubernetes.io/service-name=web")
    assert sum(len(s["endpoints"]) for s in slices["items"]) == 3


def test_port_forward_to_a_service(kubeserve: KubeServe, web: str) -> None:
    local = free_port()
    forward = subprocess.Popen(["kubectl", "port-forward", "-n", web, "service/web", f"{local}:80"],
                               env=kubeserve.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        status, body = eventually(lambda: _try_get(f"http://127.0.0.1:{local}/env/MESSAGE"), timeout=20)
        assert status == 200 and "v1" in body
        status, _ = http_get(f"http://127.0.0.1:{local}/healthz")  # a second connection through the tunnel
        assert status == 200
    finally:
        forward.terminate()
        forward.wait(10)


def _try_get(url: str) -> tuple[int, str] | None:
    try:
        return http_get(url, timeout=3)
    except (urllib.error.URLError, OSError):
        return None


def test_exec_runs_inside_the_container(kubeserve: KubeServe, web: str) -> None:
    pod = pods(kubeserve, web, "app=web")[0]["metadata"]["name"]
    result = kubeserve.kubectl("exec", "-n", web, pod, "-c", "web", "--", "sh", "-c", "echo $HOSTNAME $MESSAGE")
    assert result.stdout.strip() == f"{pod} v1"
    failed = kubeserve.kubectl("exec", "-n", web, pod, "-c", "web", "--", "sh", "-c", "exit 7", check=False)
    assert failed.returncode == 7
    interactive = kubeserve.kubectl("exec", "-i", "-n", web, pod, "-c", "sidecar", "--", "cat", input="hello\n")
    assert interactive.stdout == "hello\n"


def test_logs_of_all_replicas_by_label(kubeserve: KubeServe, web: str) -> None:
    result = kubeserve.kubectl("logs", "-n", web, "-l", "app=web", "-c", "sidecar", "--prefix")
    for pod in pods(kubeserve, web, "app=web"):
        name = pod["metadata"]["name"]
        assert f"sidecar of {name}" in result.stdout
    stamped = kubeserve.kubectl("logs", "-n", web, "deployment/web", "-c", "sidecar", "--timestamps").stdout
    assert stamped.split(" ", 1)[0].startswith(time.strftime("%Y-"))


def test_run_curl_against_the_service_name(kubeserve: KubeServe, web: str) -> None:
    """The guide's `kubectl run test-curl --image=curlimages/curl:latest --rm -it -- curl http://<svc>...`."""
    result = kubeserve.kubectl("run", "test-curl", "-n", web, "--image=curlimages/curl:latest", "--rm", "-i",
                               "--restart=Never", "--", "curl", "-s",
                               f"http://web.{web}.svc.cluster.local:80/env/MESSAGE", timeout=120)
    assert "v1" in result.stdout
    assert kubeserve.kubectl("get", "pod", "test-curl", "-n", web, check=False).returncode != 0


def test_top_pods_and_node(kubeserve: KubeServe, web: str) -> None:
    def top() -> str | None:
        result = kubeserve.kubectl("top", "pod", "-n", web, check=False)
        return result.stdout if result.returncode == 0 and "web-" in result.stdout else None

    assert "MEMORY" in eventually(top, timeout=30, interval=1)
    assert "CPU(cores)" in kubeserve.kubectl("top", "node").stdout


# -- 2. restarts, previous logs, crash loops -------------------------------------------------------------------


def test_killed_container_restarts_and_keeps_previous_logs(kubeserve: KubeServe, namespace: str) -> None:
    kubeserve.kubectl("run", "victim", "-n", namespace, "--image=busybox", "--",
                      "sh", "-c", "echo first life of $HOSTNAME; exec sleep 3600")
    pod = eventually(lambda: _running(kubeserve, namespace, "victim"), timeout=60)
    os.kill(container_pid(kubeserve, pod, "victim"), signal.SIGKILL)

    def restarted() -> bool:
        status = kubeserve.kubectl_json("get", "pod", "victim", "-n", namespace)["status"]
        statuses = status.get("containerStatuses") or [{}]
        return bool(statuses[0].get("restartCount", 0) >= 1 and "running" in statuses[0].get("state", {}))

    eventually(restarted, timeout=60, interval=0.5)
    status = kubeserve.kubectl_json("get", "pod", "victim", "-n", namespace)["status"]["containerStatuses"][0]
    assert status["lastState"]["terminated"]["exitCode"] == 137
    previous = kubeserve.kubectl("logs", "victim", "-n", namespace, "--previous").stdout
    assert "first life of victim" in previous


def _running(kubeserve: KubeServe, namespace: str, name: str) -> dict[str, Any] | None:
    pod: dict[str, Any] = kubeserve.kubectl_json("get", "pod", name, "-n", namespace)
    statuses = pod["status"].get("containerStatuses") or []
    return pod if statuses and all("running" in s.get("state", {}) for s in statuses) else None


def test_crash_looping_container_backs_off(kubeserve: KubeServe, namespace: str) -> None:
    kubeserve.kubectl("run", "crasher", "-n", namespace, "--image=busybox", "--", "sh", "-c", "echo boom; exit 3")

    def backing_off() -> dict[str, Any] | None:
        status = kubeserve.kubectl_json("get", "pod", "crasher", "-n", namespace)["status"]
        for container in status.get("containerStatuses") or []:
            waiting = container.get("state", {}).get("waiting", {})
            if waiting.get("reason") == "CrashLoopBackOff" and container["restartCount"] >= 2:
                return dict(container)
        return None

    container = eventually(backing_off, timeout=90, interval=0.5)
    assert "back-off" in container["state"]["waiting"]["message"]
    assert container["lastState"]["terminated"]["exitCode"] == 3
    table = kubeserve.kubectl("get", "pod", "crasher", "-n", namespace).stdout
    assert "CrashLoopBackOff" in table or "Error" in table
    events = kubeserve.kubectl("get", "events", "-n", namespace, "--field-selector",
                               "involvedObject.name=crasher").stdout
    assert "BackOff" in events


# -- 3. a rolling update loses no request ----------------------------------------------------------------------


def test_rolling_update_under_load_loses_no_request(kubeserve: KubeServe, web: str) -> None:
    ip = cluster_ip(kubeserve, web)
    failures: list[str] = []
    answers: list[str] = []
    stop = threading.Event()

    def load() -> None:
        while not stop.is_set():
            try:
                status, body = http_get(f"http://{ip}:80/env/MESSAGE", timeout=10)
                (answers if status == 200 else failures).append(body if status == 200 else f"{status} {body}")
            except (urllib.error.URLError, OSError) as exc:
                failures.append(repr(exc))

    thread = threading.Thread(target=load)
    thread.start()
    try:
        time.sleep(1)
        kubeserve.kubectl("set", "env", "deployment/web", "-n", web, "-c", "web", "MESSAGE=v2")
        kubeserve.kubectl("rollout", "status", "deployment/web", "-n", web, "--timeout=180s", timeout=200)
        time.sleep(1)
    finally:
        stop.set()
        thread.join()
    assert not failures, failures[:5]
    assert any("v1" in a for a in answers) and any("v2" in a for a in answers)
    assert answers[-1].strip().strip('"') == "v2" or "v2" in answers[-1]
    replicasets = kubeserve.kubectl_json("get", "replicasets", "-n", web, "-l", "app=web")["items"]
    assert sorted(rs["spec"]["replicas"] for rs in replicasets) == [0, 3]


# -- 4. GPUs -----------------------------------------------------------------------------------------------------

GPU_POD = """
apiVersion: v1
kind: Pod
metadata:
  name: %(name)s
spec:
  containers:
  - name: main
    image: busybox
    command: ["sh", "-c", "echo devices=$CUDA_VISIBLE_DEVICES; exec sleep 3600"]
    resources:
      limits: {nvidia.com/gpu: %(gpus)d}
"""


def test_gpus_are_whole_devices_never_overcommitted(kubeserve: KubeServe, namespace: str) -> None:
    node = kubeserve.kubectl("get", "nodes", "-o",
                             r"custom-columns=NAME:.metadata.name,GPUs:.status.capacity.nvidia\.com/gpu").stdout
    assert node.split()[-1] == "2"
    kubeserve.kubectl("apply", "-n", namespace, "-f", "-", input=GPU_POD % {"name": "greedy", "gpus": 3})

    def unschedulable() -> str | None:
        events = kubeserve.kubectl_json("get", "events", "-n", namespace,
                                        "--field-selector", "involvedObject.name=greedy")["items"]
        messages = [e["message"] for e in events if e["reason"] == "FailedScheduling"]
        return messages[0] if messages else None

    assert eventually(unschedulable, timeout=30) == "0/1 nodes are available: 1 Insufficient nvidia.com/gpu."
    assert kubeserve.kubectl_json("get", "pod", "greedy", "-n", namespace)["status"]["phase"] == "Pending"

    for name in ("gpu-a", "gpu-b"):
        kubeserve.kubectl("apply", "-n", namespace, "-f", "-", input=GPU_POD % {"name": name, "gpus": 1})
    devices = []
    for name in ("gpu-a", "gpu-b"):
        eventually(lambda name=name: _running(kubeserve, namespace, name), timeout=60)
        logs = eventually(lambda name=name: kubeserve.kubectl("logs", name, "-n", namespace).stdout.strip())
        devices.append(logs.removeprefix("devices="))
    assert sorted(devices) == ["0", "1"]


# -- 5. memory limits ------------------------------------------------------------------------------------------

OOM_POD = """
apiVersion: v1
kind: Pod
metadata:
  name: hog
spec:
  restartPolicy: Never
  containers:
  - name: hog
    image: python:3.11
    command: ["python3", "-c", "import time; b = bytearray(400 * 1024 * 1024); time.sleep(60)"]
    resources:
      limits: {memory: 64Mi}
"""


def test_container_over_its_memory_limit_is_oom_killed(kubeserve: KubeServe, namespace: str) -> None:
    kubeserve.kubectl("apply", "-n", namespace, "-f", "-", input=OOM_POD)

    def terminated() -> dict[str, Any] | None:
        statuses = kubeserve.kubectl_json("get", "pod", "hog", "-n", namespace)["status"].get("containerStatuses")
        state = (statuses or [{}])[0].get("state", {})
        return state.get("terminated")

    state = eventually(terminated, timeout=60, interval=0.5)
    assert state["reason"] == "OOMKilled"
    assert state["exitCode"] == 137
    assert kubeserve.kubectl_json("get", "pod", "hog", "-n", namespace)["status"]["phase"] == "Failed"


# -- 6 and 7. restarts of kubeserve, deletion, down -----------------------------------------------------------

SLEEPERS = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: sleepers
spec:
  replicas: 2
  selector:
    matchLabels: {app: sleepers}
  template:
    metadata:
      labels: {app: sleepers}
    spec:
      terminationGracePeriodSeconds: 2
      containers:
      - name: main
        image: busybox
        command: ["sleep", "%(marker)s"]
"""


def test_restarts_keep_one_process_tree_per_container_and_down_leaves_none(tmp_path: Path) -> None:
    marker = f"{3600 + os.getpid() % 1000}.{int(time.time()) % 100000}"
    server = start_kubeserve(tmp_path / "home")
    try:
        server.kubectl("apply", "-n", "default", "-f", "-", input=SLEEPERS % {"marker": marker})
        server.kubectl("rollout", "status", "deployment/sleepers", "--timeout=120s", timeout=140)
        before = sorted(p.pid for p in eventually(lambda: len(processes_with(marker)) == 2 and processes_with(marker)))

        server.stop(signal.SIGKILL)  # a crash: the pods keep running and must be adopted
        assert sorted(p.pid for p in processes_with(marker)) == before
        server = start_kubeserve(tmp_path / "home", port=server.port)
        server.kubectl("rollout", "status", "deployment/sleepers", "--timeout=60s", timeout=80)
        time.sleep(3)  # long enough for a wrongly started second copy to appear
        assert sorted(p.pid for p in processes_with(marker)) == before
        assert len(pods(server, "default", "app=sleepers")) == 2

        server.kubectl("delete", "deployment", "sleepers", "--timeout=60s", timeout=80)
        eventually(lambda: not processes_with(marker), timeout=30)
        eventually(lambda: not server.kubectl_json("get", "replicasets")["items"], timeout=30)
        eventually(lambda: not server.kubectl_json("get", "pods")["items"], timeout=30)

        server.kubectl("apply", "-n", "default", "-f", "-", input=SLEEPERS % {"marker": marker})
        server.kubectl("rollout", "status", "deployment/sleepers", "--timeout=120s", timeout=140)
        assert len(processes_with(marker)) == 2
    finally:
        server.stop()
    assert not processes_with(marker), "a pod process survived kubeserve's shutdown"
    assert not processes_with(str(tmp_path / "home")), "a shim survived kubeserve's shutdown"
