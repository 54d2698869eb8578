"""Informers: a local cache of one kind, kept current by list-then-watch, with change callbacks.

The cache is what controllers read (`get`, `list`), so a reconcile costs no round trip for reads; writes
go through the `ApiClient`. A watch that ends is resumed from the last resourceVersion seen; a 410
(compacted) relists and reports the differences, so no change is ever missed (level-triggered).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any

import aiohttp

from kubeserve.api import errors
from kubeserve.api.kinds import ResourceKind
from kubeserve.api.selectors import LabelSelector
from kubeserve.client.background import cancel_and_wait
from kubeserve.client.rest import ApiClient, Obj

log = logging.getLogger(__name__)

# (old, new): old is None for an add, new is None for a delete.
ChangeHandler = Callable[[Obj | None, Obj | None], None]


def object_key(obj: Obj) -> tuple[str, str]:
    meta = obj.get("metadata", {})
    return meta.get("namespace", "") or "", meta.get("name", "")


class Informer:
    def __init__(self, client: ApiClient, kind: ResourceKind, namespace: str = "", *,
                 label_selector: str = "", field_selector: str = "") -> None:
        self.client = client
        self.kind = kind
        self.namespace = namespace
        self.label_selector = label_selector
        self.field_selector = field_selector
        self._cache: dict[tuple[str, str], Obj] = {}
        self._handlers: list[ChangeHandler] = []
        self._synced = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    # -- reading the cache ------------------------------------------------------------------------------

    def get(self, namespace: str, name: str) -> Obj | None:
        return self._cache.get((namespace, name))

    def list(self, namespace: str | None = None, selector: LabelSelector | str | None = None) -> list[Obj]:
        match = LabelSelector.parse(selector) if isinstance(selector, str) else selector
        out = []
        for (ns, _), obj in self._cache.items():
            if namespace is not None and ns != namespace:
                continue
            if match is not None and not match.matches(obj.get("metadata", {}).get("labels") or {}):
                continue
            out.append(obj)
        return out

    def add_handler(self, handler: ChangeHandler) -> None:
        self._handlers.append(handler)
        for obj in list(self._cache.values()):
            handler(None, obj)

    async def wait_synced(self) -> None:
        await self._synced.wait()

    @property
    def synced(self) -> bool:
        return self._synced.is_set()

    # -- running ----------------------------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"informer {self.kind.plural}")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None

    async def _run(self) -> None:
        resource_version = ""
        delay = 0.2
        while True:
            try:
                if not resource_version:
                    resource_version = await self._relist()
                async for event in self.client.watch(self.kind, self.namespace, resource_version=resource_version,
                                                     label_selector=self.label_selector,
                                                     field_selector=self.field_selector):
                    new_rv = event.object.get("metadata", {}).get("resourceVersion", "")
                    if event.type != "BOOKMARK":
                        self._apply(event.type, event.object)
                    resource_version = new_rv or resource_version
                delay = 0.2
            except errors.Expired:
                resource_version = ""
            except asyncio.CancelledError:
                raise
            except (TimeoutError, aiohttp.ClientError, OSError, errors.ApiError, ValueError) as exc:
                log.debug("watch of %s failed (%s); retrying in %.1fs", self.kind.plural, exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                if isinstance(exc, errors.ApiError):
                    resource_version = ""

    async def _relist(self) -> str:
        items, resource_version = await self.client.list(self.kind, self.namespace,
                                                         label_selector=self.label_selector,
                                                         field_selector=self.field_selector)
        fresh = {object_key(item): item for item in items}
        for key in [k for k in self._cache if k not in fresh]:
            self._notify(self._cache.pop(key), None)
        for key, item in fresh.items():
            old = self._cache.get(key)
            self._cache[key] = item
            if old is None or _rv(old) != _rv(item):
                self._notify(old, item)
        self._synced.set()
        return resource_version

    def _apply(self, event_type: str, obj: Obj) -> None:
        key = object_key(obj)
        old = self._cache.get(key)
        if event_type == "DELETED":
            self._cache.pop(key, None)
            self._notify(old or obj, None)
        else:
            self._cache[key] = obj
            self._notify(old, obj)

    def _notify(self, old: Obj | None, new: Obj | None) -> None:
        for handler in self._handlers:
            try:
                handler(old, new)
            except Exception:  # a handler's bug must not stop the cache
                log.exception("informer handler for %s failed", self.kind.plural)


def _rv(obj: Obj) -> Any:
    return obj.get("metadata", {}).get("resourceVersion")


async def start_informers(client: ApiClient, kinds: Mapping[str, tuple[str, str]],
                          timeout: float) -> dict[str, Informer]:
    """One informer per `name → (apiVersion, kind)`, all started and listed (synced) before returning: what
    each set of controllers shares, as kube-controller-manager shares its informer factory."""
    informers = {name: Informer(client, client.kind(*kind)) for name, kind in kinds.items()}
    for informer in informers.values():
        informer.start()
    await asyncio.wait_for(asyncio.gather(*(i.wait_synced() for i in informers.values())), timeout)
    return informers
