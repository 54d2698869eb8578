"""The Endpoints and EndpointSlice controller: every Service with a selector gets both, owned by it.

A reconcile re-reads the Service and its pods from the informers, computes the objects
(`serviceendpoints`) and writes only what differs from the stored ones, so pod churn that does not change
addresses or readiness costs no write. Services without a selector are left alone: their Endpoints are
written by whoever made them. Deletion is the garbage collector's, through the ownerReferences.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from kubeserve.api import errors
from kubeserve.client import ApiClient, Controller, Informer, Key, Obj, Result
from kubeserve.client.informer import object_key
from kubeserve.node.workloads import serviceendpoints as se
from kubeserve.node.workloads.freshness import Superseded

log = logging.getLogger(__name__)


class EndpointsController:
    def __init__(self, client: ApiClient, services: Informer, pods: Informer, endpoints: Informer,
                 slices: Informer, *, workers: int = 2) -> None:
        self.client = client
        self.services = services
        self.pods = pods
        self.endpoints = endpoints
        self.slices = slices
        self.endpoints_kind = client.kind("v1", "Endpoints")
        self.slice_kind = client.kind("discovery.k8s.io/v1", "EndpointSlice")
        self.superseded = Superseded()
        self.controller = Controller("endpoint-controller", self.reconcile, workers=workers)
        self.controller.watch_primary(services)
        self.controller.watch(pods, self.pod_services)
        self.controller.watch(endpoints, lambda ep: [object_key(ep)])
        self.controller.watch(slices, _slice_service)

    def start(self) -> None:
        self.controller.start()

    async def stop(self) -> None:
        await self.controller.stop()

    def _stale(self, key: Key) -> bool:
        endpoints = self.endpoints.get(*key)
        if endpoints is not None and self.superseded.stale("Endpoints", endpoints):
            return True
        selector = f"{se.SERVICE_NAME_LABEL}={key[1]},{se.SLICE_MANAGED_BY_LABEL}={se.SLICE_MANAGER}"
        return any(self.superseded.stale("EndpointSlice", s) for s in self.slices.list(key[0], selector))

    def pod_services(self, pod: Obj) -> Iterable[Key]:
        """Every Service in the pod's namespace whose selector matches it."""
        meta = pod.get("metadata") or {}
        labels = meta.get("labels") or {}
        for service in self.services.list(meta.get("namespace", "")):
            selector = se.service_selector(service)
            if selector is not None and selector.matches(labels):
                yield object_key(service)

    async def reconcile(self, key: Key) -> Result | None:
        cached = self.services.get(*key)
        if cached is None or (cached.get("metadata") or {}).get("deletionTimestamp"):
            return None
        service = {**cached, "apiVersion": "v1", "kind": "Service"}
        selector = se.service_selector(service)
        if selector is None:
            return None
        if self._stale(key):
            return None  # our last write is on its way to the cache, and will enqueue this Service again
        pods = self.pods.list(key[0], selector)
        await self._sync_endpoints(service, pods)
        await self._sync_slices(service, pods)
        return None

    async def _sync_endpoints(self, service: Obj, pods: list[Obj]) -> None:
        namespace, name = object_key(service)
        desired = se.endpoints_for(service, pods)
        stored = self.endpoints.get(namespace, name)
        if stored is None:
            try:
                await self.client.create(self.endpoints_kind, namespace, desired)
                return
            except errors.AlreadyExists:
                stored = await self.client.get(self.endpoints_kind, namespace, name)
        if se.differs(desired, stored):
            written = await self.client.replace(self.endpoints_kind, namespace, se.merged(desired, stored))
            self.superseded.wrote("Endpoints", stored, written)

    async def _sync_slices(self, service: Obj, pods: list[Obj]) -> None:
        namespace, name = object_key(service)
        selector = f"{se.SERVICE_NAME_LABEL}={name},{se.SLICE_MANAGED_BY_LABEL}={se.SLICE_MANAGER}"
        existing = {s["metadata"]["name"]: s for s in self.slices.list(namespace, selector)}
        wanted = se.slices_for(service, pods)
        for desired in wanted:
            slice_name = desired["metadata"]["name"]
            stored = existing.get(slice_name)
            if stored is None:
                try:
                    await self.client.create(self.slice_kind, namespace, desired)
                    continue
                except errors.AlreadyExists:
                    stored = await self.client.get(self.slice_kind, namespace, slice_name)
            if se.differs(desired, stored):
                written = await self.client.replace(self.slice_kind, namespace, se.merged(desired, stored))
                self.superseded.wrote("EndpointSlice", stored, written)
        keep = {d["metadata"]["name"] for d in wanted}
        for slice_name in existing.keys() - keep:
            await self.client.delete_if_exists(self.slice_kind, namespace, slice_name)
            self.superseded.forget("EndpointSlice", namespace, slice_name)


def _slice_service(endpoint_slice: Obj) -> Iterable[Key]:
    meta = endpoint_slice.get("metadata") or {}
    labels = meta.get("labels") or {}
    if labels.get(se.SLICE_MANAGED_BY_LABEL) == se.SLICE_MANAGER and labels.get(se.SERVICE_NAME_LABEL):
        yield meta.get("namespace", ""), labels[se.SERVICE_NAME_LABEL]
