"""Rendering an InferenceService's predictor: the Deployment, Service, HPA and Route it should have.

A pure function of the InferenceService, its resolved runtime (`runtimes.select_runtime`) and, for
`storage.key`, the data connection Secret: the reconcile loop applies what this returns and reads status back
from what it observes. The shapes are KServe's raw deployment mode (components/predictor.go buildPodSpec and
buildObjectMeta; reconcilers/deployment, service, hpa) plus OpenShift AI's Route (odh-model-controller
kserve_raw_route_reconciler.go):

- Deployment and Service `<name>-predictor`; labels on everything, the pod template included: the runtime's
  `spec.labels`, the InferenceService's labels, `predictor.labels`, then `serving.kserve.io/inferenceservice`,
  `component: predictor` and `app: isvc.<name>-predictor` (the selector). Annotations likewise: the
  runtime's `spec.annotations`, the InferenceService's (less KServe's disallowed list), `predictor.annotations`;
  the runtime's `prometheus.io/*` metadata annotations ride along, and `serving.kserve.io/enable-prometheus-
  scraping: "true"` sets `prometheus.io/scrape|port|path` on the pods, as KServe's metrics injector does.
- The Service's port 80 (`http`) targets the kserve-container's first containerPort, else its `--port=`
  argument, else 8080; further container ports are exposed under their own numbers.
- `kserve-container` without a readiness probe gets KServe's TCP probe on that port.
- Rolling updates default to KServe's 25%/25% (`RenderSettings`), `predictor.deploymentStrategy` overrides.
- Every object is owned by the InferenceService (controller, blockOwnerDeletion) when it has a uid.

`serving.kserve.io/deploymentMode: Serverless` renders the same Deployment (no Knative here), except that
minReplicas 0 is kept (scale to zero is the autoscaler's job); the note says so.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from kubeserve.client import Obj
from kubeserve.controllers import render_scale, render_storage
from kubeserve.controllers.render_merge import merge_container, merge_pod_spec, model_container
from kubeserve.controllers.render_types import Predictor, RenderError, RenderSettings
from kubeserve.controllers.runtimes import INVALID_PREDICTOR_SPEC, RuntimeChoice, predictor_model
from kubeserve.controllers.templates import PlaceholderError, replace_in

__all__ = ["Predictor", "RenderError", "RenderSettings", "container_port", "render_predictor"]

KSERVE_CONTAINER = "kserve-container"
TRANSFORMER_CONTAINER = "transformer-container"
DEFAULT_PORT = 8080
ISVC_LABEL = "serving.kserve.io/inferenceservice"
DEPLOYMENT_MODE = "serving.kserve.io/deploymentMode"
VISIBILITY_LABEL = "networking.kserve.io/visibility"
PROMETHEUS_SCRAPING = "serving.kserve.io/enable-prometheus-scraping"
SOURCE_URI_ANNOTATION = "internal.serving.kserve.io/storage-initializer-sourceuri"
_PORT_ARG = re.compile(r"^--port(?:=(\d+))?$")


def render_predictor(isvc: Obj, runtime: RuntimeChoice, settings: RenderSettings, *,
                     storage_secret: Obj | None = None) -> Predictor:
    meta = isvc.get("metadata") or {}
    name = str(meta.get("name") or "")
    namespace = str(meta.get("namespace") or "default")
    predictor: Obj = (isvc.get("spec") or {}).get("predictor") or {}
    model = predictor_model(isvc)
    if model is None:
        raise RenderError(INVALID_PREDICTOR_SPEC, "spec.predictor has no model to render")
    runtime_spec: Obj = runtime.obj.get("spec") or {}
    notes: list[str] = []

    pod_spec = _pod_spec(isvc, runtime, runtime_spec, predictor, model)
    kserve = pod_spec["containers"][0]
    port = container_port(kserve)
    if kserve.get("readinessProbe") is None:
        kserve["readinessProbe"] = {"tcpSocket": {"port": port}, "timeoutSeconds": 1, "periodSeconds": 10,
                                    "successThreshold": 1, "failureThreshold": 3}
    plan = render_storage.plan_storage(model, storage_secret)
    if plan is not None:
        render_storage.add_storage(pod_spec, KSERVE_CONTAINER, plan, settings,
                                   read_only=render_storage.model_read_only(isvc))
        if plan.uri.startswith("oci://"):
            notes.append("oci:// modelcar unpacked into /mnt/models by the storage initializer "
                         "(no modelcar sidecar)")

    mode = str((meta.get("annotations") or {}).get(DEPLOYMENT_MODE) or "RawDeployment")
    serverless = mode in ("Serverless", "Knative")
    if serverless:
        notes.append(f"deploymentMode {mode} renders a plain Deployment like RawDeployment; minReplicas 0 "
                     "is kept for the autoscaler to scale from zero")
    elif mode not in ("RawDeployment", "Standard"):
        notes.append(f"deploymentMode {mode!r} is not supported; rendered as RawDeployment")

    object_meta = _object_meta(isvc, runtime, runtime_spec, predictor, port, settings,
                               plan.uri if plan else None)
    deployment_name = f"{name}-predictor"
    selector = {"app": object_meta["labels"]["app"]}
    deployment: Obj = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _with_identity(object_meta, deployment_name, namespace, isvc),
        "spec": {
            "replicas": render_scale.replicas(predictor, serverless=serverless),
            "selector": {"matchLabels": selector},
            "template": {"metadata": copy.deepcopy(object_meta), "spec": pod_spec},
            "strategy": copy.deepcopy(predictor.get("deploymentStrategy")) or {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": settings.max_unavailable, "maxSurge": settings.max_surge}},
        },
    }
    service: Obj = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _with_identity(object_meta, deployment_name, namespace, isvc),
        "spec": {"type": "ClusterIP", "selector": selector, "ports": _service_ports(kserve, port)},
    }
    hpa = None
    if render_scale.wants_hpa(predictor, meta.get("annotations") or {}):
        hpa, hpa_notes = render_scale.render_hpa(_with_identity(object_meta, deployment_name, namespace, isvc),
                                                 deployment_name, predictor)
        notes.extend(hpa_notes)
    route = None
    if (meta.get("labels") or {}).get(VISIBILITY_LABEL) == "exposed":
        route = _route(isvc, name, namespace, deployment_name, settings)
    return Predictor(deployment, service, hpa, route, port, tuple(notes), plan.uri if plan else None)


def container_port(container: Obj) -> int:
    """The port the model server listens on: first containerPort, else `--port`, else 8080."""
    for entry in container.get("ports") or []:
        if entry.get("containerPort"):
            return int(entry["containerPort"])
    args = [str(arg) for arg in container.get("args") or []]
    found: int | None = None
    for index, arg in enumerate(args):
        match = _PORT_ARG.match(arg)
        if match and match.group(1):
            found = int(match.group(1))
        elif match and index + 1 < len(args) and args[index + 1].isdigit():
            found = int(args[index + 1])
    return found if found is not None else DEFAULT_PORT


def _pod_spec(isvc: Obj, runtime: RuntimeChoice, runtime_spec: Obj, predictor: Obj, model: Obj) -> Obj:
    containers = runtime_spec.get("containers") or []
    if not containers:
        raise RenderError(INVALID_PREDICTOR_SPEC, f"{runtime.kind} {runtime.name} has no containers: no container "
                                                  "configuration found in selected serving runtime")
    base = next((item for item in containers if item.get("name") == KSERVE_CONTAINER), None)
    if base is None:
        raise RenderError(INVALID_PREDICTOR_SPEC, f"failed to find {KSERVE_CONTAINER} in {runtime.kind} "
                                                  f"{runtime.name} containers: name the model server container "
                                                  f"{KSERVE_CONTAINER}")
    try:
        kserve = replace_in(merge_container(base, model_container(model)), isvc)
    except PlaceholderError as err:
        raise RenderError(INVALID_PREDICTOR_SPEC, f"failed to replace placeholders in serving runtime "
                                                  f"{runtime.name} container {KSERVE_CONTAINER}: {err}") from None
    pod_spec = merge_pod_spec(runtime_spec, predictor)
    # KServe's order: the merged kserve-container, the runtime's other containers, the predictor's own.
    pod_spec["containers"] = [kserve] + [
        copy.deepcopy(item) for item in containers if item.get("name") != KSERVE_CONTAINER
    ] + [copy.deepcopy(item) for item in predictor.get("containers") or []
         if item.get("name") not in (KSERVE_CONTAINER, TRANSFORMER_CONTAINER)]
    return pod_spec


def _object_meta(isvc: Obj, runtime: RuntimeChoice, runtime_spec: Obj, predictor: Obj, port: int,
                 settings: RenderSettings, source_uri: str | None) -> Obj:
    meta = isvc.get("metadata") or {}
    name = str(meta.get("name") or "")
    isvc_annotations: dict[str, Any] = meta.get("annotations") or {}
    runtime_annotations: dict[str, Any] = (runtime.obj.get("metadata") or {}).get("annotations") or {}
    labels = {**(runtime_spec.get("labels") or {}), **(meta.get("labels") or {}), **(predictor.get("labels") or {}),
              ISVC_LABEL: name, "component": "predictor", "app": f"isvc.{name}-predictor"}
    annotations = {key: value for key, value in runtime_annotations.items() if key.startswith("prometheus.io/")}
    annotations.update(runtime_spec.get("annotations") or {})
    annotations.update({key: value for key, value in isvc_annotations.items()
                        if key not in settings.annotation_disallowed})
    annotations.update(predictor.get("annotations") or {})
    if str(isvc_annotations.get(PROMETHEUS_SCRAPING, "")).lower() == "true":
        annotations["prometheus.io/scrape"] = "true"
        annotations["prometheus.io/port"] = str(runtime_annotations.get("prometheus.kserve.io/port")
                                                or runtime_annotations.get("prometheus.io/port") or port)
        annotations["prometheus.io/path"] = str(runtime_annotations.get("prometheus.kserve.io/path")
                                                or runtime_annotations.get("prometheus.io/path") or "/metrics")
    if source_uri:
        annotations[SOURCE_URI_ANNOTATION] = source_uri
    return {"labels": {key: str(value) for key, value in labels.items()},
            "annotations": {key: str(value) for key, value in annotations.items()}}


def _with_identity(object_meta: Obj, name: str, namespace: str, isvc: Obj) -> Obj:
    meta: Obj = {"name": name, "namespace": namespace, **copy.deepcopy(object_meta)}
    refs = owner_references(isvc)
    if refs:
        meta["ownerReferences"] = refs
    return meta


def owner_references(isvc: Obj) -> list[Obj]:
    meta = isvc.get("metadata") or {}
    if not meta.get("uid"):
        return []
    return [{"apiVersion": str(isvc.get("apiVersion") or "serving.kserve.io/v1beta1"),
             "kind": "InferenceService", "name": meta.get("name"), "uid": meta["uid"],
             "controller": True, "blockOwnerDeletion": True}]


def _service_ports(container: Obj, port: int) -> list[Obj]:
    # Named "http" whatever the container calls it, so the guide's Route (targetPort: http) always resolves.
    ports: list[Obj] = [{"name": "http", "port": 80, "targetPort": port, "protocol": "TCP"}]
    for entry in (container.get("ports") or [])[1:]:
        number = entry.get("containerPort")
        if number:
            ports.append({"name": entry.get("name") or f"port-{number}", "port": int(number),
                          "targetPort": int(number), "protocol": entry.get("protocol") or "TCP"})
    return ports


def _route(isvc: Obj, name: str, namespace: str, service_name: str, settings: RenderSettings) -> Obj:
    spec: Obj = {
        "to": {"kind": "Service", "name": service_name, "weight": 100},
        "port": {"targetPort": "http"},
        "tls": {"termination": "edge", "insecureEdgeTerminationPolicy": "Redirect"},
        "wildcardPolicy": "None",
    }
    if settings.route_domain:
        spec["host"] = f"{name}-{namespace}.{settings.route_domain}"
    meta: Obj = {"name": name, "namespace": namespace, "labels": {"inferenceservice-name": name}}
    refs = owner_references(isvc)
    if refs:
        meta["ownerReferences"] = refs
    return {"apiVersion": "route.openshift.io/v1", "kind": "Route", "metadata": meta, "spec": spec}
