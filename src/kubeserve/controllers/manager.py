"""The serving controllers, started and stopped together over one set of informers: embedded in
`kubeserve up` by main.py, or against a real cluster with `python -m kubeserve.controllers`."""

from __future__ import annotations

from kubeserve.client import ApiClient, Informer
from kubeserve.client.informer import start_informers
from kubeserve.controllers.inferenceservice import InferenceServiceController, Informers
from kubeserve.controllers.render import RenderSettings

_KINDS = {
    "isvcs": ("serving.kserve.io/v1beta1", "InferenceService"),
    "runtimes": ("serving.kserve.io/v1alpha1", "ServingRuntime"),
    "cluster_runtimes": ("serving.kserve.io/v1alpha1", "ClusterServingRuntime"),
    "deployments": ("apps/v1", "Deployment"),
    "services": ("v1", "Service"),
    "pods": ("v1", "Pod"),
    "hpas": ("autoscaling/v2", "HorizontalPodAutoscaler"),
    "routes": ("route.openshift.io/v1", "Route"),
}


class ServingControllers:
    def __init__(self, client: ApiClient, settings: RenderSettings | None = None, *, workers: int = 2,
                 sync_timeout: float = 60.0) -> None:
        self.client = client
        self.settings = settings or RenderSettings()
        self.workers = workers
        self.sync_timeout = sync_timeout
        self.informers: dict[str, Informer] = {}
        self.isvc: InferenceServiceController | None = None

    async def start(self) -> None:
        self.informers = await start_informers(self.client, _KINDS, self.sync_timeout)
        self.isvc = InferenceServiceController(self.client, Informers(**self.informers), self.settings,
                                               workers=self.workers)
        self.isvc.start()

    async def stop(self) -> None:
        if self.isvc is not None:
            await self.isvc.stop()
        for informer in self.informers.values():
            await informer.stop()
        self.informers = {}
