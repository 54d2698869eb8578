"""The scheduler: binds Pending pods to the one node, or says in the pod's status why it cannot.

A binding is a JSON merge patch of `spec.nodeName` (the API server does not serve `pods/binding`), then a
`PodScheduled` condition and a `Scheduled` Event, as kube-scheduler leaves them. An unfit pod gets
`PodScheduled=False` (reason `Unschedulable`) with kube-scheduler's message and a `FailedScheduling`
Event, and is retried whenever room may have appeared (a pod deleted or finished, the node changed).

Decisions are `fit.fit`; this module only feeds it. Pods bound a moment ago may not be in the informer's
cache yet, so they are kept as "assumed" until the cache shows them bound: two pods never both get the
last GPU. One worker, so decisions are made one at a time, as in kube-scheduler.
"""

from __future__ import annotations

import logging

from kubeserve.api import errors
from kubeserve.client import (
    STRATEGIC_MERGE_PATCH,
    ApiClient,
    Controller,
    EventRecorder,
    Informer,
    Key,
    Obj,
    Result,
    object_key,
)
from kubeserve.client.controller import now_rfc3339
from kubeserve.node import fit

log = logging.getLogger(__name__)

SCHEDULER_NAME = "default-scheduler"


def _scheduled_condition(pod: Obj) -> Obj | None:
    for condition in (pod.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "PodScheduled":
            return dict(condition)
    return None


def _schedulable_view(node: Obj) -> tuple[object, object, object]:
    """What of a node a fit depends on: a change to any of it may let a waiting pod in."""
    return (node.get("spec"), (node.get("status") or {}).get("allocatable"),
            (node.get("metadata") or {}).get("labels"))


def wants_scheduling(pod: Obj) -> bool:
    spec = pod.get("spec") or {}
    return (not spec.get("nodeName") and not pod.get("metadata", {}).get("deletionTimestamp")
            and (spec.get("schedulerName") or SCHEDULER_NAME) == SCHEDULER_NAME
            and fit.is_active(pod))


class Scheduler:
    def __init__(self, client: ApiClient, node_name: str, policy: str = "clamp", *, resync: float = 30.0) -> None:
        if policy not in fit.POLICIES:
            raise ValueError(f"unknown resource policy {policy!r}: expected one of {', '.join(fit.POLICIES)}")
        self.client = client
        self.node_name = node_name
        self.policy = policy
        self._pod_kind = client.kind("v1", "Pod")
        self._node_kind = client.kind("v1", "Node")
        self.pods = Informer(client, self._pod_kind)
        self.nodes = Informer(client, self._node_kind)
        self.events = EventRecorder(client, SCHEDULER_NAME)
        self.controller = Controller("scheduler", self.reconcile, workers=1, resync=resync)
        self._assumed: dict[Key, Obj] = {}  # bound by us, not yet seen bound in the cache
        # waiting pods, in the order they first failed: that order breaks creation-time ties (1 s resolution)
        self._unschedulable: dict[Key, None] = {}
        self._retrying: set[Key] = set()  # enqueued because room may have appeared: worth a new Event

    async def start(self) -> None:
        self.pods.add_handler(self._on_pod)
        self.nodes.add_handler(self._on_node)
        self.controller.watch_primary(self.pods)
        self.pods.start()
        self.nodes.start()
        await self.pods.wait_synced()
        await self.nodes.wait_synced()
        self.controller.start()

    async def stop(self) -> None:
        await self.controller.stop()
        await self.pods.stop()
        await self.nodes.stop()

    # -- retry triggers ------------------------------------------------------------------------------------

    def _retry_unschedulable(self) -> None:
        """Queue the waiting pods oldest first (as kube-scheduler's queue does within a priority): with one
        worker, the oldest pod that fits gets the room, and no pod is passed over indefinitely."""
        def created(key: Key) -> str:
            pod = self.pods.get(*key)
            return str((pod or {}).get("metadata", {}).get("creationTimestamp", ""))

        order = {key: index for index, key in enumerate(self._unschedulable)}
        for key in sorted(self._unschedulable, key=lambda k: (created(k), order[k])):
            self._retrying.add(key)
            self.controller.enqueue(key)

    def _on_pod(self, old: Obj | None, new: Obj | None) -> None:
        key = object_key(new or old or {})
        was_assumed = False
        if new is None or (new.get("spec") or {}).get("nodeName") or not fit.is_active(new):
            # the cache now shows it bound (or gone): no longer an assumption
            was_assumed = self._assumed.pop(key, None) is not None
        freed = (old is not None and (old.get("spec") or {}).get("nodeName")
                 and (new is None or not fit.is_active(new) or bool(new["metadata"].get("deletionTimestamp"))))
        freed = freed or (was_assumed and new is None)  # bound by us, deleted before the cache saw the binding
        if freed:
            self._retry_unschedulable()

    def _on_node(self, old: Obj | None, new: Obj | None) -> None:
        if new is None or new.get("metadata", {}).get("name") != self.node_name:
            return
        if old is None or _schedulable_view(old) != _schedulable_view(new):
            self._retry_unschedulable()

    # -- the loop ------------------------------------------------------------------------------------------

    def bound_pods(self, exclude: Key) -> list[Obj]:
        """Active pods counted against the node: those in the cache bound to it, and the assumed ones."""
        out = {object_key(p): p for p in self.pods.list()
               if (p.get("spec") or {}).get("nodeName") == self.node_name and fit.is_active(p)}
        for key, pod in self._assumed.items():
            out.setdefault(key, pod)
        out.pop(exclude, None)
        return list(out.values())

    async def reconcile(self, key: Key) -> Result | None:
        pod = self.pods.get(*key)
        if pod is None or not wants_scheduling(pod) or key in self._assumed:
            self._unschedulable.pop(key, None)
            return None
        node = self.nodes.get("", self.node_name)
        if node is None:
            await self._unfit(pod, fit.unschedulable_message([]))
            return Result(requeue_after=5.0)
        result = fit.fit(pod, node, self.bound_pods(key), self.policy)
        if not result.fits:
            await self._unfit(pod, fit.unschedulable_message([result.reasons]))
            return None
        await self._bind(pod, result)
        return None

    async def _bind(self, pod: Obj, result: fit.Fit) -> None:
        meta = pod["metadata"]
        namespace, name = meta.get("namespace", ""), meta["name"]
        key = (namespace, name)
        patch = {"spec": {"nodeName": self.node_name}}
        try:
            bound = await self.client.patch(self._pod_kind, namespace, name, patch)
        except errors.NotFound:
            return
        self._assumed[key] = bound
        self._unschedulable.pop(key, None)
        condition = {"type": "PodScheduled", "status": "True", "lastProbeTime": None,
                     "lastTransitionTime": now_rfc3339()}
        try:
            await self.client.patch(self._pod_kind, namespace, name, {"status": {"conditions": [condition]}},
                                    patch_type=STRATEGIC_MERGE_PATCH, subresource="status")
        except errors.NotFound:
            return
        await self.events.record(bound, "Normal", "Scheduled",
                                 f"Successfully assigned {namespace}/{name} to {self.node_name}")
        if result.clamped:
            await self.events.record(bound, "Normal", "RequestsClamped", fit.clamp_message(result.clamped))

    async def _unfit(self, pod: Obj, message: str) -> None:
        meta = pod["metadata"]
        namespace, name = meta.get("namespace", ""), meta["name"]
        self._unschedulable.setdefault((namespace, name), None)
        retried = (namespace, name) in self._retrying
        self._retrying.discard((namespace, name))
        current = _scheduled_condition(pod)
        unchanged = bool(current and current.get("status") == "False" and current.get("message") == message)
        if not unchanged:
            transition = (current or {}).get("lastTransitionTime") if (current or {}).get("status") == "False" \
                else None
            condition = {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message,
                         "lastProbeTime": None, "lastTransitionTime": transition or now_rfc3339()}
            try:
                await self.client.patch(self._pod_kind, namespace, name, {"status": {"conditions": [condition]}},
                                        patch_type=STRATEGIC_MERGE_PATCH, subresource="status")
            except errors.NotFound:
                self._unschedulable.pop((namespace, name), None)
                return
        elif not retried:
            return  # our own status write came back through the watch: already said
        log.info("pod %s/%s is unschedulable: %s", namespace, name, message)
        await self.events.record(pod, "Warning", "FailedScheduling", message)
