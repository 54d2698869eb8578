"""Control-plane benchmark: what kubeserve adds between `apply` and a served model, apart from vLLM's own start.

Starts `kubeserve up` in a temporary home on a free port, builds the demo model once (`kubeserve demo-model`),
and applies a ServingRuntime shaped as the guide's cpu-model-runtime.yaml (the vLLM CPU image, mapped to
kubeserve's vLLM adapter) and an InferenceService, one at a time (one vLLM fits this machine), then:

* apply → Ready minus the runtime's own start-up, for a model on a PVC (`kubeserve pvc cp`, storageUri
  pvc://…: no download): the runtime's start-up is from the kserve-container's first log line to uvicorn's
  "Application startup complete." (both from `kubectl logs --timestamps`), the rest is the control plane's
  (target ≤ 1 s). Watches on pods, Endpoints, Deployments and InferenceServices stamp each step as it
  arrives, which gives the breakdown: pod created, init container done, container running, first log line,
  [runtime start-up], pod Ready (the kubelet's readiness probe), Deployment available, InferenceService
  Ready.
* cold and warm apply → first token: the first streamed chunk of `POST /v1/completions` (stream) through the
  predictor Service's ClusterIP, polled from the moment of apply. Cold: a modelcar the model cache has never
  seen (`oci://`, a fresh image per round in a local registry reached through a registries.conf mirror);
  warm: the same InferenceService deleted and applied again (model cached).

The apply is a plain POST of the InferenceService (kubectl's own start-up, ~0.3 s here, is not counted).
Each InferenceService is deleted and its pods waited out before the next round. It never asserts.

    .venv/bin/python bench/control_plane.py [--runs 5]
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import http.client
import json
import os
import re
import shutil
import signal
import ssl
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from common import KUBESERVE, demo_model_on_pvc

from harness import GUIDE, KubeServe, start_kubeserve
from servers.registry import mirror_conf, start_registry

NS = "bench"
ISVC_LABEL = "serving.kserve.io/inferenceservice"
MIRRORED = "registry.redhat.io"  # the guide's registry; the registries.conf mirror sends it to the local one
WATCHED = {"pods": f"/api/v1/namespaces/{NS}/pods", "endpoints": f"/api/v1/namespaces/{NS}/endpoints",
           "deployments": f"/apis/apps/v1/namespaces/{NS}/deployments",
           "isvcs": f"/apis/serving.kserve.io/v1beta1/namespaces/{NS}/inferenceservices"}
STAGES = ("→pod", "→init done", "→running", "→1st log", "runtime", "→pod Ready", "→available", "→isvc Ready")


class Watches:
    """One watch per collection for the whole benchmark; every event kept as (arrival time, kind, object)."""

    def __init__(self, server: KubeServe) -> None:
        self.server = server
        self.events: list[tuple[float, str, dict[str, Any]]] = []
        self.lock = threading.Lock()
        for kind, path in WATCHED.items():
            threading.Thread(target=self._run, args=(kind, path), daemon=True).start()

    def _run(self, kind: str, path: str) -> None:
        context = ssl.create_default_context(cafile=str(self.server.ca))
        while True:  # the server ends a watch now and then; start another (ADDED events repeat, harmlessly)
            with contextlib.suppress(OSError, http.client.HTTPException, ValueError):
                connection = http.client.HTTPSConnection("127.0.0.1", self.server.port, context=context)
                connection.request("GET", f"{path}?watch=true",
                                   headers={"Authorization": f"Bearer {self.server.token}"})
                response = connection.getresponse()
                while line := response.readline():
                    event = json.loads(line)
                    with self.lock:
                        self.events.append((time.time(), kind, event.get("object") or {}))
            time.sleep(0.2)

    def since(self, t0: float, kind: str) -> list[tuple[float, dict[str, Any]]]:
        with self.lock:
            return [(t, obj) for t, k, obj in self.events if t >= t0 and k == kind]


def first(events: list[tuple[float, dict[str, Any]]], test: Any) -> float | None:
    return next((t for t, obj in events if test(obj)), None)


def condition(obj: dict[str, Any], kind: str) -> bool:
    return any(c.get("type") == kind and c.get("status") == "True"
               for c in (obj.get("status") or {}).get("conditions") or [])


def stamp(line: str) -> float:
    """The RFC 3339 (nanosecond) timestamp that `kubectl logs --timestamps` puts before a line."""
    text = re.sub(r"(\.\d{6})\d*", r"\1", line.split(" ", 1)[0]).replace("Z", "+00:00")
    return datetime.fromisoformat(text).timestamp()


@dataclass
class Run:
    label: str
    marks: dict[str, float | None] = field(default_factory=dict)  # seconds since apply
    restarts: int = 0
    previous: str = ""  # the last lines of a crashed instance, when there was one

    def stages(self) -> dict[str, float | None]:
        m = self.marks
        order = ["pod", "init", "running", "log", "complete", "podReady", "available", "ready"]
        out: dict[str, float | None] = {}
        for name, (a, b) in zip(STAGES, zip(["apply", *order], order, strict=False), strict=True):
            start, end = (0.0 if a == "apply" else m.get(a)), m.get(b)
            out[name] = None if start is None or end is None else end - start
        return out

    @property
    def overhead(self) -> float | None:
        ready, runtime = self.marks.get("ready"), self.stages()["runtime"]
        return None if ready is None or runtime is None else ready - runtime


class Bench:
    def __init__(self, server: KubeServe, watches: Watches) -> None:
        self.server, self.watches = server, watches
        self.opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def api(self, method: str, path: str, body: Any = None) -> Any:
        status, answer, _ = self.server.request(method, path, body)
        if status >= 300 and not (method == "DELETE" and status == 404):
            raise RuntimeError(f"{method} {path}: {status} {answer}")
        return answer

    def first_token(self, name: str, stop: threading.Event, out: dict[str, float]) -> None:
        """Poll the predictor Service's ClusterIP until a streamed completion yields its first chunk."""
        ip = None
        body = json.dumps({"model": name, "prompt": "def hello():", "max_tokens": 4, "stream": True}).encode()
        while not stop.is_set():
            try:
                if ip is None:
                    ip = self.api("GET", f"/api/v1/namespaces/{NS}/services/{name}-predictor")["spec"]["clusterIP"]
                request = urllib.request.Request(f"http://{ip}/v1/completions", data=body, method="POST",
                                                 headers={"Content-Type": "application/json"})
                with self.opener.open(request, timeout=60) as response:
                    for line in response:
                        if line.startswith(b"data: {"):
                            out["first_token"] = time.time()
                            return
            except (OSError, RuntimeError, http.client.HTTPException, KeyError, TypeError):
                pass
            stop.wait(0.1)

    def one(self, label: str, isvc: dict[str, Any]) -> Run:
        name = isvc["metadata"]["name"]
        stop, found = threading.Event(), {}
        poller = threading.Thread(target=self.first_token, args=(name, stop, found), daemon=True)
        t0 = time.time()
        self.api("POST", WATCHED["isvcs"], isvc)
        poller.start()
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and not (
                "first_token" in found and first(self.watches.since(t0, "isvcs"), lambda o: condition(o, "Ready"))):
            time.sleep(0.2)
        stop.set()
        poller.join(70)
        run = Run(label)
        mine = [(t, o) for t, o in self.watches.since(t0, "pods")
                if ((o.get("metadata") or {}).get("labels") or {}).get(ISVC_LABEL) == name]
        pod = mine[-1][1] if mine else {}

        def inits_done(o: dict[str, Any]) -> bool:
            statuses = (o.get("status") or {}).get("initContainerStatuses") or []
            return bool(statuses) and all(((s.get("state") or {}).get("terminated") or {}).get("exitCode") == 0
                                          for s in statuses)

        def restarts(o: dict[str, Any]) -> int:
            return max([s.get("restartCount", 0) for s in (o.get("status") or {}).get("containerStatuses") or []
                        if s.get("name") == "kserve-container"] or [0])
        run.restarts = restarts(pod)

        def running(o: dict[str, Any]) -> bool:  # the instance that served: a crashed one's start is not it
            return restarts(o) == run.restarts and any(
                s.get("name") == "kserve-container" and "running" in (s.get("state") or {})
                for s in (o.get("status") or {}).get("containerStatuses") or [])
        times: dict[str, float | None] = {
            "pod": first(mine, lambda o: True),
            "init": first(mine, inits_done) if (pod.get("spec") or {}).get("initContainers") else None,
            "running": first(mine, running),
            "podReady": first(mine, lambda o: condition(o, "Ready")),
            "endpoints": first([e for e in self.watches.since(t0, "endpoints")
                                if e[1]["metadata"]["name"] == f"{name}-predictor"],
                               lambda o: any(s.get("addresses") for s in o.get("subsets") or [])),
            "available": first([e for e in self.watches.since(t0, "deployments")
                                if e[1]["metadata"]["name"] == f"{name}-predictor"],
                               lambda o: (o.get("status") or {}).get("availableReplicas", 0) >= 1),
            "ready": first([e for e in self.watches.since(t0, "isvcs") if e[1]["metadata"]["name"] == name],
                           lambda o: condition(o, "Ready")),
            "first_token": found.get("first_token"),
        }
        if times["init"] is None:
            times["init"] = times["pod"]
        pod_name = (pod.get("metadata") or {}).get("name")
        lines = self.server.kubectl("logs", "-n", NS, pod_name, "-c", "kserve-container", "--timestamps",
                                    check=False).stdout.splitlines() if pod_name else []
        times["log"] = stamp(lines[0]) if lines else None
        times["vllm"] = next((stamp(x) for x in lines if " kubeserve: " not in x), None)
        times["complete"] = next((stamp(x) for x in lines if "Application startup complete" in x), None)
        run.marks = {k: None if v is None else v - t0 for k, v in times.items()}
        if run.restarts and pod_name:
            run.previous = self.server.kubectl("logs", "-n", NS, pod_name, "-c", "kserve-container", "--previous",
                                               "--tail=6", check=False).stdout.strip()
        self.delete(name)
        return run

    def delete(self, name: str) -> None:
        self.api("DELETE", f"{WATCHED['isvcs']}/{name}")
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            pods = self.api("GET", f"{WATCHED['pods']}?labelSelector={ISVC_LABEL}%3D{name}")["items"]
            status, _, _ = self.server.request("GET", f"{WATCHED['isvcs']}/{name}")
            if not pods and status == 404:
                return
            time.sleep(0.5)
        raise RuntimeError(f"InferenceService {name} or its pods did not go within 180 s")


