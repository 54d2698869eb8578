"""The ReplicaSet controller: keeps `spec.replicas` active pods from the template, and reports how many.

Each reconcile re-reads the ReplicaSet and its namespace's pods from the informers, adopts matching
orphans and releases pods that stopped matching, creates (slow-start batches) or deletes (worst first,
see `replicas.pods_to_delete`) the difference, and writes status once. Creates and deletes are tracked
as `Expectations` until the pod informer sees them, so a burst of events never doubles a scale-up.
Failed pods are deleted so they are replaced (the embedded node has no pod garbage collector).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from kubeserve.api import errors
from kubeserve.api.selectors import LabelSelector
from kubeserve.client import ApiClient, Controller, EventRecorder, Informer, Key, Obj, Result, TerminalError
from kubeserve.client.informer import object_key
from kubeserve.node.workloads import owners
from kubeserve.node.workloads import pods as podinfo
from kubeserve.node.workloads.expectations import Expectations
from kubeserve.node.workloads.freshness import Superseded
from kubeserve.node.workloads.replicas import pods_to_delete, replica_set_status

log = logging.getLogger(__name__)

BURST_REPLICAS = 500


@dataclass(frozen=True)
class Failure:
    """A create or delete that failed: its message for the ReplicaFailure condition, its error to retry on."""

    message: str
    error: errors.ApiError


class ReplicaSetController:
    def __init__(self, client: ApiClient, replicasets: Informer, pods: Informer, *, workers: int = 2,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC), burst: int = BURST_REPLICAS) -> None:
        self.client = client
        self.replicasets = replicasets
        self.pods = pods
        self.clock = clock
        self.burst = burst
        self.kind = client.kind("apps/v1", "ReplicaSet")
        self.pod_kind = client.kind("v1", "Pod")
        self.recorder = EventRecorder(client, "replicaset-controller")
        self.expectations = Expectations(time.monotonic)
        self.superseded = Superseded()
        self.controller = Controller("replicaset-controller", self.reconcile, workers=workers)
        self.controller.watch_primary(replicasets)
        pods.add_handler(self._observe)  # before the controller's handler: expectations drop, then keys queue
        self.controller.watch(pods, self._pod_owners)

    def start(self) -> None:
        self.controller.start()

    async def stop(self) -> None:
        await self.controller.stop()

    # -- watches ----------------------------------------------------------------------------------------

    def _pod_owners(self, pod: Obj) -> Iterable[Key]:
        namespace = (pod.get("metadata") or {}).get("namespace", "")
        ref = owners.controller_ref(pod)
        if ref is not None:
            if ref.get("kind") == "ReplicaSet":
                yield namespace, str(ref.get("name", ""))
            return
        labels = (pod.get("metadata") or {}).get("labels") or {}
        for rs in self.replicasets.list(namespace):  # an orphan: every ReplicaSet that could adopt it
            selector = (rs.get("spec") or {}).get("selector")
            if selector and _selector(rs).matches(labels):
                yield object_key(rs)

    def _observe(self, old: Obj | None, new: Obj | None) -> None:
        pod = new if new is not None else old
        if pod is None:
            return
        ref = owners.controller_ref(pod)
        if ref is None or ref.get("kind") != "ReplicaSet":
            return
        meta = pod.get("metadata") or {}
        key = (meta.get("namespace", ""), str(ref.get("name", "")))
        name = str(meta.get("name", ""))
        if new is None:
            self.expectations.deletion_observed(key, name)
        elif old is None:
            if podinfo.is_terminating(new):
                self.expectations.deletion_observed(key, name)
            else:
                self.expectations.creation_observed(key)
        elif podinfo.is_terminating(new) and not podinfo.is_terminating(old):
            self.expectations.deletion_observed(key, name)

    # -- reconcile --------------------------------------------------------------------------------------

    async def reconcile(self, key: Key) -> Result | None:
        namespace, _ = key
        cached = self.replicasets.get(*key)
        if cached is None:
            self.expectations.forget(key)
            self.superseded.forget("ReplicaSet", *key)
            return None
        if self.superseded.stale("ReplicaSet", cached):
            return None  # our last status write is on its way to the cache, and will enqueue this key again
        rs = {**cached, "apiVersion": "apps/v1", "kind": "ReplicaSet"}
        selector = _selector(rs)
        if selector.empty or selector.nothing:
            raise TerminalError("a ReplicaSet needs a non-empty selector")
        needs_sync = self.expectations.satisfied(key)
        all_pods = self.pods.list(namespace)
        await self._delete_failed(rs, all_pods)
        active = await self._claim(rs, selector, [p for p in all_pods if podinfo.is_active(p)])
        failure: Failure | None = None
        if needs_sync and not (rs.get("metadata") or {}).get("deletionTimestamp"):
            failure = await self._manage(key, rs, active)
        observed = replica_set_status(rs, active, self.clock(), failure.message if failure else None)
        if observed.status != (rs.get("status") or {}):
            written = await self.client.replace(self.kind, namespace, {**rs, "status": observed.status},
                                                subresource="status")
            self.superseded.wrote("ReplicaSet", rs, written)
        if failure is not None:
            raise failure.error  # retried with back-off
        return Result(observed.recheck_after) if observed.recheck_after is not None else None

    async def _claim(self, rs: Obj, selector: LabelSelector, candidates: list[Obj]) -> list[Obj]:
        claim = owners.claim(rs, selector, candidates)
        owned = list(claim.owned)
        namespace = rs["metadata"].get("namespace", "")
        for pod in claim.adopt:
            patch = {"metadata": {"ownerReferences": owners.with_owner(pod, rs),
                                  "resourceVersion": pod["metadata"].get("resourceVersion")}}
            try:
                owned.append(await self.client.patch(self.pod_kind, namespace, pod["metadata"]["name"], patch))
            except errors.NotFound:
                continue
        for pod in claim.release:
            patch = {"metadata": {"ownerReferences": owners.without_owner(pod, rs) or None,
                                  "resourceVersion": pod["metadata"].get("resourceVersion")}}
            try:
                await self.client.patch(self.pod_kind, namespace, pod["metadata"]["name"], patch)
            except errors.NotFound:
                continue
        return owned

    async def _delete_failed(self, rs: Obj, all_pods: list[Obj]) -> None:
        for pod in all_pods:
            if podinfo.phase(pod) != "Failed" or podinfo.is_terminating(pod) or not owners.is_controlled_by(pod, rs):
                continue
            name = pod["metadata"]["name"]
            try:
                await self.client.delete(self.pod_kind, pod["metadata"].get("namespace", ""), name)
            except errors.NotFound:
                continue
            await self.recorder.record(rs, "Normal", "SuccessfulDelete", f"Deleted pod: {name}")

    async def _manage(self, key: Key, rs: Obj, active: list[Obj]) -> Failure | None:
        """Create or delete the difference; the first error's message (for ReplicaFailure), or None."""
        replicas = (rs.get("spec") or {}).get("replicas")
        diff = len(active) - (1 if replicas is None else int(replicas))
        if diff < 0:
            return await self._create(key, rs, min(-diff, self.burst))
        if diff > 0:
            return await self._delete(key, rs, pods_to_delete(active, min(diff, self.burst)))
        return None

    async def _create(self, key: Key, rs: Obj, count: int) -> Failure | None:
        self.expectations.expect(key, adds=count)
        batch, remaining = 1, count
        while remaining > 0:
            size = min(batch, remaining)
            results = await asyncio.gather(*(self._create_one(rs) for _ in range(size)))
            remaining -= size
            failed = [r for r in results if r is not None]
            if failed:
                for _ in range(len(failed) + remaining):  # never coming: do not wait for them
                    self.expectations.creation_observed(key)
                return failed[0]
            batch *= 2
        return None

    async def _create_one(self, rs: Obj) -> Failure | None:
        namespace = rs["metadata"].get("namespace", "")
        try:
            pod = await self.client.create(self.pod_kind, namespace, pod_from_template(rs))
        except errors.ApiError as exc:
            failure = Failure(f"Error creating: {exc}", exc)
            await self.recorder.record(rs, "Warning", "FailedCreate", failure.message)
            return failure
        await self.recorder.record(rs, "Normal", "SuccessfulCreate", f"Created pod: {pod['metadata']['name']}")
        return None

    async def _delete(self, key: Key, rs: Obj, victims: list[Obj]) -> Failure | None:
        self.expectations.expect(key, deletes=[v["metadata"]["name"] for v in victims])
        results = await asyncio.gather(*(self._delete_one(key, rs, pod) for pod in victims))
        return next((r for r in results if r is not None), None)

    async def _delete_one(self, key: Key, rs: Obj, pod: Obj) -> Failure | None:
        name = pod["metadata"]["name"]
        try:
            await self.client.delete(self.pod_kind, rs["metadata"].get("namespace", ""), name)
        except errors.NotFound:
            self.expectations.deletion_observed(key, name)
            return None
        except errors.ApiError as exc:
            self.expectations.deletion_observed(key, name)
            failure = Failure(f"Error deleting: {exc}", exc)
            await self.recorder.record(rs, "Warning", "FailedDelete", failure.message)
            return failure
        await self.recorder.record(rs, "Normal", "SuccessfulDelete", f"Deleted pod: {name}")
        return None


def _selector(rs: Obj) -> LabelSelector:
    try:
        return LabelSelector.from_dict((rs.get("spec") or {}).get("selector"))
    except errors.BadRequest as exc:
        raise TerminalError(f"invalid selector: {exc}") from exc


def pod_from_template(rs: Obj) -> Obj:
    """GetPodFromTemplate: the template's labels, annotations, finalizers and spec, owned by the ReplicaSet."""
    meta = rs.get("metadata") or {}
    template = (rs.get("spec") or {}).get("template") or {}
    template_meta = template.get("metadata") or {}
    pod_meta: Obj = {"generateName": f"{meta.get('name', '')}-", "namespace": meta.get("namespace", ""),
                     "ownerReferences": [owners.owner_reference(rs)]}
    for field in ("labels", "annotations", "finalizers"):
        if template_meta.get(field):
            pod_meta[field] = dict(template_meta[field]) if field != "finalizers" else list(template_meta[field])
    return {"apiVersion": "v1", "kind": "Pod", "metadata": pod_meta, "spec": template.get("spec") or {}}
