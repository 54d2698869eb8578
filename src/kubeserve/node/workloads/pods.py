"""What the workload controllers read off a pod: active, ready, available (pure; the clock is passed in).

These are the predicates of Kubernetes' `controller.IsPodActive` and `podutil.IsPodReady/IsPodAvailable`,
shared by the ReplicaSet controller (status, deletion ranking) and the endpoints controller.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from kubeserve.api.printers import parse_time

Obj = dict[str, Any]


def format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def is_terminating(pod: Obj) -> bool:
    return bool((pod.get("metadata") or {}).get("deletionTimestamp"))


def phase(pod: Obj) -> str:
    return str((pod.get("status") or {}).get("phase") or "")


def is_active(pod: Obj) -> bool:
    """Counts towards a ReplicaSet's replicas: not finished and not being deleted."""
    return phase(pod) not in ("Succeeded", "Failed") and not is_terminating(pod)


def ready_condition(pod: Obj) -> Obj | None:
    for condition in (pod.get("status") or {}).get("conditions") or []:
        if isinstance(condition, dict) and condition.get("type") == "Ready":
            return condition
    return None


def is_ready(pod: Obj) -> bool:
    condition = ready_condition(pod)
    return condition is not None and condition.get("status") == "True"


def ready_since(pod: Obj) -> datetime | None:
    """When the pod last became Ready; None when it is not Ready."""
    condition = ready_condition(pod)
    if condition is None or condition.get("status") != "True":
        return None
    return parse_time(condition.get("lastTransitionTime"))


def available_at(pod: Obj, min_ready_seconds: int) -> datetime | None:
    """The moment after which a Ready pod counts as available (None: not Ready, or no transition time)."""
    if not is_ready(pod):
        return None
    since = ready_since(pod)
    if since is None:
        return None if min_ready_seconds > 0 else datetime.min.replace(tzinfo=UTC)
    return since + timedelta(seconds=min_ready_seconds)


def is_available(pod: Obj, min_ready_seconds: int, now: datetime) -> bool:
    """Ready for at least `min_ready_seconds` (strictly, as Kubernetes compares with `Before`)."""
    if not is_ready(pod):
        return False
    if min_ready_seconds <= 0:
        return True
    at = available_at(pod, min_ready_seconds)
    return at is not None and at < now


def pod_ip(pod: Obj) -> str:
    status = pod.get("status") or {}
    if status.get("podIP"):
        return str(status["podIP"])
    for entry in status.get("podIPs") or []:
        if isinstance(entry, dict) and entry.get("ip"):
            return str(entry["ip"])
    return ""


def restart_count(pod: Obj) -> int:
    counts = [int(c.get("restartCount") or 0) for c in (pod.get("status") or {}).get("containerStatuses") or []
              if isinstance(c, dict)]
    return max(counts, default=0)
