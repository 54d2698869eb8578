"""A Deployment's status and its Available/Progressing conditions, computed from its ReplicaSets (pure).

Field for field what kube-controller-manager writes (`calculateStatus`, `syncRolloutStatus`,
`checkPausedConditions`), because `kubectl rollout status` reads exactly these: observedGeneration,
updatedReplicas, availableReplicas and the Progressing reason (`NewReplicaSetAvailable` when done,
`ProgressDeadlineExceeded` when stuck). Zero counts are left out, as Go's `omitempty` does.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from kubeserve.api.printers import parse_time
from kubeserve.node.workloads.pods import format_time

Obj = dict[str, Any]

AVAILABLE = "Available"
PROGRESSING = "Progressing"
REPLICA_FAILURE = "ReplicaFailure"

MIN_AVAILABLE = "MinimumReplicasAvailable"
MIN_UNAVAILABLE = "MinimumReplicasUnavailable"
NEW_RS_CREATED = "NewReplicaSetCreated"
FOUND_NEW_RS = "FoundNewReplicaSet"
RS_UPDATED = "ReplicaSetUpdated"
NEW_RS_AVAILABLE = "NewReplicaSetAvailable"
TIMED_OUT = "ProgressDeadlineExceeded"
PAUSED = "DeploymentPaused"
RESUMED = "DeploymentResumed"

DEFAULT_PROGRESS_DEADLINE = 600


@dataclass(frozen=True)
class Counts:
    """A ReplicaSet's observed counts (its status)."""

    replicas: int = 0  # spec.replicas
    status_replicas: int = 0
    ready: int = 0
    available: int = 0
    failure: Obj | None = None  # its ReplicaFailure condition, if any


def new_condition(kind: str, status: str, reason: str, message: str, now: datetime) -> Obj:
    stamp = format_time(now)
    return {"type": kind, "status": status, "lastUpdateTime": stamp, "lastTransitionTime": stamp,
            "reason": reason, "message": message}


def get_condition(status: Obj, kind: str) -> Obj | None:
    for condition in status.get("conditions") or []:
        if condition.get("type") == kind:
            return dict(condition)
    return None


def set_condition(status: Obj, condition: Obj) -> None:
    """SetDeploymentCondition: same status and reason is no change; the transition time moves only on a flip."""
    current = get_condition(status, condition["type"])
    if current is not None and current.get("status") == condition["status"] and \
            current.get("reason") == condition["reason"]:
        return
    if current is not None and current.get("status") == condition["status"]:
        condition = {**condition, "lastTransitionTime": current.get("lastTransitionTime")}
    remove_condition(status, condition["type"])
    status.setdefault("conditions", []).append(condition)


def remove_condition(status: Obj, kind: str) -> None:
    kept = [c for c in status.get("conditions") or [] if c.get("type") != kind]
    if kept:
        status["conditions"] = kept
    else:
        status.pop("conditions", None)


def progress_deadline(deployment: Obj) -> int | None:
    value = (deployment.get("spec") or {}).get("progressDeadlineSeconds", DEFAULT_PROGRESS_DEADLINE)
    if value is None or value >= 2**31 - 1:
        return None
    return int(value)


def spec_replicas(deployment: Obj) -> int:
    value = (deployment.get("spec") or {}).get("replicas")
    return 1 if value is None else int(value)


def calculate_status(deployment: Obj, all_rs: Sequence[Counts], new: Counts | None, max_unavailable: int,
                     now: datetime) -> Obj:
    old_status = deployment.get("status") or {}
    available = sum(rs.available for rs in all_rs)
    unavailable = max(sum(rs.replicas for rs in all_rs) - available, 0)
    status: Obj = {
        "observedGeneration": int((deployment.get("metadata") or {}).get("generation") or 0),
        "replicas": sum(rs.status_replicas for rs in all_rs),
        "updatedReplicas": new.status_replicas if new else 0,
        "readyReplicas": sum(rs.ready for rs in all_rs),
        "availableReplicas": available,
        "unavailableReplicas": unavailable,
    }
    status = {k: v for k, v in status.items() if v}
    if old_status.get("collisionCount") is not None:
        status["collisionCount"] = old_status["collisionCount"]
    if old_status.get("conditions"):
        status["conditions"] = copy.deepcopy(old_status["conditions"])
    if available >= spec_replicas(deployment) - max_unavailable:
        set_condition(status, new_condition(AVAILABLE, "True", MIN_AVAILABLE, "Deployment has minimum availability.",
                                            now))
    else:
        set_condition(status, new_condition(AVAILABLE, "False", MIN_UNAVAILABLE,
                                            "Deployment does not have minimum availability.", now))
    return status


def _n(status: Obj, field: str) -> int:
    return int(status.get(field) or 0)


