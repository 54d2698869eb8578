"""Rollout planning for Deployments: how big each ReplicaSet should be next (pure, no I/O, no clock).

A transcription of kube-controller-manager's deployment `rolling.go`, `recreate.go`, `sync.go` (scale) and
`deploymentutil`: surge rounds up and unavailability rounds down; when both come out 0 one pod may be
unavailable; the new ReplicaSet grows within `replicas + maxSurge`; old ones shrink while at least
`replicas - maxUnavailable` pods stay available, unhealthy ones first; a resize during a rollout spreads
over the active ReplicaSets in proportion to their size. ReplicaSets are seen through `RS` views.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

ROLLING = "RollingUpdate"
RECREATE = "Recreate"

IntOrPercent = int | str


@dataclass(frozen=True)
class Strategy:
    type: str = ROLLING
    max_surge: IntOrPercent = "25%"
    max_unavailable: IntOrPercent = "25%"

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> Strategy:
        strategy = spec.get("strategy") or {}
        kind = strategy.get("type") or ROLLING
        if kind == RECREATE:
            return cls(RECREATE, 0, 0)
        rolling = strategy.get("rollingUpdate") or {}
        surge = rolling.get("maxSurge")
        unavailable = rolling.get("maxUnavailable")
        return cls(ROLLING, "25%" if surge is None else surge, "25%" if unavailable is None else unavailable)


@dataclass(frozen=True)
class RS:
    """What rollout planning needs of one ReplicaSet."""

    name: str
    replicas: int  # spec.replicas
    available: int = 0  # status.availableReplicas
    created: str = ""  # creationTimestamp (RFC 3339 sorts as text)
    max_replicas: int | None = None  # the deployment.kubernetes.io/max-replicas annotation
    desired: int | None = None  # the deployment.kubernetes.io/desired-replicas annotation


def scaled_value(value: IntOrPercent, total: int, round_up: bool) -> int:
    """intstr.GetScaledValueFromIntOrPercent; a malformed value raises ValueError."""
    if isinstance(value, bool):
        raise ValueError(f"invalid value for IntOrString: {value!r}")
    if isinstance(value, int):
        return value
    text = str(value)
    if not text.endswith("%"):  # "5" is a string, not a number, to Kubernetes too
        raise ValueError(f"invalid value for IntOrString: invalid type: string is not a percentage: {text!r}")
    try:
        percent = int(text[:-1])
    except ValueError:
        raise ValueError(f"invalid value for IntOrString: invalid value {text!r}") from None
    scaled = percent * total / 100
    return math.ceil(scaled) if round_up else math.floor(scaled)


def fenceposts(strategy: Strategy, replicas: int) -> tuple[int, int]:
    """(maxSurge, maxUnavailable) in pods; both 0 would deadlock a rollout, so then one may be unavailable."""
    surge = scaled_value(strategy.max_surge, replicas, True)
    unavailable = scaled_value(strategy.max_unavailable, replicas, False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def max_surge(strategy: Strategy, replicas: int) -> int:
    if strategy.type != ROLLING:
        return 0
    return fenceposts(strategy, replicas)[0]


def max_unavailable(strategy: Strategy, replicas: int) -> int:
    if strategy.type != ROLLING or replicas == 0:
        return 0
    return min(fenceposts(strategy, replicas)[1], replicas)


def total(rss: Sequence[RS]) -> int:
    return sum(rs.replicas for rs in rss)


def total_available(rss: Sequence[RS]) -> int:
    return sum(rs.available for rs in rss)


def active(rss: Sequence[RS]) -> list[RS]:
    return [rs for rs in rss if rs.replicas > 0]


def new_rs_replicas(replicas: int, strategy: Strategy, all_rs: Sequence[RS], new: RS | None) -> int:
    """NewRSNewReplicas: the size the new ReplicaSet may grow to now."""
    current_new = new.replicas if new else 0
    if strategy.type != ROLLING:
        return replicas
    surge = max_surge(strategy, replicas)
    max_total = replicas + surge
    current = total(all_rs)
    if current >= max_total:
        return current_new
    grow = min(max_total - current, replicas - current_new)
    return current_new + grow


def new_rs_target(replicas: int, strategy: Strategy, new: RS, olds: Sequence[RS]) -> int | None:
    """reconcileNewReplicaSet: the new ReplicaSet's next size, or None when it should stay as it is."""
    if new.replicas == replicas:
        return None
    if new.replicas > replicas:
        return replicas
    target = new_rs_replicas(replicas, strategy, [*olds, new], new)
    return None if target == new.replicas else target


def old_rs_targets(replicas: int, strategy: Strategy, new: RS, olds: Sequence[RS]) -> dict[str, int]:
    """reconcileOldReplicaSets: new sizes for the old ReplicaSets that should shrink now (empty: none)."""
    if total(olds) == 0:
        return {}
    min_available = replicas - max_unavailable(strategy, replicas)
    new_unavailable = new.replicas - new.available
    max_scaled_down = total([*olds, new]) - min_available - new_unavailable
    if max_scaled_down <= 0:
        return {}
    sizes = {rs.name: rs.replicas for rs in olds}
    # Unhealthy replicas first: they hold no availability, so removing them costs nothing.
    cleaned = 0
    for rs in sorted(olds, key=_by_creation):
        if cleaned >= max_scaled_down:
            break
        if rs.replicas == 0 or rs.replicas == rs.available:
            continue
        down = min(max_scaled_down - cleaned, rs.replicas - rs.available)
        sizes[rs.name] = rs.replicas - down
        cleaned += down
    # Then available ones, oldest first, while enough stay available.
    available = total_available([*olds, new])
    if available > min_available:
        budget = available - min_available
        scaled = 0
        for rs in sorted(olds, key=_by_creation):
            if scaled >= budget:
                break
            if sizes[rs.name] == 0:
                continue
            down = min(sizes[rs.name], budget - scaled)
            sizes[rs.name] -= down
            scaled += down
    return {rs.name: sizes[rs.name] for rs in olds if sizes[rs.name] != rs.replicas}


