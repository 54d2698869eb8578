"""The workload controllers against the real API server in process: a Deployment rolls out to Ready pods,
its Service gets Endpoints and an EndpointSlice, a template change rolls over with maxUnavailable=0 and
maxSurge=1, and a resize through the Deployment's spec reaches the ReplicaSet. No kubelet runs here: a
small simulator marks pods Running and Ready with an IP, a few ticks after they appear."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from kubeserve.apiserver.app import ApiServerSettings, build_app
from kubeserve.client import ApiClient, ClientConfig
from kubeserve.node.workloads import WorkloadControllers
from kubeserve.node.workloads.templatehash import pod_template_hash
from kubeserve.store import SqliteStore

Obj = dict[str, Any]
NS = "default"


@dataclass
class World:
    client: ApiClient
    samples: list[tuple[int, int]] = field(default_factory=list)  # (active pods, ready active pods)
    sampling: bool = False


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 15.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        if await check():
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


async def kubelet(world: World) -> None:
    """Marks each pod Running/Ready with an IP on the third pass that sees it (so surges are observable)."""
    client = world.client
    pods = client.kind("v1", "Pod")
    seen: dict[str, int] = {}
    next_ip = 2
    while True:
        items, _ = await client.list(pods, NS)
        live = [p for p in items if not p["metadata"].get("deletionTimestamp")]
        ready = [p for p in live if (p.get("status") or {}).get("phase") == "Running"]
        if world.sampling:
            world.samples.append((len(live), len(ready)))
        for pod in live:
            uid = pod["metadata"]["uid"]
            seen[uid] = seen.get(uid, 0) + 1
            if seen[uid] == 3:
                stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
                status = {"phase": "Running", "podIP": f"127.10.0.{next_ip}", "podIPs": [{"ip": f"127.10.0.{next_ip}"}],
                          "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": stamp}]}
                next_ip += 1
                await client.patch(pods, NS, pod["metadata"]["name"], {"status": status}, subresource="status")
        await asyncio.sleep(0.03)


@pytest.fixture
async def world(tmp_path: Any) -> AsyncIterator[World]:
    store = SqliteStore(tmp_path / "kubeserve.db")
    server = TestServer(build_app(store, ApiServerSettings(tokens=("t",))), host="127.0.0.1")
    await server.start_server()
    client = await ApiClient.open(ClientConfig(server=str(server.make_url("")).rstrip("/"), token="t"))
    await client.create(client.kind("v1", "Namespace"), "", {"metadata": {"name": NS}})
    controllers = WorkloadControllers(client)
    await controllers.start()
    w = World(client)
    sim = asyncio.get_running_loop().create_task(kubelet(w))
    try:
        yield w
    finally:
        sim.cancel()
        with pytest.raises(asyncio.CancelledError):
            await sim
        await controllers.stop()
        await client.close()
        await server.close()
        store.close()


def deployment(env: str) -> Obj:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {
            "replicas": 3, "selector": {"matchLabels": {"app": "web"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "template": {"metadata": {"labels": {"app": "web"}},
                         "spec": {"containers": [{"name": "main", "image": "img:1",
                                                  "env": [{"name": "VERSION", "value": env}],
                                                  "ports": [{"name": "http", "containerPort": 8080}]}]}},
        },
    }


def cond(obj: Obj, kind: str) -> Obj:
    return next(c for c in obj["status"].get("conditions", []) if c["type"] == kind)


def rolled_out(d: Obj) -> bool:
    """What `kubectl rollout status` checks before it prints 'successfully rolled out'."""
    status = d.get("status") or {}
    want = d["spec"]["replicas"]
    progressing = [c for c in status.get("conditions", []) if c["type"] == "Progressing"]
    return (status.get("observedGeneration", 0) >= d["metadata"]["generation"]
            and status.get("updatedReplicas", 0) == want and status.get("replicas", 0) == want
            and status.get("availableReplicas", 0) == want
            and bool(progressing) and progressing[0]["reason"] == "NewReplicaSetAvailable")


async def test_deployment_rolls_out_serves_endpoints_and_rolls_over(world: World) -> None:
    client = world.client
    deploy_kind = client.kind("apps/v1", "Deployment")
    rs_kind = client.kind("apps/v1", "ReplicaSet")
    pod_kind = client.kind("v1", "Pod")
    await client.create(client.kind("v1", "Service"), NS, {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}})
    await client.create(deploy_kind, NS, deployment("1"))

    async def done() -> bool:
        return rolled_out(await client.get(deploy_kind, NS, "web"))

    await eventually(done)
    d = await client.get(deploy_kind, NS, "web")
    first_hash = pod_template_hash(d["spec"]["template"])  # the stored template: the server's defaults count
    assert d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"
    assert d["status"]["readyReplicas"] == 3 and "unavailableReplicas" not in d["status"]
    assert cond(d, "Available")["reason"] == "MinimumReplicasAvailable" and cond(d, "Available")["status"] == "True"

    rs = await client.get(rs_kind, NS, f"web-{first_hash}")
    assert rs["metadata"]["labels"] == {"app": "web", "pod-template-hash": first_hash}
    assert rs["spec"]["selector"]["matchLabels"]["pod-template-hash"] == first_hash
    assert rs["spec"]["template"]["metadata"]["labels"]["pod-template-hash"] == first_hash
    ref = rs["metadata"]["ownerReferences"][0]
    assert (ref["kind"], ref["name"], ref["uid"], ref["controller"], ref["blockOwnerDeletion"]) == (
        "Deployment", "web", d["metadata"]["uid"], True, True)
    annotations = rs["metadata"]["annotations"]
    assert annotations["deployment.kubernetes.io/revision"] == "1"
    assert annotations["deployment.kubernetes.io/desired-replicas"] == "3"
    assert annotations["deployment.kubernetes.io/max-replicas"] == "4"
    assert rs["status"]["readyReplicas"] == 3 and rs["status"]["availableReplicas"] == 3

    pods, _ = await client.list(pod_kind, NS)
    assert len(pods) == 3
    assert all(p["metadata"]["generateName"] == f"web-{first_hash}-" for p in pods)
    assert all(p["metadata"]["ownerReferences"][0]["uid"] == rs["metadata"]["uid"] for p in pods)

    events, _ = await client.list(client.kind("v1", "Event"), NS)
    messages = {(e["involvedObject"]["kind"], e["reason"], e["message"]) for e in events}
    assert ("Deployment", "ScalingReplicaSet", f"Scaled up replica set web-{first_hash} from 0 to 3") in messages
    assert {("ReplicaSet", "SuccessfulCreate", f"Created pod: {p['metadata']['name']}") for p in pods} <= messages

    async def endpoints_ready() -> bool:
        ep = await client.get(client.kind("v1", "Endpoints"), NS, "web")
        subsets = ep.get("subsets") or []
        return len(subsets) == 1 and len(subsets[0].get("addresses") or []) == 3

    await eventually(endpoints_ready)
    ep = await client.get(client.kind("v1", "Endpoints"), NS, "web")
    assert ep["subsets"][0]["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
    assert {a["targetRef"]["name"] for a in ep["subsets"][0]["addresses"]} == {p["metadata"]["name"] for p in pods}
    assert ep["metadata"]["ownerReferences"][0]["kind"] == "Service"
    slices, _ = await client.list(client.kind("discovery.k8s.io/v1", "EndpointSlice"), NS,
                                  label_selector="kubernetes.io/service-name=web")
    assert len(slices) == 1
    es = slices[0]
    assert es["metadata"]["name"].startswith("web-")
    assert es["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"] == "endpointslice-controller.k8s.io"
    assert es["addressType"] == "IPv4"
    assert es["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
    assert len(es["endpoints"]) == 3
    assert all(e["conditions"] == {"ready": True, "serving": True, "terminating": False} for e in es["endpoints"])

    # A template change rolls over one surge pod at a time, never below 3 available.
    world.samples.clear()
    world.sampling = True
    await client.patch(deploy_kind, NS, "web", {"spec": {"template": {"spec": {"containers": [
        {"name": "main", "image": "img:1", "env": [{"name": "VERSION", "value": "2"}],
         "ports": [{"name": "http", "containerPort": 8080}]}]}}}})

    async def rolled_over() -> bool:
        d = await client.get(deploy_kind, NS, "web")
        return d["metadata"]["generation"] == 2 and rolled_out(d)

    await eventually(rolled_over, timeout=30)
    world.sampling = False
    assert world.samples, "the simulator sampled nothing"
    assert max(live for live, _ in world.samples) <= 4
    assert min(ready for _, ready in world.samples) >= 3

    d = await client.get(deploy_kind, NS, "web")
    second_hash = pod_template_hash(d["spec"]["template"])
    assert d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    old = await client.get(rs_kind, NS, f"web-{first_hash}")
    new = await client.get(rs_kind, NS, f"web-{second_hash}")
    assert old["spec"]["replicas"] == 0 and new["spec"]["replicas"] == 3
    assert new["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    pods, _ = await client.list(pod_kind, NS)
    assert {p["metadata"]["labels"]["pod-template-hash"] for p in pods} == {second_hash}
    events, _ = await client.list(client.kind("v1", "Event"), NS)
    texts = {e["message"] for e in events}
    assert f"Scaled up replica set web-{second_hash} from 0 to 1" in texts
    assert f"Scaled down replica set web-{first_hash} from 3 to 2" in texts

    async def endpoints_moved() -> bool:
        ep = await client.get(client.kind("v1", "Endpoints"), NS, "web")
        names = {a["targetRef"]["name"] for s in ep.get("subsets") or [] for a in s.get("addresses") or []}
        return names == {p["metadata"]["name"] for p in pods}

    await eventually(endpoints_moved)

    # A resize (what `kubectl scale` does through /scale) reaches the ReplicaSet without a new revision.
    await client.patch(deploy_kind, NS, "web", {"spec": {"replicas": 5}}, subresource="scale")

    async def resized() -> bool:
        d = await client.get(deploy_kind, NS, "web")
        return d["spec"]["replicas"] == 5 and rolled_out(d)

    await eventually(resized)
    new = await client.get(rs_kind, NS, f"web-{second_hash}")
    assert new["spec"]["replicas"] == 5
    assert new["metadata"]["annotations"]["deployment.kubernetes.io/desired-replicas"] == "5"
    assert new["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"


async def test_replica_set_adopts_orphans_and_replaces_failed_pods(world: World) -> None:
    client = world.client
    rs_kind = client.kind("apps/v1", "ReplicaSet")
    pod_kind = client.kind("v1", "Pod")
    template = {"metadata": {"labels": {"app": "db"}}, "spec": {"containers": [{"name": "main", "image": "img:1"}]}}
    orphan = await client.create(pod_kind, NS, {"metadata": {"name": "db-orphan", "labels": {"app": "db"}},
                                                "spec": template["spec"]})
    await client.create(rs_kind, NS, {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "db"},
                                      "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "db"}},
                                               "template": template}})

    async def two_ready() -> bool:
        rs = await client.get(rs_kind, NS, "db")
        return (rs.get("status") or {}).get("readyReplicas") == 2

    await eventually(two_ready)
    rs = await client.get(rs_kind, NS, "db")
    pods, _ = await client.list(pod_kind, NS, label_selector="app=db")
    assert len(pods) == 2
    adopted = next(p for p in pods if p["metadata"]["name"] == "db-orphan")
    assert adopted["metadata"]["uid"] == orphan["metadata"]["uid"]
    assert adopted["metadata"]["ownerReferences"][0]["uid"] == rs["metadata"]["uid"]
    assert rs["status"]["observedGeneration"] == rs["metadata"]["generation"]

    await client.patch(pod_kind, NS, "db-orphan", {"status": {"phase": "Failed"}}, subresource="status")

    async def replaced() -> bool:
        pods, _ = await client.list(pod_kind, NS, label_selector="app=db")
        names = {p["metadata"]["name"] for p in pods}
        return "db-orphan" not in names and len(names) == 2 and await two_ready()

    await eventually(replaced)

    await client.patch(rs_kind, NS, "db", {"spec": {"replicas": 1}})

    async def one_left() -> bool:
        pods, _ = await client.list(pod_kind, NS, label_selector="app=db")
        return len(pods) == 1

    await eventually(one_left)
    events, _ = await client.list(client.kind("v1", "Event"), NS)
    reasons = {e["reason"] for e in events if e["involvedObject"]["name"] == "db"}
    assert {"SuccessfulCreate", "SuccessfulDelete"} <= reasons
