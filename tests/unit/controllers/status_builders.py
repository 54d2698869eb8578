"""Builders for the objects the status tests observe: InferenceServices, Deployments, pods and their
container statuses, Routes — as the API server and the embedded node write them. No tests here; the
status test modules import these (pytest puts this directory on sys.path)."""

from __future__ import annotations

from typing import Any

Obj = dict[str, Any]
NOW = "2025-01-01T00:00:10Z"
EARLIER = "2025-01-01T00:00:00Z"
GPU_MESSAGE = "0/1 nodes are available: 1 Insufficient nvidia.com/gpu. preemption: 0/1 nodes are available."


def isvc(status: Obj | None = None, *, generation: int = 1, labels: Obj | None = None,
         annotations: Obj | None = None, runtime: str | None = None) -> Obj:
    model: Obj = {"modelFormat": {"name": "vLLM"}, "storageUri": "oci://registry.example/model:1"}
    if runtime:
        model["runtime"] = runtime
    obj: Obj = {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
                "metadata": {"name": "cpu-model", "namespace": "demo", "generation": generation,
                             "labels": labels or {}, "annotations": annotations or {}},
                "spec": {"predictor": {"model": model}}}
    if status is not None:
        obj["status"] = status
    return obj


def deployment(*, available: bool = False, replicas: int = 1, updated: int = 1, total: int = 1,
               available_replicas: int | None = None, generation: int = 1, observed: int = 1,
               extra: list[Obj] | None = None) -> Obj:
    conditions: list[Obj] = [
        {"type": "Available", "status": "True" if available else "False",
         "reason": "MinimumReplicasAvailable" if available else "MinimumReplicasUnavailable",
         "message": "Deployment has minimum availability." if available
         else "Deployment does not have minimum availability."},
        {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable" if available
         else "ReplicaSetUpdated", "message": 'ReplicaSet "cpu-model-predictor-abc" is progressing.'},
    ]
    status: Obj = {"observedGeneration": observed, "replicas": total, "updatedReplicas": updated,
                   "conditions": conditions + (extra or [])}
    count = available_replicas if available_replicas is not None else (replicas if available else 0)
    if count:
        status["availableReplicas"] = count
        status["readyReplicas"] = count
    return {"metadata": {"name": "cpu-model-predictor", "namespace": "demo", "generation": generation},
            "spec": {"replicas": replicas}, "status": status}


def running(ready: bool = False, restarts: int = 0, last: Obj | None = None, name: str = "kserve-container") -> Obj:
    cs: Obj = {"name": name, "image": "quay.io/modh/vllm:rhoai-2.20-cpu", "ready": ready, "restartCount": restarts,
               "state": {"running": {"startedAt": EARLIER}}, "lastState": {}}
    if last is not None:
        cs["lastState"] = {"terminated": last}
    return cs


def waiting(reason: str, message: str = "", *, name: str = "kserve-container", restarts: int = 0,
            last: Obj | None = None, image: str = "quay.io/modh/vllm:rhoai-2.20-cpu") -> Obj:
    state: Obj = {"reason": reason}
    if message:
        state["message"] = message
    return {"name": name, "image": image, "ready": False, "restartCount": restarts, "state": {"waiting": state},
            "lastState": {"terminated": last} if last else {}}


def terminated(exit_code: int = 1, reason: str = "Error", *, name: str = "storage-initializer",
               message: str = "") -> Obj:
    record: Obj = {"exitCode": exit_code, "reason": reason, "startedAt": EARLIER, "finishedAt": EARLIER}
    if message:
        record["message"] = message
    return {"name": name, "image": "kserve/storage-initializer", "ready": False, "restartCount": 0,
            "state": {"terminated": record}, "lastState": {}}


def ended(exit_code: int = 1, reason: str = "Error") -> Obj:
    return {"exitCode": exit_code, "reason": reason, "startedAt": EARLIER, "finishedAt": EARLIER}


def done(name: str = "storage-initializer") -> Obj:
    """An init container that finished its work."""
    return {**terminated(0, "Completed", name=name), "ready": True}


def pod(name: str = "cpu-model-predictor-abc-1", *, init: list[Obj] | None = None,
        containers: list[Obj] | None = None, ready: bool = False, phase: str = "Pending",
        scheduled: bool | str = True, created: str = EARLIER, deleting: bool = False, **status: Any) -> Obj:
    conditions: list[Obj] = []
    if scheduled is True:
        conditions.append({"type": "PodScheduled", "status": "True"})
    else:
        conditions.append({"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                           "message": scheduled if isinstance(scheduled, str) else "unschedulable"})
    conditions.append({"type": "Ready", "status": "True" if ready else "False"})
    meta: Obj = {"name": name, "namespace": "demo", "creationTimestamp": created,
                 "labels": {"serving.kserve.io/inferenceservice": "cpu-model", "component": "predictor"}}
    if deleting:
        meta["deletionTimestamp"] = created
    body: Obj = {"phase": "Running" if ready else phase, "conditions": conditions, **status}
    if init is not None:
        body["initContainerStatuses"] = init
    if containers is not None:
        body["containerStatuses"] = containers
    return {"metadata": meta, "status": body}


def ready_pod(name: str = "cpu-model-predictor-abc-1", created: str = EARLIER) -> Obj:
    return pod(name, init=[done()], containers=[running(ready=True)], ready=True, created=created)


def route(*, admitted: bool | None = True, host: str = "cpu-model-demo.apps.localhost", reason: str = "",
          message: str = "", name: str = "cpu-model", to: str = "cpu-model-predictor", tls: bool = True,
          port: str | None = None, created: str = EARLIER) -> Obj:
    spec: Obj = {"host": host, "to": {"kind": "Service", "name": to, "weight": 100}}
    if tls:
        spec["tls"] = {"termination": "edge", "insecureEdgeTerminationPolicy": "Redirect"}
    meta: Obj = {"name": name, "namespace": "demo", "uid": f"uid-{name}", "creationTimestamp": created}
    if port is not None:
        meta["annotations"] = {"kubeserve.io/router-port": port}
    obj: Obj = {"metadata": meta, "spec": spec}
    if admitted is None:
        return obj
    condition: Obj = {"type": "Admitted", "status": "True" if admitted else "False"}
    if reason:
        condition["reason"] = reason
    if message:
        condition["message"] = message
    obj["status"] = {"ingress": [{"host": host, "routerName": "default", "conditions": [condition]}]}
    return obj


def condition(status: Obj, kind: str) -> Obj:
    return next(c for c in status["conditions"] if c["type"] == kind)
