"""Admission allocation: pod IPs in 127.10/16 and accelerator devices, distinct between live pods."""

from __future__ import annotations

from typing import Any

import pytest

from kubeserve.node.kubelet.allocation import (
    AllocationError,
    allocate_devices,
    allocate_ip,
    device_env,
    device_requests,
    held_devices,
)

INVENTORY = {"nvidia.com/gpu": ("0", "1", "2"), "amd.com/gpu": ("0",)}


def pod(containers: list[dict[str, Any]], init: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"spec": {"containers": containers, "initContainers": init or []}}


def gpu(name: str, n: Any, resource: str = "nvidia.com/gpu", where: str = "limits") -> dict[str, Any]:
    return {"name": name, "resources": {where: {resource: n, "cpu": "1"}}}


@pytest.mark.parametrize(("taken", "preferred", "expected"), [
    (set(), None, "127.10.0.2"),
    ({"127.10.0.2"}, None, "127.10.0.3"),
    ({f"127.10.0.{i}" for i in range(2, 255)}, None, "127.10.1.1"),  # skips .255 and .0
    (set(), "127.10.3.7", "127.10.3.7"),  # a pod keeps its address
    ({"127.10.3.7"}, "127.10.3.7", "127.10.0.2"),  # unless another live pod has it
    (set(), "127.11.0.5", "127.10.0.2"),  # or it is outside the range
    (set(), "127.10.0.255", "127.10.0.2"),
])
def test_allocate_ip(taken: set[str], preferred: str | None, expected: str) -> None:
    assert allocate_ip("127.10", taken, preferred) == expected


def test_allocate_ip_full() -> None:
    taken = {f"127.10.{x}.{y}" for x in range(256) for y in range(1, 255)}
    with pytest.raises(AllocationError):
        allocate_ip("127.10", taken)


def test_device_requests_only_inventoried_resources() -> None:
    requests = device_requests(pod([gpu("a", 2), {"name": "b"}, gpu("c", "1", "example.com/fpga"),
                                    gpu("d", 1, "amd.com/gpu", where="requests")],
                                   init=[gpu("i", 1)]), INVENTORY)
    assert requests.app == {"a": {"nvidia.com/gpu": 2}, "d": {"amd.com/gpu": 1}}
    assert requests.init == {"i": {"nvidia.com/gpu": 1}}


def test_devices_are_distinct_from_other_pods_and_between_containers() -> None:
    requests = device_requests(pod([gpu("a", 1), gpu("b", 1)]), INVENTORY)
    devices = allocate_devices(requests, INVENTORY, held={("nvidia.com/gpu", "0")})
    assert devices == {"a": {"nvidia.com/gpu": ("1",)}, "b": {"nvidia.com/gpu": ("2",)}}


def test_devices_short_is_an_admission_error() -> None:
    requests = device_requests(pod([gpu("a", 2)]), INVENTORY)
    with pytest.raises(AllocationError, match="Requested: 2, Available: 1"):
        allocate_devices(requests, INVENTORY, held={("nvidia.com/gpu", "0"), ("nvidia.com/gpu", "1")})


def test_devices_previous_kept_when_still_free() -> None:
    requests = device_requests(pod([gpu("a", 1)]), INVENTORY)
    assert allocate_devices(requests, INVENTORY, held=set(),
                            previous={"a": {"nvidia.com/gpu": ("2",)}}) == {"a": {"nvidia.com/gpu": ("2",)}}
    assert allocate_devices(requests, INVENTORY, held={("nvidia.com/gpu", "2")},
                            previous={"a": {"nvidia.com/gpu": ("2",)}}) == {"a": {"nvidia.com/gpu": ("0",)}}


def test_init_containers_reuse_the_pods_app_devices() -> None:
    requests = device_requests(pod([gpu("a", 2)], init=[gpu("i", 2)]), INVENTORY)
    devices = allocate_devices(requests, INVENTORY, held={("nvidia.com/gpu", "0")})
    assert devices["a"] == {"nvidia.com/gpu": ("1", "2")}
    assert devices["i"] == {"nvidia.com/gpu": ("1", "2")}
    assert held_devices(devices) == {("nvidia.com/gpu", "1"), ("nvidia.com/gpu", "2")}


def test_device_env_per_vendor() -> None:
    assert device_env({"nvidia.com/gpu": ("0", "2"), "amd.com/gpu": ("1",), "habana.ai/gaudi": ("3",)}) == {
        "CUDA_VISIBLE_DEVICES": "0,2", "HIP_VISIBLE_DEVICES": "1", "HABANA_VISIBLE_MODULES": "3"}
    assert device_env({}) == {}
