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
from kubeserve.api.kinds import ResourceKind
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
        return any(self.superseded.stale("EndpointSlice", s) for s in self.slices.list(key[0], _slice_selector(key[1])))

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
        await self._write(self.endpoints_kind, namespace, se.endpoints_for(service, pods),
                          self.endpoints.get(namespace, name))

    async def _sync_slices(self, service: Obj, pods: list[Obj]) -> None:
        namespace, name = object_key(service)
        existing = {s["metadata"]["name"]: s for s in self.slices.list(namespace, _slice_selector(name))}
        wanted = se.slices_for(service, pods)
        for desired in wanted:
            await self._write(self.slice_kind, namespace, desired, existing.get(desired["metadata"]["name"]))
        keep = {d["metadata"]["name"] for d in wanted}
        for slice_name in existing.keys() - keep:
            await self.client.delete_if_exists(self.slice_kind, namespace, slice_name)
            self.superseded.forget("EndpointSlice", namespace, slice_name)

    async def _write(self, kind: ResourceKind, namespace: str, desired: Obj, stored: Obj | None) -> None:
        """Create `desired`, or replace the stored object with it where they differ."""
        if stored is None:
            try:
                await self.client.create(kind, namespace, desired)
                return
            except errors.AlreadyExists:
                stored = await self.client.get(kind, namespace, desired["metadata"]["name"])
        if se.differs(desired, stored):
            written = await self.client.replace(kind, namespace, se.merged(desired, stored))
            self.superseded.wrote(kind.kind, stored, written)


def _slice_selector(service_name: str) -> str:
    """The label selector of the EndpointSlices this controller manages for one Service."""
    return f"{se.SERVICE_NAME_LABEL}={service_name},{se.SLICE_MANAGED_BY_LABEL}={se.SLICE_MANAGER}"


def _slice_service(endpoint_slice: Obj) -> Iterable[Key]:
    meta = endpoint_slice.get("metadata") or {}
    labels = meta.get("labels") or {}
    if labels.get(se.SLICE_MANAGED_BY_LABEL) == se.SLICE_MANAGER and labels.get(se.SERVICE_NAME_LABEL):
        yield meta.get("namespace", ""), labels[se.SERVICE_NAME_LABEL]
