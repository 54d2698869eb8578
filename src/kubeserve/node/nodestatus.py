"""The one Node object: registered at start, its Ready condition heartbeated while kubeserve runs.

`kubectl get nodes`, `kubectl describe node` and the scheduler all read it: capacity and allocatable
(cpu, memory, ephemeral-storage, pods, accelerators), labels, taints, conditions, addresses, nodeInfo and
the kubelet endpoint. The host facts are gathered by one function (`gather_facts`) and the object is built
by another without I/O (`node_object`), so the shape is tested with a table of facts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import platform
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import psutil

from kubeserve import __version__
from kubeserve.api import errors
from kubeserve.client import STRATEGIC_MERGE_PATCH, ApiClient, Obj
from kubeserve.client.background import cancel_and_wait
from kubeserve.client.controller import now_rfc3339
from kubeserve.node.inventory import accelerator_labels
from kubeserve.node.settings import NodeSettings

log = logging.getLogger(__name__)

KUBELET_VERSION = "v1.32.0-kubeserve"
MAX_PODS = 110
# what the kubelet's default hard eviction threshold (memory.available<100Mi) keeps back from pods
MEMORY_RESERVE = 100 * 2**20
_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64", "ppc64le": "ppc64le",
         "s390x": "s390x"}


@dataclass(frozen=True)
class HostFacts:
    cpus: int
    memory_bytes: int
    storage_bytes: int  # the data directory's filesystem
    arch: str  # GOARCH spelling: amd64, arm64
    kernel: str
    os_image: str
    hostname: str
    machine_id: str = ""
    boot_id: str = ""


def _os_image() -> str:
    try:
        text = Path("/etc/os-release").read_text(encoding="utf-8")
    except OSError:
        return platform.system()
    for line in text.splitlines():
        key, _, value = line.partition("=")
        if key == "PRETTY_NAME":
            return value.strip().strip('"')
    return platform.system()


def _read(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8").strip()
    except OSError:
        return ""


def gather_facts(data_dir: Path) -> HostFacts:
    try:
        storage = shutil.disk_usage(data_dir).total
    except OSError:
        storage = 0
    machine = platform.machine()
    return HostFacts(
        cpus=os.cpu_count() or 1, memory_bytes=psutil.virtual_memory().total, storage_bytes=storage,
        arch=_ARCH.get(machine.lower(), machine.lower()), kernel=platform.release(), os_image=_os_image(),
        hostname=platform.node() or "localhost", machine_id=_read("/etc/machine-id"),
        boot_id=_read("/proc/sys/kernel/random/boot_id"),
    )


def _ki(value: int) -> str:
    return f"{max(value, 0) // 1024}Ki"


def node_labels(settings: NodeSettings, facts: HostFacts) -> dict[str, str]:
    labels = {
        "kubernetes.io/hostname": settings.name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": facts.arch,
        "beta.kubernetes.io/os": "linux",
        "beta.kubernetes.io/arch": facts.arch,
        "node-role.kubernetes.io/control-plane": "",
        "node.kubernetes.io/instance-type": "kubeserve",
    }
    labels.update(accelerator_labels(settings.inventory, settings.products))
    labels.update(settings.labels)  # configured labels win: they are the user's word
    return labels


def ready_condition(now: str, transition: str) -> Obj:
    return {"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status",
            "lastHeartbeatTime": now, "lastTransitionTime": transition}


def pressure_conditions(now: str, transition: str) -> list[Obj]:
    return [
        {"type": "MemoryPressure", "status": "False", "reason": "KubeletHasSufficientMemory",
         "message": "kubelet has sufficient memory available", "lastHeartbeatTime": now,
         "lastTransitionTime": transition},
        {"type": "DiskPressure", "status": "False", "reason": "KubeletHasNoDiskPressure",
         "message": "kubelet has no disk pressure", "lastHeartbeatTime": now, "lastTransitionTime": transition},
        {"type": "PIDPressure", "status": "False", "reason": "KubeletHasSufficientPID",
         "message": "kubelet has sufficient PID available", "lastHeartbeatTime": now,
         "lastTransitionTime": transition},
    ]


def node_status(settings: NodeSettings, facts: HostFacts, now: str, transition: str) -> Obj:
    capacity = {"cpu": str(facts.cpus), "memory": _ki(facts.memory_bytes),
                "ephemeral-storage": _ki(facts.storage_bytes), "pods": str(MAX_PODS)}
    for resource, ids in sorted(settings.inventory.items()):
        capacity[resource] = str(len(ids))
    allocatable = dict(capacity)
    allocatable["memory"] = _ki(facts.memory_bytes - MEMORY_RESERVE)
    return {
        "capacity": capacity,
        "allocatable": allocatable,
        "conditions": [*pressure_conditions(now, transition), ready_condition(now, transition)],
        "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}, {"type": "Hostname", "address": settings.name}],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": settings.kubelet_port}},
        "nodeInfo": {
            "machineID": facts.machine_id, "systemUUID": facts.machine_id, "bootID": facts.boot_id,
            "kernelVersion": facts.kernel, "osImage": facts.os_image,
            "containerRuntimeVersion": f"kubeserve://{__version__}", "kubeletVersion": KUBELET_VERSION,
            "kubeProxyVersion": KUBELET_VERSION, "operatingSystem": "linux", "architecture": facts.arch,
        },
        "phase": "Running",
    }


def node_object(settings: NodeSettings, facts: HostFacts) -> Obj:
    """The Node's metadata and spec (status goes through the status subresource)."""
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": settings.name, "labels": node_labels(settings, facts),
                     "annotations": {"node.alpha.kubernetes.io/ttl": "0",
                                     "volumes.kubernetes.io/controller-managed-attach-detach": "true"}},
        "spec": {"taints": [dict(t) for t in settings.taints]},
    }


