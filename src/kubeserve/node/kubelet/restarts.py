"""Restart decisions: whether a container that ended runs again, and how long it waits first.

Pure, with times passed in as seconds. The numbers are the kubelet's: a crashed container restarts at once
the first time, then after 10 s, 20 s, 40 s … up to 5 minutes (CrashLoopBackOff); a run that lasted 10
minutes resets the sequence. Image pulls back off the same way but never retry at once.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BackOffPolicy:
    base: float = 10.0
    cap: float = 300.0
    reset_after: float = 600.0  # a run at least this long starts the sequence again


@dataclass(frozen=True)
class BackOff:
    delay: float  # the wait before this retry (0: retry now)
    retry_at: float  # when the retry may happen
    next_delay: float  # the wait before the retry after this one


def should_restart(restart_policy: str, exit_code: int, *, init: bool = False, sidecar: bool = False) -> bool:
    """Kubernetes' rule; an init container that succeeded is done whatever the pod's policy; a sidecar (an init
    container with restartPolicy Always) always runs again, whatever the pod's policy."""
    if sidecar:
        return True
    if init:
        return restart_policy != "Never" and exit_code != 0
    if restart_policy == "Never":
        return False
    if restart_policy == "OnFailure":
        return exit_code != 0
    return True  # Always (the default)


def crash_backoff(previous: BackOff | None, finished_at: float, ran_for: float, policy: BackOffPolicy) -> BackOff:
    """The back-off for restarting a container that finished at `finished_at` after running `ran_for`."""
    if previous is None or ran_for >= policy.reset_after:
        return BackOff(delay=0.0, retry_at=finished_at, next_delay=policy.base)
    delay = previous.next_delay
    return BackOff(delay=delay, retry_at=finished_at + delay, next_delay=min(delay * 2, policy.cap))


def pull_backoff(previous: BackOff | None, failed_at: float, policy: BackOffPolicy) -> BackOff:
    """The wait before pulling an image again after a failed pull."""
    delay = policy.base if previous is None else previous.next_delay
    return BackOff(delay=delay, retry_at=failed_at + delay, next_delay=min(delay * 2, policy.cap))


def go_duration(seconds: float) -> str:
    """Seconds as Go's time.Duration prints them ("10s", "2m40s", "5m0s", "200ms"), as in kubelet messages."""
    if seconds <= 0:
        return "0s"
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    whole = round(seconds, 3)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{secs:.3f}".rstrip("0").rstrip(".") + "s"
    if hours:
        return f"{int(hours)}h{int(minutes)}m{text}"
    if minutes:
        return f"{int(minutes)}m{text}"
    return text


def crash_loop_message(delay: float, container: str, pod: str, namespace: str, uid: str) -> str:
    return f"back-off {go_duration(delay)} restarting failed container={container} pod={pod}_{namespace}({uid})"
