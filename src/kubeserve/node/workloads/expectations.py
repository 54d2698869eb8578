"""Creates and deletes in flight, per ReplicaSet, until the pod informer has seen them.

The informer cache lags a create by a few milliseconds; a reconcile in that window would count too few
pods and create duplicates. As Kubernetes' `UIDTrackingControllerExpectations` do, a ReplicaSet whose
expectations are unmet does not create or delete (it still writes status); expectations are lowered by
the informer's events and expire after `ttl` seconds so a lost event cannot wedge a ReplicaSet.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

Key = tuple[str, str]


@dataclass
class _Pending:
    adds: int
    deletes: set[str] = field(default_factory=set)
    since: float = 0.0


class Expectations:
    def __init__(self, clock: Callable[[], float], ttl: float = 300.0) -> None:
        self._clock = clock
        self._ttl = ttl
        self._pending: dict[Key, _Pending] = {}

    def expect(self, key: Key, adds: int = 0, deletes: Iterable[str] = ()) -> None:
        self._pending[key] = _Pending(adds, set(deletes), self._clock())

    def creation_observed(self, key: Key) -> None:
        pending = self._pending.get(key)
        if pending is not None:
            pending.adds -= 1

    def deletion_observed(self, key: Key, pod: str) -> None:
        pending = self._pending.get(key)
        if pending is not None:
            pending.deletes.discard(pod)

    def satisfied(self, key: Key) -> bool:
        pending = self._pending.get(key)
        if pending is None:
            return True
        if pending.adds <= 0 and not pending.deletes:
            return True
        return self._clock() - pending.since > self._ttl

    def forget(self, key: Key) -> None:
        self._pending.pop(key, None)
