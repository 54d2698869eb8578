"""Types shared by every Store implementation and its users."""

from __future__ import annotations

import builtins
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

EventType = Literal["ADDED", "MODIFIED", "DELETED"]


@dataclass(frozen=True, order=True)
class Key:
    """Where one object lives. `namespace` is "" for cluster-scoped kinds; `group` is "" for core."""

    group: str
    resource: str  # the plural, e.g. "inferenceservices"
    namespace: str
    name: str


@dataclass(frozen=True)
class Event:
    """One committed change. `object` carries the new `metadata.resourceVersion` (== `revision`);
    for DELETED it is the last state of the object stamped with the deletion's revision."""

    type: EventType
    key: Key
    object: dict[str, Any]
    revision: int


Listener = Callable[[Event], None]


class Store(Protocol):
    """A revisioned object store in the style of etcd/kine.

    Every successful write gets the next global revision, which is written into the stored body as
    `metadata.resourceVersion` (a decimal string). Writes are durable when the call returns. Objects
    are JSON-compatible dicts; the store never interprets them beyond `metadata.resourceVersion`.
    Calls are synchronous and cheap; the store is used from one thread.
    """

    @property
    def revision(self) -> int:
        """The revision of the last committed write (0 for an empty store)."""
        ...

    @property
    def compacted_revision(self) -> int:
        """Events at or below this revision are gone; `events_since(r)` with r < this raises Compacted."""
        ...

    def get(self, key: Key) -> dict[str, Any] | None: ...

    def list(
        self, group: str, resource: str, namespace: str | None = None
    ) -> tuple[builtins.list[dict[str, Any]], int]:
        """Live objects of one resource (in one namespace, or all when None), ordered by (namespace,
        name), and the store revision they were read at."""
        ...

    def create(self, key: Key, obj: dict[str, Any]) -> dict[str, Any]:
        """Store a new object; raises KeyExists. Returns the stored body (with resourceVersion)."""
        ...

    def update(self, key: Key, obj: dict[str, Any], expected_revision: int | None = None) -> dict[str, Any]:
        """Replace a live object; raises KeyNotFound, or RevisionConflict when `expected_revision` is
        given and is not the live object's revision."""
        ...

    def delete(self, key: Key, expected_revision: int | None = None) -> dict[str, Any]:
        """Remove a live object; returns its last state stamped with the deletion's revision."""
        ...

    def events_since(
        self, revision: int, group: str, resource: str, namespace: str | None = None
    ) -> builtins.list[Event]:
        """Committed events with revision > `revision` for one resource, oldest first."""
        ...

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call `listener` synchronously after each commit; returns an unsubscribe function.

        Listeners must treat `Event.object` as read-only and must not write to the store (queue work
        instead): a write from a listener would reach later listeners before the event that caused it.
        """
        ...

    def compact(self, keep: int) -> int:
        """Drop history older than the newest `keep` revisions; returns the compacted revision."""
        ...

    def close(self) -> None: ...
