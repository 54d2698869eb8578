"""The `Store` contract, run against every implementation. Add a factory to `FACTORIES` for a new one."""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kubeserve.store import Compacted, Event, KeyExists, KeyNotFound, RevisionConflict, Store
from kubeserve.store.sqlite import SqliteStore
from kubeserve.store.types import Key

# A factory gets a scratch directory and returns an opener; calling the opener twice on a persistent
# store must give back the same data (the reopen tests skip stores that are not persistent).
Opener = Callable[[], Store]
FACTORIES: dict[str, tuple[Callable[[Path], Opener], bool]] = {
    "sqlite-memory": (lambda _tmp: lambda: SqliteStore(":memory:"), False),
    "sqlite-file": (lambda tmp: lambda: SqliteStore(tmp / "db.sqlite"), True),
}

POD = ("", "pods")
DEPLOY = ("apps", "deployments")


def key(ns: str, name: str, kind: tuple[str, str] = POD) -> Key:
    return Key(kind[0], kind[1], ns, name)


def body(name: str, **extra: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": {"n": 1}, **extra}


def rv(obj: dict[str, Any]) -> int:
    return int(obj["metadata"]["resourceVersion"])


@pytest.fixture(params=list(FACTORIES))
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Opener, bool]:
    make, persistent = FACTORIES[request.param]
    return make(tmp_path), persistent


@pytest.fixture
def store(opener: tuple[Opener, bool]) -> Iterator[Store]:
    s = opener[0]()
    yield s
    s.close()


# ------------------------------------------------------------------------------------------- CRUD


def test_empty_store(store: Store) -> None:
    assert store.revision == 0
    assert store.compacted_revision == 0
    assert store.get(key("default", "a")) is None
    assert store.list(*POD) == ([], 0)
    assert store.events_since(0, *POD) == []


def test_create_stamps_resource_version_and_get_returns_it(store: Store) -> None:
    created = store.create(key("default", "a"), body("a"))
    assert created["metadata"]["resourceVersion"] == "1"
    assert created["spec"] == {"n": 1}
    assert store.revision == 1
    assert store.get(key("default", "a")) == created


def test_create_without_metadata_adds_it(store: Store) -> None:
    created = store.create(key("", "x"), {"spec": {}})
    assert created == {"spec": {}, "metadata": {"resourceVersion": "1"}}


def test_create_existing_raises_key_exists(store: Store) -> None:
    store.create(key("default", "a"), body("a"))
    with pytest.raises(KeyExists):
        store.create(key("default", "a"), body("a"))
    assert store.revision == 1


def test_same_name_in_other_namespace_or_kind_is_a_different_key(store: Store) -> None:
    store.create(key("default", "a"), body("a"))
    store.create(key("other", "a"), body("a"))
    store.create(key("default", "a", DEPLOY), body("a"))
    assert store.revision == 3


def test_update_replaces_and_bumps_revision(store: Store) -> None:
    store.create(key("default", "a"), body("a"))
    updated = store.update(key("default", "a"), body("a", spec={"n": 2}))
    assert rv(updated) == 2
    assert store.get(key("default", "a")) == updated


def test_update_with_expected_revision(store: Store) -> None:
    first = store.create(key("default", "a"), body("a"))
    second = store.update(key("default", "a"), body("a", spec={"n": 2}), expected_revision=rv(first))
    with pytest.raises(RevisionConflict):
        store.update(key("default", "a"), body("a", spec={"n": 3}), expected_revision=rv(first))
    assert store.get(key("default", "a")) == second
    assert store.revision == 2


def test_update_missing_raises_key_not_found(store: Store) -> None:
    with pytest.raises(KeyNotFound):
        store.update(key("default", "a"), body("a"))
    with pytest.raises(KeyNotFound):
        store.update(key("default", "a"), body("a"), expected_revision=1)
    assert store.revision == 0


