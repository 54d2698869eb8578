"""Why a predictor pod is not serving, read from the pod's own status and its containers' last log lines.

A pod can be stuck in many ways at once (unschedulable and with an unpullable image; crashing after an
OOM kill). The InferenceService shows one cause, the one a user must fix first, so each finding carries a
rank and the lowest wins: the scheduler before the image, the image before the configuration, the model
download before the model server. The ranks are the order in which Kubernetes meets the problems while it
starts a pod, so fixing the shown cause always uncovers the next one rather than one that was hidden earlier.

Pure: pods in, `Cause` out. `status` turns the winning cause into conditions and `modelStatus`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from kubeserve.api.modelprogress import parse_progress_line

Obj = dict[str, Any]

STORAGE_INITIALIZER = "storage-initializer"
MODEL_SERVER = "kserve-container"
IMAGE_PULL_REASONS = frozenset({"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull",
                                "RegistryUnavailable"})
CONFIG_REASONS = frozenset({"CreateContainerConfigError", "CreateContainerError"})
LOG_LINES = 5
"""How many of the model server's last log lines a crash-loop message quotes."""
LINE_LIMIT = 300

# Ranks: the order Kubernetes meets the problems while starting a pod (see the module docstring).
UNSCHEDULABLE, POD_FAILED, IMAGE, CONFIG, STORAGE_FAILED, DOWNLOADING, OOM, CRASH, LOADING, PENDING = range(10)

_STORAGE_ERROR = re.compile(r"^error: (?P<reason>[A-Z][A-Za-z0-9]*): (?P<message>.*)$")


@dataclass(frozen=True)
class Failure:
    """What `modelStatus.lastFailureInfo` says, less its time (the caller knows when it first appeared)."""

    reason: str
    """One of KServe's FailureReason values: ModelLoadFailed, RuntimeUnhealthy, InvalidPredictorSpec, …"""
    message: str
    location: str = ""
    exit_code: int = 0


@dataclass(frozen=True)
class Cause:
    rank: int
    reason: str
    message: str
    model_state: str
    """The target model's state this cause implies: Pending, Loading or FailedToLoad."""
    failure: Failure | None = None


def storage_error(log_tail: str | None) -> tuple[str, str] | None:
    """The storage initializer's last `error: Reason: message` line, as (reason, message)."""
    for line in reversed((log_tail or "").splitlines()):
        match = _STORAGE_ERROR.match(line.strip())
        if match:
            return match["reason"], match["message"]
    return None


def last_progress(log_tail: str | None) -> str | None:
    """The storage initializer's last download-progress line, as it logged it."""
    for line in reversed((log_tail or "").splitlines()):
        if parse_progress_line(line) is not None:
            return line.strip()
    return None


def last_lines(log_tail: str | None, count: int = LOG_LINES) -> list[str]:
    lines = [line.rstrip() for line in (log_tail or "").splitlines() if line.strip()]
    return [line if len(line) <= LINE_LIMIT else line[:LINE_LIMIT] + "…" for line in lines[-count:]]


def diagnose_pods(pods: list[Obj], init_log_tail: str | None, main_log_tail: str | None) -> tuple[Cause | None, int]:
    """The most pressing cause among the pods that are not ready, and how many pods failed to load.

    Terminating pods are left out: during a rollout they are the old copies going away, not a problem."""
    best: Cause | None = None
    failed = 0
    live = [p for p in pods if not (p.get("metadata") or {}).get("deletionTimestamp")]
    live.sort(key=lambda p: str((p.get("metadata") or {}).get("creationTimestamp") or ""), reverse=True)
    for pod in live:
        if pod_ready(pod):
            continue
        cause = pod_cause(pod, init_log_tail, main_log_tail)
        if cause.model_state == "FailedToLoad":
            failed += 1
        if best is None or cause.rank < best.rank:
            best = cause
    return best, failed


def pod_ready(pod: Obj) -> bool:
    status = pod.get("status") or {}
    return status.get("phase") == "Running" and any(
        c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])


def pod_cause(pod: Obj, init_log_tail: str | None, main_log_tail: str | None) -> Cause:
    """Why this (not ready) pod does not serve: the lowest-ranked of everything wrong with it."""
    name = str((pod.get("metadata") or {}).get("name") or "")
    status = pod.get("status") or {}
    causes: list[Cause] = []
    for condition in status.get("conditions") or []:
        if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
            message = condition.get("message") or f"pod {name} cannot be scheduled"
            causes.append(Cause(UNSCHEDULABLE, condition.get("reason") or "Unschedulable", message, "Pending"))
    if status.get("phase") == "Failed":
        reason = status.get("reason") or "PodFailed"
        message = status.get("message") or f"pod {name} failed"
        causes.append(Cause(POD_FAILED, reason, message, "FailedToLoad",
                            Failure("RuntimeUnhealthy", f"{reason}: {message}", name)))
    for cs in status.get("initContainerStatuses") or []:
        causes.extend(_container_causes(name, cs, init_log_tail, main_log_tail, init=True))
    for cs in status.get("containerStatuses") or []:
        causes.extend(_container_causes(name, cs, init_log_tail, main_log_tail, init=False))
    if not causes:
        causes.append(Cause(PENDING, "Pending", f"the predictor pod {name} is being created", "Pending"))
    return min(causes, key=lambda c: c.rank)


