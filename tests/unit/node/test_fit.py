"""Scheduling fit: quantities, pod requests, tolerations, node affinity, the resource policies and
kube-scheduler's messages."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import pytest

from kubeserve.node import fit

Obj = dict[str, Any]
GI = 2**30


def pod(*containers: Obj, init: tuple[Obj, ...] = (), phase: str = "Pending", **spec: Any) -> Obj:
    return {"metadata": {"name": "p", "namespace": "default"},
            "spec": {"containers": list(containers) or [{"name": "c"}], "initContainers": list(init), **spec},
            "status": {"phase": phase}}


def c(requests: Obj | None = None, limits: Obj | None = None, **extra: Any) -> Obj:
    resources: Obj = {}
    if requests is not None:
        resources["requests"] = requests
    if limits is not None:
        resources["limits"] = limits
    return {"name": "c", "resources": resources, **extra}


def node(cpu: str = "2", memory: str = "24Gi", gpus: int = 0, taints: list[Obj] | None = None,
         labels: Obj | None = None, pods: str = "110", **spec: Any) -> Obj:
    allocatable = {"cpu": cpu, "memory": memory, "pods": pods, "ephemeral-storage": "100Gi"}
    if gpus:
        allocatable["nvidia.com/gpu"] = str(gpus)
    return {"metadata": {"name": "n1", "labels": {"kubernetes.io/hostname": "n1", **(labels or {})}},
            "spec": {"taints": taints or [], **spec}, "status": {"allocatable": allocatable}}


@pytest.mark.parametrize(("text", "value"), [
    ("500m", Fraction(1, 2)), ("2", 2), ("1.5", Fraction(3, 2)), ("32Gi", 32 * GI), ("1G", 10**9),
    ("1e3", 1000), ("100Ki", 102400), (4, 4), ("0.1", Fraction(1, 10)), ("250u", Fraction(1, 4000)),
])
def test_parse_quantity(text: Any, value: Fraction) -> None:
    assert fit.parse_quantity(text) == value


@pytest.mark.parametrize("text", ["", "abc", "1Gb", "--1", "1 Gi", True])
def test_parse_quantity_rejects(text: Any) -> None:
    with pytest.raises(ValueError):
        fit.parse_quantity(text)


@pytest.mark.parametrize(("spec", "expected"), [
    (pod(c({"cpu": "1", "memory": "1Gi"}), c({"cpu": "500m"})), {"cpu": 1500, "memory": GI}),
    # limits stand in for missing requests, per resource
    (pod(c(limits={"cpu": "2", "nvidia.com/gpu": "1"}, requests={"cpu": "1"})), {"cpu": 1000, "nvidia.com/gpu": 1}),
    # an init container bigger than the sum wins
    (pod(c({"cpu": "1"}), init=(c({"cpu": "3", "memory": "1Gi"}),)), {"cpu": 3000, "memory": GI}),
    # a sidecar (restartable init container) adds to the containers
    (pod(c({"cpu": "1"}), init=(c({"cpu": "1"}, restartPolicy="Always"),)), {"cpu": 2000}),
    # overhead is added on top
    (pod(c({"cpu": "1"}), overhead={"cpu": "250m"}), {"cpu": 1250}),
    (pod(c()), {}),
])
def test_pod_requests(spec: Obj, expected: dict[str, int]) -> None:
    assert fit.pod_requests(spec) == expected


@pytest.mark.parametrize(("toleration", "taint", "expected"), [
    ({"key": "k", "operator": "Equal", "value": "v", "effect": "NoSchedule"}, {"key": "k", "value": "v",
                                                                              "effect": "NoSchedule"}, True),
    ({"key": "k", "value": "v"}, {"key": "k", "value": "v", "effect": "NoExecute"}, True),  # empty effect: any
    ({"key": "k", "value": "other"}, {"key": "k", "value": "v", "effect": "NoSchedule"}, False),
    ({"key": "k", "operator": "Exists"}, {"key": "k", "value": "v", "effect": "NoSchedule"}, True),
    ({"operator": "Exists"}, {"key": "anything", "effect": "NoExecute"}, True),  # empty key + Exists: all
    ({"operator": "Equal"}, {"key": "anything", "effect": "NoExecute"}, False),
    ({"key": "k", "operator": "Exists", "effect": "NoExecute"}, {"key": "k", "effect": "NoSchedule"}, False),
    ({"key": "other", "operator": "Exists"}, {"key": "k", "effect": "NoSchedule"}, False),
])
def test_tolerates(toleration: Obj, taint: Obj, expected: bool) -> None:
    assert fit.tolerates(toleration, taint) is expected


TAINTED = [{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}]


@pytest.mark.parametrize(("the_pod", "the_node", "bound", "policy", "reasons"), [
    (pod(c({"cpu": "1"})), node(), [], "strict", ()),
    (pod(c({"cpu": "3"})), node(), [], "strict", ("Insufficient cpu",)),
    (pod(c({"cpu": "3", "memory": "32Gi"})), node(), [], "strict", ("Insufficient cpu", "Insufficient memory")),
    # clamp: the guide's 8 CPU / 32Gi fits a 2-core 24Gi node, one at a time
    (pod(c({"cpu": "8", "memory": "32Gi"})), node(), [], "clamp", ()),
    (pod(c({"cpu": "8", "memory": "32Gi"})), node(), [pod(c({"cpu": "8"}), phase="Running")], "clamp",
     ("Insufficient cpu",)),
    (pod(c({"cpu": "8"})), node(), [pod(c({"cpu": "8"}), phase="Succeeded")], "clamp", ()),  # finished pods free
    (pod(c({"cpu": "8", "memory": "64Gi"})), node(), [pod(c({"cpu": "8"}), phase="Running")], "ignore", ()),
    # GPUs are never clamped or ignored
    (pod(c(limits={"nvidia.com/gpu": "1"})), node(), [], "ignore", ("Insufficient nvidia.com/gpu",)),
    (pod(c(limits={"nvidia.com/gpu": "1"})), node(gpus=1), [], "clamp", ()),
    (pod(c(limits={"nvidia.com/gpu": "1"})), node(gpus=1), [pod(c(limits={"nvidia.com/gpu": "1"}))], "clamp",
     ("Insufficient nvidia.com/gpu",)),
    (pod(c(limits={"nvidia.com/gpu": "2"})), node(gpus=1), [], "clamp", ("Insufficient nvidia.com/gpu",)),
    (pod(c()), node(pods="1"), [pod(c())], "strict", ("Too many pods",)),
    # taints come before resources, as in kube-scheduler's filter order
    (pod(c({"cpu": "8"})), node(taints=TAINTED), [], "strict",
     ("node(s) had untolerated taint {nvidia.com/gpu: present}",)),
    (pod(c(), tolerations=[{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]),
     node(taints=TAINTED), [], "strict", ()),
    (pod(c()), node(taints=[{"key": "soft", "effect": "PreferNoSchedule"}]), [], "strict", ()),
    (pod(c()), node(taints=[{"key": "dedicated", "effect": "NoExecute"}]), [], "strict",
     ("node(s) had untolerated taint {dedicated: }",)),
    (pod(c(), nodeSelector={"zone": "a"}), node(labels={"zone": "b"}), [], "strict",
     ("node(s) didn't match Pod's node affinity/selector",)),
    (pod(c(), nodeSelector={"zone": "a"}), node(labels={"zone": "a"}), [], "strict", ()),
    (pod(c()), node(unschedulable=True), [], "strict", ("node(s) were unschedulable",)),
])
def test_fit(the_pod: Obj, the_node: Obj, bound: list[Obj], policy: str, reasons: tuple[str, ...]) -> None:
    assert fit.fit(the_pod, the_node, bound, policy).reasons == reasons


def affinity(*expressions: Obj) -> Obj:
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": list(expressions)}]}}}


@pytest.mark.parametrize(("expression", "expected"), [
    ({"key": "zone", "operator": "In", "values": ["a", "b"]}, True),
    ({"key": "zone", "operator": "In", "values": ["b"]}, False),
    ({"key": "zone", "operator": "NotIn", "values": ["b"]}, True),
    ({"key": "missing", "operator": "NotIn", "values": ["b"]}, True),
    ({"key": "zone", "operator": "Exists"}, True),
    ({"key": "missing", "operator": "Exists"}, False),
    ({"key": "missing", "operator": "DoesNotExist"}, True),
    ({"key": "zone", "operator": "DoesNotExist"}, False),
    ({"key": "cores", "operator": "Gt", "values": ["4"]}, True),
    ({"key": "cores", "operator": "Lt", "values": ["4"]}, False),
])
def test_node_affinity(expression: Obj, expected: bool) -> None:
    the_node = node(labels={"zone": "a", "cores": "8"})
    assert fit.matches_node_affinity(pod(c(), affinity=affinity(expression)), the_node) is expected


def test_node_affinity_terms_are_ored_and_empty_terms_match_nothing() -> None:
    the_node = node(labels={"zone": "a"})
    terms = [{"matchExpressions": [{"key": "zone", "operator": "In", "values": ["x"]}]},
             {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]}]}]
    spec = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}}}
    assert fit.matches_node_affinity(pod(c(), affinity=spec), the_node)
    spec["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"] = [{}]
    assert not fit.matches_node_affinity(pod(c(), affinity=spec), the_node)


def test_clamp_is_reported() -> None:
    result = fit.fit(pod(c({"cpu": "8", "memory": "32Gi"})), node(), [], "clamp")
    assert result.fits
    assert [(x.resource, x.requested, x.allocatable) for x in result.clamped] == [
        ("cpu", 8000, 2000), ("memory", 32 * GI, 24 * GI)]
    message = fit.clamp_message(result.clamped)
    assert "cpu request 8 exceeds the node's allocatable 2" in message
    assert "memory request 32Gi exceeds the node's allocatable 24Gi" in message
    assert "KUBESERVE_RESOURCE_POLICY=strict" in message


@pytest.mark.parametrize(("reasons", "message"), [
    ([("Insufficient nvidia.com/gpu",)], "0/1 nodes are available: 1 Insufficient nvidia.com/gpu."),
    ([("Insufficient memory", "Insufficient cpu")],
     "0/1 nodes are available: 1 Insufficient cpu, 1 Insufficient memory."),
    ([("node(s) had untolerated taint {k: v}",)], "0/1 nodes are available: 1 node(s) had untolerated taint {k: v}."),
    ([("Insufficient cpu",), ("Insufficient cpu",)], "0/2 nodes are available: 2 Insufficient cpu."),
    ([], "no nodes available to schedule pods"),
])
def test_unschedulable_message(reasons: list[tuple[str, ...]], message: str) -> None:
    assert fit.unschedulable_message(reasons) == message


def test_unknown_policy() -> None:
    with pytest.raises(ValueError, match="unknown resource policy"):
        fit.fit(pod(), node(), [], "lenient")
