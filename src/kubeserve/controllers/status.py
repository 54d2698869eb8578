"""An InferenceService's `status`, computed from what is observed now, in KServe's exact shape.

KServe (RawDeployment mode, with OpenShift AI's Route handling) writes:

    observedGeneration
    conditions         IngressReady, PredictorReady, Ready (= PredictorReady ∧ IngressReady), sorted by type
    url                https://<admitted Route host>[:<router port>] when exposed (http:// for a Route without
                       tls), else the predictor Service's cluster URL
    address.url        http://<name>-predictor.<namespace>.svc.cluster.local
    components         predictor: {url} once the predictor has been ready
    modelStatus        transitionStatus, states {activeModelState, targetModelState},
                       lastFailureInfo {location, reason, message, exitCode, time}, copies {failedCopies, totalCopies}
    deploymentMode, servingRuntimeName | clusterServingRuntimeName

Where KServe leaves a condition's reason empty or generic, this one names the precise cause (see
`status_diagnosis`) so that every way to be not Ready explains itself. Pure: no I/O and no clock — the caller
passes `now`, and the previous status is read from the InferenceService, so a condition's lastTransitionTime
moves only when its status flips and a failure keeps the time it first appeared.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from kubeserve.controllers.status_diagnosis import Cause, Failure, diagnose_pods, pod_ready
from kubeserve.controllers.status_events import summarize_for_event

__all__ = ["Observed", "compute_status", "internal_url", "pick_route", "route_refusal", "summarize_for_event"]

Obj = dict[str, Any]

CONDITION_TYPES = ("IngressReady", "PredictorReady", "Ready")
"""Sorted by type, as knative's condition manager keeps them."""
KSERVE_FAILURE_REASONS = frozenset({"ModelLoadFailed", "RuntimeUnhealthy", "RuntimeDisabled", "NoSupportingRuntime",
                                    "RuntimeNotRecognized", "InvalidPredictorSpec"})
ROUTER_PORT_ANNOTATION = "kubeserve.io/router-port"
"""Set by the router on a Route it serves on a port other than 443 (80 for plain HTTP); `status.url` shows it."""
TRANSITIONS = {"Pending": "InProgress", "Loading": "InProgress", "Loaded": "UpToDate", "Standby": "UpToDate",
               "FailedToLoad": "BlockedByFailedLoad"}


@dataclass(frozen=True)
class Observed:
    """What the reconcile loop saw this pass (everything else comes from the InferenceService itself)."""

    runtime_problem: tuple[str, str] | None = None
    """(reason, message) from runtime resolution: NoSupportingRuntime, RuntimeNotFound, RuntimeDisabled, …"""
    render_problem: tuple[str, str] | None = None
    """(reason, message) from rendering the predictor: a missing storage Secret or key, an invalid spec."""
    deployment: Obj | None = None
    pods: Sequence[Obj] = ()
    service: Obj | None = None
    route: Obj | None = None
    exposed: bool = False
    init_log_tail: str | None = None
    """The storage initializer's last log lines: `error: Reason: message` and download-progress lines."""
    main_log_tail: str | None = None
    """The model server's last log lines, read when it crashed."""
    runtime_name: str | None = None
    cluster_runtime: bool = False


@dataclass(frozen=True)
class _Verdict:
    """The predictor's PredictorReady condition and the target model's state, with the failure behind them."""

    status: str
    reason: str
    message: str
    target: str
    transition: str
    failure: Failure | None = None


@dataclass(frozen=True)
class _Predictor:
    verdict: _Verdict
    serving: bool
    """Some copy answers (the Deployment is Available with replicas): the active model is Loaded."""
    ready_copies: int
    failed_copies: int


def internal_url(name: str, namespace: str) -> str:
    return f"http://{name}-predictor.{namespace}.svc.cluster.local"


def compute_status(isvc: Obj, observed: Observed, now: str) -> Obj:
    meta = isvc.get("metadata") or {}
    name, namespace = str(meta.get("name") or ""), str(meta.get("namespace") or "")
    previous = isvc.get("status") or {}
    predictor = _predictor(observed)
    ingress_status, ingress_reason, ingress_message, url = _ingress(observed, name)
    verdict = predictor.verdict
    ready = _ready(verdict, (ingress_status, ingress_reason, ingress_message))
    wanted = {"IngressReady": (ingress_status, ingress_reason, ingress_message),
              "PredictorReady": (verdict.status, verdict.reason, verdict.message), "Ready": ready}
    old_conditions = {c.get("type"): c for c in previous.get("conditions") or []}
    conditions = [_condition(kind, *wanted[kind], old_conditions.get(kind), now) for kind in CONDITION_TYPES]
    internal = internal_url(name, namespace)
    component: Obj = {}
    # KServe fills the component URL once the predictor is ready and keeps it through later rollouts.
    if predictor.verdict.status == "True" or (((previous.get("components") or {}).get("predictor") or {}).get("url")):
        component["url"] = internal
    status: Obj = {
        "observedGeneration": meta.get("generation", 0),
        "conditions": conditions,
        "url": url if observed.exposed and url else internal,
        "address": {"url": internal},
        "components": {"predictor": component},
        "modelStatus": _model_status(predictor, previous.get("modelStatus") or {}, now),
        "deploymentMode": (meta.get("annotations") or {}).get("serving.kserve.io/deploymentMode") or "RawDeployment",
    }
    runtime = observed.runtime_name
    if runtime is None and observed.runtime_problem is None:
        runtime = (((isvc.get("spec") or {}).get("predictor") or {}).get("model") or {}).get("runtime")
    if runtime:
        status["clusterServingRuntimeName" if observed.cluster_runtime else "servingRuntimeName"] = runtime
    return status


