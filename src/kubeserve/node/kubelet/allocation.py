"""Admission-time allocation: each pod's loopback IP and the accelerator devices its containers get.

Pure: the pod worker passes what is taken (IPs of the other live pods, devices they hold) and what the pod
already had (its `status.podIP`, the devices saved beside its sandbox), so a restarted kubelet hands a pod
back the same address and the same GPUs, and two live pods never share either.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from kubeserve.api.quantity import parse_quantity

Obj = dict[str, Any]
# container name -> resource name -> device ids
Devices = dict[str, dict[str, tuple[str, ...]]]

# The variable each vendor's runtime reads to see only the devices it was given.
DEVICE_ENV: Mapping[str, str] = {
    "nvidia.com/gpu": "CUDA_VISIBLE_DEVICES",
    "amd.com/gpu": "HIP_VISIBLE_DEVICES",
    "habana.ai/gaudi": "HABANA_VISIBLE_MODULES",
}


class AllocationError(Exception):
    """Not enough of something to admit the pod (the scheduler should have prevented it)."""


def allocate_ip(prefix: str, taken: Iterable[str], preferred: str | None = None) -> str:
    """The lowest free `<prefix>.x.y` host address (skipping .0 and .255 hosts, and .0.1, the gateway-like
    first address), or `preferred` when it is in the range and free (a pod keeps its address)."""
    used = set(taken)
    if preferred and preferred not in used and _in_range(prefix, preferred):
        return preferred
    for x in range(256):
        for y in range(1, 255):
            if x == 0 and y == 1:
                continue
            ip = f"{prefix}.{x}.{y}"
            if ip not in used:
                return ip
    raise AllocationError(f"no free pod IP left in {prefix}.0.0/16")


def _in_range(prefix: str, ip: str) -> bool:
    head, _, tail = ip.rpartition(".")
    net, _, x = head.rpartition(".")
    return net == prefix and x.isdigit() and 0 <= int(x) <= 255 and tail.isdigit() and 1 <= int(tail) <= 254


def device_requests(pod: Obj, inventory: Mapping[str, tuple[str, ...]]) -> Requests:
    """How many devices of each inventoried resource each container asks for, init containers apart.
    Extended resources are limits-only in Kubernetes; a request without a limit counts as well."""
    spec = pod.get("spec") or {}
    return Requests(init=_requests(spec.get("initContainers") or [], inventory),
                    app=_requests(spec.get("containers") or [], inventory))


@dataclass(frozen=True)
class Requests:
    init: dict[str, dict[str, int]]
    app: dict[str, dict[str, int]]

    def __bool__(self) -> bool:
        return bool(self.init or self.app)


def _requests(containers: list[Obj], inventory: Mapping[str, tuple[str, ...]]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for container in containers:
        resources = container.get("resources") or {}
        amounts = {**(resources.get("requests") or {}), **(resources.get("limits") or {})}
        wanted: dict[str, int] = {}
        for resource, quantity in amounts.items():
            if resource not in inventory:
                continue
            try:
                count = int(parse_quantity(quantity))
            except (ValueError, ZeroDivisionError):
                continue
            if count > 0:
                wanted[resource] = count
        if wanted:
            out[container["name"]] = wanted
    return out


def allocate_devices(requests: Requests, inventory: Mapping[str, tuple[str, ...]],
                     held: Iterable[tuple[str, str]], previous: Devices | None = None) -> Devices:
    """Device ids for each container's requests, none of them in `held` (resource, id) by another pod.

    App containers run side by side, so each gets its own devices. Init containers run one at a time
    before them, so (as Kubernetes' device manager does) each may reuse the pod's app devices; this keeps
    the pod within what the scheduler counted (max of init, sum of app). Devices the pod held before are
    kept when they still satisfy the request, so a restart never moves a running model to other GPUs.
    Raises `AllocationError` saying what is short."""
    busy = set(held)
    previous = previous or {}
    out: Devices = {}
    for name, wanted in requests.app.items():
        for resource, count in wanted.items():
            kept = tuple(d for d in previous.get(name, {}).get(resource, ())
                         if d in inventory.get(resource, ()) and (resource, d) not in busy)
            if len(kept) == count:
                out.setdefault(name, {})[resource] = kept
                busy.update((resource, d) for d in kept)
    for name, wanted in requests.app.items():
        for resource, count in wanted.items():
            if resource not in out.get(name, {}):
                chosen = _take(resource, count, [d for d in inventory.get(resource, ()) if (resource, d) not in busy])
                out.setdefault(name, {})[resource] = chosen
                busy.update((resource, d) for d in chosen)
    own = held_devices(out)
    for name, wanted in requests.init.items():
        for resource, count in wanted.items():
            kept = tuple(d for d in previous.get(name, {}).get(resource, ())
                         if d in inventory.get(resource, ()) and ((resource, d) not in busy or (resource, d) in own))
            if len(kept) == count:
                out.setdefault(name, {})[resource] = kept
                continue
            mine = [d for d in inventory.get(resource, ()) if (resource, d) in own]
            free = [d for d in inventory.get(resource, ()) if (resource, d) not in busy]
            out.setdefault(name, {})[resource] = _take(resource, count, mine + free)
    return out


def _take(resource: str, count: int, free: list[str]) -> tuple[str, ...]:
    if len(free) < count:
        raise AllocationError(
            f"Allocate failed due to requested number of devices unavailable for {resource}. "
            f"Requested: {count}, Available: {len(free)}, which is unexpected")
    return tuple(free[:count])


def held_devices(devices: Devices) -> set[tuple[str, str]]:
    return {(resource, d) for per in devices.values() for resource, ids in per.items() for d in ids}


def device_env(devices: Mapping[str, tuple[str, ...]]) -> dict[str, str]:
    """The visibility variables for one container's devices."""
    return {DEVICE_ENV[resource]: ",".join(ids) for resource, ids in devices.items() if resource in DEVICE_ENV}
