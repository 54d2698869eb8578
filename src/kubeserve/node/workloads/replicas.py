"""ReplicaSet decisions (pure): which surplus pods go first, and the status a ReplicaSet reports.

The deletion order is Kubernetes' `ActivePods` ranking: unscheduled before scheduled, Pending before
Unknown before Running, not Ready before Ready, lower `controller.kubernetes.io/pod-deletion-cost`
first, the most recently Ready first, more restarts first, and the newest first — so a scale-down
keeps the pods that have served longest.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kubeserve.api.printers import parse_time
from kubeserve.node.workloads import pods as podinfo

Obj = dict[str, Any]

DELETION_COST = "controller.kubernetes.io/pod-deletion-cost"
REPLICA_FAILURE = "ReplicaFailure"
_PHASE_RANK = {"Pending": 0, "Unknown": 1, "Running": 2}


def _deletion_cost(pod: Obj) -> int:
    value = ((pod.get("metadata") or {}).get("annotations") or {}).get(DELETION_COST)
    try:
        return int(value) if value is not None else 0
    except (TypeError, ValueError):
        return 0


def _epoch(moment: datetime | None) -> float:
    return moment.timestamp() if moment is not None else 0.0


def deletion_key(pod: Obj) -> tuple[int, int, int, int, float, int, float, str]:
    """Ascending order = delete first."""
    meta = pod.get("metadata") or {}
    ready = podinfo.is_ready(pod)
    created = parse_time(meta.get("creationTimestamp"))
    return (
        1 if (pod.get("spec") or {}).get("nodeName") else 0,
        _PHASE_RANK.get(podinfo.phase(pod), 0),
        1 if ready else 0,
        _deletion_cost(pod),
        -_epoch(podinfo.ready_since(pod)) if ready else 0.0,  # ready most recently first
        -podinfo.restart_count(pod),
        # no creation time first, then newest first
        float("-inf") if created is None else -created.timestamp(),
        str(meta.get("name", "")),
    )


def pods_to_delete(pods: Sequence[Obj], count: int) -> list[Obj]:
    if count <= 0:
        return []
    return sorted(pods, key=deletion_key)[:count]


@dataclass(frozen=True)
class Observed:
    """A ReplicaSet's status and when to look again for a pod that will turn available."""

    status: Obj
    recheck_after: float | None = None


def replica_set_status(rs: Obj, active_pods: Sequence[Obj], now: datetime, failure: str | None = None) -> Observed:
    """calculateStatus over the ReplicaSet's active pods (with `failure`: a ReplicaFailure condition)."""
    spec = rs.get("spec") or {}
    min_ready = int(spec.get("minReadySeconds") or 0)
    template_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    fully_labeled = ready = available = 0
    soonest: float | None = None
    for pod in active_pods:
        labels = (pod.get("metadata") or {}).get("labels") or {}
        if all(labels.get(k) == v for k, v in template_labels.items()):
            fully_labeled += 1
        if not podinfo.is_ready(pod):
            continue
        ready += 1
        if podinfo.is_available(pod, min_ready, now):
            available += 1
            continue
        at = podinfo.available_at(pod, min_ready)
        if at is not None:
            wait = max((at - now).total_seconds(), 0.0) + 0.5  # after the strict `<` in is_available
            soonest = wait if soonest is None else min(soonest, wait)
    old = rs.get("status") or {}
    status: Obj = {"replicas": len(active_pods)}
    for field, value in (("fullyLabeledReplicas", fully_labeled), ("readyReplicas", ready),
                         ("availableReplicas", available),
                         ("observedGeneration", int((rs.get("metadata") or {}).get("generation") or 0))):
        if value:
            status[field] = value
    conditions = [c for c in copy.deepcopy(old.get("conditions") or []) if c.get("type") != REPLICA_FAILURE]
    previous = next((c for c in old.get("conditions") or [] if c.get("type") == REPLICA_FAILURE), None)
    if failure is not None:
        if previous is not None and previous.get("message") == failure:
            conditions.append(copy.deepcopy(previous))
        else:
            reason = "FailedDelete" if failure.startswith("Error deleting") else "FailedCreate"
            conditions.append({"type": REPLICA_FAILURE, "status": "True", "reason": reason, "message": failure,
                               "lastTransitionTime": podinfo.format_time(now)})
    if conditions:
        status["conditions"] = conditions
    return Observed(status, soonest)
