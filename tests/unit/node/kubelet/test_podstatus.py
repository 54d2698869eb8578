"""Pod status from observed state: phases, conditions, waiting reasons, QoS, transition times."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from kubeserve.node.kubelet.podstatus import (
    ContainerView,
    Exit,
    Observation,
    container_status,
    pod_phase,
    pod_status,
    qos_class,
    status_patch,
)

Obj = dict[str, Any]
T0, T1 = "2025-01-01T00:00:00Z", "2025-01-01T00:01:00Z"
OK = Exit(0, "Completed", T0, T1, run=0)
ERR = Exit(1, "Error", T0, T1, run=0)
OOM = Exit(137, "OOMKilled", T0, T1, signal=9, run=2)


def running(name: str = "c", ready: bool = True, **kw: Any) -> ContainerView:
    return ContainerView(name, "img", running_since=T0, started=True, ready=ready, **kw)


def waiting(name: str = "c", reason: str = "ContainerCreating", **kw: Any) -> ContainerView:
    return ContainerView(name, "img", waiting=(reason, ""), **kw)


def done(name: str = "c", e: Exit = OK) -> ContainerView:
    return ContainerView(name, "img", exit=e)


def statuses(views: list[ContainerView]) -> list[Obj]:
    return [container_status("u", v) for v in views]


@pytest.mark.parametrize(("policy", "init", "containers", "phase"), [
    ("Always", [], [ContainerView("c", "img")], "Pending"),
    ("Always", [], [running()], "Running"),
    ("Always", [], [running("a"), ContainerView("b", "img")], "Pending"),
    ("Always", [], [waiting(reason="CrashLoopBackOff", exit=ERR)], "Running"),  # restarting counts as stopped
    ("Always", [], [done(e=OK)], "Running"),
    ("OnFailure", [], [done(e=OK)], "Succeeded"),
    ("Never", [], [done(e=OK), done("b", ERR)], "Failed"),
    ("OnFailure", [], [done(e=OK), waiting("b", "CrashLoopBackOff", exit=ERR)], "Running"),
    ("Never", [], [done(e=OOM)], "Failed"),
    ("Always", [running("i")], [ContainerView("c", "img")], "Pending"),
    ("Always", [waiting("i", "CrashLoopBackOff", exit=ERR)], [ContainerView("c", "img")], "Pending"),
    ("Never", [done("i", ERR)], [ContainerView("c", "img")], "Failed"),
    ("Always", [done("i", OK)], [running()], "Running"),
])
def test_phase(policy: str, init: list[ContainerView], containers: list[ContainerView], phase: str) -> None:
    assert pod_phase(policy, statuses(init), statuses(containers)) == phase


def test_container_status_states() -> None:
    status = container_status("u", running(restart_count=3, last=OOM))
    assert status["state"] == {"running": {"startedAt": T0}}
    assert status["lastState"]["terminated"]["reason"] == "OOMKilled"
    assert status["lastState"]["terminated"]["signal"] == 9
    assert status["containerID"] == "kubeserve://u/c/3"
    assert status["imageID"] == "kubeserve://img"
    assert (status["ready"], status["started"], status["restartCount"]) == (True, True, 3)

    crash = container_status("u", ContainerView("c", "img", restart_count=1, exit=ERR,
                                                waiting=("CrashLoopBackOff", "back-off 10s ...")))
    assert crash["state"] == {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 10s ..."}}
    assert crash["lastState"]["terminated"]["exitCode"] == 1

    fresh = container_status("u", ContainerView("c", "img"), default_waiting="PodInitializing")
    assert fresh["state"] == {"waiting": {"reason": "PodInitializing"}}
    assert fresh["lastState"] == {}
    assert "containerID" not in fresh

    finished = container_status("u", done(e=OK))
    assert finished["state"]["terminated"]["reason"] == "Completed"
    assert finished["started"] is False


def pod(**spec: Any) -> Obj:
    return {"metadata": {"name": "p", "namespace": "default", "uid": "u"},
            "spec": {"containers": [{"name": "c", "image": "img"}], **spec},
            "status": {"phase": "Pending", "conditions": [
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": T0}]}}


def conditions(status: Obj) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c.get("reason", "")) for c in status["conditions"]}


def test_running_ready_pod() -> None:
    obs = Observation(uid="u", host_ip="127.0.0.1", pod_ip="127.10.0.2", start_time=T0, sandbox_ready=True,
                      containers=[running()])
    status = pod_status(pod(), obs, T1)
    assert status["phase"] == "Running"
    assert conditions(status) == {"PodReadyToStartContainers": ("True", ""), "Initialized": ("True", ""),
                                  "Ready": ("True", ""), "ContainersReady": ("True", ""),
                                  "PodScheduled": ("True", "")}
    assert status["podIP"] == "127.10.0.2"
    assert status["podIPs"] == [{"ip": "127.10.0.2"}]
    assert status["hostIPs"] == [{"ip": "127.0.0.1"}]
    assert status["qosClass"] == "BestEffort"
    assert status["startTime"] == T0
    assert next(c for c in status["conditions"] if c["type"] == "PodScheduled")["lastTransitionTime"] == T0


def test_unready_and_initializing_reasons() -> None:
    obs = Observation(uid="u", host_ip="127.0.0.1", sandbox_ready=True, init=[running("i", ready=False)],
                      containers=[ContainerView("c", "img")])
    status = pod_status(pod(initContainers=[{"name": "i", "image": "img"}]), obs, T1)
    assert status["phase"] == "Pending"
    assert conditions(status)["Initialized"] == ("False", "ContainersNotInitialized")
    assert conditions(status)["Ready"] == ("False", "ContainersNotReady")
    init_cond = next(c for c in status["conditions"] if c["type"] == "Initialized")
    assert init_cond["message"] == "containers with incomplete status: [i]"
    assert status["containerStatuses"][0]["state"] == {"waiting": {"reason": "PodInitializing"}}


def test_no_sandbox_yet_reads_container_creating() -> None:
    status = pod_status(pod(), Observation(uid="u", host_ip="127.0.0.1", containers=[ContainerView("c", "img")]), T1)
    assert conditions(status)["PodReadyToStartContainers"] == ("False", "")
    assert status["containerStatuses"][0]["state"] == {"waiting": {"reason": "ContainerCreating"}}
    assert "podIP" not in status


def test_completed_pod_conditions_and_admission_failure() -> None:
    obs = Observation(uid="u", host_ip="127.0.0.1", sandbox_ready=True, containers=[done()])
    status = pod_status(pod(restartPolicy="Never"), obs, T1)
    assert status["phase"] == "Succeeded"
    assert conditions(status)["Ready"] == ("False", "PodCompleted")
    failed = pod_status(pod(), Observation(uid="u", host_ip="127.0.0.1", containers=[ContainerView("c", "img")],
                                           failure=("UnexpectedAdmissionError", "Allocate failed")), T1)
    assert (failed["phase"], failed["reason"], failed["message"]) == ("Failed", "UnexpectedAdmissionError",
                                                                      "Allocate failed")


def test_transition_time_moves_only_on_flips() -> None:
    p = pod()
    obs = Observation(uid="u", host_ip="127.0.0.1", sandbox_ready=True, containers=[running(ready=False)])
    first = pod_status(p, obs, T0)
    p["status"] = first
    again = pod_status(p, obs, T1)
    assert again["conditions"] == first["conditions"]
    assert status_patch(first, again) is None
    flipped = pod_status(p, Observation(uid="u", host_ip="127.0.0.1", sandbox_ready=True, containers=[running()]), T1)
    times = {c["type"]: c["lastTransitionTime"] for c in flipped["conditions"]}
    assert times["Ready"] == T1
    assert times["PodReadyToStartContainers"] == T0
    patch = status_patch(first, flipped)
    assert patch is not None and set(patch) == {"conditions", "containerStatuses"}


def test_readiness_gates() -> None:
    p = pod(readinessGates=[{"conditionType": "example.com/lb"}])
    obs = Observation(uid="u", host_ip="127.0.0.1", sandbox_ready=True, containers=[running()])
    assert conditions(pod_status(p, obs, T1))["Ready"] == ("False", "ReadinessGatesNotReady")
    p["status"]["conditions"].append({"type": "example.com/lb", "status": "True"})
    status = pod_status(p, obs, T1)
    assert conditions(status)["Ready"] == ("True", "")
    assert conditions(status)["example.com/lb"] == ("True", "")


@pytest.mark.parametrize(("resources", "qos"), [
    ([{}], "BestEffort"),
    ([{"limits": {"cpu": "1", "memory": "1Gi"}}], "Guaranteed"),
    ([{"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "1000m", "memory": "1Gi"}}], "Guaranteed"),
    ([{"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "500m"}}], "Burstable"),
    ([{"requests": {"cpu": "1"}}], "Burstable"),
    ([{"limits": {"cpu": "1", "memory": "1Gi"}}, {}], "Burstable"),
    ([{"limits": {"nvidia.com/gpu": 1}}], "BestEffort"),
])
def test_qos_class(resources: list[Obj], qos: str) -> None:
    spec = {"containers": [{"name": f"c{i}", "resources": r} for i, r in enumerate(resources)]}
    assert qos_class(spec) == qos


SIDECAR = frozenset({"s"})


@pytest.mark.parametrize(("policy", "init", "containers", "phase"), [
    # a sidecar holds the pod in Pending until it runs and its startup probe passed
    ("Never", [ContainerView("s", "img")], [ContainerView("c", "img")], "Pending"),
    ("Never", [ContainerView("s", "img", running_since=T0, started=False)], [ContainerView("c", "img")], "Pending"),
    # started: it counts as running beside the main containers
    ("Never", [running("s")], [ContainerView("c", "img")], "Pending"),
    ("Never", [running("s")], [running()], "Running"),
    # the main containers are done but the sidecar still runs: Running until the kubelet stops it
    ("Never", [running("s")], [done()], "Running"),
    # a sidecar that ended (stopped, or restarting) never counts towards completion
    ("Never", [done("s", Exit(143, "Error", T0, T1, signal=15))], [done()], "Succeeded"),
    ("OnFailure", [waiting("s", "CrashLoopBackOff", exit=ERR)], [done()], "Succeeded"),
    ("Never", [done("s", OK)], [done("c", ERR)], "Failed"),
    ("Always", [waiting("s", "CrashLoopBackOff", exit=ERR)], [running()], "Running"),
    # a failed sidecar is not a failed initialization, whatever the policy
    ("Never", [waiting("s", "CrashLoopBackOff", exit=ERR)], [running()], "Running"),
])
def test_phase_with_sidecars(policy: str, init: list[ContainerView], containers: list[ContainerView],
                             phase: str) -> None:
    assert pod_phase(policy, statuses(init), statuses(containers), SIDECAR) == phase


def sidecar_pod(startup: bool = False) -> Obj:
    sidecar = {"name": "s", "image": "img", "restartPolicy": "Always", **({"startupProbe": {}} if startup else {})}
    return {"metadata": {"uid": "u"}, "spec": {"initContainers": [sidecar], "containers": [{"name": "c"}]},
            "status": {}}


def conditions_of(status: Obj) -> dict[str, str]:
    return {c["type"]: c["status"] for c in status["conditions"]}


def test_sidecar_initialized_and_ready() -> None:
    obs = Observation(uid="u", host_ip="127.0.0.1", sandbox_ready=True)
    # not started yet: not initialized, the main container waits in PodInitializing
    unstarted = ContainerView("s", "img", running_since=T0, started=False)
    status = pod_status(sidecar_pod(True), replace(obs, init=[unstarted], containers=[ContainerView("c", "img")]), T1)
    assert conditions_of(status)["Initialized"] == "False"
    assert status["containerStatuses"][0]["state"] == {"waiting": {"reason": "PodInitializing"}}
    # started: initialized; its readiness gates the pod's, and the status says started/ready
    unready = running("s", ready=False)
    status = pod_status(sidecar_pod(), replace(obs, init=[unready], containers=[running()]), T1)
    assert conditions_of(status)["Initialized"] == "True"
    assert conditions_of(status)["ContainersReady"] == "False"
    assert status["phase"] == "Running"
    status = pod_status(sidecar_pod(), replace(obs, init=[running("s")], containers=[running()]), T1)
    assert status["initContainerStatuses"][0]["started"] is True
    assert status["initContainerStatuses"][0]["ready"] is True
    assert conditions_of(status)["Ready"] == "True"
    # a sidecar restarting later does not take the pod back to initializing
    restarting = waiting("s", "CrashLoopBackOff", exit=ERR)
    status = pod_status(sidecar_pod(), replace(obs, init=[restarting], containers=[running()]), T1)
    assert conditions_of(status)["Initialized"] == "True"
