"""The Deployment controller: one ReplicaSet per pod template, rolled over per the Deployment's strategy.

Each reconcile re-reads the Deployment and its ReplicaSets from the informers and follows
kube-controller-manager's `syncDeployment`: adopt/release ReplicaSets, Paused/Resumed conditions, then a
resize (`scale`, proportional across active ReplicaSets), a rolling update or a recreate — each step
planned by the pure `rollout` module — then old revisions beyond `revisionHistoryLimit` are deleted and
status (`deploystatus`) is written once if it changed. Writes carry the cached resourceVersion, so a
decision made on a stale cache fails with a Conflict and is retried on fresh data.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from kubeserve.api import errors
from kubeserve.api.selectors import LabelSelector
from kubeserve.client import ApiClient, Controller, EventRecorder, Informer, Key, Obj, Result, TerminalError
from kubeserve.client.informer import object_key
from kubeserve.node.workloads import deploystatus, owners, rollout
from kubeserve.node.workloads.freshness import Superseded
from kubeserve.node.workloads.templatehash import LABEL as HASH_LABEL
from kubeserve.node.workloads.templatehash import equal_ignoring_hash, pod_template_hash

log = logging.getLogger(__name__)

REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
_NOT_COPIED = frozenset({"kubectl.kubernetes.io/last-applied-configuration", REVISION, REVISION_HISTORY,
                         DESIRED_REPLICAS, MAX_REPLICAS, "deprecated.deployment.rollback.to"})


class DeploymentController:
    def __init__(self, client: ApiClient, deployments: Informer, replicasets: Informer, pods: Informer, *,
                 workers: int = 2, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.client = client
        self.deployments = deployments
        self.replicasets = replicasets
        self.pods = pods
        self.clock = clock
        self.kind = client.kind("apps/v1", "Deployment")
        self.rs_kind = client.kind("apps/v1", "ReplicaSet")
        self.recorder = EventRecorder(client, "deployment-controller")
        self.superseded = Superseded()
        self.controller = Controller("deployment-controller", self.reconcile, workers=workers)
        self.controller.watch_primary(deployments)
        self.controller.watch(replicasets, self._rs_owners)
        self.controller.watch(pods, self._recreate_owners)

    def start(self) -> None:
        self.controller.start()

    async def stop(self) -> None:
        await self.controller.stop()

    # -- watches ----------------------------------------------------------------------------------------

    def _rs_owners(self, rs: Obj) -> Iterable[Key]:
        namespace = (rs.get("metadata") or {}).get("namespace", "")
        ref = owners.controller_ref(rs)
        if ref is not None:
            if ref.get("kind") == "Deployment":
                yield namespace, str(ref.get("name", ""))
            return
        labels = (rs.get("metadata") or {}).get("labels") or {}
        for d in self.deployments.list(namespace):  # an orphan: every Deployment that could adopt it
            if (d.get("spec") or {}).get("selector") and _selector(d).matches(labels):
                yield object_key(d)

    def _recreate_owners(self, pod: Obj) -> Iterable[Key]:
        """A Recreate rollout waits for old pods to be gone, so their changes wake their Deployment."""
        ref = owners.controller_ref(pod)
        if ref is None or ref.get("kind") != "ReplicaSet":
            return
        namespace = (pod.get("metadata") or {}).get("namespace", "")
        rs = self.replicasets.get(namespace, str(ref.get("name", "")))
        owner = owners.controller_ref(rs) if rs is not None else None
        if owner is None or owner.get("kind") != "Deployment":
            return
        d = self.deployments.get(namespace, str(owner.get("name", "")))
        if d is not None and rollout.Strategy.from_spec(d.get("spec") or {}).type == rollout.RECREATE:
            yield namespace, str(owner.get("name", ""))

    # -- reconcile --------------------------------------------------------------------------------------

    async def reconcile(self, key: Key) -> Result | None:
        cached = self.deployments.get(*key)
        if cached is None:
            self.superseded.forget("Deployment", *key)
            return None
        if self.superseded.stale("Deployment", cached):
            return None  # our last write is on its way to the cache, and will enqueue this key again
        d = {**copy.deepcopy(cached), "apiVersion": "apps/v1", "kind": "Deployment"}
        original = copy.deepcopy(d.get("status") or {})
        selector = _selector(d)
        if selector.empty:
            await self.recorder.record(d, "Warning", "SelectingAll",
                                       "This deployment is selecting all pods. A non-empty selector is required.")
            status = {**original, "observedGeneration": d["metadata"].get("generation", 0)}
            await self._write_status(d, status, original)
            return None
        rs_list = await self._claim(d, selector)
        if any(self.superseded.stale("ReplicaSet", rs) for rs in rs_list):
            return None  # a resize we made is not in the cache yet; its event enqueues this Deployment
        if d["metadata"].get("deletionTimestamp"):
            return await self._status_only(d, rs_list, original)
        paused_status = deploystatus.paused_condition(d, self.clock())
        if paused_status is not None:
            d["status"] = paused_status
        try:
            strategy = rollout.Strategy.from_spec(d.get("spec") or {})
            rollout.fenceposts(strategy, deploystatus.spec_replicas(d))
        except ValueError as exc:
            raise TerminalError(str(exc)) from exc
        if (d.get("spec") or {}).get("paused"):
            return await self._sync(d, rs_list, original, strategy)
        new, olds = _split(d, rs_list)
        if rollout.is_scaling_event(deploystatus.spec_replicas(d), [_view(rs) for rs in [*olds, *_opt(new)]]):
            return await self._sync(d, rs_list, original, strategy)
        if strategy.type == rollout.RECREATE:
            return await self._recreate(d, rs_list, original, strategy)
        return await self._rolling(d, rs_list, original, strategy)

    async def _rolling(self, d: Obj, rs_list: list[Obj], original: Obj, strategy: rollout.Strategy) -> Result | None:
        replicas = deploystatus.spec_replicas(d)
        d, new, olds = await self._sync_revision(d, rs_list, strategy, create=True)
        assert new is not None
        target = rollout.new_rs_target(replicas, strategy, _view(new), [_view(rs) for rs in olds])
        if target is not None:
            new = await self._scale(d, new, target, strategy)
            return await self._rollout_status(d, new, olds, original, strategy)
        targets = rollout.old_rs_targets(replicas, strategy, _view(new), [_view(rs) for rs in olds])
        if targets:
            olds = [await self._scale(d, rs, targets[_name(rs)], strategy) if _name(rs) in targets else rs
                    for rs in olds]
            return await self._rollout_status(d, new, olds, original, strategy)
        if deploystatus.is_complete(d, d.get("status") or {}):
            await self._cleanup(d, olds)
        return await self._rollout_status(d, new, olds, original, strategy)

    async def _recreate(self, d: Obj, rs_list: list[Obj], original: Obj,
                        strategy: rollout.Strategy) -> Result | None:
        d, new, olds = await self._sync_revision(d, rs_list, strategy, create=False)
        if any(_spec_replicas(rs) > 0 for rs in olds):
            olds = [await self._scale(d, rs, 0, strategy) for rs in olds]
            return await self._rollout_status(d, new, olds, original, strategy)
        if self._old_pods_running(d, olds):
            return await self._rollout_status(d, new, olds, original, strategy)
        if new is None:
            d, new, olds = await self._sync_revision(d, rs_list, strategy, create=True)
            assert new is not None
        new = await self._scale(d, new, deploystatus.spec_replicas(d), strategy)
        if deploystatus.is_complete(d, d.get("status") or {}):
            await self._cleanup(d, olds)
        return await self._rollout_status(d, new, olds, original, strategy)

    async def _sync(self, d: Obj, rs_list: list[Obj], original: Obj, strategy: rollout.Strategy) -> Result | None:
        """A resize, or a paused Deployment: scale the ReplicaSets we have, never start a rollout."""
        d, new, olds = await self._sync_revision(d, rs_list, strategy, create=False)
        replicas = deploystatus.spec_replicas(d)
        status_replicas = int((d.get("status") or {}).get("replicas") or 0)
        plan = rollout.scale_plan(replicas, strategy, _view(new) if new else None, [_view(rs) for rs in olds],
                                  status_replicas)
        scaled = {_name(rs): await self._scale(d, rs, plan.sizes[_name(rs)], strategy, plan.operation)
                  for rs in [*olds, *_opt(new)] if _name(rs) in plan.sizes}
        new = scaled.get(_name(new), new) if new else None
        olds = [scaled.get(_name(rs), rs) for rs in olds]
        if (d.get("spec") or {}).get("paused"):
            await self._cleanup(d, olds)
        status = deploystatus.calculate_status(d, [_counts(rs) for rs in [*olds, *_opt(new)]],
                                               _counts(new) if new else None, self._max_unavailable(d, strategy),
                                               self.clock())
        await self._write_status(d, status, original)
        return None

    async def _status_only(self, d: Obj, rs_list: list[Obj], original: Obj) -> Result | None:
        strategy = rollout.Strategy.from_spec(d.get("spec") or {})
        new, olds = _split(d, rs_list)
        status = deploystatus.calculate_status(d, [_counts(rs) for rs in [*olds, *_opt(new)]],
                                               _counts(new) if new else None, self._max_unavailable(d, strategy),
                                               self.clock())
        await self._write_status(d, status, original)
        return None

    async def _rollout_status(self, d: Obj, new: Obj | None, olds: list[Obj], original: Obj,
                              strategy: rollout.Strategy) -> Result | None:
        now = self.clock()
        status = deploystatus.rollout_status(d, [_counts(rs) for rs in [*olds, *_opt(new)]],
                                             _counts(new) if new else None, _name(new) if new else None,
                                             self._max_unavailable(d, strategy), now)
        await self._write_status(d, status, original)
        after = deploystatus.requeue_after(d, status, now)
        return Result(after) if after is not None else None

    # -- the new ReplicaSet and revisions ---------------------------------------------------------------

    async def _sync_revision(self, d: Obj, rs_list: list[Obj], strategy: rollout.Strategy,
                             create: bool) -> tuple[Obj, Obj | None, list[Obj]]:
        """getAllReplicaSetsAndSyncRevision: the new ReplicaSet (made if `create`), the old ones, and the
        Deployment with its revision annotation and FoundNewReplicaSet/NewReplicaSetCreated condition."""
        new, olds = _split(d, rs_list)
        next_revision = str(max((_revision(rs) for rs in olds), default=0) + 1)
        namespace = d["metadata"].get("namespace", "")
        if new is not None:
            update = copy.deepcopy(new)
            annotations = update["metadata"].setdefault("annotations", {})
            annotations.update(_copied_annotations(d))
            if _revision(new) < int(next_revision):
                annotations[REVISION] = next_revision
            min_ready = int((d.get("spec") or {}).get("minReadySeconds") or 0)
            if int(update["spec"].get("minReadySeconds") or 0) != min_ready:
                update["spec"]["minReadySeconds"] = min_ready
            if update != new:
                written = await self.client.replace(self.rs_kind, namespace, update)
                self.superseded.wrote("ReplicaSet", new, written)
                new = written
            d = await self._set_revision(d, str(_annotations(new).get(REVISION, next_revision)))
            status = d.setdefault("status", {})
            if deploystatus.progress_deadline(d) is not None and \
                    deploystatus.get_condition(status, deploystatus.PROGRESSING) is None:
                deploystatus.set_condition(status, deploystatus.new_condition(
                    deploystatus.PROGRESSING, "True", deploystatus.FOUND_NEW_RS,
                    f'Found new replica set "{_name(new)}"', self.clock()))
            return d, new, olds
        if not create:
            return d, None, olds
        replicas = deploystatus.spec_replicas(d)
        size = rollout.new_rs_replicas(replicas, strategy, [_view(rs) for rs in olds], None)
        body = self._new_replica_set(d, next_revision, size, strategy)
        name = body["metadata"]["name"]
        exists = False
        try:
            created = await self.client.create(self.rs_kind, namespace, body)
        except errors.AlreadyExists:
            found = await self.client.get(self.rs_kind, namespace, name)
            if not (owners.is_controlled_by(found, d)
                    and equal_ignoring_hash(found["spec"]["template"], d["spec"]["template"])):
                await self._bump_collision_count(d)
                raise
            created, exists = found, True
        if not exists and size > 0:
            await self.recorder.record(d, "Normal", "ScalingReplicaSet",
                                       f"Scaled up replica set {name} from 0 to {size}")
        d = await self._set_revision(d, next_revision)
        if not exists and deploystatus.progress_deadline(d) is not None:
            deploystatus.set_condition(d.setdefault("status", {}), deploystatus.new_condition(
                deploystatus.PROGRESSING, "True", deploystatus.NEW_RS_CREATED, f'Created new replica set "{name}"',
                self.clock()))
        return d, created, olds

    def _new_replica_set(self, d: Obj, revision: str, size: int, strategy: rollout.Strategy) -> Obj:
        spec = d.get("spec") or {}
        collision = (d.get("status") or {}).get("collisionCount")
        template_hash = pod_template_hash(spec.get("template") or {}, collision)
        template = copy.deepcopy(spec.get("template") or {})
        template.setdefault("metadata", {}).setdefault("labels", {})[HASH_LABEL] = template_hash
        selector = copy.deepcopy(spec.get("selector") or {})
        selector.setdefault("matchLabels", {})[HASH_LABEL] = template_hash
        replicas = deploystatus.spec_replicas(d)
        annotations = {**_copied_annotations(d), REVISION: revision, DESIRED_REPLICAS: str(replicas),
                       MAX_REPLICAS: str(replicas + rollout.max_surge(strategy, replicas))}
        return {
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": f"{d['metadata']['name']}-{template_hash}",
                         "namespace": d["metadata"].get("namespace", ""),
                         "labels": dict(template["metadata"]["labels"]), "annotations": annotations,
                         "ownerReferences": [owners.owner_reference(d)]},
            "spec": {"replicas": size, "minReadySeconds": int(spec.get("minReadySeconds") or 0),
                     "selector": selector, "template": template},
        }

    async def _set_revision(self, d: Obj, revision: str) -> Obj:
        if _annotations(d).get(REVISION) == revision:
            return d
        meta = d["metadata"]
        patched = await self.client.patch(self.kind, meta.get("namespace", ""), meta["name"],
                                          {"metadata": {"annotations": {REVISION: revision}}})
        self.superseded.wrote("Deployment", d, patched)
        meta.setdefault("annotations", {})[REVISION] = revision
        meta["resourceVersion"] = patched["metadata"]["resourceVersion"]  # so the status write does not conflict
        return d

    async def _bump_collision_count(self, d: Obj) -> None:
        status = copy.deepcopy(d.get("status") or {})
        status["collisionCount"] = int(status.get("collisionCount") or 0) + 1
        written = await self.client.replace(self.kind, d["metadata"].get("namespace", ""), {**d, "status": status},
                                            subresource="status")
        self.superseded.wrote("Deployment", d, written)

    # -- writes -----------------------------------------------------------------------------------------

    async def _scale(self, d: Obj, rs: Obj, size: int, strategy: rollout.Strategy,
                     operation: str | None = None) -> Obj:
        """Resize a ReplicaSet and stamp the Deployment's size on it; a ScalingReplicaSet Event if it moved."""
        current = _spec_replicas(rs)
        if operation is None:
            if current == size:
                return rs
            operation = "up" if current < size else "down"
        replicas = deploystatus.spec_replicas(d)
        wanted = {DESIRED_REPLICAS: str(replicas), MAX_REPLICAS: str(replicas + rollout.max_surge(strategy, replicas))}
        annotations = _annotations(rs)
        if current == size and all(annotations.get(k) == v for k, v in wanted.items()):
            return rs
        update = copy.deepcopy(rs)
        update["spec"]["replicas"] = size
        update["metadata"].setdefault("annotations", {}).update(wanted)
        updated = await self.client.replace(self.rs_kind, rs["metadata"].get("namespace", ""), update)
        self.superseded.wrote("ReplicaSet", rs, updated)
        if current != size:
            await self.recorder.record(d, "Normal", "ScalingReplicaSet",
                                       f"Scaled {operation} replica set {_name(rs)} from {current} to {size}")
        return updated

    async def _write_status(self, d: Obj, status: Obj, original: Obj) -> None:
        if status == original:
            return
        written = await self.client.replace(self.kind, d["metadata"].get("namespace", ""), {**d, "status": status},
                                            subresource="status")
        self.superseded.wrote("Deployment", d, written)

    async def _claim(self, d: Obj, selector: LabelSelector) -> list[Obj]:
        namespace = d["metadata"].get("namespace", "")
        claim = owners.claim(d, selector, self.replicasets.list(namespace))
        owned = list(claim.owned)
        for rs in claim.adopt:
            patch = {"metadata": {"ownerReferences": owners.with_owner(rs, d),
                                  "resourceVersion": rs["metadata"].get("resourceVersion")}}
            try:
                owned.append(await self.client.patch(self.rs_kind, namespace, rs["metadata"]["name"], patch))
            except errors.NotFound:
                continue
        for rs in claim.release:
            patch = {"metadata": {"ownerReferences": owners.without_owner(rs, d) or None,
                                  "resourceVersion": rs["metadata"].get("resourceVersion")}}
            try:
                await self.client.patch(self.rs_kind, namespace, rs["metadata"]["name"], patch)
            except errors.NotFound:
                continue
        return owned

    async def _cleanup(self, d: Obj, olds: list[Obj]) -> None:
        limit = (d.get("spec") or {}).get("revisionHistoryLimit", 10)
        if limit is None:
            return
        history = [rollout.HistoryRS(
            name=_name(rs), revision=_revision(rs), replicas=_spec_replicas(rs),
            status_replicas=int((rs.get("status") or {}).get("replicas") or 0),
            generation=int(rs["metadata"].get("generation") or 0),
            observed_generation=int((rs.get("status") or {}).get("observedGeneration") or 0),
            deleting=bool(rs["metadata"].get("deletionTimestamp"))) for rs in olds]
        for name in rollout.history_to_delete(history, int(limit)):
            await self.client.delete_if_exists(self.rs_kind, d["metadata"].get("namespace", ""), name)
            self.superseded.forget("ReplicaSet", d["metadata"].get("namespace", ""), name)

    def _old_pods_running(self, d: Obj, olds: list[Obj]) -> bool:
        """Recreate starts new pods only once no old pod runs (a terminating one still does)."""
        if sum(int((rs.get("status") or {}).get("replicas") or 0) for rs in olds) > 0:
            return True
        old_uids = {rs["metadata"].get("uid") for rs in olds}
        for pod in self.pods.list(d["metadata"].get("namespace", "")):
            ref = owners.controller_ref(pod)
            if ref is None or ref.get("uid") not in old_uids:
                continue
            if (pod.get("status") or {}).get("phase") not in ("Failed", "Succeeded"):
                return True
        return False

    def _max_unavailable(self, d: Obj, strategy: rollout.Strategy) -> int:
        return rollout.max_unavailable(strategy, deploystatus.spec_replicas(d))


