"""The kubectl verbs a Kubernetes/KServe user reaches for, against the embedded node: scale, rollout
restart/status/history/undo, a rollout to a broken image and back, deleting pods (graceful and forced), run -i
with stdin, attach, logs -f, cp, wait, events, and the volume kinds (PVC, emptyDir, configMap items) with init
containers. Real kubectl against the session server (conftest); one namespace and one Deployment are shared by
the whole module, and every test leaves the Deployment at three ready replicas.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from harness import KubeServe, eventually

pytestmark = pytest.mark.e2e

WEB = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 3
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      terminationGracePeriodSeconds: 5
      containers:
      - name: web
        image: kubeserve/http-test-server:latest
        args: ["--port=8080"]
        ports:
        - {name: http, containerPort: 8080}
        readinessProbe:
          httpGet: {path: /healthz, port: http}
          periodSeconds: 1
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports:
  - {port: 80, targetPort: http}
"""


@pytest.fixture(scope="module")
def ns(kubeserve: KubeServe) -> Iterator[str]:
    name = f"verbs-{uuid.uuid4().hex[:8]}"
    kubeserve.kubectl("create", "namespace", name)
    kubeserve.kubectl("apply", "-n", name, "-f", "-", input=WEB)
    rollout_status(kubeserve, name)
    yield name
    kubeserve.kubectl("delete", "namespace", name, "--wait=false", check=False)


def rollout_status(kubeserve: KubeServe, namespace: str, timeout: int = 120) -> None:
    kubeserve.kubectl("rollout", "status", "deployment/web", "-n", namespace, f"--timeout={timeout}s",
                      timeout=timeout + 20)


def live_pods(kubeserve: KubeServe, namespace: str, selector: str = "app=web") -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = kubeserve.kubectl_json("get", "pods", "-n", namespace, "-l", selector)["items"]
    return [p for p in items if not p["metadata"].get("deletionTimestamp")]


def names(pods: list[dict[str, Any]]) -> set[str]:
    return {p["metadata"]["name"] for p in pods}


def ready(pod: dict[str, Any]) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions") or [])


def running(kubeserve: KubeServe, namespace: str, name: str) -> bool:
    pod = kubeserve.kubectl_json("get", "pod", name, "-n", namespace)
    statuses = pod["status"].get("containerStatuses") or []
    return bool(statuses) and all("running" in s.get("state", {}) for s in statuses)