def manifests(name: str, uri: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The guide's CPU runtime and service, renamed (the runtime named as its service) and pointed at `uri`."""
    runtime = yaml.safe_load((GUIDE / "cpu-model-runtime.yaml").read_text())
    isvc = yaml.safe_load((GUIDE / "cpu-model-service.yaml").read_text())
    runtime["metadata"]["name"] = isvc["metadata"]["name"] = name
    isvc["spec"]["predictor"]["model"].update(runtime=name, storageUri=uri)
    return runtime, isvc


def prepare(server: KubeServe, work: Path, runs: int, registry_host: str) -> tuple[Path, list[str]]:
    """Build the demo model, copy it onto a PVC, and push one modelcar per cold round (each with a marker file,
    so each has its own digest and the model cache has never seen it). Returns (model dir, image URIs)."""
    env = server.env()
    model = demo_model_on_pvc(server, work, NS)
    (server.home / "registries.conf").write_text(mirror_conf(registry_host, MIRRORED))
    uris = []
    for number in range(runs):
        tree = work / f"cold-{number}"
        shutil.copytree(model, tree)
        (tree / "bench-round.txt").write_text(f"{time.time()} {number}\n")
        subprocess.run([*KUBESERVE, "modelcar", "build", str(tree), f"{registry_host}/bench/model:cold-{number}",
                        "--push", "--progress", "none"], check=True, capture_output=True, env=env, timeout=300)
        uris.append(f"oci://{MIRRORED}/bench/model:cold-{number}")
    return model, uris


def fmt(value: float | None, width: int = 9) -> str:
    return f"{'-':>{width}}" if value is None else f"{value:>{width}.2f}"


def median(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.median(known) if known else None


def report(title: str, runs: list[Run]) -> None:
    print(f"\n{title}\n(seconds; each stage runs from the end of the one before it, the first from the apply, "
          "so they sum to apply→Ready; 'runtime' = the container's first log line → vLLM's 'Application startup "
          "complete'; overhead = apply→Ready minus runtime; endpoints and 1st token are since the apply)")
    head = "".join(f"{s:>12}" for s in STAGES)
    print(f"{'run':<10}{head}{'apply→Ready':>12}{'overhead':>10}{'endpoints':>10}{'1st token':>10}")
    rows = [(r.label, r.stages(), r.marks.get("ready"), r.overhead, r.marks.get("endpoints"),
             r.marks.get("first_token")) for r in runs]
    for label, stages, ready, overhead, endpoints, token in rows:
        print(f"{label:<10}{''.join(fmt(stages[s], 12) for s in STAGES)}{fmt(ready, 12)}{fmt(overhead, 10)}"
              f"{fmt(endpoints, 10)}{fmt(token, 10)}")
    for run in runs:
        if run.restarts:
            print(f"  {run.label}: kserve-container restarted {run.restarts}x before serving; the crashed "
                  f"instance's last lines:\n" + textwrap.indent(run.previous, "    | "))
    print(f"{'median':<10}{''.join(fmt(median([r[1][s] for r in rows]), 12) for s in STAGES)}"
          f"{fmt(median([r[2] for r in rows]), 12)}{fmt(median([r[3] for r in rows]), 10)}"
          f"{fmt(median([r[4] for r in rows]), 10)}{fmt(median([r[5] for r in rows]), 10)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    def interrupted(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, interrupted)  # clean up kubeserve and the registry as on Ctrl-C
    signal.signal(signal.SIGINT, signal.default_int_handler)
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; {args.runs} runs per measure; vLLM's "
          "--help facts cached: "
          f"{any((Path(__file__).resolve().parents[1] / '.venvs/vllm/.kubeserve').glob('api-server-options-*'))}",
          flush=True)
    with contextlib.ExitStack() as stack:
        work = Path(tempfile.mkdtemp(prefix="kubeserve-bench-cp-"))
        stack.callback(shutil.rmtree, work, True)
        registry = start_registry(work / "registry")
        stack.callback(registry.stop)
        server = start_kubeserve(work / "home")
        stack.callback(subprocess.run, [*KUBESERVE, "down", "--home", str(server.home)], capture_output=True,
                       timeout=60, check=False)
        stack.callback(server.stop)
        print("building the demo model, the PVC copy and the modelcars …", flush=True)
        _, cold_uris = prepare(server, work, args.runs, registry.host)
        bench = Bench(server, Watches(server))
        pvc_runtime, pvc_isvc = manifests("bench-pvc", "pvc://bench-model/model")
        server.kubectl("apply", "-n", NS, "-f", "-", input=json.dumps(pvc_runtime))
        pvc_runs = []
        for number in range(args.runs):
            pvc_runs.append(bench.one(f"pvc {number + 1}", copy.deepcopy(pvc_isvc)))
            print(f"  {pvc_runs[-1].label}: Ready after {fmt(pvc_runs[-1].marks.get('ready'), 0)} s", flush=True)
        oci_runs: dict[str, list[Run]] = {"cold": [], "warm": []}
        for number, uri in enumerate(cold_uris):
            runtime, isvc = manifests("bench-oci", uri)
            server.kubectl("apply", "-n", NS, "-f", "-", input=json.dumps(runtime))
            for kind in ("cold", "warm"):
                oci_runs[kind].append(bench.one(f"{kind} {number + 1}", copy.deepcopy(isvc)))
                print(f"  {kind} {number + 1}: first token after "
                      f"{fmt(oci_runs[kind][-1].marks.get('first_token'), 0)} s", flush=True)
        report("apply → Ready, model on a PVC (target: overhead ≤ 1 s)", pvc_runs)
        report("cold: a new oci:// modelcar, not in the model cache", oci_runs["cold"])
        report("warm: the same InferenceService deleted and applied again (model cached)", oci_runs["warm"])
        cold, warm = (median([r.marks.get("first_token") for r in oci_runs[k]]) for k in ("cold", "warm"))
        print(f"\nresults (medians): overhead (apply→Ready minus runtime start-up), PVC: "
              f"{fmt(median([r.overhead for r in pvc_runs]), 0)} s (target ≤ 1 s); apply → first token: cold "
              f"{fmt(cold, 0)} s, warm {fmt(warm, 0)} s; load average now {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        print("interrupted; kubeserve and the registry stopped, temporary files removed", file=sys.stderr)
        sys.exit(130)