def is_complete(deployment: Obj, status: Obj) -> bool:
    """DeploymentComplete: every replica updated and available, and the latest generation observed."""
    want = spec_replicas(deployment)
    return (_n(status, "updatedReplicas") == want and _n(status, "replicas") == want
            and _n(status, "availableReplicas") == want
            and _n(status, "observedGeneration") >= int((deployment.get("metadata") or {}).get("generation") or 0))


def is_progressing(deployment: Obj, status: Obj) -> bool:
    old = deployment.get("status") or {}
    old_olds = _n(old, "replicas") - _n(old, "updatedReplicas")
    new_olds = _n(status, "replicas") - _n(status, "updatedReplicas")
    return (_n(status, "updatedReplicas") > _n(old, "updatedReplicas") or new_olds < old_olds
            or _n(status, "readyReplicas") > _n(old, "readyReplicas")
            or _n(status, "availableReplicas") > _n(old, "availableReplicas"))


def is_timed_out(deployment: Obj, status: Obj, now: datetime) -> bool:
    deadline = progress_deadline(deployment)
    condition = get_condition(status, PROGRESSING)
    if deadline is None or condition is None or condition.get("reason") == NEW_RS_AVAILABLE:
        return False
    if condition.get("reason") == TIMED_OUT:
        return True
    since = parse_time(condition.get("lastUpdateTime"))
    return since is not None and since + timedelta(seconds=deadline) < now


def rollout_status(deployment: Obj, all_rs: Sequence[Counts], new: Counts | None, new_name: str | None,
                   max_unavailable: int, now: datetime) -> Obj:
    """syncRolloutStatus: the status including progress against the progress deadline."""
    name = (deployment.get("metadata") or {}).get("name", "")
    status = calculate_status(deployment, all_rs, new, max_unavailable, now)
    deadline = progress_deadline(deployment)
    if deadline is None:
        remove_condition(status, PROGRESSING)
    current = get_condition(deployment.get("status") or {}, PROGRESSING)
    complete_before = (_n(status, "replicas") == _n(status, "updatedReplicas") and current is not None
                       and current.get("reason") == NEW_RS_AVAILABLE)
    subject = f'ReplicaSet "{new_name}"' if new_name else f'Deployment "{name}"'
    if deadline is not None and not complete_before:
        if is_complete(deployment, status):
            set_condition(status, new_condition(PROGRESSING, "True", NEW_RS_AVAILABLE,
                                                f"{subject} has successfully progressed.", now))
        elif is_progressing(deployment, status):
            condition = new_condition(PROGRESSING, "True", RS_UPDATED, f"{subject} is progressing.", now)
            if current is not None:
                # Progress refreshes lastUpdateTime even when the reason stays ReplicaSetUpdated.
                if current.get("status") == "True":
                    condition["lastTransitionTime"] = current.get("lastTransitionTime")
                remove_condition(status, PROGRESSING)
            set_condition(status, condition)
        elif is_timed_out(deployment, status, now):
            set_condition(status, new_condition(PROGRESSING, "False", TIMED_OUT,
                                                f"{subject} has timed out progressing.", now))
    failures = [rs.failure for rs in all_rs if rs.failure]
    if failures:
        failure = failures[0]
        set_condition(status, new_condition(REPLICA_FAILURE, str(failure.get("status", "True")),
                                            str(failure.get("reason", "")), str(failure.get("message", "")), now))
    else:
        remove_condition(status, REPLICA_FAILURE)
    return status


def paused_condition(deployment: Obj, now: datetime) -> Obj | None:
    """checkPausedConditions: the status with a Paused/Resumed Progressing condition, or None for no change."""
    if progress_deadline(deployment) is None:
        return None
    status = copy.deepcopy(deployment.get("status") or {})
    current = get_condition(status, PROGRESSING)
    if current is not None and current.get("reason") == TIMED_OUT:
        return None  # a reported lack of progress is not overwritten by a pause
    paused = bool((deployment.get("spec") or {}).get("paused"))
    paused_before = current is not None and current.get("reason") == PAUSED
    if paused and not paused_before:
        set_condition(status, new_condition(PROGRESSING, "Unknown", PAUSED, "Deployment is paused", now))
    elif not paused and paused_before:
        set_condition(status, new_condition(PROGRESSING, "Unknown", RESUMED, "Deployment is resumed", now))
    else:
        return None
    return status


def requeue_after(deployment: Obj, status: Obj, now: datetime) -> float | None:
    """requeueStuckDeployment: when to look again so a stalled rollout is reported at its deadline."""
    deadline = progress_deadline(deployment)
    condition = get_condition(status, PROGRESSING)
    if deadline is None or condition is None or is_complete(deployment, status):
        return None
    if condition.get("reason") in (TIMED_OUT, PAUSED):
        return None
    since = parse_time(condition.get("lastUpdateTime"))
    if since is None:
        return None
    after = (since + timedelta(seconds=deadline) - now).total_seconds()
    return max(after, 1.0)
