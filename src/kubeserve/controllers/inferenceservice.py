"""The InferenceService controller: KServe's RawDeployment reconciler, as a plain Kubernetes client.

reconcile(key): read the InferenceService → finalizer bookkeeping → resolve its runtime (pure,
`runtimes`) → read the data-connection Secret its storage names → render the predictor (pure, `render`)
→ apply the children (Deployment, Service, HPA, Route; `children`) → observe what runs now (the Deployment,
the predictor's pods, the storage initializer's and model server's last log lines, the Route that exposes
it: its own, the guide's file, or any Route to its predictor Service) → compute
the status (pure, `status`) → write it once if it changed, and record an Event for each step that changed.

Everything is read from informers except Secrets and logs (fetched only when a reconcile needs them), so the
same code runs embedded and against a real cluster. Watches map every child and pod back to its
InferenceService, a Route to every InferenceService it may expose, and a ServingRuntime change to every
InferenceService in its namespace (a runtime created late, edited, or deleted while in use).
"""

from __future__ import annotations

import base64
import copy
import dataclasses
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from kubeserve.api import errors
from kubeserve.client import ApiClient, Controller, EventRecorder, Informer, Key, Obj, Result, owner_mapper
from kubeserve.client.controller import now_rfc3339
from kubeserve.client.informer import object_key
from kubeserve.controllers.children import ChildWriter
from kubeserve.controllers.render import RenderSettings, render_predictor
from kubeserve.controllers.runtimes import RuntimeChoice, RuntimeProblem, select_runtime
from kubeserve.controllers.status import Observed, compute_status, pick_route, route_refusal, summarize_for_event
from kubeserve.controllers.status_events import route_not_exposed_event

log = logging.getLogger(__name__)

FINALIZER = "inferenceservice.finalizers"
ISVC_LABEL = "serving.kserve.io/inferenceservice"
LOADING_POLL = 3.0
"""While a model downloads or loads, re-read the logs this often for progress (nothing else changes)."""


@dataclass(frozen=True)
class Informers:
    isvcs: Informer
    runtimes: Informer
    cluster_runtimes: Informer
    deployments: Informer
    services: Informer
    pods: Informer
    hpas: Informer
    routes: Informer