def test_delete_returns_last_state_stamped_with_delete_revision(store: Store) -> None:
    store.create(key("default", "a"), body("a"))
    deleted = store.delete(key("default", "a"))
    assert rv(deleted) == 2
    assert deleted["spec"] == {"n": 1}
    assert store.get(key("default", "a")) is None
    assert store.revision == 2
    with pytest.raises(KeyNotFound):
        store.delete(key("default", "a"))
    assert store.revision == 2


def test_delete_with_expected_revision(store: Store) -> None:
    created = store.create(key("default", "a"), body("a"))
    with pytest.raises(RevisionConflict):
        store.delete(key("default", "a"), expected_revision=rv(created) + 5)
    assert store.get(key("default", "a")) == created
    store.delete(key("default", "a"), expected_revision=rv(created))
    assert store.get(key("default", "a")) is None


def test_recreate_after_delete(store: Store) -> None:
    store.create(key("default", "a"), body("a"))
    store.delete(key("default", "a"))
    assert rv(store.create(key("default", "a"), body("a"))) == 3


def test_revision_is_global_and_monotonic_across_kinds(store: Store) -> None:
    revs = [
        rv(store.create(key("default", "a"), body("a"))),
        rv(store.create(key("default", "d", DEPLOY), body("d"))),
        rv(store.update(key("default", "a"), body("a"))),
        rv(store.create(key("", "node1", ("", "nodes")), body("node1"))),
        rv(store.delete(key("default", "d", DEPLOY))),
    ]
    assert revs == [1, 2, 3, 4, 5]
    assert store.revision == 5


def test_failed_write_does_not_advance_revision(store: Store) -> None:
    store.create(key("default", "a"), body("a"))
    with pytest.raises(TypeError):
        store.create(key("default", "b"), body("b", bad=object()))
    with pytest.raises(ValueError):
        store.create(key("default", "b"), body("b", bad=float("nan")))
    assert store.revision == 1
    assert store.get(key("default", "b")) is None
    assert rv(store.create(key("default", "b"), body("b"))) == 2
    assert [e.revision for e in store.events_since(0, *POD)] == [1, 2]


# ---------------------------------------------------------------------------------- no aliasing


def test_inputs_are_not_mutated(store: Store) -> None:
    obj = body("a", metadata={"name": "a", "labels": {"x": "1"}})
    snapshot = copy.deepcopy(obj)
    store.create(key("default", "a"), obj)
    store.update(key("default", "a"), obj)
    assert obj == snapshot
    bare: dict[str, Any] = {"spec": {}}
    store.create(key("default", "bare"), bare)
    assert bare == {"spec": {}}


def test_returned_objects_are_independent_copies(store: Store) -> None:
    created = store.create(key("default", "a"), body("a"))
    created["spec"]["n"] = 99
    created["metadata"]["resourceVersion"] = "999"
    got = store.get(key("default", "a"))
    assert got is not None and got["spec"]["n"] == 1 and rv(got) == 1
    got["spec"]["n"] = 98
    items, _ = store.list(*POD)
    assert items[0]["spec"]["n"] == 1
    items[0]["spec"]["n"] = 97
    events = store.events_since(0, *POD)
    assert events[0].object["spec"]["n"] == 1
    deleted = store.delete(key("default", "a"))
    deleted["spec"]["n"] = 96
    assert store.events_since(0, *POD)[-1].object["spec"]["n"] == 1


def test_create_result_equals_later_get(store: Store) -> None:
    # Tuples are not JSON; the stored form (a list) is what callers must see every time.
    created = store.create(key("default", "a"), body("a", items=(1, 2)))
    assert created == store.get(key("default", "a"))
    assert created["items"] == [1, 2]


# ------------------------------------------------------------------------------------------ list


def test_list_orders_by_namespace_then_name_and_filters(store: Store) -> None:
    for ns, name in [("b", "z"), ("a", "y"), ("b", "a"), ("a", "b"), ("", "c")]:
        store.create(key(ns, name), body(name))
    store.create(key("a", "other-kind", DEPLOY), body("other-kind"))
    items, rev = store.list(*POD)
    assert [(i["metadata"]["name"]) for i in items] == ["c", "b", "y", "a", "z"]
    assert rev == store.revision == 6
    items, rev = store.list(*POD, namespace="b")
    assert [i["metadata"]["name"] for i in items] == ["a", "z"]
    assert rev == 6
    assert store.list(*POD, namespace="nope") == ([], 6)
    assert [i["metadata"]["name"] for i in store.list(*DEPLOY)[0]] == ["other-kind"]


