"""Watch streams over the real store: replay, resume, 410, bookmarks, sendInitialEvents, selector
transitions, timeouts, and the Table form of `kubectl get -w` over the in-process HTTP server."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from world import CM, NS, REGISTRY, SECRET, T0, W

from kubeserve.api import errors
from kubeserve.apiserver import watch as watch_module
from kubeserve.apiserver.app import OBJECTS, ApiServerSettings, build_app
from kubeserve.apiserver.registry import PATCH_MERGE, Objects
from kubeserve.apiserver.request import ListOptions
from kubeserve.apiserver.watch import Broadcaster, WatchEvent, WatchStream
from kubeserve.store import SqliteStore

Obj = dict[str, Any]
STEP = 2.0  # generous upper bound for an event that is already due


@pytest.fixture
def objects(store: SqliteStore) -> Objects:
    o = Objects(store, REGISTRY, lambda: T0)
    for ns in ("default", "other"):
        o.create(NS, "", {"metadata": {"name": ns}}, W)
    return o


@pytest.fixture
def broadcaster(store: SqliteStore) -> Broadcaster:
    return Broadcaster(store)


def cm(name: str, labels: dict[str, str] | None = None, **data: str) -> Obj:
    meta: Obj = {"name": name}
    if labels is not None:
        meta["labels"] = labels
    return {"metadata": meta, "data": data or {"k": "v"}}


def watch(store: SqliteStore, broadcaster: Broadcaster, namespace: str = "default", *, bookmark_interval: float = 30.0,
          default_timeout: float = 30.0, **opts: Any) -> WatchStream:
    return WatchStream(store, broadcaster, CM, namespace, ListOptions(watch=True, **opts),
                       bookmark_interval=bookmark_interval, default_timeout=default_timeout)


class Reader:
    """Pulls events off a stream one at a time, failing instead of hanging when none comes."""

    def __init__(self, stream: WatchStream) -> None:
        self.stream = stream
        self.it: AsyncIterator[WatchEvent] = stream.events()

    async def next(self) -> WatchEvent:
        return await asyncio.wait_for(self.it.__anext__(), STEP)

    async def take(self, n: int) -> list[tuple[str, str]]:
        return [summary(await self.next()) for _ in range(n)]

    async def close(self) -> None:
        await self.it.aclose()  # type: ignore[attr-defined]


def summary(ev: WatchEvent) -> tuple[str, str]:
    return ev.type, ev.object["metadata"].get("name", "")


# ---- starting points ----------------------------------------------------------------------------------


@pytest.mark.parametrize("resource_version", ["", "0"])
async def test_watch_without_rv_replays_state_as_added(
    objects: Objects, store: SqliteStore, broadcaster: Broadcaster, resource_version: str
) -> None:
    objects.create(CM, "default", cm("b"), W)
    objects.create(CM, "default", cm("a"), W)
    objects.create(CM, "other", cm("elsewhere"), W)
    objects.patch(CM, "default", "a", PATCH_MERGE, {"data": {"k": "v2"}}, W)
    reader = Reader(watch(store, broadcaster, resource_version=resource_version))
    first = await reader.next()
    assert summary(first) == ("ADDED", "a")
    assert first.object["data"] == {"k": "v2"}  # the current state, not history
    assert await reader.take(1) == [("ADDED", "b")]
    objects.create(CM, "default", cm("c"), W)
    objects.create(CM, "other", cm("not-mine"), W)
    objects.patch(CM, "default", "c", PATCH_MERGE, {"data": {"k": "x"}}, W)
    objects.delete(CM, "default", "c")
    assert await reader.take(3) == [("ADDED", "c"), ("MODIFIED", "c"), ("DELETED", "c")]
    await reader.close()


async def test_all_namespaces_watch_sees_every_namespace(
    objects: Objects, store: SqliteStore, broadcaster: Broadcaster
) -> None:
    objects.create(CM, "default", cm("a"), W)
    reader = Reader(watch(store, broadcaster, namespace=""))
    assert await reader.take(1) == [("ADDED", "a")]
    objects.create(CM, "other", cm("b"), W)
    assert await reader.take(1) == [("ADDED", "b")]
    await reader.close()


async def test_watch_resumes_after_resource_version(
    objects: Objects, store: SqliteStore, broadcaster: Broadcaster
) -> None:
    objects.create(CM, "default", cm("a"), W)
    start = objects.create(CM, "default", cm("b"), W).object["metadata"]["resourceVersion"]
    objects.patch(CM, "default", "a", PATCH_MERGE, {"data": {"k": "2"}}, W)
    objects.create(SECRET, "default", {"metadata": {"name": "s"}}, W)  # another resource: not in this watch
    objects.delete(CM, "default", "b")
    reader = Reader(watch(store, broadcaster, resource_version=start))
    assert await reader.take(2) == [("MODIFIED", "a"), ("DELETED", "b")]
    objects.create(CM, "default", cm("c"), W)
    ev = await reader.next()
    assert summary(ev) == ("ADDED", "c")
    assert ev.object["metadata"]["resourceVersion"] == str(store.revision)
    await reader.close()


async def test_resume_from_current_revision_sends_only_new_events(
    objects: Objects, store: SqliteStore, broadcaster: Broadcaster
) -> None:
    objects.create(CM, "default", cm("a"), W)
    reader = Reader(watch(store, broadcaster, resource_version=str(store.revision)))
    objects.create(CM, "default", cm("b"), W)
    assert await reader.take(1) == [("ADDED", "b")]
    await reader.close()


async def test_compacted_resource_version_is_410(
    objects: Objects, store: SqliteStore, broadcaster: Broadcaster
) -> None:
    old = objects.create(CM, "default", cm("a"), W).object["metadata"]["resourceVersion"]
    for i in range(5):
        objects.patch(CM, "default", "a", PATCH_MERGE, {"data": {"k": str(i)}}, W)
    store.compact(2)
    assert int(old) < store.compacted_revision
    with pytest.raises(errors.Expired) as exc:
        watch(store, broadcaster, resource_version=old)
    assert exc.value.code == 410
    assert "too old resource version" in exc.value.message
    # the newest history is still there
    reader = Reader(watch(store, broadcaster, resource_version=str(store.compacted_revision)))
    assert (await reader.next()).type == "MODIFIED"
    await reader.close()


@pytest.mark.parametrize("resource_version", ["abc", "1.5"])
def test_malformed_resource_version_is_400(store: SqliteStore, broadcaster: Broadcaster, resource_version: str) -> None:
    with pytest.raises(errors.BadRequest):
        watch(store, broadcaster, resource_version=resource_version)


# ---- bookmarks and sendInitialEvents -----------------------------------------------------------------


async def test_bookmarks_when_idle(objects: Objects, store: SqliteStore, broadcaster: Broadcaster) -> None:
    objects.create(CM, "default", cm("a"), W)
    reader = Reader(watch(store, broadcaster, bookmark_interval=0.02, allow_bookmarks=True))
    assert await reader.take(1) == [("ADDED", "a")]
    objects.create(SECRET, "default", {"metadata": {"name": "s"}}, W)  # moves the store's revision
    bookmark = await reader.next()
    assert bookmark.type == "BOOKMARK"
    assert bookmark.object == {"kind": "ConfigMap", "apiVersion": "v1",
                               "metadata": {"resourceVersion": str(store.revision)}}
    objects.create(CM, "default", cm("b"), W)
    while (ev := await reader.next()).type == "BOOKMARK":
        pass
    assert summary(ev) == ("ADDED", "b")
    await reader.close()


async def test_no_bookmarks_unless_asked(objects: Objects, store: SqliteStore, broadcaster: Broadcaster) -> None:
    stream = watch(store, broadcaster, bookmark_interval=0.01, default_timeout=0.2)
    assert await asyncio.wait_for(_collect(stream), STEP) == []


async def test_send_initial_events_ends_with_bookmark(
    objects: Objects, store: SqliteStore, broadcaster: Broadcaster
) -> None:
    objects.create(CM, "default", cm("a"), W)
    objects.create(CM, "default", cm("b"), W)
    stream = watch(store, broadcaster, resource_version=str(store.revision), send_initial_events=True,
                   resource_version_match="NotOlderThan", allow_bookmarks=True)
    reader = Reader(stream)
    assert await reader.take(2) == [("ADDED", "a"), ("ADDED", "b")]
    end = await reader.next()
    assert end.type == "BOOKMARK"
    assert end.object["metadata"] == {"resourceVersion": str(store.revision),
                                      "annotations": {"k8s.io/initial-events-end": "true"}}
    objects.patch(CM, "default", "a", PATCH_MERGE, {"data": {"k": "2"}}, W)
    assert await reader.take(1) == [("MODIFIED", "a")]
    await reader.close()


@pytest.mark.parametrize(
    ("opts", "error"),
    [
        ({"send_initial_events": True, "allow_bookmarks": True}, errors.Invalid),
        ({"send_initial_events": True, "resource_version_match": "NotOlderThan"}, errors.Invalid),
        ({"send_initial_events": True, "resource_version_match": "Exact", "allow_bookmarks": True}, errors.Invalid),
        ({"send_initial_events": False, "resource_version_match": "NotOlderThan"}, errors.BadRequest),
    ],
    ids=["no-rv-match", "no-bookmarks", "exact", "false-with-match"],
)
def test_send_initial_events_misuse(
    store: SqliteStore, broadcaster: Broadcaster, opts: Obj, error: type[errors.ApiError]
) -> None:
    with pytest.raises(error) as exc:
        watch(store, broadcaster, **opts)
    assert type(exc.value) is error
    assert exc.value.code == (422 if error is errors.Invalid else 400)


# ---- selectors ------------------------------------------------------------------------------------------


async def test_selector_transitions(objects: Objects, store: SqliteStore, broadcaster: Broadcaster) -> None:
    objects.create(CM, "default", cm("in", {"app": "x"}), W)
    objects.create(CM, "default", cm("out", {"app": "y"}), W)
    reader = Reader(watch(store, broadcaster, label_selector="app=x"))
    assert await reader.take(1) == [("ADDED", "in")]

    def label(name: str, value: str) -> None:
        objects.patch(CM, "default", name, PATCH_MERGE, {"metadata": {"labels": {"app": value}}}, W)

    label("out", "x")  # enters the selector: ADDED, not MODIFIED
    objects.patch(CM, "default", "out", PATCH_MERGE, {"data": {"k": "2"}}, W)
    label("in", "z")  # leaves it: DELETED, not MODIFIED
    objects.patch(CM, "default", "in", PATCH_MERGE, {"data": {"k": "3"}}, W)  # no longer seen
    objects.delete(CM, "default", "in")  # already gone to this watcher
    objects.delete(CM, "default", "out")
    objects.create(CM, "default", cm("never", {"app": "y"}), W)
    objects.create(CM, "default", cm("marker", {"app": "x"}), W)
    assert await reader.take(5) == [
        ("ADDED", "out"), ("MODIFIED", "out"), ("DELETED", "in"), ("DELETED", "out"), ("ADDED", "marker"),
    ]
    await reader.close()


async def test_field_selector_on_name(objects: Objects, store: SqliteStore, broadcaster: Broadcaster) -> None:
    objects.create(CM, "default", cm("a"), W)
    objects.create(CM, "default", cm("b"), W)
    reader = Reader(watch(store, broadcaster, field_selector="metadata.name=b"))
    assert await reader.take(1) == [("ADDED", "b")]
    objects.patch(CM, "default", "a", PATCH_MERGE, {"data": {"k": "2"}}, W)
    objects.patch(CM, "default", "b", PATCH_MERGE, {"data": {"k": "2"}}, W)
    assert await reader.take(1) == [("MODIFIED", "b")]
    await reader.close()


async def test_resumed_watch_with_selector(objects: Objects, store: SqliteStore, broadcaster: Broadcaster) -> None:
    start = objects.create(CM, "default", cm("a", {"app": "x"}), W).object["metadata"]["resourceVersion"]
    objects.create(CM, "default", cm("b", {"app": "x"}), W)
    objects.create(CM, "default", cm("c", {"app": "y"}), W)
    objects.delete(CM, "default", "b")
    reader = Reader(watch(store, broadcaster, label_selector="app=x", resource_version=start))
    assert await reader.take(2) == [("ADDED", "b"), ("DELETED", "b")]
    # b comes back outside the selector: the watcher already saw it go, so it hears nothing more of it
    objects.create(CM, "default", cm("b", {"app": "y"}), W)
    objects.create(CM, "default", cm("marker", {"app": "x"}), W)
    assert await reader.take(1) == [("ADDED", "marker")]
    await reader.close()


# ---- ending -----------------------------------------------------------------------------------------------


async def test_timeout_seconds_ends_the_stream(objects: Objects, store: SqliteStore, broadcaster: Broadcaster) -> None:
    objects.create(CM, "default", cm("a"), W)
    stream = watch(store, broadcaster, timeout_seconds=1, default_timeout=600)
    loop = asyncio.get_running_loop()
    began = loop.time()
    got = await asyncio.wait_for(_collect(stream), 5)
    assert [summary(e) for e in got] == [("ADDED", "a")]
    assert 0.9 <= loop.time() - began < 3


async def test_default_timeout_applies_without_timeout_seconds(store: SqliteStore, broadcaster: Broadcaster) -> None:
    stream = watch(store, broadcaster, default_timeout=0.05)
    assert await asyncio.wait_for(_collect(stream), 2) == []


async def test_ended_stream_unsubscribes(objects: Objects, store: SqliteStore, broadcaster: Broadcaster) -> None:
    stream = watch(store, broadcaster, default_timeout=0.01)
    await asyncio.wait_for(_collect(stream), STEP)
    sub = stream.sub
    objects.create(CM, "default", cm("late"), W)
    assert sub.queue.empty()


async def test_watcher_too_far_behind_gets_410(
    objects: Objects, store: SqliteStore, broadcaster: Broadcaster, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(watch_module, "QUEUE_LIMIT", 3)
    reader = Reader(watch(store, broadcaster))
    for i in range(6):
        objects.create(CM, "default", cm(f"c{i}"), W)
    seen = []
    while True:
        ev = await reader.next()
        seen.append(ev)
        if ev.type == "ERROR":
            break
    assert seen[-1].object["code"] == 410
    assert seen[-1].object["reason"] == "Expired"
    with pytest.raises(StopAsyncIteration):
        await reader.next()


async def _collect(stream: WatchStream) -> list[WatchEvent]:
    return [ev async for ev in stream.events()]


# ---- over HTTP ----------------------------------------------------------------------------------------------


@pytest.fixture
async def client() -> AsyncIterator[TestClient[Any, Any]]:
    store = SqliteStore(":memory:")
    app = build_app(store, ApiServerSettings(tokens=("t",), bookmark_interval=0.05), clock=lambda: T0)
    app[OBJECTS].create(NS, "", {"metadata": {"name": "default"}}, W)
    async with TestClient(TestServer(app)) as c:
        yield c
    store.close()


AUTH = {"Authorization": "Bearer t"}
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"


async def _lines(client: TestClient[Any, Any], url: str, n: int, headers: dict[str, str]) -> list[Obj]:
    resp = await client.get(url, headers=headers)
    assert resp.status == 200, await resp.text()
    out = []
    while len(out) < n:
        line = await asyncio.wait_for(resp.content.readline(), STEP)
        assert line, "the stream ended early"
        out.append(json.loads(line))
    resp.close()
    return out


async def test_http_table_watch_sends_column_definitions_once(client: TestClient[Any, Any]) -> None:
    objects = client.app[OBJECTS]
    objects.create(CM, "default", cm("a"), W)
    objects.create(CM, "default", cm("b"), W)
    resp = await client.get("/api/v1/namespaces/default/configmaps?watch=true", headers={**AUTH, "Accept": TABLE})
    assert resp.status == 200
    first = json.loads(await asyncio.wait_for(resp.content.readline(), STEP))
    second = json.loads(await asyncio.wait_for(resp.content.readline(), STEP))
    objects.patch(CM, "default", "a", PATCH_MERGE, {"data": {"x": "y"}}, W)
    third = json.loads(await asyncio.wait_for(resp.content.readline(), STEP))
    resp.close()
    assert [e["type"] for e in (first, second, third)] == ["ADDED", "ADDED", "MODIFIED"]
    for event in (first, second, third):
        assert event["object"]["kind"] == "Table"
        assert event["object"]["apiVersion"] == "meta.k8s.io/v1"
        assert len(event["object"]["rows"]) == 1
    assert [c["name"] for c in first["object"]["columnDefinitions"]][:2] == ["Name", "Data"]
    assert not second["object"].get("columnDefinitions")
    assert not third["object"].get("columnDefinitions")
    assert first["object"]["rows"][0]["cells"][0] == "a"
    assert third["object"]["rows"][0]["cells"][:2] == ["a", 2]


async def test_http_watch_events_and_bookmarks(client: TestClient[Any, Any]) -> None:
    objects = client.app[OBJECTS]
    objects.create(CM, "default", cm("a"), W)
    events = await _lines(client, "/api/v1/namespaces/default/configmaps?watch=1&allowWatchBookmarks=true", 2, AUTH)
    assert events[0]["type"] == "ADDED"
    assert events[0]["object"]["metadata"]["name"] == "a"
    assert events[1]["type"] == "BOOKMARK"


async def test_http_watch_of_one_name(client: TestClient[Any, Any]) -> None:
    objects = client.app[OBJECTS]
    objects.create(CM, "default", cm("a"), W)
    objects.create(CM, "default", cm("b"), W)
    events = await _lines(client, "/api/v1/namespaces/default/configmaps/b?watch=true", 1, AUTH)
    assert events[0]["object"]["metadata"]["name"] == "b"


async def test_http_timeout_seconds_closes_the_response(client: TestClient[Any, Any]) -> None:
    objects = client.app[OBJECTS]
    objects.create(CM, "default", cm("a"), W)
    resp = await client.get("/api/v1/namespaces/default/configmaps?watch=true&timeoutSeconds=1", headers=AUTH)
    body = await asyncio.wait_for(resp.read(), 5)
    lines = [json.loads(line) for line in body.splitlines()]
    assert [e["type"] for e in lines] == ["ADDED"]


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("watch=true&sendInitialEvents=true", 422),
        ("watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan", 422),
        ("watch=true&sendInitialEvents=false&resourceVersionMatch=NotOlderThan", 400),
        ("sendInitialEvents=true", 400),  # not a watch
        ("watch=true&resourceVersion=abc", 400),
        ("watch=maybe", 400),
    ],
)
async def test_http_watch_misuse_is_a_status(client: TestClient[Any, Any], query: str, code: int) -> None:
    resp = await client.get(f"/api/v1/namespaces/default/configmaps?{query}", headers=AUTH)
    assert resp.status == code
    body = await resp.json()
    assert body["kind"] == "Status"
    assert body["code"] == code


async def test_http_watch_send_initial_events(client: TestClient[Any, Any]) -> None:
    objects = client.app[OBJECTS]
    objects.create(CM, "default", cm("a"), W)
    url = ("/api/v1/namespaces/default/configmaps?watch=true&sendInitialEvents=true"
           "&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true")
    events = await _lines(client, url, 2, AUTH)
    assert [e["type"] for e in events] == ["ADDED", "BOOKMARK"]
    assert events[1]["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}


async def test_http_watch_from_compacted_rv_is_410(client: TestClient[Any, Any]) -> None:
    objects = client.app[OBJECTS]
    for i in range(4):
        objects.create(CM, "default", cm(f"c{i}"), W)
    objects.store.compact(1)
    resp = await client.get("/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=1", headers=AUTH)
    assert resp.status == 410
    assert (await resp.json())["reason"] == "Expired"
    listed = await client.get("/api/v1/namespaces/default/configmaps?resourceVersion=1", headers=AUTH)
    assert listed.status == 200  # a list is served from the current state
