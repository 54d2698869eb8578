"""The streaming verbs end to end with the real kubectl: logs (-f, --tail, --timestamps, --previous, -c),
exec (exit codes, stdin, a TTY; and the Python client's v4), port-forward (pod and service) and top, through
the in-process API server over TLS to an in-process kubelet server reading a pod directory written here
(notes §9).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import psutil
import pytest
from aiohttp import web

from harness import free_port
from kubeserve.api.kinds import Registry
from kubeserve.apiserver.app import ApiServer, ApiServerSettings
from kubeserve.apiserver.pki import ensure_pki, ensure_token, server_ssl_context
from kubeserve.apiserver.request import WriteOptions
from kubeserve.cli.kubeconfig import build_kubeconfig, write_kubeconfig
from kubeserve.client import ApiClient, ClientConfig
from kubeserve.node.kubelet.server import KubeletServer

KUBECTL = shutil.which("kubectl") or "/usr/bin/kubectl"
pytestmark = pytest.mark.skipif(not os.path.exists(KUBECTL), reason="kubectl is not installed")
POD_IP = "127.10.0.2"
REGISTRY = Registry()
T = "2025-01-01T00:00:0{}.000000001Z"


@dataclass
class World:
    home: Path
    env: dict[str, str]
    pod_dir: Path
    target_port: int

    async def kubectl(self, *args: str, stdin: bytes | None = None, timeout: float = 30) -> tuple[int, str, str]:
        proc = await asyncio.create_subprocess_exec(
            KUBECTL, *args, env=self.env, stdin=asyncio.subprocess.PIPE if stdin is not None else None,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(stdin), timeout)
        return proc.returncode or 0, out.decode(), err.decode()

    def log(self, container: str, run: int, *lines: str) -> None:
        with (self.pod_dir / "containers" / container / f"{run}.log").open("a") as f:
            f.writelines(line + "\n" for line in lines)


def _kind(api_version: str, kind: str) -> Any:
    found = REGISTRY.by_api_version_kind(api_version, kind)
    assert found is not None
    return found


async def _target(port: int) -> web.AppRunner:
    async def hello(request: web.Request) -> web.Response:
        return web.Response(text=f"hello from the pod {request.path}")

    app = web.Application()
    app.router.add_get("/{tail:.*}", hello)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, POD_IP, port).start()
    return runner


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    pki = ensure_pki(tmp_path / "pki")
    token = ensure_token(tmp_path / "token")
    port = free_port()
    server = ApiServer(ApiServerSettings(host="127.0.0.1", port=port, database=tmp_path / "db.sqlite",
                                         tokens=(token,)), server_ssl_context(pki))
    await server.start()
    url = f"https://127.0.0.1:{port}"
    write_kubeconfig(tmp_path / "kubeconfig", build_kubeconfig(url, pki.ca_cert, token))
    client = await ApiClient.open(ClientConfig(server=url, token=token, ca_file=str(pki.ca_cert)))
    pods_dir = tmp_path / "pods"
    pods_dir.mkdir()
    kubelet = KubeletServer(client, pods_dir, "127.0.0.1", 0, token, node_name="node1", poll_interval=0.05)
    kubelet_port = await kubelet.start()
    target_port = free_port()
    target = await _target(target_port)
    try:
        objects = server.objects
        objects.create(_kind("v1", "Namespace"), "", {"metadata": {"name": "default"}}, WriteOptions())
        await client.create(_kind("v1", "Node"), "", {"metadata": {"name": "node1"}})
        await client.patch_status(_kind("v1", "Node"), "", "node1", {
            "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": kubelet_port}}})
        pod = await client.create(_kind("v1", "Pod"), "default", {
            "metadata": {"name": "web-1", "labels": {"app": "web"},
                         "annotations": {"kubectl.kubernetes.io/default-container": "main"}},
            "spec": {"nodeName": "node1", "containers": [
                {"name": "main", "image": "img", "ports": [{"containerPort": target_port, "name": "http"}]},
                {"name": "side", "image": "img"}]}})
        running = {"running": {"startedAt": "2025-01-01T00:00:00Z"}}
        await client.patch_status(_kind("v1", "Pod"), "default", "web-1", {
            "phase": "Running", "podIP": POD_IP, "podIPs": [{"ip": POD_IP}], "hostIP": "127.0.0.1",
            "conditions": [{"type": "Ready", "status": "True"}],
            "containerStatuses": [
                {"name": "main", "ready": True, "restartCount": 1, "image": "img", "imageID": "", "state": running,
                 "lastState": {"terminated": {"exitCode": 1}}},
                {"name": "side", "ready": True, "restartCount": 0, "image": "img", "imageID": "", "state": running}]})
        await client.create(_kind("v1", "Service"), "default", {
            "metadata": {"name": "web"},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": "http"}]}})
        pod_dir = pods_dir / pod["metadata"]["uid"]
        me = psutil.Process()
        for name, run in (("main", 1), ("side", 0)):
            directory = pod_dir / "containers" / name
            directory.mkdir(parents=True)
            (directory / "state.json").write_text(json.dumps({
                "pid": me.pid, "createTime": me.create_time(), "restartCount": run, "argv": ["x"],
                "env": {"PATH": os.environ.get("PATH", ""), "GREETING": "hi from env"}, "cwd": str(tmp_path),
                "enter": [], "stdin": None}))
        (pod_dir / "sandbox.json").write_text(json.dumps({"namespace": "default", "name": "web-1",
                                                          "uid": pod["metadata"]["uid"], "ip": POD_IP}))
        env = {**os.environ, "KUBECONFIG": str(tmp_path / "kubeconfig"), "HOME": str(tmp_path),
               "KUBECACHEDIR": str(tmp_path / "cache")}
        w = World(tmp_path, env, pod_dir, target_port)
        w.log("main", 0, f"{T.format(0)} stdout F previous run")
        (pod_dir / "containers" / "main" / "0.exit").write_text('{"exitCode": 1}')
        w.log("main", 1, f"{T.format(1)} stdout F line one", f"{T.format(2)} stderr P part ",
              f"{T.format(2)} stderr F two", f"{T.format(3)} stdout F line three")
        w.log("side", 0, f"{T.format(1)} stdout F side car")
        yield w
    finally:
        await target.cleanup()
        await kubelet.stop()
        await client.close()
        await server.stop()


async def test_logs(world: World) -> None:
    rc, out, err = await world.kubectl("logs", "web-1")
    assert rc == 0, err
    assert out == "line one\npart two\nline three\n"
    rc, out, _ = await world.kubectl("logs", "web-1", "-c", "side")
    assert out == "side car\n"
    rc, out, _ = await world.kubectl("logs", "web-1", "--tail=1", "--timestamps")
    assert out == f"{T.format(3)} line three\n"
    rc, out, _ = await world.kubectl("logs", "web-1", "--previous")
    assert out == "previous run\n"
    rc, out, _ = await world.kubectl("logs", "web-1", "--limit-bytes=4")
    assert out == "line"
    rc, out, _ = await world.kubectl("logs", "web-1", "--since-time=2025-01-01T00:00:02Z")
    assert out == "part two\nline three\n"
    rc, out, _ = await world.kubectl("logs", "-l", "app=web", "-c", "main")
    assert out == "line one\npart two\nline three\n"
    rc, _, err = await world.kubectl("logs", "nope")
    assert rc != 0 and 'pods "nope" not found' in err


async def test_logs_follow_ends_with_the_run(world: World) -> None:
    proc = await asyncio.create_subprocess_exec(KUBECTL, "logs", "-f", "web-1", env=world.env,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    assert proc.stdout is not None
    try:
        assert await asyncio.wait_for(proc.stdout.readline(), 20) == b"line one\n"
        world.log("main", 1, f"{T.format(4)} stdout F written later")
        seen = [await asyncio.wait_for(proc.stdout.readline(), 10) for _ in range(3)]
        assert seen[-1] == b"written later\n"
        (world.pod_dir / "containers" / "main" / "1.exit").write_text('{"exitCode": 0}')
        assert await asyncio.wait_for(proc.wait(), 20) == 0
    finally:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()


async def test_exec(world: World) -> None:
    rc, out, err = await world.kubectl("exec", "web-1", "--", "sh", "-c", "echo hi; echo oops >&2; exit 3")
    assert rc == 3, err
    assert out == "hi\n"
    assert "oops" in err
    rc, out, err = await world.kubectl("exec", "web-1", "-c", "main", "--", "sh", "-c", 'echo "$GREETING"; pwd')
    assert rc == 0, err
    assert out == f"hi from env\n{world.home}\n"
    rc, out, err = await world.kubectl("exec", "-i", "web-1", "--", "cat", stdin=b"piped in\n")
    assert rc == 0, err
    assert out == "piped in\n"
    rc, _, err = await world.kubectl("exec", "web-1", "--", "/no/such/binary")
    assert rc != 0 and "no/such/binary" in err


async def _port_forward(world: World, target: str, remote: int | str) -> None:
    local = free_port()
    proc = await asyncio.create_subprocess_exec(KUBECTL, "port-forward", target, f"{local}:{remote}", env=world.env,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), 20)
        assert b"Forwarding from" in line, line + await proc.stderr.read()
        async with aiohttp.ClientSession() as session:
            for path in ("/one", "/two"):  # two connections through one tunnel
                async with session.get(f"http://127.0.0.1:{local}{path}") as response:
                    assert response.status == 200
                    assert await response.text() == f"hello from the pod {path}"
    finally:
        proc.terminate()
        await proc.wait()


async def test_port_forward_to_pod(world: World) -> None:
    await _port_forward(world, "pod/web-1", world.target_port)


async def test_port_forward_to_service(world: World) -> None:
    await _port_forward(world, "service/web", 80)


async def test_top(world: World) -> None:
    rc, out, err = await world.kubectl("top", "pod")
    assert rc == 0, err
    assert "web-1" in out and "MEMORY" in out
    rc, out, err = await world.kubectl("top", "pod", "web-1", "--containers")
    assert rc == 0, err
    assert "main" in out and "side" in out
    rc, out, err = await world.kubectl("top", "node")
    assert rc == 0, err
    assert "node1" in out


async def test_exec_with_a_terminal(world: World) -> None:
    import pty

    master, slave = pty.openpty()
    try:
        proc = await asyncio.create_subprocess_exec(
            KUBECTL, "exec", "-it", "web-1", "--", "sh", "-c", "tty -s && echo on a tty; exit 4", env=world.env,
            stdin=slave, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(), 30)
    finally:
        os.close(slave)
        os.close(master)
    assert proc.returncode == 4, err
    assert b"on a tty" in out


async def test_python_client_exec(world: World) -> None:
    from kubernetes import client as k8s
    from kubernetes import config as k8s_config
    from kubernetes.stream import stream

    def run() -> str:
        api_client = k8s_config.new_client_from_config(str(world.home / "kubeconfig"))
        try:
            result: str = stream(k8s.CoreV1Api(api_client).connect_get_namespaced_pod_exec, "web-1", "default",
                                 command=["sh", "-c", "echo from python"], container="main", stderr=True,
                                 stdin=False, stdout=True, tty=False)
            return result
        finally:
            api_client.close()

    assert await asyncio.to_thread(run) == "from python\n"
