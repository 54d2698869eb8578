"""Garbage collection and namespace lifecycle, swept directly over the real registry and store."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from world import CM, ISVC, NS, PV, REGISTRY, SECRET, T0, W

from kubeserve.api.kinds import ResourceKind
from kubeserve.apiserver.garbage import GarbageCollector
from kubeserve.apiserver.registry import PATCH_MERGE, Objects
from kubeserve.apiserver.watch import Broadcaster
from kubeserve.store import SqliteStore

Obj = dict[str, Any]


@pytest.fixture
def objects(store: SqliteStore) -> Objects:
    o = Objects(store, REGISTRY, lambda: T0)
    o.create(NS, "", {"metadata": {"name": "default"}}, W)
    return o


@pytest.fixture
def gc(objects: Objects, store: SqliteStore) -> GarbageCollector:
    return GarbageCollector(objects, Broadcaster(store), resync_seconds=3600)


def ref(owner: Obj, **extra: Any) -> Obj:
    return {"apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": owner["metadata"]["name"],
            "uid": owner["metadata"]["uid"], **extra}


def make(objects: Objects, name: str, owners: list[Obj] | None = None, finalizers: list[str] | None = None,
         namespace: str = "default", k: ResourceKind = CM) -> Obj:
    meta: Obj = {"name": name}
    if owners:
        meta["ownerReferences"] = [ref(o) for o in owners]
    if finalizers:
        meta["finalizers"] = finalizers
    return objects.create(k, namespace, {"metadata": meta}, W).object


def converge(gc: GarbageCollector, limit: int = 20) -> int:
    for passes in range(1, limit + 1):
        if not gc.sweep():
            return passes
    raise AssertionError("the garbage collector did not converge")


def exists(objects: Objects, name: str, namespace: str = "default", k: ResourceKind = CM) -> bool:
    return objects.find(k, namespace, name) is not None


def test_nothing_to_do(objects: Objects, gc: GarbageCollector, store: SqliteStore) -> None:
    owner = make(objects, "owner")
    make(objects, "dep", [owner])
    before = store.revision
    assert gc.sweep() is False
    assert store.revision == before


def test_dependents_of_a_deleted_owner_are_deleted(objects: Objects, gc: GarbageCollector) -> None:
    owner = make(objects, "owner")
    make(objects, "dep1", [owner])
    make(objects, "dep2", [owner])
    make(objects, "bystander")
    objects.delete(CM, "default", "owner")
    converge(gc)
    assert not exists(objects, "dep1")
    assert not exists(objects, "dep2")
    assert exists(objects, "bystander")


def test_dependents_cascade_through_generations(objects: Objects, gc: GarbageCollector) -> None:
    a = make(objects, "a")
    b = make(objects, "b", [a])
    make(objects, "c", [b])
    objects.delete(CM, "default", "a")
    converge(gc)
    assert not exists(objects, "b")
    assert not exists(objects, "c")


def test_owner_across_kinds(objects: Objects, gc: GarbageCollector) -> None:
    owner = objects.create(ISVC, "default", {"metadata": {"name": "m"}, "spec": {"predictor": {"model": {
        "modelFormat": {"name": "vLLM"}, "storageUri": "oci://q/m:1"}}}}, W).object
    make(objects, "cfg", [owner])
    objects.create(SECRET, "default", {"metadata": {"name": "sec", "ownerReferences": [ref(owner)]}}, W)
    objects.delete(ISVC, "default", "m")
    converge(gc)
    assert not exists(objects, "cfg")
    assert not exists(objects, "sec", k=SECRET)


def test_dependent_of_an_owner_that_never_existed_is_deleted(objects: Objects, gc: GarbageCollector) -> None:
    objects.create(CM, "default", {"metadata": {"name": "dep", "ownerReferences": [
        {"apiVersion": "v1", "kind": "ConfigMap", "name": "ghost", "uid": "no-such-uid"}]}}, W)
    converge(gc)
    assert not exists(objects, "dep")


def test_dangling_references_beside_live_ones_are_removed(objects: Objects, gc: GarbageCollector) -> None:
    live = make(objects, "live")
    gone = make(objects, "gone")
    make(objects, "dep", [live, gone])
    objects.delete(CM, "default", "gone")
    converge(gc)
    dep = objects.get(CM, "default", "dep")
    assert dep["metadata"]["ownerReferences"] == [ref(live)]


def test_dependent_being_deleted_is_left_to_its_finalizers(objects: Objects, gc: GarbageCollector) -> None:
    owner = make(objects, "owner")
    make(objects, "dep", [owner], finalizers=["example.com/hold"])
    objects.delete(CM, "default", "owner")
    converge(gc)
    dep = objects.get(CM, "default", "dep")
    assert dep["metadata"]["deletionTimestamp"]
    assert dep["metadata"]["finalizers"] == ["example.com/hold"]
    objects.patch(CM, "default", "dep", PATCH_MERGE, {"metadata": {"finalizers": None}}, W)
    assert not exists(objects, "dep")


def test_foreground_deletes_dependents_before_the_owner(objects: Objects, gc: GarbageCollector) -> None:
    owner = make(objects, "owner")
    make(objects, "dep", [owner], finalizers=["example.com/hold"])
    make(objects, "dep2", [owner])
    objects.delete(CM, "default", "owner", propagation="Foreground")
    converge(gc)
    # a dependent still exists (held by its own finalizer), so the owner waits
    assert not exists(objects, "dep2")
    dep = objects.get(CM, "default", "dep")
    assert dep["metadata"]["deletionTimestamp"]
    held = objects.get(CM, "default", "owner")
    assert held["metadata"]["finalizers"] == ["foregroundDeletion"]
    objects.patch(CM, "default", "dep", PATCH_MERGE,
                  {"metadata": {"finalizers": [f for f in dep["metadata"]["finalizers"] if f != "example.com/hold"]}},
                  W)
    converge(gc)
    assert not exists(objects, "dep")
    assert not exists(objects, "owner")


def test_foreground_keeps_other_finalizers_of_the_owner(objects: Objects, gc: GarbageCollector) -> None:
    owner = make(objects, "owner", finalizers=["example.com/mine"])
    make(objects, "dep", [owner])
    objects.delete(CM, "default", "owner", propagation="Foreground")
    converge(gc)
    assert not exists(objects, "dep")
    assert objects.get(CM, "default", "owner")["metadata"]["finalizers"] == ["example.com/mine"]


def test_foreground_without_dependents(objects: Objects, gc: GarbageCollector) -> None:
    make(objects, "owner")
    objects.delete(CM, "default", "owner", propagation="Foreground")
    assert exists(objects, "owner")
    converge(gc)
    assert not exists(objects, "owner")


def test_orphan_keeps_dependents_and_drops_references(objects: Objects, gc: GarbageCollector) -> None:
    owner = make(objects, "owner")
    other = make(objects, "other-owner")
    make(objects, "only", [owner])
    make(objects, "shared", [owner, other])
    objects.delete(CM, "default", "owner", propagation="Orphan")
    assert exists(objects, "owner")
    converge(gc)
    assert not exists(objects, "owner")
    assert "ownerReferences" not in objects.get(CM, "default", "only")["metadata"]
    assert objects.get(CM, "default", "shared")["metadata"]["ownerReferences"] == [ref(other)]


def test_namespace_deletion_cascades(objects: Objects, gc: GarbageCollector) -> None:
    objects.create(NS, "", {"metadata": {"name": "team"}}, W)
    make(objects, "a", namespace="team")
    make(objects, "held", namespace="team", finalizers=["example.com/hold"])
    objects.create(SECRET, "team", {"metadata": {"name": "s"}}, W)
    make(objects, "survivor")
    cluster = objects.create(PV, "", {"metadata": {"name": "pv"}, "spec": {
        "capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "hostPath": {"path": "/x"}}}, W).object
    objects.delete(NS, "", "team")
    converge(gc)
    assert not exists(objects, "a", "team")
    assert not exists(objects, "s", "team", SECRET)
    assert objects.get(CM, "team", "held")["metadata"]["deletionTimestamp"]
    ns = objects.get(NS, "", "team")
    assert ns["status"]["phase"] == "Terminating"
    assert ns["spec"]["finalizers"] == ["kubernetes"]
    objects.patch(CM, "team", "held", PATCH_MERGE, {"metadata": {"finalizers": None}}, W)
    converge(gc)
    assert objects.find(NS, "", "team") is None
    assert exists(objects, "survivor")
    assert objects.get(PV, "", "pv")["metadata"]["uid"] == cluster["metadata"]["uid"]


async def test_run_sweeps_on_deletion_events(objects: Objects, gc: GarbageCollector) -> None:
    owner = make(objects, "owner")
    make(objects, "dep", [owner])
    task = asyncio.get_running_loop().create_task(gc.run())
    try:
        objects.delete(CM, "default", "owner")
        for _ in range(200):
            if not exists(objects, "dep"):
                break
            await asyncio.sleep(0.01)
        assert not exists(objects, "dep")
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