class InferenceServiceController:
    def __init__(self, client: ApiClient, informers: Informers, settings: RenderSettings, *, workers: int = 2,
                 clock: Callable[[], str] = now_rfc3339) -> None:
        self.client = client
        self.inf = informers
        self.settings = settings
        self.clock = clock
        self.kind = client.kind("serving.kserve.io/v1beta1", "InferenceService")
        self.kinds = {
            "Deployment": client.kind("apps/v1", "Deployment"),
            "Service": client.kind("v1", "Service"),
            "HorizontalPodAutoscaler": client.kind("autoscaling/v2", "HorizontalPodAutoscaler"),
            "Route": client.kind("route.openshift.io/v1", "Route"),
        }
        self.secret_kind = client.kind("v1", "Secret")
        self.pod_kind = client.kind("v1", "Pod")
        self.writer = ChildWriter(client)
        self._mismatch_warned: set[tuple[str, int, str]] = set()
        self._notes_published: set[str] = set()
        self._exposure_warned: set[tuple[str, str, str]] = set()
        self.recorder = EventRecorder(client, "kserve-controller")
        self.controller = Controller("inferenceservice-controller", self.reconcile, workers=workers)
        self.controller.watch_primary(informers.isvcs)
        owned = owner_mapper("InferenceService")
        for informer in (informers.deployments, informers.services, informers.hpas):
            self.controller.watch(informer, owned)
        self.controller.watch(informers.routes, _route_isvcs)
        self.controller.watch(informers.pods, _pod_owner)
        self.controller.watch(informers.runtimes, self._isvcs_in_namespace)
        self.controller.watch(informers.cluster_runtimes, self._all_isvcs)

    def start(self) -> None:
        self.controller.start()

    async def stop(self) -> None:
        await self.controller.stop()

    def _isvcs_in_namespace(self, runtime: Obj) -> Iterable[Key]:
        namespace = (runtime.get("metadata") or {}).get("namespace", "")
        return [object_key(isvc) for isvc in self.inf.isvcs.list(namespace)]

    def _all_isvcs(self, _runtime: Obj) -> Iterable[Key]:
        return [object_key(isvc) for isvc in self.inf.isvcs.list()]

    # -- reconcile --------------------------------------------------------------------------------------

    async def reconcile(self, key: Key) -> Result | None:
        cached = self.inf.isvcs.get(*key)
        if cached is None:
            return None
        isvc = {**copy.deepcopy(cached), "apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService"}
        meta = isvc["metadata"]
        if meta.get("deletionTimestamp"):
            # Children go with their owner references (garbage collection); nothing to wait for here.
            if FINALIZER in (meta.get("finalizers") or []):
                await self._set_finalizers(isvc, [f for f in meta["finalizers"] if f != FINALIZER])
            return None
        if FINALIZER not in (meta.get("finalizers") or []):
            isvc = await self._set_finalizers(isvc, [*(meta.get("finalizers") or []), FINALIZER])
        choice = select_runtime(isvc, self.inf.runtimes.list(key[0]), self.inf.cluster_runtimes.list())
        runtime_problem = render_problem = None
        applied: dict[str, Obj | None] = {}
        if isinstance(choice, RuntimeProblem):
            runtime_problem = (choice.reason, choice.message)
        else:
            await self._warn_name_mismatch(isvc, choice)
            render_problem = await self._apply(isvc, choice, applied)
        observed = await self._observe(isvc, runtime_problem, render_problem, applied)
        if isinstance(choice, RuntimeChoice):
            observed = dataclasses.replace(observed, runtime_name=choice.name,
                                           cluster_runtime=choice.kind == "ClusterServingRuntime")
        status = compute_status(isvc, observed, self.clock())
        await self._write_status(isvc, status)
        if not observed.exposed:
            await self._warn_not_exposed(isvc, observed.route)
        # Poll only while a model downloads or loads: its progress is in logs, which no watch reports.
        loading = ((status.get("modelStatus") or {}).get("states") or {}).get("targetModelState") == "Loading"
        return Result(requeue_after=LOADING_POLL) if loading and runtime_problem is None else None

    async def _warn_name_mismatch(self, isvc: Obj, choice: RuntimeChoice) -> None:
        """It serves, but the OpenShift AI dashboard pairs a runtime and a service by name (the guide's
        Naming Convention): say so once per spec generation."""
        meta = isvc["metadata"]
        if choice.kind != "ServingRuntime" or choice.name == meta["name"]:
            return
        said = (meta.get("uid", ""), meta.get("generation", 0), choice.name)
        if said in self._mismatch_warned:
            return
        if len(self._mismatch_warned) > 1000:  # forget InferenceServices that are gone
            live = {(i.get("metadata") or {}).get("uid", "") for i in self.inf.isvcs.list()}
            self._mismatch_warned = {entry for entry in self._mismatch_warned if entry[0] in live}
        self._mismatch_warned.add(said)
        await self.recorder.record(
            isvc, "Warning", "RuntimeNameMismatch",
            f"InferenceService {meta['name']!r} is served by ServingRuntime {choice.name!r}: it works, but the "
            "OpenShift AI dashboard only links a ServingRuntime and an InferenceService with identical names; "
            f"rename one of them (e.g. the ServingRuntime to {meta['name']!r})")

    async def _warn_not_exposed(self, isvc: Obj, route: Obj | None) -> None:
        """A Route to an InferenceService the router refused for want of the exposed label: say so once per
        Route and refusal (IngressReady stays True: the internal URL serves)."""
        meta = isvc["metadata"]
        event = route_not_exposed_event(meta["name"], meta["namespace"], route_refusal(route))
        if event is None or route is None:
            return
        said = (str(meta.get("uid", "")), str((route.get("metadata") or {}).get("uid", "")), event[2])
        if said in self._exposure_warned:
            return
        if len(self._exposure_warned) > 1000:  # forget InferenceServices that are gone
            live = {(i.get("metadata") or {}).get("uid", "") for i in self.inf.isvcs.list()}
            self._exposure_warned = {entry for entry in self._exposure_warned if entry[0] in live}
        self._exposure_warned.add(said)
        await self.recorder.record(isvc, *event)

    async def _apply(self, isvc: Obj, choice: RuntimeChoice, applied: dict[str, Obj | None]) -> tuple[str, str] | None:
        namespace = isvc["metadata"]["namespace"]
        secret, problem = await self._storage_secret(isvc)
        if problem is not None:
            return problem
        try:
            predictor = render_predictor(isvc, choice, self.settings, storage_secret=secret)
        except ValueError as err:
            return ("InvalidPredictorSpec", str(err))
        wanted: list[tuple[str, Obj | None, str]] = [
            ("Deployment", predictor.deployment, f"{isvc['metadata']['name']}-predictor"),
            ("Service", predictor.service, f"{isvc['metadata']['name']}-predictor"),
            ("HorizontalPodAutoscaler", predictor.hpa, f"{isvc['metadata']['name']}-predictor"),
            ("Route", predictor.route, isvc["metadata"]["name"]),
        ]
        changed = False
        informers = {"Deployment": self.inf.deployments, "Service": self.inf.services,
                     "HorizontalPodAutoscaler": self.inf.hpas, "Route": self.inf.routes}
        for kind_name, desired, name in wanted:
            current = informers[kind_name].get(namespace, name)
            if desired is None:
                # A Route the user applied themselves (not ours) stays; only our own children are removed.
                if kind_name in ("HorizontalPodAutoscaler", "Route") and _owned_by(current, isvc):
                    await self.writer.absent(self.kinds[kind_name], namespace, name, current)
                applied[kind_name] = None if _owned_by(current, isvc) else current
                continue
            obj, what = await self.writer.ensure(
                self.kinds[kind_name], desired, current,
                keep_replicas=kind_name == "Deployment" and predictor.hpa is not None,
                create_only=kind_name == "Route")  # the guide's own Route file, applied on top, is honoured
            applied[kind_name] = obj
            if what != "unchanged":
                changed = True
                await self.recorder.record(isvc, "Normal", f"{kind_name}{what.capitalize()}",
                                           f"{what} {kind_name} {name}")
        if changed:  # said once per rendering that changed something, not on every pass
            for note in predictor.notes:
                await self.recorder.record(isvc, "Normal", "PredictorRendered", note)
        return None

    async def _storage_secret(self, isvc: Obj) -> tuple[Obj | None, tuple[str, str] | None]:
        storage = (((isvc.get("spec") or {}).get("predictor") or {}).get("model") or {}).get("storage") or {}
        name = storage.get("key")
        if not name:
            return None, None
        namespace = isvc["metadata"]["namespace"]
        secret = await self.client.get_or_none(self.secret_kind, namespace, name)
        if secret is None:
            return None, ("InvalidPredictorSpec",
                          f"storage.key names Secret {name!r}, which does not exist in namespace {namespace!r}: "
                          "create the data connection (see the guide's S3 example)")
        data = {k: base64.b64decode(v).decode("utf-8", "replace") for k, v in (secret.get("data") or {}).items()}
        return {"name": name, "data": data}, None

    # -- observe ----------------------------------------------------------------------------------------

    async def _observe(self, isvc: Obj, runtime_problem: tuple[str, str] | None,
                       render_problem: tuple[str, str] | None, applied: dict[str, Obj | None]) -> Observed:
        namespace, name = isvc["metadata"]["namespace"], isvc["metadata"]["name"]
        predictor = f"{name}-predictor"
        pods = self.inf.pods.list(namespace, f"{ISVC_LABEL}={name}")
        pods.sort(key=lambda p: (p.get("metadata") or {}).get("creationTimestamp", ""), reverse=True)
        init_tail, main_tail = await self._log_tails(pods)
        await self._publish_runtime_notes(isvc, pods)
        labels = (isvc.get("metadata") or {}).get("labels") or {}
        return Observed(
            runtime_problem=runtime_problem, render_problem=render_problem,
            deployment=self.inf.deployments.get(namespace, predictor) or applied.get("Deployment"),
            pods=pods,
            service=self.inf.services.get(namespace, predictor) or applied.get("Service"),
            route=pick_route(self.inf.routes.list(namespace), name) or applied.get("Route"),
            exposed=labels.get("networking.kserve.io/visibility") == "exposed",
            init_log_tail=init_tail, main_log_tail=main_tail)

    async def _log_tails(self, pods: list[Obj]) -> tuple[str | None, str | None]:
        """The storage initializer's and the model server's last lines, read only when they explain
        something: an initializer running (progress) or failed, a server crashing."""
        init_tail = main_tail = None
        for pod in pods[:1]:
            status = pod.get("status") or {}
            for cs in status.get("initContainerStatuses") or []:
                if cs.get("name") != "storage-initializer":
                    continue
                state = cs.get("state") or {}
                if "running" in state or (state.get("terminated") or {}).get("exitCode", 0) != 0 or (
                        (cs.get("lastState") or {}).get("terminated") or {}).get("exitCode", 0) != 0:
                    init_tail = await self._log(pod, "storage-initializer", previous="running" not in state
                                                and "terminated" not in state)
            for cs in status.get("containerStatuses") or []:
                if cs.get("name") != "kserve-container":
                    continue
                if cs.get("restartCount", 0) > 0 or (cs.get("state") or {}).get("terminated"):
                    main_tail = await self._log(pod, "kserve-container", previous="running" in (cs.get("state") or {}))
        return init_tail, main_tail

    async def _publish_runtime_notes(self, isvc: Obj, pods: list[Obj]) -> None:
        """kubeserve's runtime adapters say what they changed to make a runtime's args work here (an
        argument the installed vLLM no longer accepts, the address bound, the KV cache sized) as `kubeserve: …`
        lines at the top of the model server's log; each pod's are recorded once as an Event."""
        if len(self._notes_published) > 1000:  # forget pods that are gone (the set only needs live ones)
            self._notes_published &= {(p.get("metadata") or {}).get("uid", "") for p in self.inf.pods.list()}
        for pod in pods:
            uid = (pod.get("metadata") or {}).get("uid", "")
            running = any(cs.get("name") == "kserve-container" and "running" in (cs.get("state") or {})
                          for cs in (pod.get("status") or {}).get("containerStatuses") or [])
            if not running or uid in self._notes_published:
                continue
            lines = (await self._log(pod, "kserve-container", limit_bytes=8192) or "").splitlines()
            notes = [line.removeprefix("kubeserve: ") for line in lines if line.startswith("kubeserve: ")]
            if len(notes) == len(lines):
                continue  # the adapter may still be writing its notes: read again once the server speaks
            self._notes_published.add(uid)
            if notes:
                await self.recorder.record(isvc, "Normal", "ArgumentsTranslated", "; ".join(notes))

    async def _log(self, pod: Obj, container: str, *, previous: bool = False,
                   limit_bytes: int | None = None) -> str | None:
        meta = pod.get("metadata") or {}
        path = self.client.path(self.pod_kind, meta.get("namespace", ""), meta.get("name", ""), "log")
        params = {"container": container}
        if limit_bytes is not None:
            params["limitBytes"] = str(limit_bytes)  # the first bytes of the log
        else:
            params["tailLines"] = "20"
        if previous:
            params["previous"] = "true"
        try:
            async with self.client.session.get(path, params=params) as response:
                if response.status != 200:
                    return None
                return await response.text()
        except Exception:
            log.debug("no log for %s/%s", meta.get("name"), container, exc_info=True)
            return None

    # -- write ------------------------------------------------------------------------------------------

    async def _set_finalizers(self, isvc: Obj, finalizers: list[str]) -> Obj:
        meta = isvc["metadata"]
        patch: dict[str, Any] = {"metadata": {"finalizers": finalizers,
                                              "resourceVersion": meta.get("resourceVersion")}}
        try:
            updated = await self.client.patch(self.kind, meta["namespace"], meta["name"], patch)
        except errors.NotFound:
            return isvc
        return {**updated, "apiVersion": isvc["apiVersion"], "kind": isvc["kind"]}

    async def _write_status(self, isvc: Obj, status: Obj) -> None:
        old = isvc.get("status") or {}
        if old == status:
            return
        meta = isvc["metadata"]
        try:
            # The whole status, replaced (a merge patch could not drop fields such as a cleared failure); the
            # resourceVersion makes a write based on a stale read fail with a Conflict and retry.
            await self.client.replace(self.kind, meta["namespace"], {**isvc, "status": status}, subresource="status")
        except errors.NotFound:
            return
        for event_type, reason, message in summarize_for_event(old or None, status):
            await self.recorder.record(isvc, event_type, reason, message)


def _owned_by(obj: Obj | None, isvc: Obj) -> bool:
    if obj is None:
        return False
    uid = (isvc.get("metadata") or {}).get("uid")
    return any(ref.get("uid") == uid for ref in (obj.get("metadata") or {}).get("ownerReferences") or [])


def _route_isvcs(route: Obj) -> Iterable[Key]:
    """The InferenceServices a Route may expose: its owner, the one named like it (the guide's Route file) and
    the one whose predictor Service it points at. A key with no InferenceService behind it is a no-op."""
    meta = route.get("metadata") or {}
    namespace = meta.get("namespace", "")
    names = {ref.get("name") for ref in meta.get("ownerReferences") or [] if ref.get("kind") == "InferenceService"}
    names.add(meta.get("name"))
    target = str(((route.get("spec") or {}).get("to") or {}).get("name") or "")
    if target.endswith("-predictor"):
        names.add(target.removesuffix("-predictor"))
    return [(namespace, name) for name in sorted(n for n in names if n)]


def _pod_owner(pod: Obj) -> Iterable[Key]:
    meta = pod.get("metadata") or {}
    name = (meta.get("labels") or {}).get(ISVC_LABEL)
    return [(meta.get("namespace", ""), name)] if name else []
