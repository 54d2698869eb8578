"""The scheduler against the in-process API server: binding, FailedScheduling, retry when room appears,
GPUs never overcommitted, clamped requests explained."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from kubeserve.client import ApiClient
from kubeserve.node.scheduler import Scheduler
from unit.node.inproc_api import api_client, eventually

Obj = dict[str, Any]
NODE = "n1"


def pod(name: str, requests: Obj | None = None, limits: Obj | None = None, **spec: Any) -> Obj:
    resources: Obj = {}
    if requests:
        resources["requests"] = requests
    if limits:
        resources["limits"] = limits
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
            "spec": {"containers": [{"name": "main", "image": "img:1", "resources": resources}], **spec}}


async def make_node(client: ApiClient, gpus: int = 0, taints: list[Obj] | None = None) -> None:
    kind = client.kind("v1", "Node")
    allocatable = {"cpu": "2", "memory": "24Gi", "pods": "110"}
    if gpus:
        allocatable["nvidia.com/gpu"] = str(gpus)
    await client.create(kind, "", {"metadata": {"name": NODE, "labels": {"kubernetes.io/hostname": NODE}},
                                   "spec": {"taints": taints or []}})
    await client.patch_status(kind, "", NODE, {"capacity": allocatable, "allocatable": allocatable})


@pytest.fixture
async def client() -> AsyncIterator[ApiClient]:
    async with api_client() as c:
        yield c


async def running(client: ApiClient, policy: str = "clamp") -> Scheduler:
    scheduler = Scheduler(client, NODE, policy)
    await scheduler.start()
    return scheduler


async def events_for(client: ApiClient, name: str, reason: str) -> list[Obj]:
    items, _ = await client.list(client.kind("v1", "Event"), "default")
    return [e for e in items if e["involvedObject"]["name"] == name and e["reason"] == reason]


def condition(p: Obj) -> Obj | None:
    return next((c for c in (p.get("status") or {}).get("conditions") or [] if c["type"] == "PodScheduled"), None)


async def test_binds_a_pod_with_condition_and_event(client: ApiClient) -> None:
    await make_node(client)
    scheduler = await running(client)
    kind = client.kind("v1", "Pod")
    try:
        await client.create(kind, "default", pod("web", {"cpu": "500m"}))

        async def bound() -> Obj | None:
            p = await client.get(kind, "default", "web")
            return p if p["spec"].get("nodeName") == NODE and condition(p) else None

        p = await eventually(bound)
        assert condition(p) is not None and condition(p)["status"] == "True"  # type: ignore[index]
        events = await eventually(lambda: events_for(client, "web", "Scheduled"))
        assert events[0]["message"] == f"Successfully assigned default/web to {NODE}"
        assert events[0]["type"] == "Normal"
    finally:
        await scheduler.stop()


async def test_gpus_are_never_overcommitted_and_freed_gpus_are_reused(client: ApiClient) -> None:
    await make_node(client, gpus=1)
    scheduler = await running(client)
    kind = client.kind("v1", "Pod")
    try:
        await client.create(kind, "default", pod("a", limits={"nvidia.com/gpu": "1"}))
        await client.create(kind, "default", pod("b", limits={"nvidia.com/gpu": "1"}))

        async def one_bound_one_waiting() -> tuple[str, str] | None:
            pods = {n: await client.get(kind, "default", n) for n in ("a", "b")}
            bound = [n for n, p in pods.items() if p["spec"].get("nodeName")]
            waiting = [n for n, p in pods.items() if (condition(p) or {}).get("reason") == "Unschedulable"]
            return (bound[0], waiting[0]) if len(bound) == 1 and len(waiting) == 1 else None

        winner, loser = await eventually(one_bound_one_waiting)
        waiting = await client.get(kind, "default", loser)
        message = "0/1 nodes are available: 1 Insufficient nvidia.com/gpu."
        assert condition(waiting) == {**condition(waiting), "status": "False", "reason": "Unschedulable",  # type: ignore[dict-item]
                                      "message": message}
        failed = await eventually(lambda: events_for(client, loser, "FailedScheduling"))
        assert failed[0]["type"] == "Warning" and failed[0]["message"] == message

        # a pod that is only terminating still holds its GPU, as in Kubernetes: the retry fails again
        await client.delete(kind, "default", winner)

        async def failed_again() -> bool:
            events = await events_for(client, loser, "FailedScheduling")
            return bool(events) and events[0]["count"] >= 2

        await eventually(failed_again)
        assert not await _bound(client, loser)

        async def loser_bound() -> bool:
            p = await client.get(kind, "default", loser)
            return bool(p["spec"].get("nodeName") == NODE)

        await client.delete(kind, "default", winner, grace_period_seconds=0)
        await eventually(loser_bound)
    finally:
        await scheduler.stop()


async def test_a_finished_pod_frees_its_resources(client: ApiClient) -> None:
    await make_node(client, gpus=1)
    scheduler = await running(client)
    kind = client.kind("v1", "Pod")
    try:
        await client.create(kind, "default", pod("job", limits={"nvidia.com/gpu": "1"}))
        await eventually(lambda: _bound(client, "job"))
        await client.create(kind, "default", pod("next", limits={"nvidia.com/gpu": "1"}))
        await eventually(lambda: _unschedulable(client, "next"))
        await client.patch_status(kind, "default", "job", {"phase": "Succeeded"})
        await eventually(lambda: _bound(client, "next"))
    finally:
        await scheduler.stop()


async def _bound(client: ApiClient, name: str) -> bool:
    p = await client.get(client.kind("v1", "Pod"), "default", name)
    return bool(p["spec"].get("nodeName"))


async def _unschedulable(client: ApiClient, name: str) -> Obj | None:
    p = await client.get(client.kind("v1", "Pod"), "default", name)
    c = condition(p)
    return c if c and c.get("reason") == "Unschedulable" else None


async def test_taints_and_retry_when_the_node_changes(client: ApiClient) -> None:
    await make_node(client, taints=[{"key": "dedicated", "value": "llm", "effect": "NoSchedule"}])
    scheduler = await running(client)
    kind = client.kind("v1", "Pod")
    try:
        await client.create(kind, "default", pod("plain"))
        await client.create(kind, "default", pod("tolerant", tolerations=[{"key": "dedicated", "operator": "Exists"}]))
        await eventually(lambda: _bound(client, "tolerant"))
        c = await eventually(lambda: _unschedulable(client, "plain"))
        assert c["message"] == "0/1 nodes are available: 1 node(s) had untolerated taint {dedicated: llm}."
        await client.patch(client.kind("v1", "Node"), "", NODE, {"spec": {"taints": None}})
        await eventually(lambda: _bound(client, "plain"))
    finally:
        await scheduler.stop()


async def test_clamp_lets_the_guides_big_request_run_and_says_so(client: ApiClient) -> None:
    await make_node(client)
    scheduler = await running(client)
    kind = client.kind("v1", "Pod")
    try:
        big = {"cpu": "8", "memory": "32Gi"}
        await client.create(kind, "default", pod("big", big, big))
        await eventually(lambda: _bound(client, "big"))
        clamped = await eventually(lambda: events_for(client, "big", "RequestsClamped"))
        assert "cpu request 8 exceeds the node's allocatable 2" in clamped[0]["message"]
        assert "KUBESERVE_RESOURCE_POLICY" in clamped[0]["message"]
        await client.create(kind, "default", pod("second", big, big))
        c = await eventually(lambda: _unschedulable(client, "second"))
        assert c["message"] == "0/1 nodes are available: 1 Insufficient cpu, 1 Insufficient memory."
    finally:
        await scheduler.stop()


async def test_strict_refuses_the_big_request(client: ApiClient) -> None:
    await make_node(client)
    scheduler = await running(client, "strict")
    kind = client.kind("v1", "Pod")
    try:
        await client.create(kind, "default", pod("big", {"cpu": "8"}))
        c = await eventually(lambda: _unschedulable(client, "big"))
        assert c["message"] == "0/1 nodes are available: 1 Insufficient cpu."
    finally:
        await scheduler.stop()


async def test_other_schedulers_pods_are_left_alone(client: ApiClient) -> None:
    await make_node(client)
    scheduler = await running(client)
    kind = client.kind("v1", "Pod")
    try:
        await client.create(kind, "default", pod("mine"))
        await client.create(kind, "default", pod("theirs", schedulerName="volcano"))
        await eventually(lambda: _bound(client, "mine"))
        p = await client.get(kind, "default", "theirs")
        assert not p["spec"].get("nodeName") and condition(p) is None
    finally:
        await scheduler.stop()


async def test_assumed_pods_count_before_the_cache_sees_them_bound(client: ApiClient) -> None:
    await make_node(client, gpus=1)
    scheduler = await running(client)
    kind = client.kind("v1", "Pod")
    try:
        await scheduler.controller.stop()  # drive reconcile by hand
        await client.create(kind, "default", pod("a", limits={"nvidia.com/gpu": "1"}))
        await client.create(kind, "default", pod("b", limits={"nvidia.com/gpu": "1"}))
        await eventually(lambda: _async(len(scheduler.pods.list()) == 2))
        await scheduler.pods.stop()  # freeze the cache: it never sees a bound
        await scheduler.reconcile(("default", "a"))
        await scheduler.reconcile(("default", "b"))
        assert await _bound(client, "a")
        c = await _unschedulable(client, "b")
        assert c is not None and c["message"] == "0/1 nodes are available: 1 Insufficient nvidia.com/gpu."
    finally:
        await scheduler.stop()


async def _async(value: Any) -> Any:
    return value


async def test_freed_room_goes_to_the_pod_that_waited_longest(client: ApiClient) -> None:
    await make_node(client, gpus=1)
    scheduler = await running(client)
    kind = client.kind("v1", "Pod")
    try:
        await client.create(kind, "default", pod("holder", limits={"nvidia.com/gpu": "1"}))
        await eventually(lambda: _bound(client, "holder"))
        for name in ("z-first", "a-second", "m-third"):  # names sort against the order they came in
            await client.create(kind, "default", pod(name, limits={"nvidia.com/gpu": "1"}))
            await eventually(lambda name=name: _unschedulable(client, name))
        await client.delete(kind, "default", "holder", grace_period_seconds=0)
        await eventually(lambda: _bound(client, "z-first"))
        assert not await _bound(client, "a-second") and not await _bound(client, "m-third")
    finally:
        await scheduler.stop()