def _selector(d: Obj) -> LabelSelector:
    try:
        return LabelSelector.from_dict((d.get("spec") or {}).get("selector") or {})
    except errors.BadRequest as exc:
        raise TerminalError(f"invalid selector: {exc}") from exc


def _split(d: Obj, rs_list: list[Obj]) -> tuple[Obj | None, list[Obj]]:
    """FindNewReplicaSet (the oldest with the Deployment's template) and FindOldReplicaSets (the rest)."""
    template = (d.get("spec") or {}).get("template") or {}
    same = sorted((rs for rs in rs_list if equal_ignoring_hash((rs.get("spec") or {}).get("template") or {},
                                                                 template)),
                  key=lambda rs: (rs["metadata"].get("creationTimestamp", ""), _name(rs)))
    new = same[0] if same else None
    return new, [rs for rs in rs_list if rs is not new]


def _opt(rs: Obj | None) -> list[Obj]:
    return [rs] if rs is not None else []


def _name(rs: Obj) -> str:
    return str(rs["metadata"]["name"])


def _annotations(obj: Obj) -> dict[str, Any]:
    return (obj.get("metadata") or {}).get("annotations") or {}


def _copied_annotations(d: Obj) -> dict[str, Any]:
    return {k: v for k, v in _annotations(d).items() if k not in _NOT_COPIED}


