"""summarize_for_event: an InferenceService's life, pass by pass, as the Events `kubectl describe` shows."""

from __future__ import annotations

from typing import Any

import pytest
from status_builders import (
    EARLIER,
    GPU_MESSAGE,
    NOW,
    deployment,
    done,
    ended,
    isvc,
    pod,
    ready_pod,
    route,
    running,
    terminated,
    waiting,
)

from kubeserve.controllers.status import Observed, compute_status, summarize_for_event
from kubeserve.controllers.status_events import route_not_exposed_event

Obj = dict[str, Any]
PROGRESS = "Downloading oci://registry.example/model:1: {} MiB of 500.0 MiB (24%) at 80.1 MiB/s"
SERVING = {"deployment": deployment(available=True), "pods": [ready_pod()]}


def life(*steps: Observed, labels: Obj | None = None) -> list[list[tuple[str, str, str]]]:
    """The Events each step records, computing each status from the one before, as the controller does."""
    status: Obj | None = None
    out = []
    for step in steps:
        new = compute_status(isvc(status, labels=labels), step, NOW)
        out.append(summarize_for_event(status, new))
        status = new
    return out


def reasons(events: list[tuple[str, str, str]]) -> list[tuple[str, str]]:
    return [(kind, reason) for kind, reason, _ in events]


def test_a_healthy_life() -> None:
    downloading = Observed(deployment=deployment(), pods=[pod(init=[running(name="storage-initializer")])],
                           init_log_tail=PROGRESS.format("120.0") + "\n")
    more = Observed(deployment=deployment(), pods=[pod(init=[running(name="storage-initializer")])],
                    init_log_tail=PROGRESS.format("240.0") + "\n")
    loading = Observed(deployment=deployment(), pods=[pod(init=[done()], containers=[running()], phase="Running")])
    steps = life(Observed(deployment=deployment()), downloading, more, loading, Observed(**SERVING))
    assert [reasons(events) for events in steps] == [
        [("Normal", "MinimumReplicasUnavailable"), ("Normal", "IngressReady")],
        [("Normal", "Downloading")],
        [],  # progress alone is no step
        [("Normal", "Loading")],
        [("Normal", "PredictorReady"), ("Normal", "ModelLoaded"), ("Normal", "InferenceServiceReady")],
    ]
    assert steps[1][0][2] == PROGRESS.format("120.0")
    assert steps[4][2][2] == "the InferenceService is ready at http://cpu-model-predictor.demo.svc.cluster.local"
    assert steps[4][1][2] == "the model is loaded and serving (1 copy ready)"


def test_no_gpu_is_a_warning_with_the_schedulers_message() -> None:
    [events] = life(Observed(deployment=deployment(), pods=[pod(scheduled=GPU_MESSAGE)]))
    assert ("Warning", "Unschedulable", GPU_MESSAGE) in events


def test_a_download_failure_warns_once() -> None:
    downloading = Observed(deployment=deployment(), pods=[pod(init=[running(name="storage-initializer")])])
    failed = Observed(deployment=deployment(), pods=[pod(init=[terminated(1)])],
                      init_log_tail="error: ModelNotFound: no /models in the image\n")
    steps = life(downloading, failed, failed)
    assert steps[1] == [("Warning", "ModelNotFound",
                         "no /models in the image (storage-initializer exit code 1)")]
    assert steps[2] == []


def test_losing_readiness_warns() -> None:
    oom = Observed(deployment=deployment(), pods=[pod(init=[done()], containers=[
        waiting("CrashLoopBackOff", restarts=1, last=ended(137, "OOMKilled"))])])
    _, events = life(Observed(**SERVING), oom)
    assert reasons(events) == [("Warning", "OOMKilled"), ("Warning", "InferenceServiceNotReady")]
    assert events[1][2].startswith("OOMKilled: the model server container kserve-container was killed")


def test_a_rollout_failing_behind_serving_copies_shows_in_events() -> None:
    rolling = deployment(available=True, total=2, generation=2)
    loading = Observed(deployment=rolling, pods=[ready_pod("old"), pod("new", init=[
        running(name="storage-initializer")], created=NOW)])
    crashing = Observed(deployment=rolling, pods=[ready_pod("old"), pod("new", init=[done()], containers=[
        waiting("CrashLoopBackOff", restarts=1, last=ended(1))], created=NOW)])
    steps = life(Observed(**SERVING), loading, crashing, Observed(**SERVING))
    assert reasons(steps[1]) == [("Normal", "ModelLoading")]
    assert steps[2] == [("Warning", "ModelLoadFailed", "new: container kserve-container crashed (exit code 1)")]
    assert reasons(steps[3]) == [("Normal", "ModelLoaded")]


def test_route_admission_is_a_step() -> None:
    labels = {"networking.kserve.io/visibility": "exposed"}
    waiting_route = Observed(exposed=True, route=route(admitted=None), **SERVING)
    admitted = Observed(exposed=True, route=route(), **SERVING)
    steps = life(waiting_route, admitted, labels=labels)
    assert ("Normal", "RouteNotAdmitted") in reasons(steps[0])
    assert ("Normal", "InferenceServiceReady") not in reasons(steps[0])
    assert steps[1] == [("Normal", "RouteAdmitted", "Route admitted: https://cpu-model-demo.apps.localhost"),
                        ("Normal", "InferenceServiceReady",
                         "the InferenceService is ready at https://cpu-model-demo.apps.localhost")]


def test_a_rejected_route_warns() -> None:
    rejected = Observed(exposed=True, route=route(admitted=False, reason="HostAlreadyClaimed", message="taken"),
                        **SERVING)
    [events] = life(rejected, labels={"networking.kserve.io/visibility": "exposed"})
    assert ("Warning", "HostAlreadyClaimed", "Route cpu-model was not admitted: taken") in events


def test_runtime_problems_warn() -> None:
    [events] = life(Observed(runtime_problem=("NoSupportingRuntime", "no runtime supports model format onnx")))
    assert ("Warning", "NoSupportingRuntime", "no runtime supports model format onnx") in events


def test_same_status_records_nothing() -> None:
    status = compute_status(isvc(), Observed(**SERVING), EARLIER)
    assert summarize_for_event(status, status) == []


def test_a_plain_http_route_with_a_port_is_admitted_not_internal() -> None:
    labels = {"networking.kserve.io/visibility": "exposed"}
    admitted = Observed(exposed=True, route=route(tls=False, port="8080"), **SERVING)
    [events] = life(admitted, labels=labels)
    assert ("Normal", "RouteAdmitted", "Route admitted: http://cpu-model-demo.apps.localhost:8080") in events


@pytest.mark.parametrize(("refusal", "warned"), [
    (None, False),
    (("HostAlreadyClaimed", "taken"), False),
    (("InferenceServiceNotExposed", "not exposed"), True),
])
def test_route_not_exposed_event(refusal: tuple[str, str] | None, warned: bool) -> None:
    event = route_not_exposed_event("granite-model", "demo", refusal)
    if not warned:
        assert event is None
        return
    assert event is not None
    assert event[:2] == ("Warning", "RouteNotAdmitted")
    assert event[2].endswith(
        "kubectl label inferenceservice granite-model networking.kserve.io/visibility=exposed -n demo")
