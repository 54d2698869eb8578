"""The embedded node given bad input, as a new kubectl user meets it: unmapped images, missing Secrets, missing
binaries, unplaceable pods, requests larger than the machine, Services with nobody behind them, streaming verbs
aimed at the wrong place, and bad node settings. Each failure must look like Kubernetes' (same reasons, same
words where Kubernetes has words) and must heal when the cause is fixed, because every loop is level-triggered.

Most cases share the session server (conftest) and one namespace; the taint case needs a node with a taint and
starts its own server; the settings cases run `python -m kubeserve up` and expect it to refuse to start.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness import REPO, KubeServe, eventually, free_port, start_kubeserve

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def ns(kubeserve: KubeServe) -> Iterator[str]:
    name = f"bad-{uuid.uuid4().hex[:8]}"
    kubeserve.kubectl("create", "namespace", name)
    yield name
    kubeserve.kubectl("delete", "namespace", name, "--wait=false", check=False)


def pod(kubeserve: KubeServe, namespace: str, name: str) -> dict[str, Any]:
    found: dict[str, Any] = kubeserve.kubectl_json("get", "pod", name, "-n", namespace)
    return found


def container_status(kubeserve: KubeServe, namespace: str, name: str) -> dict[str, Any]:
    statuses = pod(kubeserve, namespace, name)["status"].get("containerStatuses") or [{}]
    return dict(statuses[0])


def waiting(kubeserve: KubeServe, namespace: str, name: str) -> dict[str, Any]:
    return dict(container_status(kubeserve, namespace, name).get("state", {}).get("waiting") or {})


def running(kubeserve: KubeServe, namespace: str, name: str) -> bool:
    statuses = pod(kubeserve, namespace, name)["status"].get("containerStatuses") or []
    return bool(statuses) and all("running" in s.get("state", {}) for s in statuses)


def events(kubeserve: KubeServe, namespace: str, name: str, reason: str) -> list[str]:
    items = kubeserve.kubectl_json("get", "events", "-n", namespace,
                                   "--field-selector", f"involvedObject.name={name}")["items"]
    return [e["message"] for e in items if e["reason"] == reason]


def isolation(kubeserve: KubeServe) -> str:
    """The isolation mode the server's log says is active (`node … ready: isolation <mode>, …`)."""
    for line in kubeserve.log_path.read_text().splitlines():
        if " ready: isolation " in line:
            mode: str = line.split(" ready: isolation ", 1)[1].split(",", 1)[0]
            return mode
    return "unknown"


# -- images -------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def unmapped(kubeserve: KubeServe, ns: str) -> str:
    """A pod whose image is in no catalog, created once: several tests look at how it fails."""
    kubeserve.kubectl("run", "unmapped", "-n", ns, "--image=nope/nope:1")
    return "unmapped"


def test_unmapped_image_fails_like_a_pull_and_says_how_to_map_it(kubeserve: KubeServe, ns: str,
                                                                 unmapped: str) -> None:
    seen: set[str] = set()

    def both_reasons() -> bool:
        state = waiting(kubeserve, ns, unmapped)
        seen.add(state.get("reason", ""))
        if state.get("reason") == "ErrImagePull":
            assert "nope/nope:1" in state["message"] and "images.yaml" in state["message"]
        return {"ErrImagePull", "ImagePullBackOff"} <= seen

    eventually(both_reasons, timeout=30, interval=0.2)
    assert pod(kubeserve, ns, unmapped)["status"]["phase"] == "Pending"
    failed = eventually(lambda: events(kubeserve, ns, unmapped, "Failed"), timeout=10)
    assert any('Failed to pull image "nope/nope:1"' in m and "images.yaml" in m for m in failed), failed
    table = kubeserve.kubectl("get", "pod", unmapped, "-n", ns).stdout
    assert "ImagePullBackOff" in table or "ErrImagePull" in table


def test_logs_of_a_container_waiting_for_its_image_use_kubernetes_words(kubeserve: KubeServe, ns: str,
                                                                        unmapped: str) -> None:
    eventually(lambda: waiting(kubeserve, ns, unmapped).get("reason") in ("ErrImagePull", "ImagePullBackOff"),
               timeout=30)
    result = kubeserve.kubectl("logs", unmapped, "-n", ns, check=False)
    assert result.returncode == 1
    prefix = f'Error from server (BadRequest): container "{unmapped}" in pod "{unmapped}" is waiting to start: '
    assert result.stderr.strip() in (prefix + "trying and failing to pull image", prefix + "image can't be pulled")


