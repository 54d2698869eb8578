"""Rollout planning, with the cases of kube-controller-manager's own tables (rolling_test.go, sync_test.go,
deployment_util_test.go) where they exist."""

from __future__ import annotations

import pytest

from kubeserve.node.workloads import rollout
from kubeserve.node.workloads.rollout import RS, HistoryRS, Strategy


def rolling(surge: int | str, unavailable: int | str) -> Strategy:
    return Strategy(rollout.ROLLING, surge, unavailable)


@pytest.mark.parametrize(("value", "total", "up", "expected"), [
    (3, 10, True, 3),
    ("25%", 10, True, 3),
    ("25%", 10, False, 2),
    ("0%", 10, True, 0),
    ("100%", 7, False, 7),
    ("39%", 10, True, 4),
    ("39%", 10, False, 3),
])
def test_scaled_value(value: int | str, total: int, up: bool, expected: int) -> None:
    assert rollout.scaled_value(value, total, up) == expected


@pytest.mark.parametrize("value", ["oops", "5", "1.5%", True])
def test_scaled_value_rejects_what_kubernetes_rejects(value: int | str) -> None:
    with pytest.raises(ValueError):
        rollout.scaled_value(value, 10, True)


@pytest.mark.parametrize(("surge", "unavailable", "replicas", "expected"), [
    ("0%", "0%", 0, (0, 1)),  # both zero would deadlock: one may be unavailable
    (0, 0, 10, (0, 1)),
    ("39%", "39%", 10, (4, 3)),
    ("25%", "25%", 3, (1, 0)),  # the defaults on 3 replicas: surge up, unavailable down
    ("25%", "25%", 4, (1, 1)),
    (1, 0, 3, (1, 0)),
])
def test_fenceposts(surge: int | str, unavailable: int | str, replicas: int, expected: tuple[int, int]) -> None:
    assert rollout.fenceposts(rolling(surge, unavailable), replicas) == expected


def test_max_unavailable_is_capped_and_zero_for_recreate() -> None:
    assert rollout.max_unavailable(rolling(0, 5), 3) == 3
    assert rollout.max_unavailable(rolling(0, 5), 0) == 0
    assert rollout.max_unavailable(Strategy(rollout.RECREATE, 0, 0), 3) == 0
    assert rollout.max_surge(Strategy(rollout.RECREATE, 0, 0), 3) == 0


def test_strategy_defaults() -> None:
    assert Strategy.from_spec({}) == Strategy(rollout.ROLLING, "25%", "25%")
    assert Strategy.from_spec({"strategy": {"type": "Recreate"}}).type == rollout.RECREATE
    assert Strategy.from_spec({"strategy": {"rollingUpdate": {"maxSurge": 0}}}) == rolling(0, "25%")


# reconcileNewReplicaSet (rolling_test.go TestDeploymentController_reconcileNewReplicaSet)
@pytest.mark.parametrize(("replicas", "surge", "old", "new", "expected"), [
    (10, 0, 10, 0, None),
    (10, 2, 10, 0, 2),
    (10, 2, 5, 0, 7),
    (10, 2, 10, 2, None),
    (2, 0, 2, 4, 2),  # too big: scaled straight down
    (3, 1, 3, 1, None),  # at replicas+surge already
    (3, 1, 2, 1, 2),
])
def test_new_rs_target(replicas: int, surge: int, old: int, new: int, expected: int | None) -> None:
    target = rollout.new_rs_target(replicas, rolling(surge, 0), RS("new", new), [RS("old", old)])
    assert target == expected


def test_recreate_new_rs_gets_everything_at_once() -> None:
    assert rollout.new_rs_replicas(5, Strategy(rollout.RECREATE, 0, 0), [RS("old", 5)], None) == 5


# reconcileOldReplicaSets (rolling_test.go TestDeploymentController_reconcileOldReplicaSets)
@pytest.mark.parametrize(("replicas", "unavailable", "old", "new", "old_ready", "new_ready", "expected"), [
    (10, 0, 10, 0, 10, 0, None),
    (10, 2, 10, 0, 10, 0, 8),
    (10, 2, 10, 0, 8, 0, 8),  # the unhealthy ones go first
    (10, 2, 10, 0, 9, 0, 8),  # one unhealthy, then one ready
    (10, 2, 8, 2, 8, 0, None),  # unavailable new pods hold the budget
    (3, 0, 3, 1, 3, 1, 2),  # maxUnavailable 0: one goes once a new one is available
    (3, 0, 3, 1, 3, 0, None),
])
def test_old_rs_targets(replicas: int, unavailable: int, old: int, new: int, old_ready: int, new_ready: int,
                        expected: int | None) -> None:
    targets = rollout.old_rs_targets(replicas, rolling(1, unavailable), RS("new", new, new_ready),
                                     [RS("old", old, old_ready)])
    assert targets.get("old") == expected


