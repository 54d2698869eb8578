"""pods/log, exec, attach, portforward proxied to a (fake) kubelet, and metrics.k8s.io shaped from its stats."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from kubeserve.api import errors
from kubeserve.apiserver import metrics
from kubeserve.apiserver.app import ApiServerSettings, build_app
from kubeserve.apiserver.streams import check_started, choose_container, kubelet_address
from kubeserve.store import SqliteStore

Obj = dict[str, Any]
AUTH = {"Authorization": "Bearer t"}
NOW = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
PODS = "/api/v1/namespaces/default/pods"
MERGE = {**AUTH, "Content-Type": "application/merge-patch+json"}


def pod(*names: str, annotations: Obj | None = None, init: tuple[str, ...] = ()) -> Obj:
    return {"metadata": {"name": "y", "annotations": annotations or {}},
            "spec": {"containers": [{"name": n} for n in names], "initContainers": [{"name": n} for n in init]}}


@pytest.mark.parametrize(
    ("obj", "requested", "chosen"),
    [
        (pod("a"), "", "a"),
        (pod("a", "b"), "b", "b"),
        (pod("a", "b", annotations={"kubectl.kubernetes.io/default-container": "b"}), "", "b"),
        (pod("a", "b"), "", "a container name must be specified for pod y, choose one of: [a b]"),
        (pod("a", "b", init=("i",)), "", "choose one of: [a b] or one of the init containers: [i]"),
        (pod("a"), "x", "container x is not valid for pod y"),
        (pod("a", init=("i",)), "i", "i"),
    ],
)
def test_choose_container(obj: Obj, requested: str, chosen: str) -> None:
    try:
        assert choose_container(obj, requested) == chosen
    except errors.BadRequest as exc:
        assert chosen in exc.message


RUNNING = {"running": {}}
CREATING = {"waiting": {"reason": "ContainerCreating"}}
CRASHING = {"waiting": {"reason": "CrashLoopBackOff"}}


@pytest.mark.parametrize(
    ("status", "running", "error"),
    [
        ({"state": RUNNING}, True, ""),
        ({"state": CREATING}, False, 'container "a" in pod "y" is waiting to start: ContainerCreating'),
        ({"state": CRASHING, "lastState": {"terminated": {}}}, False, ""),  # logs of the last run
        ({"state": CRASHING, "lastState": {"terminated": {}}}, True, "is waiting to start: CrashLoopBackOff"),
        ({"state": {"terminated": {}}}, True, 'container "a" in pod "y" is not running'),
        (None, False, "is waiting to start: ContainerCreating"),
    ],
)
def test_check_started(status: Obj | None, running: bool, error: str) -> None:
    obj = pod("a")
    obj["status"] = {"containerStatuses": [{"name": "a", **status}] if status else []}
    if not error:
        check_started(obj, "a", running=running)
        return
    with pytest.raises(errors.BadRequest, match=error):
        check_started(obj, "a", running=running)


def test_kubelet_address() -> None:
    node = {"metadata": {"name": "n"}, "status": {
        "addresses": [{"type": "Hostname", "address": "h"}, {"type": "InternalIP", "address": "127.0.0.1"}],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}}}}
    assert kubelet_address(node) == ("127.0.0.1", 10250)
    with pytest.raises(errors.InternalError, match="kubeletEndpoint"):
        kubelet_address({"metadata": {"name": "n"}, "status": {}})


def test_metrics_shapes() -> None:
    stats = {"podRef": {"name": "y", "namespace": "d", "uid": "u"}, "containers": [
        {"name": "a", "cpu": {"usageNanoCores": 1234567}, "memory": {"workingSetBytes": 20 * 1024 * 1024}}]}
    obj = {"metadata": {"name": "y", "namespace": "d", "uid": "u", "labels": {"app": "w"},
                        "creationTimestamp": "2025-01-01T00:00:00Z"}}
    shaped = metrics.pod_metrics(obj, stats, NOW)
    assert shaped["kind"] == "PodMetrics" and shaped["timestamp"] == "2025-01-02T03:04:05Z"
    assert shaped["metadata"]["labels"] == {"app": "w"}
    assert shaped["containers"] == [{"name": "a", "usage": {"cpu": "1234567n", "memory": "20480Ki"}}]
    assert metrics.index_pods([{"pods": [stats]}])["u"] is stats
    node = metrics.node_metrics({"metadata": {"name": "n"}}, {"node": {"cpu": {"usageNanoCores": 5},
                                                                       "memory": {"workingSetBytes": 4096}}}, NOW)
    assert node["usage"] == {"cpu": "5n", "memory": "4Ki"}


# ---- over HTTP, with a fake kubelet -----------------------------------------------------------------------


async def _fake_kubelet() -> TestServer:
    async def logs(request: web.Request) -> web.Response:
        if request.match_info["container"] == "broken":
            return web.json_response({"kind": "Status", "message": "kubelet says no", "code": 400}, status=400)
        return web.Response(text=f"{request.path} {request.query_string}", content_type="text/plain")

    async def exec_(request: web.Request) -> web.StreamResponse:
        assert request.headers["Authorization"] == "Bearer t"
        if request.headers.get("Upgrade", "").lower() != "websocket":
            return web.json_response({"kind": "Status", "message": "no command", "code": 400}, status=400)
        ws = web.WebSocketResponse(protocols=("v4.channel.k8s.io",))
        await ws.prepare(request)
        async for msg in ws:
            await ws.send_bytes(b"\x01" + msg.data[1:])
            await ws.send_bytes(b'\x03{"metadata":{},"status":"Success"}')
            await ws.close()
        return ws

    async def summary(request: web.Request) -> web.Response:
        return web.json_response({
            "node": {"nodeName": "n1", "cpu": {"usageNanoCores": 2_000_000}, "memory": {"workingSetBytes": 2 ** 30}},
            "pods": [{"podRef": {"name": "web", "namespace": "default", "uid": "whatever"}, "containers": [
                {"name": "main", "cpu": {"usageNanoCores": 1000}, "memory": {"workingSetBytes": 8192}}]}]})

    app = web.Application()
    app.router.add_get("/containerLogs/{ns}/{pod}/{container}", logs)
    app.router.add_get("/exec/{ns}/{pod}/{container}", exec_)
    app.router.add_get("/stats/summary", summary)
    server = TestServer(app)
    await server.start_server()
    return server


@pytest.fixture
async def client() -> AsyncIterator[TestClient[Any, Any]]:
    kubelet = await _fake_kubelet()
    store = SqliteStore(":memory:")
    async with TestClient(TestServer(build_app(store, ApiServerSettings(tokens=("t",))))) as c:
        assert (await c.post("/api/v1/namespaces", json={"metadata": {"name": "default"}}, headers=AUTH)).status == 201
        await c.post("/api/v1/nodes", json={"metadata": {"name": "n1"}}, headers=AUTH)
        resp = await c.patch("/api/v1/nodes/n1/status", headers=MERGE,
                             json={"status": {"addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
                                              "daemonEndpoints": {"kubeletEndpoint": {"Port": kubelet.port}}}})
        assert resp.status == 200
        for name, node in (("web", "n1"), ("pending", "")):
            spec: Obj = {"containers": [{"name": "main", "image": "i"}, {"name": "broken", "image": "i"}]}
            if node:
                spec["nodeName"] = node
            assert (await c.post(PODS, json={"metadata": {"name": name, "labels": {"app": name}}, "spec": spec},
                                 headers=AUTH)).status == 201
            statuses = [{"name": n, "state": {"running": {}}, "ready": True, "restartCount": 0, "image": "i",
                         "imageID": ""} for n in ("main", "broken")]
            await c.patch(f"{PODS}/{name}/status", headers=MERGE,
                          json={"status": {"phase": "Running", "containerStatuses": statuses}})
        yield c
    store.close()
    await kubelet.close()


@pytest.mark.parametrize(
    ("url", "code", "message"),
    [
        (f"{PODS}/nope/log", 404, 'pods "nope" not found'),
        (f"{PODS}/pending/log?container=main", 400, "pod pending does not have a host assigned"),
        (f"{PODS}/web/log", 400, "a container name must be specified for pod web, choose one of: [main broken]"),
        (f"{PODS}/web/log?container=broken", 400, "kubelet says no"),
        (f"{PODS}/web/exec?container=main&command=x", 400, "Upgrade request required"),
    ],
)
async def test_errors(client: TestClient[Any, Any], url: str, code: int, message: str) -> None:
    resp = await client.get(url, headers=AUTH)
    assert resp.status == code
    assert message in (await resp.json())["message"]


async def test_spdy_fallback_is_refused_clearly(client: TestClient[Any, Any]) -> None:
    resp = await client.post(f"{PODS}/web/exec?container=main&command=x",
                             headers={**AUTH, "Connection": "Upgrade", "Upgrade": "SPDY/3.1"})
    assert resp.status == 400
    assert "WebSocket" in (await resp.json())["message"]


async def test_log_is_proxied(client: TestClient[Any, Any]) -> None:
    resp = await client.get(f"{PODS}/web/log?container=main&tailLines=5&follow=true", headers=AUTH)
    assert resp.status == 200
    assert resp.content_type == "text/plain"
    assert await resp.text() == "/containerLogs/default/web/main tailLines=5&follow=true"


async def test_exec_is_proxied_with_the_kubelets_subprotocol(client: TestClient[Any, Any]) -> None:
    async with client.ws_connect(f"{PODS}/web/exec?container=main&command=cat&stdin=true&stdout=true",
                                 protocols=("v5.channel.k8s.io", "v4.channel.k8s.io"), headers=AUTH) as ws:
        assert ws.protocol == "v4.channel.k8s.io"
        await ws.send_bytes(b"\x00ping")
        received = [msg.data async for msg in ws if msg.type == aiohttp.WSMsgType.BINARY]
    assert received == [b"\x01ping", b'\x03{"metadata":{},"status":"Success"}']


async def test_pod_metrics(client: TestClient[Any, Any]) -> None:
    resp = await client.get("/apis/metrics.k8s.io/v1beta1/namespaces/default/pods?labelSelector=app%3Dweb",
                            headers=AUTH)
    body = await resp.json()
    assert body["kind"] == "PodMetricsList"
    (item,) = body["items"]
    assert item["metadata"]["name"] == "web"
    assert item["containers"] == [{"name": "main", "usage": {"cpu": "1000n", "memory": "8Ki"}}]
    one = await (await client.get("/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/web", headers=AUTH)).json()
    assert one["kind"] == "PodMetrics"
    missing = await client.get("/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/pending", headers=AUTH)
    assert missing.status == 404


async def test_node_metrics(client: TestClient[Any, Any]) -> None:
    body = await (await client.get("/apis/metrics.k8s.io/v1beta1/nodes", headers=AUTH)).json()
    assert [(i["metadata"]["name"], i["usage"]) for i in body["items"]] == [("n1", {"cpu": "2000000n",
                                                                                    "memory": "1048576Ki"})]


async def test_metrics_group_is_discovered(client: TestClient[Any, Any]) -> None:
    groups = await (await client.get("/apis", headers=AUTH)).json()
    assert "metrics.k8s.io" in [g["name"] for g in groups["groups"]]
    resources = await (await client.get("/apis/metrics.k8s.io/v1beta1", headers=AUTH)).json()
    assert {(r["name"], r["kind"], tuple(r["verbs"]), r["namespaced"]) for r in resources["resources"]} == {
        ("pods", "PodMetrics", ("get", "list"), True), ("nodes", "NodeMetrics", ("get", "list"), False)}


async def test_node_proxy_passes_gets_through_to_the_kubelet(client: TestClient[Any, Any]) -> None:
    resp = await client.get("/api/v1/nodes/n1/proxy/stats/summary", headers=AUTH)
    assert resp.status == 200
    assert (await resp.json())["node"]["nodeName"] == "n1"
    missing = await client.get("/api/v1/nodes/n1/proxy/no/such/path", headers=AUTH)
    assert missing.status == 404
    refused = await client.post("/api/v1/nodes/n1/proxy/stats/summary", headers=AUTH, data=b"{}")
    assert refused.status == 405
    unknown = await client.get("/api/v1/nodes/nope/proxy/stats/summary", headers=AUTH)
    assert unknown.status == 404