def test_exec_and_logs_into_a_container_the_pod_does_not_have(kubeserve: KubeServe, ns: str,
                                                             unmapped: str) -> None:
    logs = kubeserve.kubectl("logs", unmapped, "-n", ns, "-c", "nope", check=False)
    assert logs.returncode == 1 and f"container nope is not valid for pod {unmapped}" in logs.stderr
    exec_ = kubeserve.kubectl("exec", unmapped, "-n", ns, "-c", "nope", "--", "true", check=False)
    assert exec_.returncode == 1 and f"container nope is not valid for pod {unmapped}" in exec_.stderr
    waiting_exec = kubeserve.kubectl("exec", unmapped, "-n", ns, "--", "true", check=False)
    assert waiting_exec.returncode == 1 and "BadRequest" in waiting_exec.stderr
    assert f'container "{unmapped}" in pod "{unmapped}"' in waiting_exec.stderr


# -- missing Secrets: level-triggered, nothing lost ----------------------------------------------------------

ENV_SECRET_POD = """
apiVersion: v1
kind: Pod
metadata: {name: env-secret}
spec:
  containers:
  - name: main
    image: busybox
    command: ["sh", "-c", "echo token=$TOKEN; exec sleep 3600"]
    env:
    - name: TOKEN
      valueFrom: {secretKeyRef: {name: env-creds, key: token}}
"""

VOLUME_SECRET_POD = """
apiVersion: v1
kind: Pod
metadata: {name: volume-secret}
spec:
  containers:
  - name: main
    image: busybox
    command: ["sh", "-c", "echo mounted=$(cat /mnt/creds/token); exec sleep 3600"]
    volumeMounts:
    - {name: creds, mountPath: /mnt/creds, readOnly: true}
  volumes:
  - name: creds
    secret: {secretName: volume-creds}
"""


def test_env_from_a_missing_secret_is_a_config_error_until_the_secret_exists(kubeserve: KubeServe,
                                                                            ns: str) -> None:
    kubeserve.kubectl("apply", "-n", ns, "-f", "-", input=ENV_SECRET_POD)
    state = eventually(lambda: waiting(kubeserve, ns, "env-secret").get("reason") == "CreateContainerConfigError"
                       and waiting(kubeserve, ns, "env-secret"), timeout=30)
    assert state["message"] == 'secret "env-creds" not found'
    assert any(m == 'Error: secret "env-creds" not found'
               for m in eventually(lambda: events(kubeserve, ns, "env-secret", "Failed")))
    assert "CreateContainerConfigError" in kubeserve.kubectl("get", "pod", "env-secret", "-n", ns).stdout
    logs = kubeserve.kubectl("logs", "env-secret", "-n", ns, check=False)
    assert logs.returncode == 1
    assert ('container "main" in pod "env-secret" is waiting to start: CreateContainerConfigError'
            in logs.stderr)

    kubeserve.kubectl("create", "secret", "generic", "env-creds", "-n", ns, "--from-literal=token=s3cret")
    eventually(lambda: running(kubeserve, ns, "env-secret"), timeout=60, interval=0.5)
    assert eventually(lambda: kubeserve.kubectl("logs", "env-secret", "-n", ns).stdout) == "token=s3cret\n"
    assert container_status(kubeserve, ns, "env-secret")["restartCount"] == 0


def test_volume_of_a_missing_secret_fails_to_mount_until_the_secret_exists(kubeserve: KubeServe,
                                                                          ns: str) -> None:
    kubeserve.kubectl("apply", "-n", ns, "-f", "-", input=VOLUME_SECRET_POD)
    failed = eventually(lambda: events(kubeserve, ns, "volume-secret", "FailedMount"), timeout=30)
    assert 'MountVolume.SetUp failed for volume "creds" : secret "volume-creds" not found' in failed
    time.sleep(1)
    assert "ContainerCreating" in kubeserve.kubectl("get", "pod", "volume-secret", "-n", ns).stdout
    assert pod(kubeserve, ns, "volume-secret")["status"]["phase"] == "Pending"

    kubeserve.kubectl("create", "secret", "generic", "volume-creds", "-n", ns, "--from-literal=token=v0lume")
    eventually(lambda: running(kubeserve, ns, "volume-secret"), timeout=60, interval=0.5)
    assert eventually(lambda: kubeserve.kubectl("logs", "volume-secret", "-n", ns).stdout) == "mounted=v0lume\n"


# -- a command that does not exist ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def no_binary(kubeserve: KubeServe, ns: str) -> str:
    kubeserve.kubectl("run", "no-binary", "-n", ns, "--image=busybox", "--command", "--", "/no/such/binary")
    return "no-binary"


def test_missing_binary_restarts_with_back_off_and_says_why(kubeserve: KubeServe, ns: str, no_binary: str) -> None:
    def backing_off() -> dict[str, Any] | None:
        status = container_status(kubeserve, ns, no_binary)
        state = status.get("state", {}).get("waiting", {})
        return status if state.get("reason") == "CrashLoopBackOff" and status["restartCount"] >= 1 else None

    status = eventually(backing_off, timeout=60, interval=0.5)
    assert status["lastState"]["terminated"]["exitCode"] != 0
    assert "/no/such/binary" in kubeserve.kubectl("logs", no_binary, "-n", ns, "--previous").stdout
    assert eventually(lambda: events(kubeserve, ns, no_binary, "BackOff"))


