"""Service data-path benchmark: requests through a Service's ClusterIP against the same pod directly.

Starts `kubeserve up` in a temporary home, runs one replica of the HTTP test server behind a Service, then
drives the same load at the pod's own address (the baseline) and at the Service's `clusterIP:80` (through
kubeserve's service proxy), alternating rounds so both see the same machine noise. For each mode — a new
connection per request (what the proxy must accept and dial each time) and keep-alive connections — it
prints requests/s and latency percentiles side by side, and the ratios proxied/direct, and the CPU time the
kubeserve process spent per request (for proxied requests, mostly the service proxy; for direct ones, the
idle cost of the rest of kubeserve). It never asserts.

kubeserve runs on uvloop's event loop; this client uses the stock asyncio loop.

    .venv/bin/python bench/services.py [--seconds 4] [--concurrency 8] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from common import Sample, cpu_seconds, merge

from harness import start_kubeserve

MANIFEST = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: echo}
spec:
  replicas: 1
  selector: {matchLabels: {app: echo}}
  template:
    metadata: {labels: {app: echo}}
    spec:
      containers:
      - name: echo
        image: kubeserve/http-test-server
        args: ["--port=8080"]
        readinessProbe: {httpGet: {path: /healthz, port: 8080}, periodSeconds: 1}
---
apiVersion: v1
kind: Service
metadata: {name: echo}
spec:
  selector: {app: echo}
  ports: [{port: 80, targetPort: 8080}]
"""


async def drive(url: str, seconds: float, concurrency: int, keep_alive: bool) -> Sample:
    sample = Sample()
    connector = aiohttp.TCPConnector(force_close=not keep_alive, limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        deadline = time.perf_counter() + seconds

        async def worker() -> None:
            while time.perf_counter() < deadline:
                start = time.perf_counter()
                try:
                    async with session.get(url) as response:
                        await response.read()
                        if response.status != 200:
                            sample.errors += 1
                            continue
                except aiohttp.ClientError:
                    sample.errors += 1
                    continue
                sample.latencies.append(time.perf_counter() - start)

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        sample.seconds = time.perf_counter() - began
    return sample


async def measure(direct: str, proxied: str, pid: int, args: argparse.Namespace) -> None:
    print(f"direct: {direct}   proxied: {proxied}   concurrency {args.concurrency}, "
          f"{args.rounds} x {args.seconds:.0f} s per mode and target, alternating")
    print(f"{'mode':<24}{'target':<10}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'errors':>8}{'ks cpu us/req':>15}")
    for keep_alive in (False, True):
        mode = "keep-alive" if keep_alive else "new connection each"
        results: dict[str, list[Sample]] = {"direct": [], "proxied": []}
        for _ in range(args.rounds):
            for name, url in (("direct", direct), ("proxied", proxied)):
                before = cpu_seconds(pid)
                sample = await drive(url, args.seconds, args.concurrency, keep_alive)
                sample.cpu = cpu_seconds(pid) - before
                results[name].append(sample)
        merged = {name: merge(samples) for name, samples in results.items()}
        for name, s in merged.items():
            print(f"{mode:<24}{name:<10}{s.rate():>10.0f}{s.percentile(0.5):>10.2f}{s.percentile(0.99):>10.2f}"
                  f"{s.errors:>8}{s.cpu_per_request():>15.0f}")
        d, p = merged["direct"], merged["proxied"]
        extra_cpu = p.cpu_per_request() - d.cpu_per_request()
        print(f"{mode:<24}{'ratio':<10}{p.rate() / d.rate():>10.2f}{p.percentile(0.5) / d.percentile(0.5):>10.2f}"
              f"{p.percentile(0.99) / d.percentile(0.99):>10.2f}{'':>8}{extra_cpu:>15.0f}"
              f"   (proxied / direct; cpu: proxied - direct)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kubeserve-bench-") as home:
        server = start_kubeserve(Path(home) / "home")
        try:
            server.kubectl("apply", "-f", "-", input=MANIFEST)
            server.kubectl("rollout", "status", "deployment/echo", "--timeout=120s", timeout=150)
            pod = server.kubectl_json("get", "pods", "-l", "app=echo")["items"][0]
            service = server.kubectl_json("get", "service", "echo")
            direct = f"http://{pod['status']['podIP']}:8080/healthz"
            proxied = f"http://{service['spec']['clusterIP']}:80/healthz"
            asyncio.run(measure(direct, proxied, server.process.pid, args))
        finally:
            server.stop()


if __name__ == "__main__":
    main()
