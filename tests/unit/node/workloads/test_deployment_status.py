"""Deployment status and conditions: what `kubectl rollout status` reads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kubeserve.node.workloads import deploystatus as ds
from kubeserve.node.workloads.deploystatus import Counts

Obj = dict[str, Any]
T0 = datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)
STAMP = "2025-03-04T05:06:07Z"


def deployment(replicas: int = 3, generation: int = 1, status: Obj | None = None, **spec: Any) -> Obj:
    return {"metadata": {"name": "web", "generation": generation},
            "spec": {"replicas": replicas, **spec}, "status": status or {}}


def condition(obj: Obj, kind: str) -> Obj | None:
    return ds.get_condition(obj, kind)


@pytest.mark.parametrize(("rss", "new", "max_unavailable", "expected", "available"), [
    ([Counts(3, 3, 3, 3)], Counts(3, 3, 3, 3), 0,
     {"observedGeneration": 1, "replicas": 3, "updatedReplicas": 3, "readyReplicas": 3, "availableReplicas": 3},
     ("True", "MinimumReplicasAvailable")),
    ([Counts(3, 3, 1, 0)], Counts(3, 3, 1, 0), 0,
     {"observedGeneration": 1, "replicas": 3, "updatedReplicas": 3, "readyReplicas": 1, "unavailableReplicas": 3},
     ("False", "MinimumReplicasUnavailable")),
    ([Counts(2, 2, 2, 2), Counts(1, 1, 0, 0)], Counts(1, 1, 0, 0), 1,
     {"observedGeneration": 1, "replicas": 3, "updatedReplicas": 1, "readyReplicas": 2, "availableReplicas": 2,
      "unavailableReplicas": 1},
     ("True", "MinimumReplicasAvailable")),
    ([], None, 0, {"observedGeneration": 1}, ("False", "MinimumReplicasUnavailable")),
])
def test_calculate_status(rss: list[Counts], new: Counts | None, max_unavailable: int, expected: Obj,
                          available: tuple[str, str]) -> None:
    status = ds.calculate_status(deployment(), rss, new, max_unavailable, T0)
    assert {k: v for k, v in status.items() if k != "conditions"} == expected
    cond = condition(status, ds.AVAILABLE)
    assert cond is not None and (cond["status"], cond["reason"]) == available
    assert cond["lastTransitionTime"] == STAMP


def test_set_condition_keeps_transition_time_unless_status_flips() -> None:
    status: Obj = {}
    ds.set_condition(status, ds.new_condition("Progressing", "True", "A", "a", T0))
    ds.set_condition(status, ds.new_condition("Progressing", "True", "B", "b", T0 + timedelta(seconds=5)))
    cond = condition(status, "Progressing")
    assert cond is not None and cond["reason"] == "B" and cond["lastTransitionTime"] == STAMP
    assert cond["lastUpdateTime"] == "2025-03-04T05:06:12Z"
    ds.set_condition(status, ds.new_condition("Progressing", "False", "C", "c", T0 + timedelta(seconds=9)))
    cond = condition(status, "Progressing")
    assert cond is not None and cond["lastTransitionTime"] == "2025-03-04T05:06:16Z"


def test_rollout_complete_is_new_replica_set_available() -> None:
    status = ds.rollout_status(deployment(), [Counts(3, 3, 3, 3)], Counts(3, 3, 3, 3), "web-abc", 0, T0)
    cond = condition(status, ds.PROGRESSING)
    assert cond is not None
    assert (cond["status"], cond["reason"], cond["message"]) == (
        "True", "NewReplicaSetAvailable", 'ReplicaSet "web-abc" has successfully progressed.')
    assert ds.is_complete(deployment(), status)


def test_not_complete_before_the_generation_is_observed() -> None:
    d = deployment(generation=2)
    status = {"observedGeneration": 1, "replicas": 3, "updatedReplicas": 3, "availableReplicas": 3}
    assert not ds.is_complete(d, status)


def test_progress_updates_the_replica_set_updated_condition() -> None:
    earlier = ds.new_condition(ds.PROGRESSING, "True", ds.RS_UPDATED, "x", T0 - timedelta(minutes=1))
    d = deployment(status={"replicas": 4, "updatedReplicas": 1, "conditions": [earlier]})
    status = ds.rollout_status(d, [Counts(2, 2, 2, 2), Counts(2, 2, 1, 1)], Counts(2, 2, 1, 1), "web-new", 1, T0)
    cond = condition(status, ds.PROGRESSING)
    assert cond is not None and cond["reason"] == ds.RS_UPDATED
    assert cond["message"] == 'ReplicaSet "web-new" is progressing.'
    assert cond["lastUpdateTime"] == STAMP and cond["lastTransitionTime"] == earlier["lastTransitionTime"]


@pytest.mark.parametrize(("age", "deadline", "timed_out"), [(601, 600, True), (599, 600, False), (11, 10, True)])
def test_progress_deadline(age: int, deadline: int, timed_out: bool) -> None:
    stuck = ds.new_condition(ds.PROGRESSING, "True", ds.RS_UPDATED, "x", T0 - timedelta(seconds=age))
    d = deployment(status={"replicas": 3, "updatedReplicas": 1, "readyReplicas": 2, "availableReplicas": 2,
                           "conditions": [stuck]}, progressDeadlineSeconds=deadline)  # nothing moved since
    status = ds.rollout_status(d, [Counts(2, 2, 2, 2), Counts(1, 1, 0, 0)], Counts(1, 1, 0, 0), "web-new", 0, T0)
    cond = condition(status, ds.PROGRESSING)
    assert cond is not None
    if timed_out:
        assert (cond["status"], cond["reason"]) == ("False", "ProgressDeadlineExceeded")
        assert cond["message"] == 'ReplicaSet "web-new" has timed out progressing.'
        assert ds.requeue_after(d, status, T0) is None
    else:
        assert cond["reason"] == ds.RS_UPDATED
        assert ds.requeue_after(d, status, T0) == pytest.approx(deadline - age)


def test_no_progress_deadline_means_no_progressing_condition() -> None:
    earlier = ds.new_condition(ds.PROGRESSING, "True", ds.RS_UPDATED, "x", T0)
    d = deployment(status={"conditions": [earlier]}, progressDeadlineSeconds=2**31 - 1)
    status = ds.rollout_status(d, [Counts(3, 3, 3, 3)], Counts(3, 3, 3, 3), "web", 0, T0)
    assert condition(status, ds.PROGRESSING) is None


def test_replica_failure_is_copied_from_a_replica_set() -> None:
    failure = {"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate", "message": "quota"}
    status = ds.rollout_status(deployment(), [Counts(3, 0, failure=failure)], Counts(3, 0, failure=failure),
                               "web", 0, T0)
    cond = condition(status, ds.REPLICA_FAILURE)
    assert cond is not None and (cond["reason"], cond["message"]) == ("FailedCreate", "quota")


@pytest.mark.parametrize(("paused", "before", "expected"), [
    (True, None, ("Unknown", "DeploymentPaused")),
    (False, ds.PAUSED, ("Unknown", "DeploymentResumed")),
    (True, ds.PAUSED, None),
    (False, None, None),
    (True, ds.TIMED_OUT, None),  # a timeout is not hidden by a pause
])
def test_paused_condition(paused: bool, before: str | None, expected: tuple[str, str] | None) -> None:
    conditions = [ds.new_condition(ds.PROGRESSING, "Unknown", before, "", T0)] if before else []
    d = deployment(status={"conditions": conditions}, paused=paused)
    status = ds.paused_condition(d, T0)
    if expected is None:
        assert status is None
    else:
        assert status is not None
        cond = condition(status, ds.PROGRESSING)
        assert cond is not None and (cond["status"], cond["reason"]) == expected