def is_scaling_event(replicas: int, all_rs: Sequence[RS]) -> bool:
    """The Deployment was resized (not re-templated): an active ReplicaSet was sized for another count."""
    return any(rs.desired is not None and rs.desired != replicas for rs in active(all_rs))


def active_or_latest(new: RS | None, olds: Sequence[RS]) -> RS | None:
    """FindActiveOrLatest: the one ReplicaSet with pods, or the newest when none has any; None for several."""
    if new is None and not olds:
        return None
    newest_first = sorted(olds, key=_by_creation, reverse=True)
    live = active([*newest_first, *([new] if new else [])])
    if not live:
        return new if new is not None else newest_first[0]
    return live[0] if len(live) == 1 else None


def is_saturated(replicas: int, rs: RS | None) -> bool:
    return rs is not None and rs.desired == replicas and rs.replicas == replicas and rs.available == replicas


@dataclass(frozen=True)
class ScalePlan:
    sizes: dict[str, int]  # the ReplicaSets to write, with their new size
    operation: str | None = None  # "up"/"down": a proportional resize, writing every active ReplicaSet's annotations


def scale_plan(replicas: int, strategy: Strategy, new: RS | None, olds: Sequence[RS],
               status_replicas: int) -> ScalePlan:
    """`scale`: new sizes after the Deployment's replicas changed (proportional during a rolling update)."""
    only = active_or_latest(new, olds)
    if only is not None:
        return ScalePlan({} if only.replicas == replicas else {only.name: replicas})
    if is_saturated(replicas, new):
        return ScalePlan({rs.name: 0 for rs in active(olds)})
    if strategy.type != ROLLING:
        return ScalePlan({})
    rss = active([*olds, *([new] if new else [])])
    allowed = replicas + max_surge(strategy, replicas) if replicas > 0 else 0
    to_add = allowed - total(rss)
    if to_add > 0:  # bigger first, newer first among equals
        rss.sort(key=lambda rs: (rs.created, rs.name), reverse=True)
        rss.sort(key=lambda rs: rs.replicas, reverse=True)
    elif to_add < 0:  # bigger first, older first among equals
        rss.sort(key=_by_creation)
        rss.sort(key=lambda rs: rs.replicas, reverse=True)
    sizes: dict[str, int] = {}
    added = 0
    for rs in rss:
        share = _proportion(rs, replicas, strategy, to_add, added, status_replicas)
        sizes[rs.name] = rs.replicas + share
        added += share
    if rss and to_add != 0:  # leftovers go to the largest
        first = rss[0].name
        sizes[first] = max(sizes[first] + to_add - added, 0)
    return ScalePlan(sizes, "down" if to_add < 0 else "up")


def _proportion(rs: RS, replicas: int, strategy: Strategy, to_add: int, added: int, status_replicas: int) -> int:
    if rs.replicas == 0 or to_add == 0 or to_add == added:
        return 0
    fraction = _fraction(rs, replicas, strategy, status_replicas)
    allowed = to_add - added
    return min(fraction, allowed) if to_add > 0 else max(fraction, allowed)


def _fraction(rs: RS, replicas: int, strategy: Strategy, status_replicas: int) -> int:
    if replicas == 0:
        return -rs.replicas
    deployment_replicas = replicas + max_surge(strategy, replicas)
    annotated = rs.max_replicas if rs.max_replicas is not None else status_replicas
    if annotated == 0:
        return 0
    size = rs.replicas * deployment_replicas / annotated
    return _round(size) - rs.replicas


def _round(value: float) -> int:
    """Go's math.Round: halves away from zero (Python's round() goes to even)."""
    return math.floor(value + 0.5) if value >= 0 else -math.floor(-value + 0.5)


def _by_creation(rs: RS) -> tuple[str, str]:
    return rs.created, rs.name


@dataclass(frozen=True)
class HistoryRS:
    name: str
    revision: int
    replicas: int  # spec
    status_replicas: int
    generation: int
    observed_generation: int
    deleting: bool = False


def history_to_delete(olds: Sequence[HistoryRS], limit: int) -> list[str]:
    """cleanupDeployment: the oldest revisions beyond `revisionHistoryLimit` that have scaled to nothing."""
    alive = [rs for rs in olds if not rs.deleting]
    excess = len(alive) - limit
    if excess <= 0:
        return []
    doomed = []
    for rs in sorted(alive, key=lambda r: (r.revision, r.name))[:excess]:
        if rs.status_replicas != 0 or rs.replicas != 0 or rs.generation > rs.observed_generation:
            continue
        doomed.append(rs.name)
    return doomed