def service_get(kubeserve: KubeServe, namespace: str, path: str = "/healthz") -> int:
    ip = kubeserve.kubectl_json("get", "service", "web", "-n", namespace)["spec"]["clusterIP"]
    try:
        with urllib.request.urlopen(f"http://{ip}:80{path}", timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as err:
        return err.code


def container_pid(kubeserve: KubeServe, pod: dict[str, Any], container: str) -> int:
    state = kubeserve.home / "pods" / pod["metadata"]["uid"] / "containers" / container / "state.json"
    return int(json.loads(state.read_text())["pid"])


# -- the documented imperative create commands ---------------------------------------------------------------


def test_imperative_create_commands_from_the_docs(kubeserve: KubeServe, ns: str) -> None:
    """docs/node.md starts with `kubectl create deployment`; kubectl 1.32 POSTs these as protobuf."""
    kubeserve.kubectl("create", "deployment", "doc-web", "-n", ns, "--image=kubeserve/http-test-server",
                      "--replicas=1", "--port=8080")
    kubeserve.kubectl("create", "service", "clusterip", "doc-svc", "-n", ns, "--tcp=80:8080")
    deployment = kubeserve.kubectl_json("get", "deployment", "doc-web", "-n", ns)
    assert deployment["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] == 8080
    assert kubeserve.kubectl_json("get", "service", "doc-svc", "-n", ns)["spec"]["ports"][0]["port"] == 80
    kubeserve.kubectl("delete", "deployment", "doc-web", "-n", ns, "--wait=false")


# -- scale and rollouts --------------------------------------------------------------------------------------


def test_scale_down_to_one_and_back_to_three(kubeserve: KubeServe, ns: str) -> None:
    before = names(live_pods(kubeserve, ns))
    kubeserve.kubectl("scale", "deployment/web", "-n", ns, "--replicas=1")
    eventually(lambda: len(live_pods(kubeserve, ns)) == 1, timeout=30, interval=0.3)
    assert names(live_pods(kubeserve, ns)) <= before
    assert service_get(kubeserve, ns) == 200
    kubeserve.kubectl("scale", "deployment/web", "-n", ns, "--replicas=3")
    rollout_status(kubeserve, ns)
    deployment = kubeserve.kubectl_json("get", "deployment", "web", "-n", ns)
    assert deployment["status"]["readyReplicas"] == 3 and deployment["spec"]["replicas"] == 3
    endpoints = kubeserve.kubectl_json("get", "endpoints", "web", "-n", ns)
    assert sum(len(s.get("addresses", [])) for s in endpoints["subsets"]) == 3


def test_rollout_restart_replaces_every_pod_and_adds_a_revision(kubeserve: KubeServe, ns: str) -> None:
    before = names(live_pods(kubeserve, ns))
    kubeserve.kubectl("rollout", "restart", "deployment/web", "-n", ns)
    rollout_status(kubeserve, ns)
    eventually(lambda: len(live_pods(kubeserve, ns)) == 3, timeout=30, interval=0.3)
    after = live_pods(kubeserve, ns)
    assert not names(after) & before
    assert all("kubectl.kubernetes.io/restartedAt" in p["metadata"]["annotations"] for p in after)
    history = kubeserve.kubectl("rollout", "history", "deployment/web", "-n", ns).stdout
    revisions = [line.split()[0] for line in history.splitlines()[2:] if line.strip()]
    assert revisions == ["1", "2"], history
    detail = kubeserve.kubectl("rollout", "history", "deployment/web", "-n", ns, "--revision=2").stdout
    assert "restartedAt" in detail and "kubeserve/http-test-server" in detail


def test_rollout_undo_returns_to_the_previous_template(kubeserve: KubeServe, ns: str) -> None:
    kubeserve.kubectl("set", "env", "deployment/web", "-n", ns, "-c", "web", "MESSAGE=undo-me")
    rollout_status(kubeserve, ns)
    kubeserve.kubectl("rollout", "undo", "deployment/web", "-n", ns)
    rollout_status(kubeserve, ns)
    template = kubeserve.kubectl_json("get", "deployment", "web", "-n", ns)["spec"]["template"]
    assert not any(e["name"] == "MESSAGE" for e in template["spec"]["containers"][0].get("env") or [])
    eventually(lambda: len(live_pods(kubeserve, ns)) == 3, timeout=30, interval=0.3)
    for pod in live_pods(kubeserve, ns):
        assert "undo-me" not in json.dumps(pod["spec"])


def test_rollout_to_an_unmapped_image_keeps_old_pods_serving_and_undo_recovers(kubeserve: KubeServe,
                                                                               ns: str) -> None:
    serving = names(live_pods(kubeserve, ns))
    kubeserve.kubectl("set", "image", "deployment/web", "-n", ns, "web=nope/nope:2")
    status = kubeserve.kubectl("rollout", "status", "deployment/web", "-n", ns, "--timeout=10s", check=False,
                               timeout=30)
    assert status.returncode != 0 and "timed out" in status.stderr
    pods = live_pods(kubeserve, ns)
    old = [p for p in pods if p["spec"]["containers"][0]["image"] != "nope/nope:2"]
    new = [p for p in pods if p["spec"]["containers"][0]["image"] == "nope/nope:2"]
    assert names(old) == serving and all(ready(p) for p in old)  # maxUnavailable 25% of 3 rounds down to 0
    assert len(new) == 1  # maxSurge 25% of 3 rounds up to 1
    reason = new[0]["status"]["containerStatuses"][0]["state"]["waiting"]["reason"]
    assert reason in ("ErrImagePull", "ImagePullBackOff")
    assert kubeserve.kubectl_json("get", "deployment", "web", "-n", ns)["status"]["availableReplicas"] == 3
    assert service_get(kubeserve, ns) == 200

    kubeserve.kubectl("rollout", "undo", "deployment/web", "-n", ns)
    rollout_status(kubeserve, ns)
    eventually(lambda: len(live_pods(kubeserve, ns)) == 3, timeout=30, interval=0.3)
    assert names(live_pods(kubeserve, ns)) == serving  # the old ReplicaSet's pods were never touched
    image = kubeserve.kubectl_json("get", "deployment", "web", "-n", ns)["spec"]["template"]["spec"]["containers"]
    assert image[0]["image"] == "kubeserve/http-test-server:latest"


# -- deleting pods -------------------------------------------------------------------------------------------


def test_deleted_deployment_pod_is_replaced(kubeserve: KubeServe, ns: str) -> None:
    victim = live_pods(kubeserve, ns)[0]
    pid = container_pid(kubeserve, victim, "web")
    kubeserve.kubectl("delete", "pod", victim["metadata"]["name"], "-n", ns, "--timeout=30s")
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    rollout_status(kubeserve, ns)
    pods = eventually(lambda: len(live_pods(kubeserve, ns)) == 3 and live_pods(kubeserve, ns), timeout=30)
    assert victim["metadata"]["name"] not in names(pods)


def test_force_deleted_pod_is_replaced_and_its_processes_killed(kubeserve: KubeServe, ns: str) -> None:
    victim = live_pods(kubeserve, ns)[0]
    pid = container_pid(kubeserve, victim, "web")
    result = kubeserve.kubectl("delete", "pod", victim["metadata"]["name"], "-n", ns, "--grace-period=0", "--force")
    assert "force deleted" in result.stdout
    assert kubeserve.kubectl("get", "pod", victim["metadata"]["name"], "-n", ns, check=False).returncode != 0
    eventually(lambda: not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE,
               timeout=20, interval=0.2)
    rollout_status(kubeserve, ns)
    eventually(lambda: len(live_pods(kubeserve, ns)) == 3, timeout=30, interval=0.3)


# -- interactive and streaming verbs -------------------------------------------------------------------------


def test_run_interactive_with_stdin_and_rm(kubeserve: KubeServe, ns: str) -> None:
    result = kubeserve.kubectl("run", "reader", "-n", ns, "-i", "--rm", "--image=busybox", "--restart=Never",
                               "--", "sh", "-c", "read x; echo got $x", input="hello\n", timeout=90)
    assert "got hello" in result.stdout
    assert kubeserve.kubectl("get", "pod", "reader", "-n", ns, check=False).returncode != 0


ECHOER = """
apiVersion: v1
kind: Pod
metadata: {name: echoer}
spec:
  restartPolicy: Never
  containers:
  - {name: echoer, image: busybox, command: ["cat"], stdin: true, stdinOnce: true}
"""


def test_attach_to_output_and_to_stdin(kubeserve: KubeServe, ns: str) -> None:
    kubeserve.kubectl("run", "ticker", "-n", ns, "--image=busybox", "--",
                      "sh", "-c", "i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.3; done")
    kubeserve.kubectl("apply", "-n", ns, "-f", "-", input=ECHOER)  # `kubectl run --stdin` would attach at once
    kubeserve.kubectl("wait", "--for=condition=Ready", "pod/ticker", "pod/echoer", "-n", ns, "--timeout=60s",
                      timeout=80)

    attach = subprocess.Popen(["kubectl", "attach", "ticker", "-n", ns], env=kubeserve.env(),
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert attach.stdout is not None
        lines = [attach.stdout.readline() for _ in range(3)]
    finally:
        attach.terminate()
        attach.wait(10)
    ticks = [int(line.split()[1]) for line in lines]
    assert all(line.startswith("tick ") for line in lines) and ticks == sorted(ticks), lines

    # stdinOnce: the end of the attached stdin closes the container's stdin, so `cat` ends and so does attach.
    result = kubeserve.kubectl("attach", "-i", "echoer", "-n", ns, input="piped line\n", timeout=30)
    assert "piped line" in result.stdout
    assert eventually(lambda: kubeserve.kubectl_json("get", "pod", "echoer", "-n", ns)["status"]["phase"]
                      == "Succeeded", timeout=20)
    assert kubeserve.kubectl("logs", "echoer", "-n", ns).stdout == "piped line\n"


def test_logs_follow_ends_when_the_container_exits(kubeserve: KubeServe, ns: str) -> None:
    kubeserve.kubectl("run", "counter", "-n", ns, "--restart=Never", "--image=busybox", "--",
                      "sh", "-c", "for i in 1 2 3; do echo line $i; sleep 0.5; done")
    kubeserve.kubectl("wait", "--for=condition=Ready", "pod/counter", "-n", ns, "--timeout=60s", timeout=80)
    started = time.monotonic()
    result = kubeserve.kubectl("logs", "-f", "counter", "-n", ns, timeout=30)
    assert result.stdout == "line 1\nline 2\nline 3\n"
    assert time.monotonic() - started < 15
    phase = eventually(lambda: kubeserve.kubectl_json("get", "pod", "counter", "-n", ns)["status"]["phase"]
                       == "Succeeded", timeout=20)
    assert phase


CP_POD = """
apiVersion: v1
kind: Pod
metadata: {name: files}
spec:
  containers:
  - name: main
    image: busybox
    command: ["sleep", "3600"]
    volumeMounts: [{name: work, mountPath: /mnt/work}]
  volumes:
  - {name: work, emptyDir: {}}
"""


def test_cp_a_file_into_a_pod_and_back(kubeserve: KubeServe, ns: str, tmp_path: Path) -> None:
    if subprocess.run(["sh", "-c", "command -v tar"], capture_output=True).returncode != 0:
        pytest.skip("kubectl cp runs tar inside the container, which here is the host's tar; the host has none")
    kubeserve.kubectl("apply", "-n", ns, "-f", "-", input=CP_POD)
    kubeserve.kubectl("wait", "--for=condition=Ready", "pod/files", "-n", ns, "--timeout=60s", timeout=80)
    source = tmp_path / "small.txt"
    source.write_text("payload 42\n")
    kubeserve.kubectl("cp", str(source), f"{ns}/files:/mnt/work/small.txt", timeout=30)
    inside = kubeserve.kubectl("exec", "files", "-n", ns, "--", "cat", "/mnt/work/small.txt").stdout
    assert inside == "payload 42\n"
    back = tmp_path / "back.txt"
    kubeserve.kubectl("cp", f"{ns}/files:/mnt/work/small.txt", str(back), timeout=30)
    assert back.read_text() == "payload 42\n"
    assert not Path("/mnt/work/small.txt").exists()  # it went to the pod's emptyDir, not the host's /mnt


def test_wait_for_ready_by_label_and_the_lifecycle_events(kubeserve: KubeServe, ns: str) -> None:
    result = kubeserve.kubectl("wait", "--for=condition=Ready", "pod", "-l", "app=web", "-n", ns, "--timeout=60s",
                               timeout=80)
    assert result.stdout.count("condition met") == len(live_pods(kubeserve, ns)) == 3
    pod = live_pods(kubeserve, ns)[0]["metadata"]["name"]
    reasons = {e["reason"] for e in kubeserve.kubectl_json(
        "get", "events", "-n", ns, "--field-selector", f"involvedObject.name={pod}")["items"]}
    assert {"Scheduled", "Pulled", "Created", "Started"} <= reasons
    table = kubeserve.kubectl("get", "events", "-n", ns).stdout
    assert "ScalingReplicaSet" in table and "SuccessfulCreate" in table


# -- volumes and init containers -----------------------------------------------------------------------------

VOLUMES = """
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Gi}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: conf}
data: {a.txt: alpha, b.txt: beta}
---
apiVersion: v1
kind: Pod
metadata: {name: writer}
spec:
  terminationGracePeriodSeconds: 1
  initContainers:
  - name: first
    image: busybox
    command: ["sh", "-c", "sleep 0.5; echo init-first >> /mnt/shared/order"]
    volumeMounts: [{name: shared, mountPath: /mnt/shared}]
  - name: second
    image: busybox
    command: ["sh", "-c", "echo init-second >> /mnt/shared/order"]
    volumeMounts: [{name: shared, mountPath: /mnt/shared}]
  containers:
  - name: producer
    image: busybox
    command: ["sh", "-c", "echo main >> /mnt/shared/order; echo from-producer > /mnt/shared/msg;
              echo persisted-$(POD_UID) > /mnt/data/file; ls /mnt/conf; exec sleep 3600"]
    env:
    - name: POD_UID
      valueFrom: {fieldRef: {fieldPath: metadata.uid}}
    volumeMounts:
    - {name: shared, mountPath: /mnt/shared}
    - {name: data, mountPath: /mnt/data}
    - {name: conf, mountPath: /mnt/conf}
  - name: consumer
    image: busybox
    command: ["sh", "-c", "while [ ! -f /mnt/in/msg ]; do sleep 0.1; done; cat /mnt/in/msg /mnt/in/order;
              exec sleep 3600"]
    volumeMounts: [{name: shared, mountPath: /mnt/in}]
  volumes:
  - {name: shared, emptyDir: {}}
  - {name: data, persistentVolumeClaim: {claimName: data}}
  - name: conf
    configMap:
      name: conf
      items: [{key: a.txt, path: renamed.txt}]
"""

READER = """
apiVersion: v1
kind: Pod
metadata: {name: reader-of-data}
spec:
  restartPolicy: Never
  containers:
  - name: main
    image: busybox
    command: ["cat", "/mnt/data/file"]
    volumeMounts: [{name: data, mountPath: /mnt/data}]
  volumes:
  - {name: data, persistentVolumeClaim: {claimName: data}}
"""


def test_init_containers_emptydir_configmap_items_and_a_pvc_that_outlives_its_pod(kubeserve: KubeServe,
                                                                                  ns: str) -> None:
    kubeserve.kubectl("apply", "-n", ns, "-f", "-", input=VOLUMES)
    kubeserve.kubectl("wait", "--for=condition=Ready", "pod/writer", "-n", ns, "--timeout=60s", timeout=80)
    writer = kubeserve.kubectl_json("get", "pod", "writer", "-n", ns)
    assert [s["state"]["terminated"]["reason"] for s in writer["status"]["initContainerStatuses"]] == \
        ["Completed", "Completed"]
    consumer = eventually(lambda: kubeserve.kubectl("logs", "writer", "-n", ns, "-c", "consumer").stdout
                          .count("\n") >= 4 and kubeserve.kubectl("logs", "writer", "-n", ns, "-c", "consumer").stdout)
    assert consumer == "from-producer\ninit-first\ninit-second\nmain\n"
    assert kubeserve.kubectl("logs", "writer", "-n", ns, "-c", "producer").stdout == "renamed.txt\n"
    assert kubeserve.kubectl("exec", "writer", "-n", ns, "-c", "producer", "--",
                             "cat", "/mnt/conf/renamed.txt").stdout == "alpha"
    assert kubeserve.kubectl("logs", "writer", "-n", ns, "-c", "first").stdout == ""
    claim = kubeserve.kubectl_json("get", "pvc", "data", "-n", ns)
    assert claim["status"]["phase"] == "Bound" and claim["spec"]["storageClassName"] == "local-path"

    kubeserve.kubectl("delete", "pod", "writer", "-n", ns, "--timeout=30s")
    kubeserve.kubectl("apply", "-n", ns, "-f", "-", input=READER)
    eventually(lambda: kubeserve.kubectl_json("get", "pod", "reader-of-data", "-n", ns)["status"]["phase"]
               == "Succeeded", timeout=60, interval=0.3)
    assert kubeserve.kubectl("logs", "reader-of-data", "-n", ns).stdout == f"persisted-{writer['metadata']['uid']}\n"
    volume = kubeserve.kubectl_json("get", "pv", claim["spec"]["volumeName"])
    directory = volume["spec"]["hostPath"]["path"]
    assert directory.startswith(str(kubeserve.home / "volumes" / ns / "data-")) and os.path.isdir(directory)