def test_missing_binary_is_a_start_error(kubeserve: KubeServe, ns: str, no_binary: str) -> None:
    """containerd reports a command that cannot be exec'd as terminated reason StartError, exit code 128,
    with the exec error as the message (kubectl shows StartError / RunContainerError)."""
    terminated = eventually(
        lambda: container_status(kubeserve, ns, no_binary).get("lastState", {}).get("terminated"), timeout=60)
    assert terminated["reason"] == "StartError"
    assert terminated["exitCode"] == 128
    assert "/no/such/binary" in terminated.get("message", "")


# -- scheduling ----------------------------------------------------------------------------------------------


def test_node_selector_that_matches_no_node_waits_until_a_label_matches(kubeserve: KubeServe, ns: str) -> None:
    label = f"e2e-{ns}"
    kubeserve.kubectl("run", "picky", "-n", ns, "--image=busybox",
                      "--overrides", f'{{"spec": {{"nodeSelector": {{"{label}": "yes"}}}}}}', "--", "sleep", "3600")
    messages = eventually(lambda: events(kubeserve, ns, "picky", "FailedScheduling"), timeout=30)
    assert messages[0] == "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector."
    assert not pod(kubeserve, ns, "picky")["spec"].get("nodeName")
    node = kubeserve.kubectl_json("get", "nodes")["items"][0]["metadata"]["name"]
    kubeserve.kubectl("label", "node", node, f"{label}=yes")
    try:
        eventually(lambda: running(kubeserve, ns, "picky"), timeout=60, interval=0.5)
    finally:
        kubeserve.kubectl("label", "node", node, f"{label}-")


TAINTED_POD = """
apiVersion: v1
kind: Pod
metadata: {name: %(name)s}
spec:
  tolerations: %(tolerations)s
  containers:
  - {name: main, image: busybox, command: ["sleep", "3600"]}
"""


