"""What predictor rendering takes and gives: its settings, its result and its one error.

Shared by `render` and its helper modules (`render_storage`, `render_scale`); the reconcile loop imports them
from `kubeserve.controllers.render`.
"""

from __future__ import annotations

from dataclasses import dataclass

from kubeserve.client import Obj


@dataclass(frozen=True)
class RenderSettings:
    storage_initializer_image: str = "kserve/storage-initializer:latest"
    # KServe's storage-initializer defaults (inferenceservice-config storageInitializer).
    storage_initializer_cpu_request: str = "100m"
    storage_initializer_cpu_limit: str = "1"
    storage_initializer_memory_request: str = "100Mi"
    storage_initializer_memory_limit: str = "1Gi"
    route_domain: str | None = None
    """Routes get `<name>-<namespace>.<route_domain>` as host; None leaves the host to the router."""
    max_unavailable: int | str = "25%"
    max_surge: int | str = "25%"
    """KServe's raw-deployment default rolling update (for one replica: 0 unavailable, 1 surge)."""
    annotation_disallowed: tuple[str, ...] = (
        "autoscaling.knative.dev/min-scale", "autoscaling.knative.dev/max-scale",
        "internal.serving.kserve.io/storage-initializer-sourceuri",
        "kubectl.kubernetes.io/last-applied-configuration")
    """KServe's serviceAnnotationDisallowedList: InferenceService annotations not carried to the pods."""


@dataclass(frozen=True)
class Predictor:
    deployment: Obj
    service: Obj
    hpa: Obj | None
    route: Obj | None
    container_port: int
    notes: tuple[str, ...]
    storage_uri: str | None = None
    """Where the model comes from, as the storage initializer (or the pvc mount) sees it."""


class RenderError(ValueError):
    """An InferenceService/runtime pair that cannot be rendered; `reason` is KServe's failure reason."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