def _predictor(observed: Observed) -> _Predictor:
    pods = list(observed.pods)
    cause, failed = diagnose_pods(pods, observed.init_log_tail, observed.main_log_tail)
    live = [p for p in pods if not (p.get("metadata") or {}).get("deletionTimestamp")]
    ready_copies = sum(1 for p in live if pod_ready(p))
    deployment = observed.deployment or {}
    conditions = {str(c.get("type")): c for c in (deployment.get("status") or {}).get("conditions") or []}
    replicas = int((deployment.get("spec") or {}).get("replicas", 1))
    available = (conditions.get("Available") or {}).get("status") == "True"
    serving = observed.deployment is not None and available and replicas > 0
    return _Predictor(_verdict(observed, cause, conditions, replicas), serving, ready_copies, failed)


def _verdict(observed: Observed, cause: Cause | None, conditions: dict[str, Obj], replicas: int) -> _Verdict:
    problem = observed.runtime_problem or observed.render_problem
    if problem is not None:
        # KServe: UpdateModelTransitionStatus(InvalidSpec, …) — the target model FailedToLoad.
        reason, message = problem
        origin_default = "RuntimeNotRecognized" if observed.runtime_problem else "InvalidPredictorSpec"
        kserve_reason = reason if reason in KSERVE_FAILURE_REASONS else origin_default
        return _Verdict("False", reason, message, "FailedToLoad", "InvalidSpec", Failure(kserve_reason, message))
    if observed.deployment is None:
        return _Verdict("False", "Pending", "the predictor Deployment has not been created yet", "Pending",
                        "InProgress")
    if (conditions.get("Available") or {}).get("status") == "True":
        # Some copy answers, so the predictor is ready; whether the newest spec has rolled out yet is what
        # modelStatus's target state and transitionStatus tell.
        if replicas == 0:
            return _Verdict("True", "", "", "Standby", "UpToDate")
        if _rolled_out(observed.deployment):
            return _Verdict("True", "", "", "Loaded", "UpToDate")
        target = cause.model_state if cause else "Pending"
        return _Verdict("True", "", "", target, TRANSITIONS[target], cause.failure if cause else None)
    if cause is not None:
        return _Verdict("False", cause.reason, cause.message, cause.model_state, TRANSITIONS[cause.model_state],
                        cause.failure)
    # No pod explains it: fall back on the Deployment's own conditions, as KServe's PropagateRawStatus does.
    failure = conditions.get("ReplicaFailure") or {}
    if failure.get("status") == "True":
        message = failure.get("message") or "the predictor's pods cannot be created"
        return _Verdict("False", failure.get("reason") or "ReplicaFailure", message, "FailedToLoad",
                        "BlockedByFailedLoad", Failure("RuntimeUnhealthy", message))
    for kind in ("Progressing", "Available"):
        condition = conditions.get(kind) or {}
        if condition.get("status") == "False" and condition.get("message"):
            return _Verdict("False", condition.get("reason") or kind, condition["message"], "Pending", "InProgress")
    return _Verdict("False", "Pending", "waiting for the predictor's pods to start", "Pending", "InProgress")


def _rolled_out(deployment: Obj) -> bool:
    """Every copy runs the current pod template: no old copies left, and the controller has seen the spec."""
    meta, status = deployment.get("metadata") or {}, deployment.get("status") or {}
    if status.get("observedGeneration", 0) < meta.get("generation", 0):
        return False
    updated = status.get("updatedReplicas", 0)
    return bool(updated >= status.get("replicas", 0) and status.get("availableReplicas", 0) >= 1)


def pick_route(routes: Sequence[Obj], name: str) -> Obj | None:
    """The Route that exposes InferenceService `name`, among its namespace's Routes: one named like it (the
    controller's own, or the guide's file) or pointing at its predictor Service; an admitted one first, then
    the one named like it, then the oldest."""
    predictor = f"{name}-predictor"

    def targets(route: Obj) -> bool:
        to = (route.get("spec") or {}).get("to") or {}
        return (to.get("kind") or "Service") == "Service" and to.get("name") == predictor

    candidates = [r for r in routes if (r.get("metadata") or {}).get("name") == name or targets(r)]
    if not candidates:
        return None
    return min(candidates, key=lambda r: (_admission(r)[0] != "True", (r.get("metadata") or {}).get("name") != name,
                                          str((r.get("metadata") or {}).get("creationTimestamp") or ""),
                                          str((r.get("metadata") or {}).get("name") or "")))


