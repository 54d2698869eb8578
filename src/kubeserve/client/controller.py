"""The reconcile-loop runtime shared by every controller (built-in kinds, KServe, the kubelet).

A `Controller` owns a work queue of keys `(namespace, name)`. Informer changes enqueue keys (the primary
object's own key, or its owner's through a mapper); workers call `reconcile(key)`. Guarantees, as in
controller-runtime: one in-flight reconcile per key, a key queued while it is being reconciled is run
again afterwards, errors retry with exponential back-off, `Result.requeue_after` polls, and a periodic
resync enqueues every cached primary object so the loop stays level-triggered.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from kubeserve.api import errors
from kubeserve.client.background import cancel_and_wait
from kubeserve.client.informer import Informer, object_key
from kubeserve.client.rest import ApiClient, Obj

log = logging.getLogger(__name__)

Key = tuple[str, str]


@dataclass(frozen=True)
class Result:
    requeue_after: float | None = None


class TerminalError(Exception):
    """Only a spec change can fix this: do not retry (the reconcile has already said why in status)."""


Reconcile = Callable[[Key], Awaitable[Result | None]]
Mapper = Callable[[Obj], Iterable[Key]]


def owner_mapper(owner_kind: str) -> Mapper:
    """Map an owned object to its controller owner's key (same namespace), for `Controller.watch`."""

    def mapper(obj: Obj) -> Iterable[Key]:
        meta = obj.get("metadata", {})
        for ref in meta.get("ownerReferences") or []:
            if ref.get("kind") == owner_kind and ref.get("controller"):
                yield meta.get("namespace", ""), ref.get("name", "")

    return mapper


class Controller:
    def __init__(self, name: str, reconcile: Reconcile, *, workers: int = 2, resync: float = 30.0,
                 max_backoff: float = 30.0) -> None:
        self.name = name
        self._reconcile = reconcile
        self._workers = workers
        self._resync = resync
        self._max_backoff = max_backoff
        self._queue: asyncio.Queue[Key] = asyncio.Queue()
        self._queued: set[Key] = set()
        self._active: set[Key] = set()
        self._dirty: set[Key] = set()
        self._failures: dict[Key, int] = {}
        self._timers: dict[Key, asyncio.TimerHandle] = {}
        self._primaries: list[Informer] = []
        self._tasks: list[asyncio.Task[None]] = []

    # -- wiring -----------------------------------------------------------------------------------------

    def watch_primary(self, informer: Informer) -> None:
        self._primaries.append(informer)
        informer.add_handler(lambda old, new: self.enqueue(object_key(new or old or {})))

    def watch(self, informer: Informer, mapper: Mapper) -> None:
        def handler(old: Obj | None, new: Obj | None) -> None:
            keys = set(mapper(old)) if old is not None else set()
            if new is not None:
                keys |= set(mapper(new))
            for key in keys:
                self.enqueue(key)

        informer.add_handler(handler)

    # -- the queue --------------------------------------------------------------------------------------

    def enqueue(self, key: Key) -> None:
        if key in self._active:
            self._dirty.add(key)
            return
        if key in self._queued:
            return
        self._queued.add(key)
        self._queue.put_nowait(key)

    def enqueue_after(self, key: Key, delay: float) -> None:
        timer = self._timers.get(key)
        loop = asyncio.get_running_loop()
        when = loop.time() + delay
        if timer is not None and timer.when() <= when:
            return
        if timer is not None:
            timer.cancel()
        self._timers[key] = loop.call_at(when, self._fire, key)

    def _fire(self, key: Key) -> None:
        self._timers.pop(key, None)
        self.enqueue(key)

    # -- running ----------------------------------------------------------------------------------------

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        for i in range(self._workers):
            self._tasks.append(loop.create_task(self._work(), name=f"{self.name} worker {i}"))
        if self._resync > 0:
            self._tasks.append(loop.create_task(self._resync_loop(), name=f"{self.name} resync"))

    async def stop(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        await cancel_and_wait(*self._tasks)
        self._tasks.clear()

    async def _resync_loop(self) -> None:
        while True:
            await asyncio.sleep(self._resync)
            for informer in self._primaries:
                for obj in informer.list():
                    self.enqueue(object_key(obj))

    async def _work(self) -> None:
        while True:
            key = await self._queue.get()
            self._queued.discard(key)
            self._active.add(key)
            try:
                result = await self._reconcile(key)
                self._failures.pop(key, None)
                if result is not None and result.requeue_after is not None:
                    self.enqueue_after(key, result.requeue_after)
            except asyncio.CancelledError:
                raise
            except TerminalError as exc:
                self._failures.pop(key, None)
                log.info("%s %s/%s: %s", self.name, key[0], key[1], exc)
            except Exception as exc:
                failures = self._failures.get(key, 0) + 1
                self._failures[key] = failures
                delay = min(0.05 * 2 ** failures, self._max_backoff)
                if isinstance(exc, (errors.Conflict, errors.NotFound, errors.AlreadyExists)):
                    log.debug("%s %s/%s: %s; retrying in %.2fs", self.name, key[0], key[1], exc, delay)
                else:
                    log.warning("%s %s/%s failed: %s; retrying in %.2fs", self.name, key[0], key[1],
                                exc, delay, exc_info=not isinstance(exc, errors.ApiError))
                self.enqueue_after(key, delay)
            finally:
                self._active.discard(key)
                if key in self._dirty:
                    self._dirty.discard(key)
                    self.enqueue(key)


def now_rfc3339(clock: Callable[[], datetime] | None = None) -> str:
    moment = clock() if clock else datetime.now(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class EventRecorder:
    """Posts core/v1 Events; repeats of the same (object, reason, message) bump `count` instead."""

    def __init__(self, client: ApiClient, component: str, host: str = "") -> None:
        self.client = client
        self.component = component
        self.host = host
        self._kind = client.kind("v1", "Event")
        self._seen: dict[tuple[str, str, str, str, str], tuple[str, int]] = {}

    async def record(self, obj: Obj, event_type: str, reason: str, message: str) -> None:
        meta = obj.get("metadata", {})
        namespace = meta.get("namespace") or "default"
        identity = (namespace, str(meta.get("uid", "")), obj.get("kind", ""), reason, message)
        stamp = now_rfc3339()
        try:
            previous = self._seen.get(identity)
            if previous is not None:
                name, count = previous
                await self.client.patch(self._kind, namespace, name, {"count": count + 1, "lastTimestamp": stamp})
                self._seen[identity] = (name, count + 1)
                return
            source = {"component": self.component}
            if self.host:
                source["host"] = self.host
            event = {
                "apiVersion": "v1", "kind": "Event",
                "metadata": {"generateName": f"{meta.get('name', 'object')}.", "namespace": namespace},
                "involvedObject": {"apiVersion": obj.get("apiVersion", ""), "kind": obj.get("kind", ""),
                                   "name": meta.get("name", ""), "namespace": meta.get("namespace", ""),
                                   "uid": meta.get("uid", ""), "resourceVersion": meta.get("resourceVersion", "")},
                "reason": reason, "message": message, "type": event_type, "source": source,
                "firstTimestamp": stamp, "lastTimestamp": stamp, "count": 1,
                "reportingComponent": self.component, "reportingInstance": self.host,
            }
            created = await self.client.create(self._kind, namespace, event)
            self._seen[identity] = (created["metadata"]["name"], 1)
        except errors.NotFound:
            self._seen.pop(identity, None)  # the event was pruned, or the namespace is going away
        except (errors.ApiError, OSError) as exc:
            log.debug("could not record event %s for %s: %s", reason, meta.get("name"), exc)
