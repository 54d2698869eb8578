"""How many predictor replicas, and the HorizontalPodAutoscaler that changes it.

KServe's raw-deployment rules (reconcilers/hpa/hpa_reconciler.go, createHPA and getHPAMetrics):

- minReplicas defaults to 1 and is never below 1 for an HPA; maxReplicas below minReplicas becomes minReplicas;
- the metric is `scaleMetric` (default cpu): cpu targets `scaleTarget`% average utilization (default 80);
  memory targets `scaleTarget`% only when one is given;
- `serving.kserve.io/autoscalerClass: none|external` means no HPA.

KServe creates an HPA for every raw InferenceService (min = max when nothing asks for scaling); kubeserve
creates one only when the predictor asks for scaling (maxReplicas above minReplicas, or a scaleTarget or
scaleMetric), so a fixed-size predictor has no HPA to explain. `scaleMetric` values KServe leaves to Knative
(concurrency, rps) and ones it does not know (the guide's comment mentions gpu) scale on cpu, with a note.
"""

from __future__ import annotations

from typing import Any

from kubeserve.client import Obj

DEFAULT_CPU_UTILIZATION = 80
AUTOSCALER_CLASS = "serving.kserve.io/autoscalerClass"


def replicas(predictor: Obj, *, serverless: bool) -> int:
    """The Deployment's replica count: minReplicas (default 1); 0 only where the mode can scale from zero."""
    wanted = _int(predictor.get("minReplicas"), 1)
    return max(wanted, 0) if serverless else max(wanted, 1)


def wants_hpa(predictor: Obj, isvc_annotations: dict[str, Any]) -> bool:
    if str(isvc_annotations.get(AUTOSCALER_CLASS, "hpa")).lower() in ("none", "external"):
        return False
    low = max(_int(predictor.get("minReplicas"), 1), 1)
    high = _int(predictor.get("maxReplicas"), 0)
    return high > low or predictor.get("scaleTarget") is not None or predictor.get("scaleMetric") is not None


def render_hpa(meta: Obj, deployment_name: str, predictor: Obj) -> tuple[Obj, list[str]]:
    """The autoscaling/v2 HPA for the predictor (its metadata given), and notes on what was adjusted."""
    notes: list[str] = []
    low = max(_int(predictor.get("minReplicas"), 1), 1)
    high = max(_int(predictor.get("maxReplicas"), 0), low)
    metric = str(predictor.get("scaleMetric") or "cpu").lower()
    target = predictor.get("scaleTarget")
    metrics: list[Obj] = []
    if metric == "memory":
        if target is not None:
            metrics.append(_utilization("memory", _int(target, 0)))
        else:
            notes.append("scaleMetric memory without scaleTarget: the HPA has no metric (as in KServe)")
    else:
        if metric != "cpu":
            notes.append(f"scaleMetric {metric!r} is not a resource metric the HPA can use in RawDeployment mode; "
                         "scaling on cpu instead")
        metrics.append(_utilization("cpu", _int(target, DEFAULT_CPU_UTILIZATION)))
    hpa: Obj = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": meta,
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": deployment_name},
            "minReplicas": low,
            "maxReplicas": high,
            "metrics": metrics,
        },
    }
    return hpa, notes


def _utilization(resource: str, percent: int) -> Obj:
    return {"type": "Resource",
            "resource": {"name": resource, "target": {"type": "Utilization", "averageUtilization": percent}}}


def _int(value: Any, default: int) -> int:
    if value is None or value == "":
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        return default
