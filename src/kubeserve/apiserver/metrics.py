"""metrics.k8s.io/v1beta1 objects (what `kubectl top` reads) shaped from kubelet `/stats/summary` answers.

Pure: the summaries come in, PodMetrics and NodeMetrics go out, with quantities written the way
metrics-server writes them (cpu in nanocores `n`, memory in `Ki`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

Obj = dict[str, Any]
API_VERSION = "metrics.k8s.io/v1beta1"
WINDOW = "10s"


def cpu_quantity(nano_cores: int) -> str:
    return f"{max(int(nano_cores), 0)}n"


def memory_quantity(size: int) -> str:
    return f"{max(int(size), 0) // 1024}Ki"


def _timestamp(now: datetime) -> str:
    return now.strftime("%Y-%m-%dT%H:%M:%SZ")


def _meta(obj: Obj, namespaced: bool) -> Obj:
    meta = obj.get("metadata") or {}
    out: Obj = {"name": meta.get("name", "")}
    if namespaced:
        out["namespace"] = meta.get("namespace", "")
    out["creationTimestamp"] = meta.get("creationTimestamp")
    if meta.get("labels"):
        out["labels"] = dict(meta["labels"])
    return out


def index_pods(summaries: list[Obj]) -> dict[str, Obj]:
    """Summary pods by uid and by `namespace/name` (uids first: a recreated pod has the same name)."""
    found: dict[str, Obj] = {}
    for summary in summaries:
        for pod in summary.get("pods") or []:
            ref = pod.get("podRef") or {}
            found.setdefault(f"{ref.get('namespace', '')}/{ref.get('name', '')}", pod)
            if ref.get("uid"):
                found[str(ref["uid"])] = pod
    return found


def pod_metrics(pod: Obj, stats: Obj, now: datetime) -> Obj:
    containers = []
    for container in stats.get("containers") or []:
        cpu = (container.get("cpu") or {}).get("usageNanoCores", 0)
        memory = (container.get("memory") or {}).get("workingSetBytes", 0)
        containers.append({"name": container.get("name", ""),
                           "usage": {"cpu": cpu_quantity(cpu), "memory": memory_quantity(memory)}})
    return {"kind": "PodMetrics", "apiVersion": API_VERSION, "metadata": _meta(pod, True),
            "timestamp": _timestamp(now), "window": WINDOW, "containers": containers}


def node_metrics(node: Obj, summary: Obj, now: datetime) -> Obj:
    stats = summary.get("node") or {}
    cpu = (stats.get("cpu") or {}).get("usageNanoCores", 0)
    memory = (stats.get("memory") or {}).get("workingSetBytes", 0)
    return {"kind": "NodeMetrics", "apiVersion": API_VERSION, "metadata": _meta(node, False),
            "timestamp": _timestamp(now), "window": WINDOW,
            "usage": {"cpu": cpu_quantity(cpu), "memory": memory_quantity(memory)}}


def metrics_list(kind: str, items: list[Obj]) -> Obj:
    return {"kind": f"{kind}List", "apiVersion": API_VERSION, "metadata": {}, "items": items}