def test_taint_keeps_pods_off_until_they_tolerate_it(tmp_path: Path) -> None:
    server = start_kubeserve(tmp_path / "home", env={"KUBESERVE_NODE_TAINTS": "dedicated=gpu:NoSchedule"})
    try:
        taints = server.kubectl_json("get", "nodes")["items"][0]["spec"]["taints"]
        assert {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"} in taints
        server.kubectl("apply", "-f", "-", input=TAINTED_POD % {"name": "plain", "tolerations": "[]"})
        tolerating = '[{key: dedicated, operator: Equal, value: gpu, effect: NoSchedule}]'
        server.kubectl("apply", "-f", "-", input=TAINTED_POD % {"name": "tolerant", "tolerations": tolerating})
        messages = eventually(lambda: events(server, "default", "plain", "FailedScheduling"), timeout=30)
        assert messages[0] == "0/1 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}."
        eventually(lambda: running(server, "default", "tolerant"), timeout=60, interval=0.5)
        assert pod(server, "default", "plain")["status"]["phase"] == "Pending"
    finally:
        server.stop()


BIG_POD = """
apiVersion: v1
kind: Pod
metadata: {name: %s}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: busybox
    command: ["sleep", "3600"]
    resources:
      requests: {cpu: "8", memory: 32Gi}
"""


def test_guide_sized_requests_are_clamped_to_the_node_one_pod_at_a_time(kubeserve: KubeServe, ns: str) -> None:
    kubeserve.kubectl("apply", "-n", ns, "-f", "-", input=BIG_POD % "big-a")
    eventually(lambda: running(kubeserve, ns, "big-a"), timeout=60, interval=0.5)
    clamped = eventually(lambda: events(kubeserve, ns, "big-a", "RequestsClamped"))
    assert "cpu request 8 exceeds the node's allocatable" in clamped[0]
    assert "memory request 32Gi" in clamped[0] and "KUBESERVE_RESOURCE_POLICY" in clamped[0]
    try:
        kubeserve.kubectl("apply", "-n", ns, "-f", "-", input=BIG_POD % "big-b")
        messages = eventually(lambda: events(kubeserve, ns, "big-b", "FailedScheduling"), timeout=30)
        assert "Insufficient cpu" in messages[0]
        kubeserve.kubectl("delete", "pod", "big-a", "-n", ns, "--timeout=30s")
        eventually(lambda: running(kubeserve, ns, "big-b"), timeout=60, interval=0.5)
    finally:
        kubeserve.kubectl("delete", "pod", "big-a", "big-b", "-n", ns, "--wait=false", "--ignore-not-found",
                          check=False)


# -- the data path with nobody behind it ---------------------------------------------------------------------

EMPTY_SERVICE = """
apiVersion: v1
kind: Service
metadata: {name: nobody}
spec:
  selector: {app: nobody-home}
  ports: [{port: 80, targetPort: 8080}]
"""


def test_service_without_ready_endpoints_answers_503_naming_the_service(kubeserve: KubeServe, ns: str) -> None:
    kubeserve.kubectl("apply", "-n", ns, "-f", "-", input=EMPTY_SERVICE)
    ip = kubeserve.kubectl_json("get", "service", "nobody", "-n", ns)["spec"]["clusterIP"]

    def answer() -> tuple[int, str, str] | None:
        try:
            with urllib.request.urlopen(f"http://{ip}:80/", timeout=5) as response:
                return response.status, response.headers.get("Content-Type", ""), response.read().decode()
        except urllib.error.HTTPError as err:
            return err.code, err.headers.get("Content-Type", ""), err.read().decode()
        except (urllib.error.URLError, OSError):
            return None  # the proxy has not opened the listener yet

    status, content_type, body = eventually(answer, timeout=20, interval=0.2)
    assert status == 503
    assert content_type.startswith("text/plain")
    assert f'"{ns}/nobody"' in body and "no ready endpoints" in body


def test_port_forward_to_a_closed_port_reports_it_and_a_new_forward_works(kubeserve: KubeServe, ns: str) -> None:
    """kubectl (since 1.23) prints the remote error and then exits with `lost connection to pod`: after any
    error on a forwarded connection it closes the whole tunnel (kubernetes/kubectl#1169). So the check that
    the node is still fine is a second port-forward, to a port that does listen."""
    kubeserve.kubectl("run", "listener", "-n", ns, "--image=kubeserve/http-test-server", "--", "--port=8080")
    eventually(lambda: running(kubeserve, ns, "listener"), timeout=60, interval=0.5)

    local = free_port()
    forward = subprocess.Popen(["kubectl", "port-forward", "-n", ns, "pod/listener", f"{local}:9999"],
                               env=kubeserve.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        eventually(lambda: _connect_and_read(local) is not None, timeout=20, interval=0.2)
        _, stderr = forward.communicate(timeout=20)
    finally:
        if forward.poll() is None:
            forward.kill()
            forward.communicate()
    assert "an error occurred forwarding" in stderr and "9999" in stderr, stderr
    assert "Traceback" not in stderr

    local = free_port()
    second = subprocess.Popen(["kubectl", "port-forward", "-n", ns, "pod/listener", f"{local}:8080"],
                              env=kubeserve.env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(2):  # two connections through one tunnel
            reply = eventually(lambda: _http_status(f"http://127.0.0.1:{local}/healthz"), timeout=20, interval=0.2)
            assert reply == 200
    finally:
        second.terminate()
        second.wait(10)


def _connect_and_read(port: int) -> bytes | None:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
            conn.sendall(b"GET / HTTP/1.0\r\n\r\n")
            return conn.recv(100)
    except OSError:
        return None


def _http_status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as err:
        return err.code
    except (urllib.error.URLError, OSError):
        return None


# -- bad node settings: `kubeserve up` refuses to start, naming the variable ---------------------------------

NAMES_IT = "the message names the variable"


@pytest.mark.parametrize(("variable", "value"), [
    ("KUBESERVE_GPUS", "nvidia.com/gpu=abc"),
    ("KUBESERVE_GPUS", "garbage"),
    ("KUBESERVE_NODE_TAINTS", "dedicated=gpu:Sometimes"),
    ("KUBESERVE_NODE_TAINTS", ":NoSchedule"),
    ("KUBESERVE_RESOURCE_POLICY", "loose"),
    ("KUBESERVE_ISOLATION", "chroot"),
    ("KUBESERVE_POD_NETWORK", "127.10.0.0/99"),
    ("KUBESERVE_BACKOFF_SECONDS", "soon"),
])
def test_bad_node_setting_stops_kubeserve_up_with_a_message(tmp_path: Path, variable: str, value: str) -> None:
    env = {**os.environ, "KUBESERVE_HOME": str(tmp_path / "home"), "KUBESERVE_API_PORT": str(free_port()),
           "KUBESERVE_POD_NETWORK": "127.250.0.0/16", "KUBESERVE_SERVICE_NETWORK": "127.251.0.0/16",
           "COLUMNS": "200", variable: value}
    process = subprocess.Popen([sys.executable, "-m", "kubeserve", "up"], cwd=REPO, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        _, stderr = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        process.terminate()
        process.communicate(timeout=15)
        pytest.fail(f"kubeserve up started with {variable}={value!r}")
    assert process.returncode not in (0, None)
    assert "Traceback" not in stderr and "╭" not in stderr, stderr[-2000:]
    assert variable in stderr, f"{NAMES_IT}: {stderr[-1000:]}"