def test_old_rs_targets_oldest_first() -> None:
    olds = [RS("b", 2, 2, created="2024-01-02T00:00:00Z"), RS("a", 2, 2, created="2024-01-01T00:00:00Z")]
    targets = rollout.old_rs_targets(4, rolling(0, 1), RS("new", 0), olds)
    assert targets == {"a": 1}


# scale (sync_test.go TestScale); max-replicas annotations are the old size plus surge 0
@pytest.mark.parametrize(("replicas", "old_size", "rss", "expected"), [
    (10, 5, [("v2", 2, "2"), ("v1", 3, "1")], {"v2": 4, "v1": 6}),
    (3, 5, [("v2", 2, "2"), ("v1", 3, "1")], {"v2": 1, "v1": 2}),
    (4, 9, [("v2", 8, "2"), ("v1", 1, "1")], {"v2": 4, "v1": 0}),
    (10, 7, [("v3", 2, "3"), ("v2", 3, "2"), ("v1", 2, "1")], {"v3": 3, "v2": 4, "v1": 3}),
    (8, 13, [("v3", 2, "3"), ("v2", 8, "2"), ("v1", 3, "1")], {"v3": 1, "v2": 5, "v1": 2}),
    (4, 3, [("v3", 1, "3"), ("v2", 1, "2"), ("v1", 1, "1")], {"v3": 2, "v2": 1, "v1": 1}),  # leftover to the newest
])
def test_proportional_scaling(replicas: int, old_size: int, rss: list[tuple[str, int, str]],
                              expected: dict[str, int]) -> None:
    views = [RS(name, size, created=f"2024-01-0{day}T00:00:00Z", max_replicas=old_size, desired=old_size)
             for name, size, day in rss]
    plan = rollout.scale_plan(replicas, rolling(0, 0), views[0], views[1:], old_size)
    assert plan.sizes == expected
    assert plan.operation == ("up" if replicas > old_size else "down")


def test_scale_with_one_active_rs_resizes_it() -> None:
    plan = rollout.scale_plan(5, rolling(1, 0), RS("new", 3, 3, desired=3), [RS("old", 0)], 3)
    assert plan.sizes == {"new": 5} and plan.operation is None


def test_scale_with_a_saturated_new_rs_empties_the_old_ones() -> None:
    plan = rollout.scale_plan(3, rolling(1, 0), RS("new", 3, 3, desired=3), [RS("old", 1, 1)], 4)
    assert plan.sizes == {"old": 0}


def test_scaling_event() -> None:
    assert rollout.is_scaling_event(5, [RS("a", 3, desired=3)])
    assert not rollout.is_scaling_event(3, [RS("a", 3, desired=3), RS("b", 0, desired=7)])
    assert not rollout.is_scaling_event(3, [RS("a", 3)])


def h(name: str, revision: int, replicas: int = 0, status: int = 0, gen: int = 1, observed: int = 1,
      deleting: bool = False) -> HistoryRS:
    return HistoryRS(name, revision, replicas, status, gen, observed, deleting)


@pytest.mark.parametrize(("olds", "limit", "expected"), [
    ([h("a", 1), h("b", 2), h("c", 3)], 10, []),
    ([h("a", 1), h("b", 2), h("c", 3)], 1, ["a", "b"]),
    ([h("c", 3), h("a", 1), h("b", 2)], 0, ["a", "b", "c"]),
    ([h("a", 1, replicas=1), h("b", 2), h("c", 3)], 1, ["b"]),  # pods left: kept
    ([h("a", 1, status=1), h("b", 2)], 0, ["b"]),
    ([h("a", 1, gen=2, observed=1), h("b", 2)], 0, ["b"]),  # not yet observed
    ([h("a", 1, deleting=True), h("b", 2), h("c", 3)], 1, ["b"]),  # already going: not counted
])
def test_history_to_delete(olds: list[HistoryRS], limit: int, expected: list[str]) -> None:
    assert rollout.history_to_delete(olds, limit) == expected