def _spec_replicas(rs: Obj) -> int:
    value = (rs.get("spec") or {}).get("replicas")
    return 1 if value is None else int(value)


def _int_annotation(rs: Obj, name: str) -> int | None:
    try:
        return int(_annotations(rs)[name])
    except (KeyError, TypeError, ValueError):
        return None


def _revision(rs: Obj) -> int:
    return _int_annotation(rs, REVISION) or 0


def _view(rs: Obj) -> rollout.RS:
    status = rs.get("status") or {}
    return rollout.RS(name=_name(rs), replicas=_spec_replicas(rs), available=int(status.get("availableReplicas") or 0),
                      created=str(rs["metadata"].get("creationTimestamp", "")),
                      max_replicas=_int_annotation(rs, MAX_REPLICAS), desired=_int_annotation(rs, DESIRED_REPLICAS))


def _counts(rs: Obj) -> deploystatus.Counts:
    status = rs.get("status") or {}
    failure = next((c for c in status.get("conditions") or [] if c.get("type") == "ReplicaFailure"), None)
    return deploystatus.Counts(replicas=_spec_replicas(rs), status_replicas=int(status.get("replicas") or 0),
                               ready=int(status.get("readyReplicas") or 0),
                               available=int(status.get("availableReplicas") or 0), failure=failure)
