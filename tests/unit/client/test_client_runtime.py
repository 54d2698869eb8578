"""The client runtime against an in-process API server: verbs and error mapping, informers, controllers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from kubeserve.api import errors
from kubeserve.apiserver.app import ApiServerSettings, build_app
from kubeserve.client import ApiClient, ClientConfig, Controller, EventRecorder, Informer, Result, owner_mapper
from kubeserve.client.rest import JSON_PATCH, error_from_status
from kubeserve.store import SqliteStore


@pytest.fixture
async def api() -> AsyncIterator[ApiClient]:
    store = SqliteStore(":memory:")
    server = TestServer(build_app(store, ApiServerSettings(tokens=("t",), bookmark_interval=0.2)))
    await server.start_server()
    client = await ApiClient.open(ClientConfig(server=str(server.make_url("")).rstrip("/"), token="t"))
    await client.create(client.kind("v1", "Namespace"), "", {"metadata": {"name": "default"}})
    yield client
    await client.close()
    await server.close()
    store.close()


def cm(name: str, **data: str) -> dict[str, Any]:
    return {"metadata": {"name": name}, "data": data}


async def test_verbs_and_errors(api: ApiClient) -> None:
    kind = api.kind("v1", "ConfigMap")
    created = await api.create(kind, "default", cm("a", x="1"))
    assert created["metadata"]["uid"]
    with pytest.raises(errors.AlreadyExists):
        await api.create(kind, "default", cm("a"))
    patched = await api.patch(kind, "default", "a", {"data": {"y": "2"}})
    assert patched["data"] == {"x": "1", "y": "2"}
    stale = dict(created, data={"x": "3"})
    with pytest.raises(errors.Conflict):
        await api.replace(kind, "default", stale)
    with pytest.raises(errors.Invalid):
        await api.patch(kind, "default", "a", [{"op": "test", "path": "/data/x", "value": "no"}],
                        patch_type=JSON_PATCH)
    items, resource_version = await api.list(kind, "default")
    assert [i["metadata"]["name"] for i in items] == ["a"] and items[0]["kind"] == "ConfigMap"
    assert int(resource_version) > 0
    await api.delete(kind, "default", "a")
    assert await api.get_or_none(kind, "default", "a") is None
    await api.delete_if_exists(kind, "default", "a")
    with pytest.raises(errors.NotFound):
        await api.get(kind, "default", "a")


@pytest.mark.parametrize(("code", "body", "expected"), [
    (404, {"reason": "NotFound", "message": "m"}, errors.NotFound),
    (409, {"reason": "AlreadyExists"}, errors.AlreadyExists),
    (409, {}, errors.Conflict),
    (422, {"reason": "Invalid"}, errors.Invalid),
    (503, "oops", errors.InternalError),
])
def test_status_replies_map_back_to_errors(code: int, body: Any, expected: type[errors.ApiError]) -> None:
    assert type(error_from_status(code, body)) is expected


async def eventually(predicate: Any, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not met"
        await asyncio.sleep(0.02)


async def test_informer_keeps_a_current_cache_and_reports_changes(api: ApiClient) -> None:
    kind = api.kind("v1", "ConfigMap")
    await api.create(kind, "default", cm("before"))
    informer = Informer(api, kind)
    seen: list[tuple[str | None, str | None]] = []
    informer.add_handler(lambda old, new: seen.append(
        (old and old["metadata"]["name"], new and new["metadata"]["name"])))
    informer.start()
    try:
        await informer.wait_synced()
        assert ("", "before") not in seen and (None, "before") in seen
        await api.create(kind, "default", {"metadata": {"name": "after", "labels": {"app": "x"}}})
        await api.delete(kind, "default", "before")
        await eventually(lambda: ("before", None) in seen and informer.get("default", "after") is not None)
        assert informer.get("default", "before") is None
        assert [o["metadata"]["name"] for o in informer.list(selector="app=x")] == ["after"]
        assert informer.list(namespace="other") == []
    finally:
        await informer.stop()


async def test_controller_reconciles_each_key_with_retries_and_owner_mapping(api: ApiClient) -> None:
    cms, deployments = api.kind("v1", "ConfigMap"), api.kind("apps/v1", "Deployment")
    calls: list[tuple[str, str]] = []
    failures = {"flaky": 2}

    async def reconcile(key: tuple[str, str]) -> Result | None:
        calls.append(key)
        if failures.get(key[1], 0) > 0:
            failures[key[1]] -= 1
            raise RuntimeError("transient")
        return None

    controller = Controller("test", reconcile, resync=0)
    primary, owned = Informer(api, deployments), Informer(api, cms)
    controller.watch_primary(primary)
    controller.watch(owned, owner_mapper("Deployment"))
    for informer in (primary, owned):
        informer.start()
    controller.start()
    try:
        await api.create(deployments, "default", {
            "metadata": {"name": "flaky"},
            "spec": {"selector": {"matchLabels": {"a": "b"}},
                     "template": {"metadata": {"labels": {"a": "b"}},
                                  "spec": {"containers": [{"name": "c", "image": "i"}]}}}})
        await eventually(lambda: calls.count(("default", "flaky")) >= 3)  # two failures, then success
        before = len(calls)
        await api.create(cms, "default", {"metadata": {"name": "child", "ownerReferences": [
            {"apiVersion": "apps/v1", "kind": "Deployment", "name": "flaky", "uid": "u", "controller": True}]}})
        await eventually(lambda: len(calls) > before)
        assert calls[-1] == ("default", "flaky")
    finally:
        await controller.stop()
        for informer in (primary, owned):
            await informer.stop()


async def test_event_recorder_counts_repeats(api: ApiClient) -> None:
    kind = api.kind("v1", "ConfigMap")
    obj = await api.create(kind, "default", cm("subject"))
    recorder = EventRecorder(api, "tester", host="node-1")
    for _ in range(3):
        await recorder.record(obj, "Warning", "Broken", "it is broken")
    events, _ = await api.list(api.kind("v1", "Event"), "default")
    assert len(events) == 1
    assert events[0]["count"] == 3 and events[0]["involvedObject"]["name"] == "subject"
    assert events[0]["source"] == {"component": "tester", "host": "node-1"}