class NodeStatusReporter:
    """Registers the Node, then refreshes its Ready heartbeat every `heartbeat` seconds."""

    def __init__(self, client: ApiClient, settings: NodeSettings, data_dir: Path, *, heartbeat: float = 10.0,
                 facts: Callable[[Path], HostFacts] = gather_facts, clock: Callable[[], str] = now_rfc3339) -> None:
        self.client = client
        self.settings = settings
        self.data_dir = data_dir
        self.heartbeat = heartbeat
        self._facts = facts
        self._clock = clock
        self._kind = client.kind("v1", "Node")
        self._task: asyncio.Task[None] | None = None
        self._transition = ""

    async def start(self) -> None:
        await self.register()
        self._task = asyncio.get_running_loop().create_task(self._beat(), name="node heartbeat")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None

    async def register(self) -> Obj:
        """Create or update the Node (labels, taints) and write its full status."""
        facts = await asyncio.to_thread(self._facts, self.data_dir)
        desired = node_object(self.settings, facts)
        current = await self.client.get_or_none(self._kind, "", self.settings.name)
        if current is None:
            try:
                current = await self.client.create(self._kind, "", desired, field_manager="kubeserve-kubelet")
            except errors.AlreadyExists:
                current = await self.client.get(self._kind, "", self.settings.name)
        else:
            # labels are merged (others may have labelled the node with kubectl); taints are ours to set
            await self.client.patch(self._kind, "", self.settings.name,
                                    {"metadata": {"labels": desired["metadata"]["labels"],
                                                  "annotations": desired["metadata"]["annotations"]},
                                     "spec": {"taints": desired["spec"]["taints"] or None}})
        now = self._clock()
        self._transition = self._transition or _ready_since(current) or now
        status = node_status(self.settings, facts, now, self._transition)
        result: Obj = await self.client.patch(self._kind, "", self.settings.name, {"status": status},
                                              subresource="status")
        return result

    async def beat(self) -> None:
        now = self._clock()
        conditions = [*pressure_conditions(now, self._transition), ready_condition(now, self._transition)]
        await self.client.patch(self._kind, "", self.settings.name, {"status": {"conditions": conditions}},
                                patch_type=STRATEGIC_MERGE_PATCH, subresource="status")

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat)
            try:
                await self.beat()
            except errors.NotFound:
                log.warning("Node %s was deleted; registering it again", self.settings.name)
                with contextlib.suppress(errors.ApiError, OSError, aiohttp.ClientError):
                    await self.register()
            except (errors.ApiError, OSError, aiohttp.ClientError) as exc:
                log.warning("node heartbeat failed: %s", exc)


def _ready_since(node: Obj) -> str:
    for condition in (node.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Ready" and condition.get("status") == "True":
            return str(condition.get("lastTransitionTime") or "")
    return ""
