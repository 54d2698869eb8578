"""ReplicaSet decisions: the pod deletion order, ReplicaSet status, the template hash, claims, expectations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kubeserve.api.selectors import LabelSelector
from kubeserve.node.workloads import owners, replicas, templatehash
from kubeserve.node.workloads.expectations import Expectations
from kubeserve.node.workloads.replicaset import pod_from_template

Obj = dict[str, Any]
T0 = datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)


def at(seconds: int) -> str:
    return (T0 + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def pod(name: str, *, node: str = "n", phase: str = "Running", ready: bool = True, ready_at: int = -100,
        created: int = -200, restarts: int = 0, cost: int | None = None, labels: dict[str, str] | None = None,
        deleting: bool = False, owner: str = "") -> Obj:
    meta: Obj = {"name": name, "namespace": "default", "creationTimestamp": at(created), "uid": f"uid-{name}",
                 "labels": labels if labels is not None else {"app": "web"}, "resourceVersion": "7"}
    if cost is not None:
        meta["annotations"] = {replicas.DELETION_COST: str(cost)}
    if deleting:
        meta["deletionTimestamp"] = at(0)
    if owner:
        meta["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": owner,
                                    "uid": f"uid-{owner}", "controller": True}]
    status: Obj = {"phase": phase, "containerStatuses": [{"name": "main", "restartCount": restarts}]}
    if ready:
        status["conditions"] = [{"type": "Ready", "status": "True", "lastTransitionTime": at(ready_at)}]
    return {"metadata": meta, "spec": {"nodeName": node} if node else {}, "status": status}


@pytest.mark.parametrize(("pods", "first"), [
    ([pod("scheduled"), pod("unscheduled", node="", phase="Pending", ready=False)], "unscheduled"),
    ([pod("running", ready=False), pod("pending", phase="Pending", ready=False)], "pending"),
    ([pod("unknown", phase="Unknown", ready=False), pod("running", ready=False)], "unknown"),
    ([pod("ready"), pod("not-ready", ready=False)], "not-ready"),
    ([pod("cheap", cost=-5), pod("dear", cost=5)], "cheap"),
    ([pod("ready-long", ready_at=-500), pod("ready-recently", ready_at=-5)], "ready-recently"),
    ([pod("calm"), pod("crashy", restarts=4)], "crashy"),
    ([pod("old", created=-900), pod("new", created=-10)], "new"),
])
def test_deletion_order(pods: list[Obj], first: str) -> None:
    assert replicas.pods_to_delete(pods, 1)[0]["metadata"]["name"] == first
    assert replicas.pods_to_delete(list(reversed(pods)), 1)[0]["metadata"]["name"] == first


def test_pods_to_delete_count() -> None:
    pods = [pod(f"p{i}", created=-i) for i in range(5)]
    assert [p["metadata"]["name"] for p in replicas.pods_to_delete(pods, 2)] == ["p0", "p1"]
    assert replicas.pods_to_delete(pods, 0) == []


def rs(min_ready: int = 0, generation: int = 4, status: Obj | None = None) -> Obj:
    return {"metadata": {"name": "web-abc", "generation": generation},
            "spec": {"replicas": 3, "minReadySeconds": min_ready,
                     "template": {"metadata": {"labels": {"app": "web", "pod-template-hash": "abc"}}}},
            "status": status or {}}


FULL = {"app": "web", "pod-template-hash": "abc"}


@pytest.mark.parametrize(("min_ready", "pods", "expected", "recheck"), [
    (0, [pod("a", labels=FULL), pod("b", labels=FULL), pod("c", ready=False, labels=FULL)],
     {"replicas": 3, "fullyLabeledReplicas": 3, "readyReplicas": 2, "availableReplicas": 2, "observedGeneration": 4},
     None),
    (0, [pod("a", labels={"app": "web"})],
     {"replicas": 1, "readyReplicas": 1, "availableReplicas": 1, "observedGeneration": 4}, None),
    (10, [pod("a", labels=FULL, ready_at=-11), pod("b", labels=FULL, ready_at=-4)],
     {"replicas": 2, "fullyLabeledReplicas": 2, "readyReplicas": 2, "availableReplicas": 1, "observedGeneration": 4},
     6.5),
    (10, [pod("a", labels=FULL, ready_at=-10)],  # exactly minReadySeconds is not yet available (strict)
     {"replicas": 1, "fullyLabeledReplicas": 1, "readyReplicas": 1, "observedGeneration": 4}, 0.5),
    (0, [], {"replicas": 0, "observedGeneration": 4}, None),
])
def test_replica_set_status(min_ready: int, pods: list[Obj], expected: Obj, recheck: float | None) -> None:
    observed = replicas.replica_set_status(rs(min_ready), pods, T0)
    assert observed.status == expected
    assert observed.recheck_after == (pytest.approx(recheck) if recheck is not None else None)


def test_replica_failure_condition_comes_and_goes() -> None:
    failed = replicas.replica_set_status(rs(), [], T0, "Error creating: pods is forbidden")
    cond = failed.status["conditions"][0]
    assert (cond["type"], cond["reason"], cond["message"]) == ("ReplicaFailure", "FailedCreate",
                                                               "Error creating: pods is forbidden")
    again = replicas.replica_set_status(rs(status=failed.status), [], T0 + timedelta(seconds=9),
                                        "Error creating: pods is forbidden")
    assert again.status["conditions"][0]["lastTransitionTime"] == cond["lastTransitionTime"]
    assert "conditions" not in replicas.replica_set_status(rs(status=failed.status), [], T0).status


# -- the pod template hash --------------------------------------------------------------------------------

TEMPLATE = {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "main", "image": "img:1"}]}}


def test_template_hash_is_stable_and_safe() -> None:
    first = templatehash.pod_template_hash(TEMPLATE)
    assert first == templatehash.pod_template_hash({"spec": TEMPLATE["spec"], "metadata": TEMPLATE["metadata"]})
    # decimal digits through SafeEncodeString: only these ten characters, as in "web-66b6c48dd5"
    assert 1 <= len(first) <= 10 and set(first) <= set("456789bcdf")
    other = {**TEMPLATE, "spec": {"containers": [{"name": "main", "image": "img:2"}]}}
    assert templatehash.pod_template_hash(other) != first
    assert templatehash.pod_template_hash(TEMPLATE, 1) != first
    assert templatehash.pod_template_hash(TEMPLATE, 0) != first  # a collision count of 0 is not "none"


@pytest.mark.parametrize(("text", "expected"), [("0", "4"), ("9", "f"), ("123", "567"), ("", "")])
def test_safe_encode(text: str, expected: str) -> None:
    assert templatehash.safe_encode(text) == expected


def test_fnv32a_known_values() -> None:
    assert templatehash.fnv32a(b"") == 0x811C9DC5
    assert templatehash.fnv32a(b"a") == 0xE40C292C
    assert templatehash.fnv32a(b"foobar") == 0xBF9CF968


def test_equal_ignoring_hash() -> None:
    hashed = {**TEMPLATE, "metadata": {"labels": {"app": "web", "pod-template-hash": "xyz"}}}
    assert templatehash.equal_ignoring_hash(hashed, TEMPLATE)
    assert templatehash.pod_template_hash(hashed) == templatehash.pod_template_hash(TEMPLATE)
    assert templatehash.equal_ignoring_hash({"metadata": {"labels": {"pod-template-hash": "x"}}, "spec": {}},
                                            {"spec": {}})
    assert not templatehash.equal_ignoring_hash(hashed, {**TEMPLATE, "spec": {}})


# -- claims, expectations, pods from templates --------------------------------------------------------------

OWNER: Obj = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "web-abc", "uid": "uid-web-abc"}}


def test_claim() -> None:
    candidates = [pod("mine", owner="web-abc"), pod("orphan"), pod("stranger", owner="other"),
                  pod("moved", owner="web-abc", labels={"app": "db"}), pod("unmatched", labels={"app": "db"}),
                  pod("dying-orphan", deleting=True)]
    claim = owners.claim(OWNER, LabelSelector.from_dict({"matchLabels": {"app": "web"}}), candidates)
    assert [p["metadata"]["name"] for p in claim.owned] == ["mine"]
    assert [p["metadata"]["name"] for p in claim.adopt] == ["orphan"]
    assert [p["metadata"]["name"] for p in claim.release] == ["moved"]


def test_a_deleting_owner_adopts_and_releases_nothing() -> None:
    deleting = {**OWNER, "metadata": {**OWNER["metadata"], "deletionTimestamp": at(0)}}
    claim = owners.claim(deleting, LabelSelector.from_dict({"matchLabels": {"app": "web"}}),
                         [pod("orphan"), pod("moved", owner="web-abc", labels={"app": "db"})])
    assert claim.adopt == [] and claim.release == []


def test_owner_references() -> None:
    ref = owners.owner_reference(OWNER)
    assert ref == {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-abc", "uid": "uid-web-abc",
                   "controller": True, "blockOwnerDeletion": True}
    assert owners.with_owner(pod("orphan"), OWNER) == [ref]
    assert owners.without_owner(pod("mine", owner="web-abc"), OWNER) == []


def test_pod_from_template() -> None:
    owner = {**OWNER, "metadata": {**OWNER["metadata"], "namespace": "ns"},
             "spec": {"template": {"metadata": {"labels": {"app": "web"}, "annotations": {"a": "b"}},
                                   "spec": {"containers": [{"name": "main"}]}}}}
    made = pod_from_template(owner)
    assert made["metadata"]["generateName"] == "web-abc-"
    assert made["metadata"]["namespace"] == "ns"
    assert made["metadata"]["labels"] == {"app": "web"} and made["metadata"]["annotations"] == {"a": "b"}
    assert made["metadata"]["ownerReferences"][0]["controller"] is True
    assert made["spec"] == {"containers": [{"name": "main"}]}


def test_expectations() -> None:
    now = [0.0]
    exp = Expectations(lambda: now[0], ttl=10)
    key = ("default", "web-abc")
    assert exp.satisfied(key)
    exp.expect(key, adds=2)
    exp.creation_observed(key)
    assert not exp.satisfied(key)
    exp.creation_observed(key)
    assert exp.satisfied(key)
    exp.expect(key, deletes=["a", "b"])
    exp.deletion_observed(key, "a")
    assert not exp.satisfied(key)
    now[0] = 11  # a lost event does not wedge the ReplicaSet
    assert exp.satisfied(key)
    exp.forget(key)
    assert exp.satisfied(key)