def route_refusal(route: Obj | None) -> tuple[str, str] | None:
    """(reason, message) when the router refused the Route, else None."""
    if route is None:
        return None
    status, condition, _ = _admission(route)
    if status != "False":
        return None
    return str(condition.get("reason") or "RouteNotAdmitted"), str(condition.get("message") or "")


def _admission(route: Obj) -> tuple[str, Obj, str]:
    """("True" | "False" | "", the Admitted condition, the admitted host) over every router's ingress entry:
    admitted by one router is admitted."""
    rejection: Obj | None = None
    for ingress in (route.get("status") or {}).get("ingress") or []:
        for condition in ingress.get("conditions") or []:
            if condition.get("type") != "Admitted":
                continue
            if condition.get("status") == "True" and ingress.get("host"):
                return "True", condition, str(ingress["host"])
            if condition.get("status") == "False":
                rejection = condition
    return ("False", rejection, "") if rejection is not None else ("", {}, "")


def route_url(route: Obj, host: str) -> str:
    """https://host (http:// for a Route without tls), with the router's port where it is not the standard one."""
    tls = bool((route.get("spec") or {}).get("tls"))
    scheme, standard = ("https", "443") if tls else ("http", "80")
    port = str(((route.get("metadata") or {}).get("annotations") or {}).get(ROUTER_PORT_ANNOTATION) or "")
    return f"{scheme}://{host}:{port}" if port and port != standard else f"{scheme}://{host}"


def _ingress(observed: Observed, name: str) -> tuple[str, str, str, str | None]:
    """(status, reason, message, external URL). Not exposed: the cluster-local URL is always ready (a Route
    the router refused for that reason is the controller's Warning Event, not a condition here)."""
    if not observed.exposed:
        return "True", "", "", None
    route = observed.route
    if route is None:
        return ("False", "RouteNotFound", f"Route {name} does not exist yet (it is created for InferenceServices "
                "labelled networking.kserve.io/visibility=exposed)", None)
    route_name = (route.get("metadata") or {}).get("name") or name
    status, condition, host = _admission(route)
    if status == "True":
        return "True", "", "", route_url(route, host)
    if status == "False":
        detail = condition.get("message") or condition.get("reason") or "rejected by the router"
        return ("False", condition.get("reason") or "RouteNotAdmitted",
                f"Route {route_name} was not admitted: {detail}", None)
    return "False", "RouteNotAdmitted", f"waiting for the router to admit Route {route_name}", None


def _ready(predictor: _Verdict, ingress: tuple[str, str, str]) -> tuple[str, str, str]:
    parts = [(predictor.status, predictor.reason, predictor.message), ingress]
    for part in parts:
        if part[0] == "False":
            return part
    for part in parts:
        if part[0] != "True":
            return part
    return "True", "", ""


def _condition(kind: str, status: str, reason: str, message: str, old: Obj | None, now: str) -> Obj:
    flipped = old is None or old.get("status") != status or not old.get("lastTransitionTime")
    condition: Obj = {"type": kind, "status": status,
                      "lastTransitionTime": now if flipped else (old or {})["lastTransitionTime"]}
    if status != "True":  # knative's MarkTrue drops reason and message
        if reason:
            condition["reason"] = reason
        if message:
            condition["message"] = message
    return condition


def _model_status(predictor: _Predictor, previous: Obj, now: str) -> Obj:
    verdict = predictor.verdict
    active = "Loaded" if predictor.serving else verdict.target
    copies: Obj = {"failedCopies": predictor.failed_copies}
    if predictor.ready_copies:  # Go's omitempty
        copies["totalCopies"] = predictor.ready_copies
    model: Obj = {"transitionStatus": verdict.transition,
                  "states": {"activeModelState": active, "targetModelState": verdict.target},
                  "copies": copies}
    old_failure = previous.get("lastFailureInfo")
    if verdict.failure is not None:
        model["lastFailureInfo"] = _failure_info(verdict.failure, old_failure, now)
    elif old_failure and verdict.transition != "UpToDate":
        # The last failure stays on show while a retry is under way; a loaded model clears it.
        model["lastFailureInfo"] = old_failure
    return model


def _failure_info(failure: Failure, old: Obj | None, now: str) -> Obj:
    info: Obj = {}
    if failure.location:
        info["location"] = failure.location
    info["reason"] = failure.reason
    info["message"] = failure.message
    if failure.exit_code:
        info["exitCode"] = failure.exit_code
    same = old is not None and {k: v for k, v in old.items() if k != "time"} == info
    info["time"] = ((old or {}).get("time") or now) if same else now
    return info
