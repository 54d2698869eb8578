"""The Events an InferenceService gets when its status changes, so that `kubectl describe inferenceservice`
tells its life story: created → downloading → loading → loaded → ready, and every way it went wrong.

Pure: two statuses in, `(type, reason, message)` triples out. Only steps make Events — a condition flipping,
a not-ready reason changing, a new failure, the model reaching a new state — never a message that merely
moves on (download progress, a crash log's newest lines), which would flood the Event list.
"""

from __future__ import annotations

from typing import Any

Obj = dict[str, Any]

PROGRESS_REASONS = frozenset({
    "Pending", "ContainerCreating", "PodInitializing", "Downloading", "Loading", "MinimumReplicasUnavailable",
    "ReplicaSetUpdated", "NewReplicaSetCreated", "FoundNewReplicaSet", "RouteNotAdmitted", "RouteNotFound",
})
"""Not-ready reasons that are steps on the way, recorded as Normal; every other reason is a Warning."""


def summarize_for_event(old_status: Obj | None, new_status: Obj) -> list[tuple[str, str, str]]:
    old = old_status or {}
    old_conditions = _conditions(old)
    new_conditions = _conditions(new_status)
    events: list[tuple[str, str, str]] = []
    predictor = new_conditions.get("PredictorReady")
    if predictor and _changed(old_conditions.get("PredictorReady"), predictor):
        if predictor["status"] == "True":
            events.append(("Normal", "PredictorReady", f"the predictor is available ({_copies(new_status)})"))
        else:
            events.append(_not_ready_event(predictor))
    ingress = new_conditions.get("IngressReady")
    if ingress and _changed(old_conditions.get("IngressReady"), ingress):
        if ingress["status"] != "True":
            events.append(_not_ready_event(ingress))
        elif new_status.get("url") and new_status.get("url") != (new_status.get("address") or {}).get("url"):
            events.append(("Normal", "RouteAdmitted", f"Route admitted: {new_status['url']}"))
        else:
            address = (new_status.get("address") or {}).get("url") or new_status.get("url")
            events.append(("Normal", "IngressReady", f"served inside the cluster at {address}"))
    events.extend(_model_events(old, new_status, predictor, warned=any(e[0] == "Warning" for e in events)))
    ready, was_ready = new_conditions.get("Ready") or {}, (old_conditions.get("Ready") or {}).get("status") == "True"
    if ready.get("status") == "True" and not was_ready:
        events.append(("Normal", "InferenceServiceReady", f"the InferenceService is ready at {new_status.get('url')}"))
    elif ready and ready.get("status") != "True" and was_ready:
        detail = ": ".join(part for part in (ready.get("reason"), ready.get("message")) if part)
        events.append(("Warning", "InferenceServiceNotReady", detail or "the InferenceService is no longer ready"))
    return events


def route_not_exposed_event(isvc_name: str, namespace: str, refusal: tuple[str, str] | None
                            ) -> tuple[str, str, str] | None:
    """A Warning for an InferenceService served inside the cluster only while a Route to it was refused for
    that reason: its IngressReady stays True (the internal URL works, as in KServe), so this is where the user
    learns which label to add."""
    if refusal is None or refusal[0] != "InferenceServiceNotExposed":
        return None
    return ("Warning", "RouteNotAdmitted",
            f"a Route points at this InferenceService but the router refused it because the InferenceService is "
            f"not labelled networking.kserve.io/visibility=exposed; to expose it, run kubectl label "
            f"inferenceservice {isvc_name} networking.kserve.io/visibility=exposed -n {namespace}")


def _model_events(old: Obj, new: Obj, predictor: Obj | None, *, warned: bool) -> list[tuple[str, str, str]]:
    events: list[tuple[str, str, str]] = []
    old_model, new_model = old.get("modelStatus") or {}, new.get("modelStatus") or {}
    failure, old_failure = new_model.get("lastFailureInfo"), old_model.get("lastFailureInfo")
    # A failure the PredictorReady Event just explained needs no second Warning; one that shows only in
    # modelStatus (a rollout failing behind copies that still serve, a crash in a new pod) does.
    if failure and _strip_time(failure) != _strip_time(old_failure) and not warned:
        where = f"{failure['location']}: " if failure.get("location") else ""
        code = f" (exit code {failure['exitCode']})" if failure.get("exitCode") else ""
        events.append(("Warning", str(failure.get("reason") or "ModelLoadFailed"),
                       f"{where}{failure.get('message', '')}{code}"))
    target = (new_model.get("states") or {}).get("targetModelState")
    old_target = (old_model.get("states") or {}).get("targetModelState")
    if target == old_target:
        return events
    if target == "Loaded":
        events.append(("Normal", "ModelLoaded", f"the model is loaded and serving ({_copies(new)})"))
    elif target == "Standby":
        events.append(("Normal", "ModelStandby", "scaled to zero copies: the model loads again when needed"))
    elif target == "Loading" and (predictor or {}).get("status") == "True":
        # While nothing serves, PredictorReady's own reason (Downloading, Loading) already tells this step.
        events.append(("Normal", "ModelLoading", "a new revision of the predictor is loading the model; the "
                       "current copies serve until it is ready"))
    return events


def _not_ready_event(condition: Obj) -> tuple[str, str, str]:
    reason = str(condition.get("reason") or condition["type"] + "NotReady")
    event_type = "Normal" if reason in PROGRESS_REASONS else "Warning"
    return event_type, reason, str(condition.get("message") or reason)


def _changed(old: Obj | None, new: Obj) -> bool:
    if old is None or old.get("status") != new.get("status"):
        return True
    return new.get("status") != "True" and old.get("reason") != new.get("reason")


def _conditions(status: Obj) -> dict[str, Obj]:
    return {str(c.get("type")): c for c in status.get("conditions") or []}


def _copies(status: Obj) -> str:
    copies = ((status.get("modelStatus") or {}).get("copies") or {}).get("totalCopies", 0)
    return f"{copies} {'copy' if copies == 1 else 'copies'} ready"


def _strip_time(info: Obj | None) -> Obj | None:
    return None if info is None else {k: v for k, v in info.items() if k != "time"}
