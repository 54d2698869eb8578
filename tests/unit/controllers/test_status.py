"""compute_status: every way to be not Ready, the Ready shape, URLs, and what stays stable across passes."""

from __future__ import annotations

from typing import Any

import pytest
from status_builders import (
    EARLIER,
    GPU_MESSAGE,
    NOW,
    condition,
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

from kubeserve.controllers.status import Observed, compute_status, pick_route, route_refusal

Obj = dict[str, Any]
INTERNAL = "http://cpu-model-predictor.demo.svc.cluster.local"
PROGRESS = "Downloading oci://registry.example/model:1: 120.0 MiB of 500.0 MiB (24%) at 80.1 MiB/s"
CRASH_LOG = "\n".join(f"line {i}" for i in range(1, 9)) + "\nValueError: max_model_len is too large\n"


def observe(**fields: Any) -> Observed:
    fields.setdefault("deployment", deployment())
    return Observed(**fields)


# (id, observed, PredictorReady reason, message fragment, targetModelState, transitionStatus, failure reason)
NOT_READY = [
    ("no-runtime", observe(runtime_problem=("NoSupportingRuntime", "no runtime supports model format vLLM")),
     "NoSupportingRuntime", "model format vLLM", "FailedToLoad", "InvalidSpec", "NoSupportingRuntime"),
    ("runtime-missing", observe(runtime_problem=("RuntimeNotFound", "ServingRuntime vllm-runtime not found")),
     "RuntimeNotFound", "vllm-runtime", "FailedToLoad", "InvalidSpec", "RuntimeNotRecognized"),
    ("runtime-disabled", observe(runtime_problem=("RuntimeDisabled", "ServingRuntime vllm is disabled")),
     "RuntimeDisabled", "disabled", "FailedToLoad", "InvalidSpec", "RuntimeDisabled"),
    ("runtime-before-pods", observe(runtime_problem=("RuntimeNotFound", "deleted while in use"),
                                    pods=[pod(scheduled=GPU_MESSAGE)]),
     "RuntimeNotFound", "deleted while in use", "FailedToLoad", "InvalidSpec", "RuntimeNotRecognized"),
    ("secret-missing", observe(render_problem=("InvalidPredictorSpec", "Secret 'aws-connection' does not exist")),
     "InvalidPredictorSpec", "aws-connection", "FailedToLoad", "InvalidSpec", "InvalidPredictorSpec"),
    ("render-other", observe(render_problem=("SecretKeyMissing", "key 'x' missing")),
     "SecretKeyMissing", "key 'x'", "FailedToLoad", "InvalidSpec", "InvalidPredictorSpec"),
    ("no-gpu", observe(pods=[pod(scheduled=GPU_MESSAGE)]),
     "Unschedulable", "Insufficient nvidia.com/gpu", "Pending", "InProgress", None),
    ("unschedulable-before-image", observe(pods=[
        pod("b", containers=[waiting("ErrImagePull", "not mapped")], created=NOW),
        pod("a", scheduled=GPU_MESSAGE)]),
     "Unschedulable", "Insufficient nvidia.com/gpu", "Pending", "InProgress", None),
    ("image-not-mapped", observe(pods=[pod(init=[done()], containers=[
        waiting("ErrImagePull", 'image "quay.io/x:1" is not in the image catalog; map it in images.yaml')])]),
     "ErrImagePull", "image catalog", "FailedToLoad", "BlockedByFailedLoad", "RuntimeUnhealthy"),
    ("image-backoff", observe(pods=[pod(init=[waiting("ImagePullBackOff", 'Back-off pulling image "si"',
                                                      name="storage-initializer")])]),
     "ImagePullBackOff", "Back-off pulling", "FailedToLoad", "BlockedByFailedLoad", "RuntimeUnhealthy"),
    ("image-before-config", observe(pods=[pod(init=[done()], containers=[
        waiting("CreateContainerConfigError", 'secret "hf" not found', name="sidecar"),
        waiting("ImagePullBackOff", "back-off")])]),
     "ImagePullBackOff", "back-off", "FailedToLoad", "BlockedByFailedLoad", "RuntimeUnhealthy"),
    ("config-error", observe(pods=[pod(init=[done()], containers=[
        waiting("CreateContainerConfigError", 'secret "hf-token" not found')])]),
     "CreateContainerConfigError", 'secret "hf-token" not found', "FailedToLoad", "BlockedByFailedLoad",
     "InvalidPredictorSpec"),
    ("model-not-found", observe(pods=[pod(init=[terminated(1)], containers=[waiting("PodInitializing")])],
                                init_log_tail=f"{PROGRESS}\nerror: ModelNotFound: oci://x:1 has no /models\n"),
     "ModelNotFound", "oci://x:1 has no /models", "FailedToLoad", "BlockedByFailedLoad", "ModelLoadFailed"),
    ("access-denied-backoff", observe(pods=[pod(init=[waiting(
        "CrashLoopBackOff", "back-off 20s", name="storage-initializer", restarts=2, last=ended(1))])],
        init_log_tail="error: AccessDenied: 403 from s3 bucket models\n"),
     "AccessDenied", "403 from s3", "FailedToLoad", "BlockedByFailedLoad", "ModelLoadFailed"),
    ("storage-failed-no-log", observe(pods=[pod(init=[terminated(2)])]),
     "ModelLoadFailed", "kubectl logs cpu-model-predictor-abc-1 -c storage-initializer", "FailedToLoad",
     "BlockedByFailedLoad", "ModelLoadFailed"),
    ("storage-oom", observe(pods=[pod(init=[terminated(137, "OOMKilled")])]),
     "OOMKilled", "storage-initializer was killed", "FailedToLoad", "BlockedByFailedLoad", "ModelLoadFailed"),
    ("storage-before-server", observe(pods=[pod(init=[terminated(1)], containers=[
        waiting("CrashLoopBackOff", "back-off", last=ended(1))])], init_log_tail="error: DownloadFailed: reset\n"),
     "DownloadFailed", "reset", "FailedToLoad", "BlockedByFailedLoad", "ModelLoadFailed"),
    ("downloading", observe(pods=[pod(init=[running(name="storage-initializer")])],
                            init_log_tail=f"starting\n{PROGRESS}\n"),
     "Downloading", PROGRESS, "Loading", "InProgress", None),
    ("downloading-no-progress", observe(pods=[pod(init=[running(name="storage-initializer")])]),
     "Downloading", "downloading the model", "Loading", "InProgress", None),
    ("download-retry", observe(pods=[pod(init=[running(name="storage-initializer", restarts=1, last=ended(1))])]),
     "Downloading", "the last one failed with exit code 1", "Loading", "InProgress", None),
    ("oom-killed", observe(pods=[pod(init=[done()], containers=[
        waiting("CrashLoopBackOff", "back-off 10s", restarts=1, last=ended(137, "OOMKilled"))])]),
     "OOMKilled", "running out of memory (exit code 137", "FailedToLoad", "BlockedByFailedLoad", "ModelLoadFailed"),
    ("crash-loop", observe(pods=[pod(init=[done()], containers=[
        waiting("CrashLoopBackOff", "back-off 40s", restarts=3, last=ended(1))])], main_log_tail=CRASH_LOG),
     "CrashLoopBackOff", "ValueError: max_model_len is too large", "FailedToLoad", "BlockedByFailedLoad",
     "ModelLoadFailed"),
    ("crashed-running-again", observe(pods=[pod(init=[done()], containers=[running(restarts=1, last=ended(2))])]),
     "CrashLoopBackOff", "exited with code 2", "FailedToLoad", "BlockedByFailedLoad", "ModelLoadFailed"),
    ("server-starting", observe(pods=[pod(init=[done()], containers=[running()], phase="Running")]),
     "Loading", "the model server is starting", "Loading", "InProgress", None),
    ("container-creating", observe(pods=[pod(containers=[waiting("ContainerCreating")])]),
     "ContainerCreating", "starting", "Pending", "InProgress", None),
    ("no-pods-replica-failure", observe(deployment=deployment(extra=[
        {"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate", "message": "exceeded quota"}])),
     "FailedCreate", "exceeded quota", "FailedToLoad", "BlockedByFailedLoad", "RuntimeUnhealthy"),
    ("no-pods-yet", observe(),
     "MinimumReplicasUnavailable", "minimum availability", "Pending", "InProgress", None),
    ("no-deployment", observe(deployment=None),
     "Pending", "has not been created", "Pending", "InProgress", None),
    ("terminating-pods-ignored", observe(pods=[pod("old", scheduled=GPU_MESSAGE, deleting=True),
                                               pod("new", init=[running(name="storage-initializer")])]),
     "Downloading", "downloading", "Loading", "InProgress", None),
]


@pytest.mark.parametrize(("observed", "reason", "fragment", "target", "transition", "failure"),
                         [case[1:] for case in NOT_READY], ids=[case[0] for case in NOT_READY])
def test_each_not_ready_cause(observed: Observed, reason: str, fragment: str, target: str, transition: str,
                              failure: str | None) -> None:
    status = compute_status(isvc(), observed, NOW)
    predictor = condition(status, "PredictorReady")
    assert (predictor["status"], predictor["reason"]) == ("False", reason)
    assert fragment in predictor["message"]
    ready = condition(status, "Ready")
    assert (ready["status"], ready["reason"], ready["message"]) == ("False", reason, predictor["message"])
    model = status["modelStatus"]
    assert model["states"]["targetModelState"] == target
    assert model["transitionStatus"] == transition
    assert model.get("lastFailureInfo", {}).get("reason") == failure
    if failure is not None:
        assert model["lastFailureInfo"]["time"] == NOW
    assert status["url"] == INTERNAL
    assert status["components"] == {"predictor": {}}


def test_storage_failure_info_names_the_pod_and_exit_code() -> None:
    observed = observe(pods=[pod(init=[terminated(1)])], init_log_tail="error: ModelNotFound: no such key\n")
    info = compute_status(isvc(), observed, NOW)["modelStatus"]["lastFailureInfo"]
    assert info == {"location": "cpu-model-predictor-abc-1", "reason": "ModelLoadFailed",
                    "message": "ModelNotFound: no such key", "exitCode": 1, "time": NOW}


def test_crash_loop_quotes_only_the_last_log_lines() -> None:
    observed = observe(pods=[pod(init=[done()], containers=[waiting("CrashLoopBackOff", restarts=3,
                                                                    last=ended(1))])], main_log_tail=CRASH_LOG)
    message = condition(compute_status(isvc(), observed, NOW), "PredictorReady")["message"]
    assert message.endswith("line 5\nline 6\nline 7\nline 8\nValueError: max_model_len is too large")
    assert "line 4" not in message
    assert "restarted 3 times" in message


def test_oom_failure_info_has_exit_code_137() -> None:
    observed = observe(pods=[pod(init=[done()], containers=[waiting("CrashLoopBackOff", restarts=1,
                                                                    last=ended(137, "OOMKilled"))])])
    info = compute_status(isvc(), observed, NOW)["modelStatus"]["lastFailureInfo"]
    assert (info["reason"], info["exitCode"]) == ("ModelLoadFailed", 137)
    assert compute_status(isvc(), observed, NOW)["modelStatus"]["copies"] == {"failedCopies": 1}


def test_ready_in_kserve_shape() -> None:
    observed = observe(deployment=deployment(available=True), pods=[ready_pod()])
    status = compute_status(isvc(generation=3, runtime="vllm-runtime"), observed, NOW)
    assert status == {
        "observedGeneration": 3,
        "conditions": [{"type": "IngressReady", "status": "True", "lastTransitionTime": NOW},
                       {"type": "PredictorReady", "status": "True", "lastTransitionTime": NOW},
                       {"type": "Ready", "status": "True", "lastTransitionTime": NOW}],
        "url": INTERNAL,
        "address": {"url": INTERNAL},
        "components": {"predictor": {"url": INTERNAL}},
        "modelStatus": {"transitionStatus": "UpToDate",
                        "states": {"activeModelState": "Loaded", "targetModelState": "Loaded"},
                        "copies": {"failedCopies": 0, "totalCopies": 1}},
        "deploymentMode": "RawDeployment",
        "servingRuntimeName": "vllm-runtime",
    }


def test_runtime_name_from_resolution_and_cluster_runtimes() -> None:
    assert compute_status(isvc(), observe(runtime_name="vllm"), NOW)["servingRuntimeName"] == "vllm"
    status = compute_status(isvc(), observe(runtime_name="kserve-vllm", cluster_runtime=True), NOW)
    assert status["clusterServingRuntimeName"] == "kserve-vllm"
    assert "servingRuntimeName" not in status
    missing = compute_status(isvc(runtime="gone"), observe(runtime_problem=("RuntimeNotFound", "gone")), NOW)
    assert "servingRuntimeName" not in missing


def test_deployment_mode_follows_the_annotation() -> None:
    annotated = isvc(annotations={"serving.kserve.io/deploymentMode": "Serverless"})
    assert compute_status(annotated, observe(), NOW)["deploymentMode"] == "Serverless"


def test_rollout_failing_behind_serving_copies_stays_ready_and_says_so_in_model_status() -> None:
    new = pod("new", init=[done()], containers=[waiting("CrashLoopBackOff", restarts=2, last=ended(1))], created=NOW)
    observed = observe(deployment=deployment(available=True, replicas=1, updated=1, total=2, generation=2),
                       pods=[ready_pod("old"), new])
    status = compute_status(isvc(), observed, NOW)
    assert condition(status, "Ready")["status"] == "True"
    model = status["modelStatus"]
    assert model["states"] == {"activeModelState": "Loaded", "targetModelState": "FailedToLoad"}
    assert model["transitionStatus"] == "BlockedByFailedLoad"
    assert model["lastFailureInfo"]["location"] == "new"
    assert model["copies"] == {"failedCopies": 1, "totalCopies": 1}


def test_rollout_loading_is_in_progress() -> None:
    new = pod("new", init=[running(name="storage-initializer")], created=NOW)
    observed = observe(deployment=deployment(available=True, updated=1, total=2, generation=2, observed=2),
                       pods=[ready_pod("old"), new])
    model = compute_status(isvc(), observed, NOW)["modelStatus"]
    assert (model["transitionStatus"], model["states"]["targetModelState"]) == ("InProgress", "Loading")


def test_unobserved_deployment_generation_is_not_rolled_out() -> None:
    observed = observe(deployment=deployment(available=True, generation=2, observed=1), pods=[ready_pod()])
    assert compute_status(isvc(), observed, NOW)["modelStatus"]["transitionStatus"] == "InProgress"


def test_scaled_to_zero_is_standby() -> None:
    observed = observe(deployment=deployment(available=True, replicas=0, updated=0, total=0))
    status = compute_status(isvc(), observed, NOW)
    assert condition(status, "Ready")["status"] == "True"
    assert status["modelStatus"]["states"] == {"activeModelState": "Standby", "targetModelState": "Standby"}
    assert status["modelStatus"]["copies"] == {"failedCopies": 0}


EXPOSED = {"networking.kserve.io/visibility": "exposed"}
SERVING = {"deployment": deployment(available=True), "pods": [ready_pod()]}
INGRESS = [
    ("internal", False, None, "True", None, INTERNAL),
    ("admitted", True, route(), "True", None, "https://cpu-model-demo.apps.localhost"),
    ("pending-admission", True, route(admitted=None), "False", "RouteNotAdmitted", INTERNAL),
    ("rejected", True, route(admitted=False, reason="HostAlreadyClaimed", message="host claimed by other/route"),
     "False", "HostAlreadyClaimed", INTERNAL),
    ("missing", True, None, "False", "RouteNotFound", INTERNAL),
    ("router-port", True, route(port="8443"), "True", None, "https://cpu-model-demo.apps.localhost:8443"),
    ("router-port-443", True, route(port="443"), "True", None, "https://cpu-model-demo.apps.localhost"),
    ("plain-http", True, route(tls=False), "True", None, "http://cpu-model-demo.apps.localhost"),
    ("plain-http-port", True, route(tls=False, port="8080"), "True", None, "http://cpu-model-demo.apps.localhost:8080"),
    ("plain-http-port-80", True, route(tls=False, port="80"), "True", None, "http://cpu-model-demo.apps.localhost"),
    ("not-exposed-route-refused", False, route(admitted=False, reason="InferenceServiceNotExposed", message="label"),
     "True", None, INTERNAL),
    ("not-exposed-route-admitted", False, route(), "True", None, INTERNAL),
]


@pytest.mark.parametrize(("exposed", "route_obj", "ingress", "reason", "url"), [c[1:] for c in INGRESS],
                         ids=[c[0] for c in INGRESS])
def test_ingress_and_urls(exposed: bool, route_obj: Obj | None, ingress: str, reason: str | None, url: str) -> None:
    status = compute_status(isvc(labels=EXPOSED if exposed else None),
                            observe(exposed=exposed, route=route_obj, **SERVING), NOW)
    got = condition(status, "IngressReady")
    assert (got["status"], got.get("reason")) == (ingress, reason)
    assert condition(status, "Ready")["status"] == ingress
    assert condition(status, "Ready").get("reason") == reason
    assert status["url"] == url
    assert status["address"] == {"url": INTERNAL}


def test_rejected_route_message_carries_the_routers_words() -> None:
    rejected = route(admitted=False, reason="HostAlreadyClaimed", message="host claimed by other/route")
    status = compute_status(isvc(labels=EXPOSED), observe(exposed=True, route=rejected, **SERVING), NOW)
    message = condition(status, "IngressReady")["message"]
    assert message == "Route cpu-model was not admitted: host claimed by other/route"


def test_ready_takes_the_predictors_cause_before_the_ingress() -> None:
    status = compute_status(isvc(labels=EXPOSED), observe(exposed=True, pods=[pod(scheduled=GPU_MESSAGE)]), NOW)
    assert condition(status, "Ready")["reason"] == "Unschedulable"
    assert condition(status, "IngressReady")["reason"] == "RouteNotFound"


def test_last_transition_time_moves_only_when_status_flips() -> None:
    first = compute_status(isvc(), observe(pods=[pod(init=[running(name="storage-initializer")])]), EARLIER)
    # Same status (False), another reason: the time stays.
    second = compute_status(isvc(first), observe(pods=[pod(init=[done()], containers=[running()])]), NOW)
    assert condition(second, "PredictorReady")["reason"] == "Loading"
    assert condition(second, "PredictorReady")["lastTransitionTime"] == EARLIER
    assert condition(second, "IngressReady")["lastTransitionTime"] == EARLIER
    # A flip to True moves it.
    third = compute_status(isvc(second), observe(**SERVING), NOW)
    assert condition(third, "PredictorReady")["lastTransitionTime"] == NOW
    assert condition(third, "IngressReady")["lastTransitionTime"] == EARLIER


def test_unchanged_observation_gives_an_identical_status() -> None:
    observed = observe(pods=[pod(scheduled=GPU_MESSAGE)])
    first = compute_status(isvc(), observed, EARLIER)
    assert compute_status(isvc(first), observed, NOW) == first


def test_failure_time_is_kept_while_the_same_failure_persists() -> None:
    failing = observe(pods=[pod(init=[terminated(1)])], init_log_tail="error: ModelNotFound: gone\n")
    first = compute_status(isvc(), failing, EARLIER)
    again = compute_status(isvc(first), failing, NOW)
    assert again["modelStatus"]["lastFailureInfo"]["time"] == EARLIER
    other = observe(pods=[pod(init=[terminated(1)])], init_log_tail="error: AccessDenied: 403\n")
    assert compute_status(isvc(first), other, NOW)["modelStatus"]["lastFailureInfo"]["time"] == NOW


def test_last_failure_stays_during_a_retry_and_clears_once_loaded() -> None:
    failing = observe(pods=[pod(init=[terminated(1)])], init_log_tail="error: DownloadFailed: reset\n")
    failed = compute_status(isvc(), failing, EARLIER)
    retrying = compute_status(isvc(failed), observe(pods=[pod(init=[running(name="storage-initializer")])]), NOW)
    assert retrying["modelStatus"]["lastFailureInfo"] == failed["modelStatus"]["lastFailureInfo"]
    loaded = compute_status(isvc(retrying), observe(**SERVING), NOW)
    assert "lastFailureInfo" not in loaded["modelStatus"]


def test_component_url_is_kept_after_the_predictor_was_ready() -> None:
    ready = compute_status(isvc(), observe(**SERVING), EARLIER)
    broken = compute_status(isvc(ready), observe(pods=[pod(scheduled=GPU_MESSAGE)]), NOW)
    assert broken["components"] == {"predictor": {"url": INTERNAL}}
    assert condition(broken, "Ready")["lastTransitionTime"] == NOW


PICKS = [
    # (case, routes, the name of the Route picked for InferenceService cpu-model)
    ("none", [], None),
    ("by-name", [route()], "cpu-model"),
    ("by-target", [route(name="mine")], "mine"),
    ("unrelated", [route(name="web", to="web")], None),
    ("admitted-first", [route(admitted=False, reason="HostAlreadyClaimed"), route(name="mine", created=NOW)], "mine"),
    ("named-next", [route(name="mine", admitted=None), route(admitted=None, created=NOW)], "cpu-model"),
    ("oldest-then", [route(name="b", created=NOW), route(name="a", created=NOW), route(name="c")], "c"),
]


@pytest.mark.parametrize(("routes", "picked"), [c[1:] for c in PICKS], ids=[c[0] for c in PICKS])
def test_pick_route(routes: list[Obj], picked: str | None) -> None:
    found = pick_route(routes, "cpu-model")
    assert (found["metadata"]["name"] if found else None) == picked


@pytest.mark.parametrize(("route_obj", "refusal"), [
    (None, None),
    (route(), None),
    (route(admitted=None), None),
    (route(admitted=False, reason="InferenceServiceNotExposed", message="add the label"),
     ("InferenceServiceNotExposed", "add the label")),
    (route(admitted=False), ("RouteNotAdmitted", "")),
])
def test_route_refusal(route_obj: Obj | None, refusal: tuple[str, str] | None) -> None:
    assert route_refusal(route_obj) == refusal
