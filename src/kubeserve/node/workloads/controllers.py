"""The built-in workload controllers of the embedded node, started and stopped together.

One set of informers (all namespaces) feeds three controllers, as kube-controller-manager shares its
informer factory: Deployments → ReplicaSets → Pods, and Services → Endpoints + EndpointSlices.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from kubeserve.client import ApiClient, Informer
from kubeserve.client.informer import start_informers
from kubeserve.node.workloads.deployment import DeploymentController
from kubeserve.node.workloads.endpoints import EndpointsController
from kubeserve.node.workloads.replicaset import ReplicaSetController

_KINDS = {
    "deployments": ("apps/v1", "Deployment"),
    "replicasets": ("apps/v1", "ReplicaSet"),
    "pods": ("v1", "Pod"),
    "services": ("v1", "Service"),
    "endpoints": ("v1", "Endpoints"),
    "endpointslices": ("discovery.k8s.io/v1", "EndpointSlice"),
}


class WorkloadControllers:
    def __init__(self, client: ApiClient, *, workers: int = 2,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC), sync_timeout: float = 60.0) -> None:
        self.client = client
        self.workers = workers
        self.clock = clock
        self.sync_timeout = sync_timeout
        self.informers: dict[str, Informer] = {}
        self.deployments: DeploymentController | None = None
        self.replicasets: ReplicaSetController | None = None
        self.endpoints: EndpointsController | None = None

    async def start(self) -> None:
        self.informers = await start_informers(self.client, _KINDS, self.sync_timeout)
        inf = self.informers
        self.replicasets = ReplicaSetController(self.client, inf["replicasets"], inf["pods"], workers=self.workers,
                                                clock=self.clock)
        self.deployments = DeploymentController(self.client, inf["deployments"], inf["replicasets"], inf["pods"],
                                                workers=self.workers, clock=self.clock)
        self.endpoints = EndpointsController(self.client, inf["services"], inf["pods"], inf["endpoints"],
                                             inf["endpointslices"], workers=self.workers)
        for controller in (self.replicasets, self.deployments, self.endpoints):
            controller.start()

    async def stop(self) -> None:
        for controller in (self.deployments, self.replicasets, self.endpoints):
            if controller is not None:
                await controller.stop()
        for informer in self.informers.values():
            await informer.stop()
        self.informers = {}
