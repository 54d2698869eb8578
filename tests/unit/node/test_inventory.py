"""The node's settings and accelerator inventory: the parsers, detection merging, and the Node object built
from them (labels, capacity, allocatable, conditions), registered against the in-process API server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kubeserve.node import inventory
from kubeserve.node.accelerators import Accelerator
from kubeserve.node.nodestatus import HostFacts, NodeStatusReporter, node_labels, node_object, node_status
from kubeserve.node.settings import NodeSettings, parse_labels, parse_policy, parse_taints, settings_from_env
from unit.node.inproc_api import api_client

GI = 2**30


@pytest.mark.parametrize(("text", "expected"), [
    ("nvidia.com/gpu=4", {"nvidia.com/gpu": ("0", "1", "2", "3")}),
    ("nvidia.com/gpu=0,1,3", {"nvidia.com/gpu": ("0", "1", "3")}),
    ("nvidia.com/gpu=4;amd.com/gpu=0,1", {"nvidia.com/gpu": ("0", "1", "2", "3"), "amd.com/gpu": ("0", "1")}),
    ("nvidia.com/gpu=3,", {"nvidia.com/gpu": ("3",)}),
    ("nvidia.com/gpu=GPU-1a2b,GPU-3c4d", {"nvidia.com/gpu": ("GPU-1a2b", "GPU-3c4d")}),
    ("nvidia.com/gpu=0", {"nvidia.com/gpu": ()}),
    (" ; ", {}),
    ("", {}),
])
def test_parse_inventory(text: str, expected: dict[str, tuple[str, ...]]) -> None:
    assert inventory.parse_inventory(text) == expected


@pytest.mark.parametrize(("text", "message"), [
    ("nvidia.com/gpu", "has no '='"),
    ("gpu=4", "not an extended resource name"),
    ("nvidia.com/gpu=four", "neither a device count nor"),
    ("nvidia.com/gpu=1;nvidia.com/gpu=2", "twice"),
    ("nvidia.com/gpu=0,0", "lists a device id twice"),
    ("nvidia.com/gpu=0,$x", "invalid device id"),
])
def test_parse_inventory_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        inventory.parse_inventory(text)


def test_resolve_inventory_prefers_the_setting_over_detection() -> None:
    detected = [Accelerator("nvidia.com/gpu", 2, "NVIDIA H100 80GB HBM3", "nvidia-gpu")]
    assert inventory.resolve_inventory("amd.com/gpu=1", lambda: detected) == {"amd.com/gpu": ("0",)}
    assert inventory.resolve_inventory(None, lambda: detected) == {"nvidia.com/gpu": ("0", "1")}
    assert inventory.resolve_inventory("  ", lambda: []) == {}
    assert inventory.product_names(detected) == {"nvidia.com/gpu": "NVIDIA H100 80GB HBM3"}


def test_accelerator_labels() -> None:
    labels = inventory.accelerator_labels({"nvidia.com/gpu": ("0", "1"), "amd.com/gpu": ()},
                                          {"nvidia.com/gpu": "NVIDIA H100 80GB HBM3"})
    assert labels == {"nvidia.com/gpu.present": "true", "nvidia.com/gpu.count": "2",
                      "nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}


@pytest.mark.parametrize(("text", "expected"), [
    ("a=b,c=d", {"a": "b", "c": "d"}),
    ("example.com/tier=gpu, zone = lab", {"example.com/tier": "gpu", "zone": "lab"}),
    ("empty=", {"empty": ""}),
    ("", {}),
])
def test_parse_labels(text: str, expected: dict[str, str]) -> None:
    assert parse_labels(text) == expected


@pytest.mark.parametrize(("text", "message"), [
    ("a", "has no '='"), ("a b=c", "not a qualified name"), ("a=b c", "value 'b c'"), ("/x=y", "not a qualified"),
])
def test_parse_labels_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_labels(text)


@pytest.mark.parametrize(("text", "expected"), [
    ("k=v:NoSchedule,k2:NoExecute", ({"key": "k", "value": "v", "effect": "NoSchedule"},
                                     {"key": "k2", "effect": "NoExecute"})),
    ("nvidia.com/gpu=present:PreferNoSchedule", ({"key": "nvidia.com/gpu", "value": "present",
                                                  "effect": "PreferNoSchedule"},)),
    ("", ()),
])
def test_parse_taints(text: str, expected: tuple[dict[str, str], ...]) -> None:
    assert parse_taints(text) == expected


@pytest.mark.parametrize(("text", "message"), [
    ("k=v", "has no effect"), ("k=v:Sometimes", "effect 'Sometimes' is not one of"), ("=v:NoSchedule", "not a"),
])
def test_parse_taints_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_taints(text)


def test_policy() -> None:
    assert parse_policy("") == "clamp"
    assert parse_policy("Strict") == "strict"
    with pytest.raises(ValueError, match="KUBESERVE_RESOURCE_POLICY"):
        parse_policy("loose")
    with pytest.raises(ValueError, match="resource policy"):
        NodeSettings("n", resource_policy="loose")


FACTS = HostFacts(cpus=2, memory_bytes=24 * GI, storage_bytes=100 * GI, arch="amd64", kernel="6.1.0",
                  os_image="Debian GNU/Linux 12 (bookworm)", hostname="box")
SETTINGS = NodeSettings("box", labels={"zone": "lab", "kubernetes.io/os": "linux"},
                        taints=({"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"},),
                        inventory={"nvidia.com/gpu": ("0", "1")}, kubelet_port=6444)


def test_node_object_shape() -> None:
    labels = node_labels(SETTINGS, FACTS)
    assert labels["kubernetes.io/hostname"] == "box"
    assert labels["kubernetes.io/arch"] == "amd64"
    assert labels["node-role.kubernetes.io/control-plane"] == ""
    assert labels["node.kubernetes.io/instance-type"] == "kubeserve"
    assert labels["nvidia.com/gpu.present"] == "true"
    assert labels["zone"] == "lab"
    assert node_object(SETTINGS, FACTS)["spec"]["taints"] == [
        {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}]
    status = node_status(SETTINGS, FACTS, "2025-01-01T00:00:10Z", "2025-01-01T00:00:00Z")
    assert status["capacity"] == {"cpu": "2", "memory": f"{24 * GI // 1024}Ki",
                                  "ephemeral-storage": f"{100 * GI // 1024}Ki", "pods": "110", "nvidia.com/gpu": "2"}
    assert status["allocatable"]["memory"] == f"{(24 * GI - 100 * 2**20) // 1024}Ki"
    assert status["allocatable"]["nvidia.com/gpu"] == "2"
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"], ready["message"]) == ("True", "KubeletReady",
                                                                    "kubelet is posting ready status")
    assert {c["type"]: c["status"] for c in status["conditions"]} == {
        "Ready": "True", "MemoryPressure": "False", "DiskPressure": "False", "PIDPressure": "False"}
    assert status["daemonEndpoints"] == {"kubeletEndpoint": {"Port": 6444}}
    assert status["addresses"][0] == {"type": "InternalIP", "address": "127.0.0.1"}
    info = status["nodeInfo"]
    assert info["kubeletVersion"] == "v1.32.0-kubeserve"
    assert info["containerRuntimeVersion"].startswith("kubeserve://")
    assert (info["osImage"], info["architecture"], info["operatingSystem"]) == (
        "Debian GNU/Linux 12 (bookworm)", "amd64", "linux")


async def test_reporter_registers_and_heartbeats(tmp_path: Path) -> None:
    stamps = iter(["2025-01-01T00:00:00Z", "2025-01-01T00:00:10Z", "2025-01-01T00:00:20Z"])
    async with api_client() as client:
        reporter = NodeStatusReporter(client, SETTINGS, tmp_path, heartbeat=3600,
                                      facts=lambda _: FACTS, clock=lambda: next(stamps))
        await reporter.start()
        try:
            kind = client.kind("v1", "Node")
            node: dict[str, Any] = await client.get(kind, "", "box")
            assert node["status"]["capacity"]["nvidia.com/gpu"] == "2"
            assert node["metadata"]["labels"]["nvidia.com/gpu.present"] == "true"
            assert node["spec"]["taints"][0]["key"] == "nvidia.com/gpu"
            await reporter.beat()
            node = await client.get(kind, "", "box")
            ready = next(c for c in node["status"]["conditions"] if c["type"] == "Ready")
            assert ready["lastHeartbeatTime"] == "2025-01-01T00:00:10Z"
            assert ready["lastTransitionTime"] == "2025-01-01T00:00:00Z"
            assert node["status"]["allocatable"]["cpu"] == "2"  # the heartbeat keeps the rest of the status
            # a restart re-registers the existing Node and keeps the Ready transition time
            again = NodeStatusReporter(client, SETTINGS, tmp_path, facts=lambda _: FACTS, clock=lambda: next(stamps))
            await again.register()
            node = await client.get(kind, "", "box")
            ready = next(c for c in node["status"]["conditions"] if c["type"] == "Ready")
            assert (ready["lastHeartbeatTime"], ready["lastTransitionTime"]) == ("2025-01-01T00:00:20Z",
                                                                                 "2025-01-01T00:00:00Z")
        finally:
            await reporter.stop()


def test_settings_from_env() -> None:
    detected = [Accelerator("nvidia.com/gpu", 1, "NVIDIA L4", "nvidia-gpu")]
    settings = settings_from_env({"KUBESERVE_NODE_NAME": "Box", "KUBESERVE_NODE_LABELS": "zone=lab",
                                  "KUBESERVE_NODE_TAINTS": "k:NoSchedule", "KUBESERVE_RESOURCE_POLICY": "strict"},
                                 kubelet_port=6444, detector=lambda: detected)
    assert settings == NodeSettings("box", {"zone": "lab"}, ({"key": "k", "effect": "NoSchedule"},),
                                    {"nvidia.com/gpu": ("0",)}, "strict", 6444, {"nvidia.com/gpu": "NVIDIA L4"})

    def no_detection() -> list[Accelerator]:
        raise AssertionError("KUBESERVE_GPUS is set: the hardware is not probed")

    settings = settings_from_env({"KUBESERVE_GPUS": "nvidia.com/gpu=2"}, detector=no_detection)
    assert settings.inventory == {"nvidia.com/gpu": ("0", "1")} and settings.resource_policy == "clamp"
    assert settings.name
