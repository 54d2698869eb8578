"""The embedded node's built-in workload controllers: Deployments, ReplicaSets, Endpoints/EndpointSlices."""

from kubeserve.node.workloads.controllers import WorkloadControllers

__all__ = ["WorkloadControllers"]