def test_list_reflects_updates_and_deletes(store: Store) -> None:
    store.create(key("ns", "a"), body("a"))
    store.create(key("ns", "b"), body("b"))
    store.update(key("ns", "a"), body("a", spec={"n": 5}))
    store.delete(key("ns", "b"))
    items, rev = store.list(*POD, "ns")
    assert len(items) == 1 and items[0]["spec"] == {"n": 5} and rv(items[0]) == 3
    assert rev == 4


def test_list_many_objects(store: Store) -> None:
    expected = []
    for i in range(1200):
        ns, name = f"ns{i % 7}", f"pod-{i:04d}"
        store.create(key(ns, name), {"metadata": {"namespace": ns, "name": name}})
        expected.append((ns, name))
    items, rev = store.list(*POD)
    assert rev == 1200
    assert [(i["metadata"]["namespace"], i["metadata"]["name"]) for i in items] == sorted(expected)
    assert len(store.list(*POD, namespace="ns3")[0]) == len([e for e in expected if e[0] == "ns3"])


# ---------------------------------------------------------------------------------------- events


def test_events_since_filters_and_orders(store: Store) -> None:
    store.create(key("a", "p1"), body("p1"))  # 1
    store.create(key("b", "p2"), body("p2"))  # 2
    store.create(key("a", "d1", DEPLOY), body("d1"))  # 3
    store.update(key("a", "p1"), body("p1", spec={"n": 2}))  # 4
    store.delete(key("b", "p2"))  # 5
    events = store.events_since(0, *POD)
    assert [(e.type, e.key.namespace, e.key.name, e.revision) for e in events] == [
        ("ADDED", "a", "p1", 1),
        ("ADDED", "b", "p2", 2),
        ("MODIFIED", "a", "p1", 4),
        ("DELETED", "b", "p2", 5),
    ]
    for e in events:
        assert e.key == key(e.key.namespace, e.key.name)
        assert rv(e.object) == e.revision
    assert events[2].object["spec"] == {"n": 2}
    assert events[3].object["spec"] == {"n": 1}
    assert [e.revision for e in store.events_since(2, *POD)] == [4, 5]
    assert [e.revision for e in store.events_since(0, *POD, namespace="a")] == [1, 4]
    assert [e.revision for e in store.events_since(0, *DEPLOY)] == [3]
    assert store.events_since(5, *POD) == []


def test_compact_and_compacted_error(store: Store) -> None:
    for i in range(10):
        store.create(key("ns", f"p{i}"), body(f"p{i}"))
    assert store.compact(keep=4) == 6
    assert store.compacted_revision == 6
    with pytest.raises(Compacted) as info:
        store.events_since(5, *POD)
    assert (info.value.requested, info.value.compacted) == (5, 6)
    assert [e.revision for e in store.events_since(6, *POD)] == [7, 8, 9, 10]
    # Compaction drops history, never live objects, and never moves backwards.
    assert len(store.list(*POD)[0]) == 10
    assert store.compact(keep=100) == 6
    assert store.compact(keep=0) == 10
    assert store.events_since(10, *POD) == []
    assert rv(store.create(key("ns", "next"), body("next"))) == 11
    with pytest.raises(ValueError):
        store.compact(-1)


def test_compact_on_empty_store(store: Store) -> None:
    assert store.compact(keep=10) == 0
    assert store.events_since(0, *POD) == []


# ------------------------------------------------------------------------------------- subscribe


