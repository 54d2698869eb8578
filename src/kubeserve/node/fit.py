"""Scheduling fit: may this pod run on this node, and if not, kube-scheduler's words for why.

Pure: the caller passes the pod, the node and the pods already bound to it (plus those the scheduler has
assumed but not yet seen bound). Filters run in kube-scheduler's order and stop at the first that fails
(NodeUnschedulable, TaintToleration, NodeAffinity, NodeResourcesFit), so the reasons and the message read
exactly as a real cluster's do.

The resource policy only bends cpu and memory, never extended resources such as GPUs, which are whole
devices handed out one pod at a time:

- `strict`: Kubernetes' rule (requests must fit what is left of allocatable).
- `clamp`: a cpu or memory request larger than the node's whole allocatable counts as the whole allocatable,
  so a manifest written for a big cluster node (the guide's 8 CPU / 32Gi) still runs here, one at a time.
- `ignore`: cpu and memory are not accounted at all.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from kubeserve.api.quantity import parse_quantity

Obj = dict[str, Any]

POLICIES = ("clamp", "strict", "ignore")
POLICY_HINT = ("set KUBESERVE_RESOURCE_POLICY=strict to refuse such pods as Kubernetes does, "
               "or KUBESERVE_RESOURCE_POLICY=ignore to stop accounting cpu and memory")
CLAMPABLE = ("cpu", "memory")
BLOCKING_EFFECTS = ("NoSchedule", "NoExecute")
TERMINAL_PHASES = ("Succeeded", "Failed")

def canonical(resource: str, amount: Fraction) -> int:
    """The unit the scheduler counts in: millicores for cpu, whole units (bytes, devices) otherwise.
    Rounded up, as Kubernetes rounds a request it cannot represent."""
    scaled = amount * 1000 if resource == "cpu" else amount
    return math.ceil(scaled)


def format_amount(resource: str, value: int) -> str:
    if resource == "cpu":
        return f"{value}m" if value % 1000 else str(value // 1000)
    if resource in ("memory", "ephemeral-storage") and value % 2**20 == 0 and value:
        return f"{value // 2**30}Gi" if value % 2**30 == 0 else f"{value // 2**20}Mi"
    return str(value)


def resource_list(values: Mapping[str, Any] | None) -> dict[str, int]:
    out: dict[str, int] = {}
    for name, quantity in (values or {}).items():
        try:
            out[name] = canonical(name, parse_quantity(quantity))
        except (ValueError, ZeroDivisionError):
            continue  # validation's job to refuse; an unreadable quantity asks for nothing here
    return out


# -- pod requests -------------------------------------------------------------------------------------------

def container_requests(container: Mapping[str, Any]) -> dict[str, int]:
    """Requests, with a limit standing in for a missing request (Kubernetes defaults requests from limits)."""
    resources = container.get("resources") or {}
    out = resource_list(resources.get("limits"))
    out.update(resource_list(resources.get("requests")))
    return out


def _add(total: dict[str, int], more: Mapping[str, int]) -> None:
    for name, amount in more.items():
        total[name] = total.get(name, 0) + amount


def _max(total: dict[str, int], other: Mapping[str, int]) -> None:
    for name, amount in other.items():
        total[name] = max(total.get(name, 0), amount)


def pod_requests(pod: Mapping[str, Any]) -> dict[str, int]:
    """max(sum of containers (+ sidecars), each init container (+ the sidecars started before it)) + overhead."""
    spec = pod.get("spec") or {}
    total: dict[str, int] = {}
    for container in spec.get("containers") or []:
        _add(total, container_requests(container))
    sidecars: dict[str, int] = {}
    init_peak: dict[str, int] = {}
    for container in spec.get("initContainers") or []:
        requests = container_requests(container)
        if container.get("restartPolicy") == "Always":  # a sidecar keeps running beside everything after it
            _add(sidecars, requests)
            _max(init_peak, sidecars)
        else:
            step = dict(sidecars)
            _add(step, requests)
            _max(init_peak, step)
    _add(total, sidecars)
    _max(total, init_peak)
    _add(total, resource_list(spec.get("overhead")))
    return {name: amount for name, amount in total.items() if amount > 0}


# -- taints, tolerations and affinity ------------------------------------------------------------------

def tolerates(toleration: Mapping[str, Any], taint: Mapping[str, Any]) -> bool:
    effect = toleration.get("effect") or ""
    if effect and effect != taint.get("effect"):
        return False
    key = toleration.get("key") or ""
    operator = toleration.get("operator") or "Equal"
    if not key:
        return operator == "Exists"  # an empty key with Exists tolerates everything
    if key != taint.get("key"):
        return False
    if operator == "Exists":
        return True
    return operator == "Equal" and (toleration.get("value") or "") == (taint.get("value") or "")


def untolerated_taint(taints: Iterable[Mapping[str, Any]],
                      tolerations: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    for taint in taints:
        if taint.get("effect") not in BLOCKING_EFFECTS:
            continue  # PreferNoSchedule only steers, it never blocks
        if not any(tolerates(t, taint) for t in tolerations):
            return taint
    return None


def _expression_matches(expression: Mapping[str, Any], values: Mapping[str, str]) -> bool:
    key = expression.get("key", "")
    operator = expression.get("operator", "")
    wanted = [str(v) for v in expression.get("values") or []]
    present = key in values
    if operator == "In":
        return present and values[key] in wanted
    if operator == "NotIn":
        return not present or values[key] not in wanted
    if operator == "Exists":
        return present
    if operator == "DoesNotExist":
        return not present
    if operator in ("Gt", "Lt") and present and len(wanted) == 1:
        try:
            mine, theirs = int(values[key]), int(wanted[0])
        except ValueError:
            return False
        return mine > theirs if operator == "Gt" else mine < theirs
    return False


def _term_matches(term: Mapping[str, Any], labels: Mapping[str, str], fields: Mapping[str, str]) -> bool:
    expressions = term.get("matchExpressions") or []
    field_expressions = term.get("matchFields") or []
    if not expressions and not field_expressions:
        return False  # an empty term matches nothing (Kubernetes)
    return (all(_expression_matches(e, labels) for e in expressions)
            and all(_expression_matches(e, fields) for e in field_expressions))


def matches_node_affinity(pod: Mapping[str, Any], node: Mapping[str, Any]) -> bool:
    spec = pod.get("spec") or {}
    meta = node.get("metadata") or {}
    labels: Mapping[str, str] = meta.get("labels") or {}
    for key, value in (spec.get("nodeSelector") or {}).items():
        if labels.get(key) != value:
            return False
    required = (((spec.get("affinity") or {}).get("nodeAffinity") or {})
                .get("requiredDuringSchedulingIgnoredDuringExecution"))
    if not required:
        return True
    terms = required.get("nodeSelectorTerms") or []
    fields = {"metadata.name": meta.get("name", "")}
    return any(_term_matches(term, labels, fields) for term in terms)


# -- the fit -----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Clamp:
    resource: str
    requested: int
    allocatable: int

    def describe(self) -> str:
        return (f"{self.resource} request {format_amount(self.resource, self.requested)} exceeds the node's "
                f"allocatable {format_amount(self.resource, self.allocatable)}")


@dataclass(frozen=True)
class Fit:
    reasons: tuple[str, ...] = ()  # kube-scheduler's per-node reasons, e.g. "Insufficient nvidia.com/gpu"
    clamped: tuple[Clamp, ...] = ()
    requests: Mapping[str, int] = field(default_factory=dict)  # what the pod counts for, after the policy

    @property
    def fits(self) -> bool:
        return not self.reasons


def effective_requests(pod: Mapping[str, Any], allocatable: Mapping[str, int],
                       policy: str) -> tuple[dict[str, int], tuple[Clamp, ...]]:
    """What the pod counts for on this node under the policy, and what the policy clamped."""
    requests = pod_requests(pod)
    clamped: list[Clamp] = []
    for name in CLAMPABLE:
        if name not in requests:
            continue
        if policy == "ignore":
            del requests[name]
        elif policy == "clamp" and requests[name] > allocatable.get(name, 0):
            clamped.append(Clamp(name, requests[name], allocatable.get(name, 0)))
            requests[name] = allocatable.get(name, 0)
    return requests, tuple(clamped)


def is_active(pod: Mapping[str, Any]) -> bool:
    """Counts against the node: bound and not finished."""
    return (pod.get("status") or {}).get("phase") not in TERMINAL_PHASES


def fit(pod: Mapping[str, Any], node: Mapping[str, Any], bound: Iterable[Mapping[str, Any]],
        policy: str = "clamp") -> Fit:
    """Whether `pod` fits `node` beside the active pods in `bound` (which must not include `pod`)."""
    if policy not in POLICIES:
        raise ValueError(f"unknown resource policy {policy!r}: expected one of {', '.join(POLICIES)}")
    node_spec = node.get("spec") or {}
    pod_spec = pod.get("spec") or {}
    if node_spec.get("unschedulable") and not any(
            t.get("key") == "node.kubernetes.io/unschedulable" or (not t.get("key") and t.get("operator") == "Exists")
            for t in pod_spec.get("tolerations") or []):
        return Fit(("node(s) were unschedulable",))
    taint = untolerated_taint(node_spec.get("taints") or [], pod_spec.get("tolerations") or [])
    if taint is not None:
        return Fit((f"node(s) had untolerated taint {{{taint.get('key', '')}: {taint.get('value', '')}}}",))
    if not matches_node_affinity(pod, node):
        return Fit(("node(s) didn't match Pod's node affinity/selector",))

    allocatable = resource_list((node.get("status") or {}).get("allocatable"))
    requests, clamped = effective_requests(pod, allocatable, policy)
    used: dict[str, int] = {}
    count = 0
    for other in bound:
        if not is_active(other):
            continue
        count += 1
        _add(used, effective_requests(other, allocatable, policy)[0])
    reasons = []
    if "pods" in allocatable and count + 1 > allocatable["pods"]:
        reasons.append("Too many pods")
    for name in sorted(requests):
        if name == "pods" or requests[name] <= 0:
            continue
        if requests[name] > allocatable.get(name, 0) - used.get(name, 0):
            reasons.append(f"Insufficient {name}")
    return Fit(tuple(reasons), clamped, requests)


def unschedulable_message(node_reasons: Sequence[Sequence[str]]) -> str:
    """kube-scheduler's FitError text over every node's reasons ("0/1 nodes are available: 1 Insufficient cpu.")."""
    if not node_reasons:
        return "no nodes available to schedule pods"
    histogram: dict[str, int] = {}
    for reasons in node_reasons:
        for reason in reasons:
            histogram[reason] = histogram.get(reason, 0) + 1
    parts = sorted(f"{count} {reason}" for reason, count in histogram.items())
    message = f"0/{len(node_reasons)} nodes are available:"
    return f"{message} {', '.join(parts)}." if parts else message


def clamp_message(clamped: Sequence[Clamp]) -> str:
    what = "; ".join(c.describe() for c in clamped)
    return (f"{what}: counted as the whole allocatable, so the pod runs alone in that resource "
            f"(resource policy clamp); {POLICY_HINT}")
