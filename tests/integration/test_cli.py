"""The `kubeserve` command line against real processes: up --detach, status, kubeconfig [--merge], down.

Every test uses its own data directory (KUBESERVE_HOME) and a free port, and its own HOME, so nothing
here touches the user's ~/.kubeserve or ~/.kube/config. Servers started here are always stopped at the
end, by `kubeserve down` or, failing that, by the pid in the home.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness import free_port
from kubeserve.node.accelerators import detect

KUBESERVE = Path(sys.executable).with_name("kubeserve")
CLI = [str(KUBESERVE)] if KUBESERVE.exists() else [sys.executable, "-m", "kubeserve"]


@dataclass
class Instance:
    home: Path
    port: int
    user_home: Path  # $HOME for the CLI and kubectl

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("KUBESERVE_") and k != "KUBECONFIG"}
        return {**env, "KUBESERVE_HOME": str(self.home), "HOME": str(self.user_home),
                "KUBECACHEDIR": str(self.user_home / "kubectl-cache"), **extra}

    def cli(self, *args: str, timeout: float = 90, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*CLI, *args], capture_output=True, text=True, env=self.env(**env), timeout=timeout)

    def up(self) -> subprocess.CompletedProcess[str]:
        return self.cli("up", "--detach", "--port", str(self.port))

    def kubectl(self, *args: str, kubeconfig: Path | None = None, **env: str) -> subprocess.CompletedProcess[str]:
        config = ["--kubeconfig", str(kubeconfig or self.kubeconfig)]
        return subprocess.run(["kubectl", *config, *args], capture_output=True, text=True, env=self.env(**env),
                              timeout=60)

    @property
    def kubeconfig(self) -> Path:
        return self.home / "kubeconfig"

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def request(self, path: str, token: str | None) -> tuple[int, Any]:
        req = urllib.request.Request(self.url + path)
        if token is not None:
            req.add_header("Authorization", f"Bearer {token}")
        context = ssl.create_default_context(cafile=str(self.home / "pki" / "ca.crt"))
        try:
            with urllib.request.urlopen(req, context=context, timeout=10) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as err:
            status, raw = err.code, err.read()
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, raw.decode(errors="replace")

    def pid(self) -> int | None:
        try:
            return int((self.home / "kubeserve.pid").read_text().strip())
        except (FileNotFoundError, ValueError):
            return None

    def cleanup(self) -> None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.cli("down", timeout=30)
        pid = self.pid()
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def make_instance(tmp_path: Path, name: str) -> Instance:
    user_home = tmp_path / f"{name}-user"
    user_home.mkdir(parents=True)
    return Instance(tmp_path / f"{name}-home", free_port(), user_home)


@pytest.fixture
def instances(tmp_path: Path) -> Iterator[list[Instance]]:
    if shutil.which("kubectl") is None:
        pytest.fail("kubectl is not installed; `make tools` says how to get it")
    created: list[Instance] = []
    yield created
    for instance in created:
        instance.cleanup()


@pytest.fixture
def running(tmp_path: Path, instances: list[Instance]) -> Instance:
    instance = make_instance(tmp_path, "main")
    instances.append(instance)
    result = instance.up()
    assert result.returncode == 0, result.stdout + result.stderr
    return instance


def token_of(instance: Instance) -> str:
    return (instance.home / "token").read_text().strip()


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (exited, not yet reaped by its parent) counts as gone
    with contextlib.suppress(FileNotFoundError):
        return "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()
    return True


# ---- up / status / kubeconfig / down -----------------------------------------------------------------------


def test_up_detach_returns_once_ready_and_prints_the_kubeconfig_export(tmp_path: Path,
                                                                         instances: list[Instance]) -> None:
    instance = make_instance(tmp_path, "up")
    instances.append(instance)
    result = instance.up()
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"export KUBECONFIG={instance.kubeconfig}" in result.stdout.splitlines()
    assert instance.url in result.stdout
    # "returns once ready": the API answers the moment `up` has returned, without retrying
    status, body = instance.request("/readyz", None)
    assert (status, body) == (200, "ok")
    status, version = instance.request("/version", None)
    assert status == 200 and version["major"] == "1" and version["minor"].startswith("32"), version
    assert instance.kubeconfig.exists() and (instance.kubeconfig.stat().st_mode & 0o777) == 0o600
    pid = instance.pid()
    assert pid is not None and pid_alive(pid)

    # a second `up` on the same home notices the running one instead of starting another
    again = instance.up()
    assert again.returncode == 0, again.stderr
    assert "already running" in again.stdout and str(pid) in again.stdout
    assert instance.pid() == pid


def test_status_shows_the_url_and_exits_zero(running: Instance) -> None:
    result = running.cli("status")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{running.url} (ready)" in result.stdout
    assert str(running.kubeconfig) in result.stdout
    assert f"pid:        {running.pid()}" in result.stdout


def test_kubeconfig_prints_a_path_kubectl_can_use(running: Instance) -> None:
    result = running.cli("kubeconfig")
    assert result.returncode == 0, result.stderr
    path = Path(result.stdout.strip())
    assert path == running.kubeconfig
    got = running.kubectl("get", "ns", kubeconfig=path)
    assert got.returncode == 0, got.stderr
    names = {line.split()[0] for line in got.stdout.splitlines()[1:]}
    assert {"default", "redhat-ods-applications", "kube-system", "kube-public"} <= names, got.stdout
    assert all(" Active " in line for line in got.stdout.splitlines()[1:]), got.stdout

    # `export KUBECONFIG=$(kubeserve kubeconfig)` works just the same
    got = subprocess.run(["kubectl", "get", "ns", "default", "-o", "name"], capture_output=True, text=True,
                         env=running.env(KUBECONFIG=result.stdout.strip()), timeout=60)
    assert got.returncode == 0 and got.stdout.strip() == "namespace/default", got.stderr


def test_no_acceleratorprofiles_on_a_cpu_only_machine(running: Instance) -> None:
    accelerators = detect()
    result = running.kubectl("get", "acceleratorprofiles", "-n", "redhat-ods-applications")
    assert result.returncode == 0, result.stderr
    if not accelerators:  # this machine: CPU only
        assert result.stdout == ""
        assert "No resources found in redhat-ods-applications namespace." in result.stderr
    else:
        assert len(result.stdout.splitlines()) == 1 + len(accelerators), result.stdout


def test_kubeconfig_merge_keeps_other_contexts(running: Instance) -> None:
    other = {
        "apiVersion": "v1", "kind": "Config", "preferences": {"colors": True},
        "clusters": [{"name": "other", "cluster": {"server": "https://other.example:6443"}}],
        "users": [{"name": "other", "user": {"token": "other-token"}}],
        "contexts": [{"name": "other", "context": {"cluster": "other", "user": "other", "namespace": "x"}}],
        "current-context": "other",
    }
    target = running.user_home / "configs" / "mine.yaml"
    target.parent.mkdir()
    target.write_text(yaml.safe_dump(other))

    result = running.cli("kubeconfig", "--merge", KUBECONFIG=str(target))
    assert result.returncode == 0, result.stderr
    assert f"added context kubeserve to {target}" in result.stdout
    assert result.stdout.strip().splitlines()[-1] == str(running.kubeconfig)
    merged = yaml.safe_load(target.read_text())
    assert [c["name"] for c in merged["contexts"]] == ["other", "kubeserve"]
    assert [c["name"] for c in merged["clusters"]] == ["other", "kubeserve"]
    assert [u["name"] for u in merged["users"]] == ["other", "kubeserve"]
    assert merged["contexts"][0] == other["contexts"][0] and merged["users"][0] == other["users"][0]
    assert merged["preferences"] == {"colors": True}
    assert merged["current-context"] == "kubeserve"

    got = subprocess.run(["kubectl", "get", "ns", "redhat-ods-applications", "-o", "name"], capture_output=True,
                         text=True, env=running.env(KUBECONFIG=str(target)), timeout=60)
    assert got.returncode == 0 and got.stdout.strip() == "namespace/redhat-ods-applications", got.stderr
    contexts = subprocess.run(["kubectl", "config", "get-contexts", "-o", "name"], capture_output=True, text=True,
                              env=running.env(KUBECONFIG=str(target)), timeout=60)
    assert contexts.stdout.split() == ["kubeserve", "other"] or sorted(contexts.stdout.split()) == [
        "kubeserve", "other"], contexts.stdout

    # merging again changes nothing
    before = target.read_text()
    assert running.cli("kubeconfig", "--merge", KUBECONFIG=str(target)).returncode == 0
    assert target.read_text() == before


def test_kubeconfig_merge_defaults_to_home_kube_config(running: Instance) -> None:
    default = running.user_home / ".kube" / "config"
    default.parent.mkdir()
    default.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "prod", "cluster": {"server": "https://prod.example"}}],
        "users": [{"name": "prod", "user": {}}],
        "contexts": [{"name": "prod", "context": {"cluster": "prod", "user": "prod"}}],
        "current-context": "prod",
    }))
    result = running.cli("kubeconfig", "--merge")
    assert result.returncode == 0, result.stderr
    merged = yaml.safe_load(default.read_text())
    assert [c["name"] for c in merged["contexts"]] == ["prod", "kubeserve"]
    assert merged["current-context"] == "kubeserve"
    got = subprocess.run(["kubectl", "get", "ns", "default", "-o", "name"], capture_output=True, text=True,
                         env=running.env(), timeout=60)
    assert got.returncode == 0 and got.stdout.strip() == "namespace/default", got.stderr


def test_down_stops_it_and_status_then_fails(running: Instance) -> None:
    pid = running.pid()
    assert pid is not None
    result = running.cli("down")
    assert result.returncode == 0, result.stderr
    assert "kubeserve stopped" in result.stdout
    assert not pid_alive(pid)
    assert not (running.home / "kubeserve.pid").exists()
    status = running.cli("status")
    assert status.returncode != 0
    assert "not running" in status.stdout
    with pytest.raises((urllib.error.URLError, OSError)):
        running.request("/readyz", None)
    # the port is free again for a listener (SO_REUSEADDR, as every server sets: the server's own API client
    # may leave connections in TIME_WAIT on it)
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", running.port))
    again = running.cli("down")
    assert again.returncode == 0 and "not running" in again.stdout

    # and it comes back up on the same home with what was stored
    assert running.up().returncode == 0
    assert running.kubectl("get", "ns", "redhat-ods-applications").returncode == 0


def test_two_instances_run_side_by_side_independently(tmp_path: Path, instances: list[Instance]) -> None:
    a, b = make_instance(tmp_path, "a"), make_instance(tmp_path, "b")
    instances.extend([a, b])
    for instance in (a, b):
        result = instance.up()
        assert result.returncode == 0, result.stdout + result.stderr
    assert a.pid() != b.pid()
    assert token_of(a) != token_of(b)

    created = a.kubectl("create", "configmap", "only-in-a", "-n", "default", "--from-literal=k=v")
    assert created.returncode == 0, created.stderr
    assert a.kubectl("get", "configmap", "only-in-a", "-n", "default").returncode == 0
    missing = b.kubectl("get", "configmap", "only-in-a", "-n", "default")
    assert missing.returncode != 0 and 'configmaps "only-in-a" not found' in missing.stderr
    assert b.kubectl("create", "namespace", "only-in-b").returncode == 0
    assert "NotFound" in a.kubectl("get", "namespace", "only-in-b").stderr

    # one instance's credentials are not the other's
    status, body = b.request("/api/v1/namespaces", token_of(a))
    assert status == 401, body

    # stopping one leaves the other running
    assert a.cli("down").returncode == 0
    assert a.cli("status").returncode != 0
    assert b.cli("status").returncode == 0
    assert b.kubectl("get", "namespace", "only-in-b").returncode == 0


def test_up_on_a_port_in_use_fails_with_a_clear_message(tmp_path: Path, instances: list[Instance]) -> None:
    instance = make_instance(tmp_path, "busy")
    instances.append(instance)
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", instance.port))
        blocker.listen()
        started = time.monotonic()
        result = instance.up()
        assert time.monotonic() - started < 30  # fails fast, not after the readiness timeout
        assert result.returncode != 0
        message = result.stdout + result.stderr
        assert f"cannot listen on 127.0.0.1:{instance.port}" in message, message
        assert "--port" in message and "KUBESERVE_API_PORT" in message, message
        assert "Traceback" not in message, message
        assert instance.cli("status").returncode != 0

        foreground = instance.cli("up", "--port", str(instance.port))
        assert foreground.returncode != 0
        assert f"cannot listen on 127.0.0.1:{instance.port}" in foreground.stderr, foreground.stderr
        assert "Traceback" not in foreground.stderr, foreground.stderr
    assert instance.pid() is None


def test_anonymous_and_wrong_token_https_is_401(running: Instance) -> None:
    for token in (None, "", "not-the-token"):
        status, body = running.request("/api/v1/namespaces", token)
        assert status == 401, body
        assert body["kind"] == "Status" and body["code"] == 401 and body["reason"] == "Unauthorized", body
    status, body = running.request("/api/v1/namespaces", token_of(running))
    assert status == 200 and body["kind"] == "NamespaceList", body
    # the only anonymous paths: version and health
    assert running.request("/version", None)[0] == 200
    assert running.request("/livez", None)[0] == 200

    wrong = running.kubectl("get", "ns", "--token=not-the-token")
    assert wrong.returncode != 0 and "You must be logged in to the server" in wrong.stderr, wrong.stderr


def test_plain_http_to_the_tls_port_fails(running: Instance) -> None:
    for path in ("/version", "/api/v1/namespaces"):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{running.port}{path}", timeout=10) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as err:
            status, raw = err.code, err.read()
        except (urllib.error.URLError, OSError):
            continue  # the TLS listener hung up on the plain-HTTP request
        assert status == 400, (status, raw)  # Go answers "Client sent an HTTP request to an HTTPS server"
        assert b"NamespaceList" not in raw and b"gitVersion" not in raw
    # the server is unharmed by it
    assert running.request("/readyz", None) == (200, "ok")
