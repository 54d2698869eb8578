"""Watch: fan-out of committed store events to watch streams, and the stream semantics clients rely on.

One `Broadcaster` subscribes to the store; each watch request takes a `Subscription` *before* it reads
its starting point (a list or the event log), in the same event-loop step, so no event can fall between
the two. Semantics follow the apiserver (see notes §7): synthetic ADDED for watches without a
resourceVersion, resume after a resourceVersion, 410 for compacted history, bookmarks, `sendInitialEvents`
with the initial-events-end bookmark, selector transitions turned into ADDED/DELETED, timeouts.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from kubeserve.api import errors
from kubeserve.api.kinds import ResourceKind
from kubeserve.api.selectors import FieldSelector, LabelSelector
from kubeserve.apiserver.request import ListOptions
from kubeserve.store import Compacted, Event, Key, Store

log = logging.getLogger(__name__)

Obj = dict[str, Any]
QUEUE_LIMIT = 20_000  # a watcher this far behind is cut off with 410 and relists, as the apiserver does


@dataclass(eq=False)
class Subscription:
    group: str
    resource: str
    queue: asyncio.Queue[Event | None] = field(default_factory=lambda: asyncio.Queue(QUEUE_LIMIT))
    overflowed: bool = False

    def offer(self, event: Event) -> None:
        if self.overflowed:
            return
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.overflowed = True
            self.queue.get_nowait()
            self.queue.put_nowait(None)


class Broadcaster:
    """Routes each committed event to the subscriptions of its resource (and to catch-all listeners)."""

    def __init__(self, store: Store) -> None:
        self._by_resource: dict[tuple[str, str], set[Subscription]] = {}
        self._catch_all: list[Callable[[Event], None]] = []
        self._unsubscribe = store.subscribe(self._on_event)

    def _on_event(self, event: Event) -> None:
        for sub in list(self._by_resource.get((event.key.group, event.key.resource), ())):
            sub.offer(event)
        for listener in self._catch_all:
            listener(event)

    def subscribe(self, group: str, resource: str) -> Subscription:
        sub = Subscription(group, resource)
        self._by_resource.setdefault((group, resource), set()).add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._by_resource.get((sub.group, sub.resource), set()).discard(sub)

    def listen(self, listener: Callable[[Event], None]) -> None:
        self._catch_all.append(listener)

    def close(self) -> None:
        self._unsubscribe()
        for subs in self._by_resource.values():
            for sub in subs:
                sub.queue.put_nowait(None)


@dataclass(frozen=True)
class WatchEvent:
    type: str  # ADDED, MODIFIED, DELETED, BOOKMARK, ERROR
    object: Obj


class WatchStream:
    """Produces the events of one watch request, starting point included."""

    def __init__(
        self,
        store: Store,
        broadcaster: Broadcaster,
        kind: ResourceKind,
        namespace: str,
        opts: ListOptions,
        bookmark_interval: float = 30.0,
        default_timeout: float = 1800.0,
    ) -> None:
        self.store = store
        self.kind = kind
        self.namespace = namespace if kind.namespaced else ""
        self.opts = opts
        self.labels = LabelSelector.parse(opts.label_selector)
        self.fields = FieldSelector.parse(opts.field_selector)
        self.filtered = bool(opts.label_selector.strip() or opts.field_selector.strip())
        self.bookmark_interval = bookmark_interval
        self.timeout = float(opts.timeout_seconds) if opts.timeout_seconds else default_timeout
        if opts.send_initial_events:
            if opts.resource_version_match != "NotOlderThan" or not opts.allow_bookmarks:
                raise errors.Invalid(
                    "sendInitialEvents is supported only with resourceVersionMatch=NotOlderThan and "
                    "allowWatchBookmarks=true", kind=kind.kind)
        elif opts.send_initial_events is False and opts.resource_version_match:
            raise errors.BadRequest("resourceVersionMatch is forbidden for watch unless sendInitialEvents is set")
        # Subscribe first, then read the starting point, with no await in between.
        self.broadcaster = broadcaster
        self.sub = broadcaster.subscribe(kind.group, kind.plural)
        # Keys this (filtered) watcher currently sees; set before the starting point, which fills it.
        self.members: set[Key] = set()
        try:
            self.initial, self.last_revision = self._starting_point()
        except BaseException:
            broadcaster.unsubscribe(self.sub)
            raise

    def _starting_point(self) -> tuple[list[WatchEvent], int]:
        opts = self.opts
        rv = opts.resource_version
        replay_state = opts.send_initial_events or rv in ("", "0")
        if replay_state:
            items, revision = self.store.list(self.kind.group, self.kind.plural, self.namespace or None)
            events = [WatchEvent("ADDED", o) for o in items if self._matches(o)]
            self.members.update(_key_of(self.kind, e.object) for e in events)
            if opts.send_initial_events:
                events.append(self._bookmark(revision, initial_end=True))
            return events, revision
        try:
            start = int(rv)
        except ValueError as exc:
            raise errors.BadRequest(f"invalid resource version {rv!r}: must be an integer") from exc
        try:
            past = self.store.events_since(start, self.kind.group, self.kind.plural, self.namespace or None)
        except Compacted as exc:
            raise errors.Expired(f"too old resource version: {exc.requested} ({exc.compacted})") from exc
        events = [e for e in (self._translate(ev) for ev in past) if e is not None]
        return events, max([start, *(ev.revision for ev in past)])

    def _matches(self, obj: Obj) -> bool:
        return self.labels.matches(obj.get("metadata", {}).get("labels") or {}) and self.fields.matches(obj)

    def _translate(self, event: Event) -> WatchEvent | None:
        if self.namespace and event.key.namespace != self.namespace:
            return None
        if not self.filtered:
            return WatchEvent(event.type, event.object)
        matches = self._matches(event.object)
        was_member = event.key in self.members
        if event.type == "DELETED":
            self.members.discard(event.key)
            return WatchEvent("DELETED", event.object) if matches or was_member else None
        if matches:
            self.members.add(event.key)
            return WatchEvent("ADDED" if event.type == "ADDED" or not was_member else "MODIFIED", event.object)
        if was_member:  # the object left the selector: to this watcher it is gone
            self.members.discard(event.key)
            return WatchEvent("DELETED", event.object)
        return None

    def _bookmark(self, revision: int, initial_end: bool = False) -> WatchEvent:
        meta: Obj = {"resourceVersion": str(revision)}
        if initial_end:
            meta["annotations"] = {"k8s.io/initial-events-end": "true"}
        return WatchEvent("BOOKMARK", {"kind": self.kind.kind, "apiVersion": self.kind.api_version, "metadata": meta})

    async def events(self) -> AsyncIterator[WatchEvent]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        try:
            for ev in self.initial:
                yield ev
            self.initial = []
            while True:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return
                wait = min(remaining, self.bookmark_interval) if self.opts.allow_bookmarks else remaining
                try:
                    # Take what is already queued at once: wait_for costs a task and loop turns per event,
                    # while concurrent writers queue several events a turn, so a watch fell seconds behind.
                    if self.sub.queue.empty():
                        event = await asyncio.wait_for(self.sub.queue.get(), wait)
                    else:
                        event = self.sub.queue.get_nowait()
                except TimeoutError:
                    if self.opts.allow_bookmarks and loop.time() < deadline:
                        # The queue is empty, so every event of this resource up to the store's revision
                        # has been delivered: the bookmark may claim it.
                        self.last_revision = max(self.last_revision, self.store.revision)
                        yield self._bookmark(self.last_revision)
                    continue
                if event is None:
                    if self.sub.overflowed:
                        yield WatchEvent("ERROR", errors.Expired(
                            "the watch fell too far behind; relist and watch again").to_status())
                    return
                if event.revision <= self.last_revision:
                    continue
                self.last_revision = event.revision
                translated = self._translate(event)
                if translated is not None:
                    yield translated
        finally:
            self.broadcaster.unsubscribe(self.sub)

    def close(self) -> None:
        self.broadcaster.unsubscribe(self.sub)


def _key_of(kind: ResourceKind, obj: Obj) -> Key:
    meta = obj.get("metadata", {})
    return Key(kind.group, kind.plural, meta.get("namespace", "") if kind.namespaced else "", meta.get("name", ""))


def compact_periodically(store: Store, keep: int, interval: float) -> Callable[[], asyncio.Task[None]]:
    """A factory for the task that trims history, so the event log does not grow without bound."""

    async def run() -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                store.compact(keep)
            except Exception:
                log.exception("compaction failed")

    return lambda: asyncio.get_running_loop().create_task(run())