def _container_causes(pod: str, cs: Obj, init_tail: str | None, main_tail: str | None, *, init: bool) -> list[Cause]:
    container = str(cs.get("name") or "")
    state, last = cs.get("state") or {}, cs.get("lastState") or {}
    waiting = state.get("waiting")
    restarts = int(cs.get("restartCount") or 0)
    if waiting and waiting.get("reason") in IMAGE_PULL_REASONS:
        reason = waiting["reason"]
        message = waiting.get("message") or f'image "{cs.get("image", "")}" for container {container} cannot be pulled'
        return [Cause(IMAGE, reason, message, "FailedToLoad",
                      Failure("RuntimeUnhealthy", f"{container}: {reason}: {message}", pod))]
    if waiting and waiting.get("reason") in CONFIG_REASONS:
        reason = waiting["reason"]
        message = waiting.get("message") or f"container {container} cannot be created"
        return [Cause(CONFIG, reason, message, "FailedToLoad",
                      Failure("InvalidPredictorSpec", f"{container}: {message}", pod))]
    if init:
        if container == STORAGE_INITIALIZER:
            return _storage_causes(pod, cs, init_tail)
        ended = _failed_run(state, last) if "running" not in state else None
        if ended is not None:
            code = int(ended.get("exitCode") or 0)
            return [Cause(CRASH, "InitContainerFailed", f"init container {container} exited with code {code}",
                          "FailedToLoad", Failure("RuntimeUnhealthy", f"init container {container} failed", pod, code))]
        return []
    if cs.get("ready"):
        return []
    ended = _failed_run(state, last)
    if ended is not None:
        # A container that failed before and is not ready now keeps that cause, whether it waits for its
        # back-off or runs again: the shown reason would otherwise flap with every restart.
        code = int(ended.get("exitCode") or 0)
        if ended.get("reason") == "OOMKilled":
            message = (f"the model server container {container} was killed for running out of memory (exit code "
                       f"{code}, restarted {restarts} times): raise resources.limits.memory or make the model use "
                       "less memory (e.g. a smaller --max-model-len)")
            return [Cause(OOM, "OOMKilled", message, "FailedToLoad",
                          Failure("ModelLoadFailed", f"container {container} was OOMKilled", pod, code))]
        message = f"the model server container {container} exited with code {code} (restarted {restarts} times)"
        tail = last_lines(main_tail) if container == MODEL_SERVER else []
        if tail:
            message += "; last log lines:\n" + "\n".join(tail)
        return [Cause(CRASH, "CrashLoopBackOff", message, "FailedToLoad",
                      Failure("ModelLoadFailed", f"container {container} crashed", pod, code))]
    if "running" in state:
        return [Cause(LOADING, "Loading", f"the model server is starting (container {container} in pod {pod} "
                      "is running and not ready yet)", "Loading")]
    reason = (waiting or {}).get("reason") or "Pending"
    return [Cause(PENDING, reason, f"the predictor pod {pod} is starting ({container}: {reason})", "Pending")]


def _storage_causes(pod: str, cs: Obj, log_tail: str | None) -> list[Cause]:
    state, last = cs.get("state") or {}, cs.get("lastState") or {}
    last_terminated = last.get("terminated")
    if "running" in state:
        message = last_progress(log_tail) or "the storage-initializer is downloading the model to /mnt/models"
        if last_terminated and last_terminated.get("exitCode", 0) != 0:
            message += (f" (attempt {int(cs.get('restartCount') or 0) + 1}; the last one failed with exit code "
                        f"{last_terminated.get('exitCode')})")
        return [Cause(DOWNLOADING, "Downloading", message, "Loading")]
    ended = _failed_run(state, last)
    if ended is None:
        return []
    code = int(ended.get("exitCode") or 0)
    parsed = storage_error(log_tail)
    if parsed is not None:
        reason, detail = parsed
    elif ended.get("reason") == "OOMKilled":
        reason, detail = "OOMKilled", "the storage-initializer was killed for running out of memory"
    else:
        reason = "ModelLoadFailed"
        detail = ended.get("message") or (f"the storage-initializer failed ({ended.get('reason') or 'Error'}); "
                                          f"see kubectl logs {pod} -c {STORAGE_INITIALIZER}")
    message = f"{detail} (storage-initializer exit code {code})"
    return [Cause(STORAGE_FAILED, reason, message, "FailedToLoad",
                  Failure("ModelLoadFailed", f"{reason}: {detail}", pod, code))]


def _failed_run(state: Obj, last: Obj) -> Obj | None:
    """The `terminated` record of a failed run: the current state's, else (waiting or running again after
    it) the previous run's."""
    terminated = state.get("terminated")
    if terminated:
        return terminated if terminated.get("exitCode", 0) != 0 else None
    previous = last.get("terminated")
    return previous if previous and previous.get("exitCode", 0) != 0 else None
