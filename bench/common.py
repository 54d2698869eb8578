"""What the benchmarks share: a load sample with its rate and percentiles, a process's CPU time, and the demo
model copied onto a PVC. Imported by the scripts beside it (`python bench/x.py` puts this folder on the path)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from harness import KubeServe

KUBESERVE = [sys.executable, "-m", "kubeserve"]


@dataclass
class Sample:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    seconds: float = 0.0
    cpu: float = 0.0  # seconds of the measured process's CPU while the load ran
    last_error: str = ""

    def cpu_per_request(self) -> float:
        return self.cpu / len(self.latencies) * 1e6 if self.latencies else float("nan")

    def rate(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def merge(samples: list[Sample]) -> Sample:
    out = Sample()
    for s in samples:
        out.latencies += s.latencies
        out.errors += s.errors
        out.seconds += s.seconds
        out.cpu += s.cpu
        out.last_error = s.last_error or out.last_error
    return out


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU of one process, all its threads (not its children), from /proc (0 for no process)."""
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def demo_model_on_pvc(server: KubeServe, work: Path, namespace: str, claim: str = "bench-model") -> Path:
    """Build the demo model, create `namespace` and a claim, and copy the model to `<claim>:model` (no registry,
    no download at pod start). Returns the model's local directory."""
    model = work / "model"
    subprocess.run([*KUBESERVE, "demo-model", str(model)], check=True, capture_output=True, timeout=600)
    server.kubectl("create", "namespace", namespace)
    pvc = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": claim},
           "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}
    server.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(pvc))
    server.kubectl("wait", "-n", namespace, "--for=jsonpath={.status.phase}=Bound", f"pvc/{claim}", "--timeout=60s")
    subprocess.run([*KUBESERVE, "pvc", "cp", str(model), f"{claim}:model", "-n", namespace, "--progress", "none"],
                   check=True, capture_output=True, env=server.env(), timeout=300)
    return model