def test_subscribe_sees_each_commit_in_order(store: Store) -> None:
    seen: list[Event] = []
    order: list[str] = []
    unsubscribe = store.subscribe(seen.append)
    store.subscribe(lambda e: order.append(f"second:{e.revision}"))
    store.create(key("ns", "a"), body("a"))
    store.update(key("ns", "a"), body("a"))
    store.delete(key("ns", "a"))
    with pytest.raises(KeyNotFound):
        store.delete(key("ns", "a"))
    assert [(e.type, e.revision, rv(e.object)) for e in seen] == [
        ("ADDED", 1, 1),
        ("MODIFIED", 2, 2),
        ("DELETED", 3, 3),
    ]
    assert seen == store.events_since(0, *POD)
    assert order == ["second:1", "second:2", "second:3"]
    unsubscribe()
    unsubscribe()  # idempotent
    store.create(key("ns", "b"), body("b"))
    assert len(seen) == 3
    assert order[-1] == "second:4"


def test_listener_runs_after_commit(store: Store) -> None:
    observed: list[tuple[int, dict[str, Any] | None]] = []
    store.subscribe(lambda e: observed.append((store.revision, store.get(e.key))))
    created = store.create(key("ns", "a"), body("a"))
    assert observed == [(1, created)]


def test_failing_listener_does_not_break_the_write(store: Store, caplog: pytest.LogCaptureFixture) -> None:
    def boom(_: Event) -> None:
        raise RuntimeError("listener bug")

    seen: list[int] = []
    store.subscribe(boom)
    store.subscribe(lambda e: seen.append(e.revision))
    with caplog.at_level(logging.ERROR):
        created = store.create(key("ns", "a"), body("a"))
    assert rv(created) == 1
    assert store.get(key("ns", "a")) == created
    assert seen == [1]
    assert "listener bug" in caplog.text


def test_listener_may_unsubscribe_itself(store: Store) -> None:
    calls: list[int] = []
    unsubscribe: Callable[[], None] = lambda: None  # noqa: E731

    def once(e: Event) -> None:
        calls.append(e.revision)
        unsubscribe()

    unsubscribe = store.subscribe(once)
    store.create(key("ns", "a"), body("a"))
    store.create(key("ns", "b"), body("b"))
    assert calls == [1]


def test_no_events_for_failed_writes(store: Store) -> None:
    seen: list[Event] = []
    store.subscribe(seen.append)
    with pytest.raises(KeyNotFound):
        store.update(key("ns", "a"), body("a"))
    store.create(key("ns", "a"), body("a"))
    with pytest.raises(KeyExists):
        store.create(key("ns", "a"), body("a"))
    with pytest.raises(RevisionConflict):
        store.update(key("ns", "a"), body("a"), expected_revision=7)
    assert [e.revision for e in seen] == [1]


# ---------------------------------------------------------------------------------------- reopen


def test_reopen_restores_everything(opener: tuple[Opener, bool]) -> None:
    open_store, persistent = opener
    if not persistent:
        pytest.skip("store is not persistent")
    s = open_store()
    for i in range(6):
        s.create(key("ns", f"p{i}"), body(f"p{i}"))
    s.update(key("ns", "p0"), body("p0", spec={"n": 7}))  # 7
    s.delete(key("ns", "p1"))  # 8
    assert s.compact(keep=3) == 5
    items_before = s.list(*POD)
    s.close()

    s = open_store()
    try:
        assert s.revision == 8
        assert s.compacted_revision == 5
        assert s.list(*POD) == items_before
        assert [e.revision for e in s.events_since(5, *POD)] == [6, 7, 8]
        with pytest.raises(Compacted):
            s.events_since(4, *POD)
        assert rv(s.create(key("ns", "p1"), body("p1"))) == 9
    finally:
        s.close()


def test_reopen_after_compacting_everything_keeps_revision(opener: tuple[Opener, bool]) -> None:
    open_store, persistent = opener
    if not persistent:
        pytest.skip("store is not persistent")
    s = open_store()
    s.create(key("ns", "a"), body("a"))
    s.delete(key("ns", "a"))
    assert s.compact(keep=0) == 2
    s.close()
    s = open_store()
    try:
        # The log and the objects table are both empty; the revision must still not go backwards.
        assert (s.revision, s.compacted_revision) == (2, 2)
        assert rv(s.create(key("ns", "a"), body("a"))) == 3
    finally:
        s.close()
