"""Inference gateway benchmark: what kubeserve's Route adds in front of vLLM, against HAProxy, and what
prefix-aware balancing saves on a shared-prefix multi-turn workload.

Starts `kubeserve up` in a temporary home, builds the demo model (`kubeserve demo-model`), copies it onto a
PVC, and serves it with the guide's CPU runtime (the vLLM CPU image, mapped to kubeserve's vLLM adapter;
requests cut to 1 CPU / 4 GiB and one OpenMP thread each, so two replicas fit this machine) as one
InferenceService with `minReplicas: 2`, labelled `networking.kserve.io/visibility: exposed`, so the controller
makes its Route (edge TLS, a certificate from kubeserve's CA). Then, against the same two vLLM pods:

1. Data path, three modes measured side by side in alternating rounds (the order rotates each round), so all
   see the same machine noise:
   * direct: plain HTTP to the pods' own addresses (port 8080), the client balancing over both itself
     (fewest of its requests in flight, ties in turn: a balancer that costs no hop);
   * route: HTTPS to kubeserve's gateway (SNI and Host = the Route's host), which balances over both;
   * haproxy: HTTPS to HAProxy (`/usr/sbin/haproxy`) configured the same way: `mode http`, TLS terminated
     with a certificate for the Route's host issued by the same CA, `balance leastconn` over both pod
     addresses, `http-reuse always`; threads left at HAProxy's default (one per CPU).
   Each mode sends short completions (`POST /v1/completions`, a small prompt with a per-request number so
   no two are alike, `max_tokens` 2, `temperature` 0) over keep-alive connections (aiohttp; a warm-up before
   each timed period opens them, so TLS handshakes are not timed), at concurrency C for S seconds (the
   throughput run), and one at a time for S seconds (the latency run: the clean measure of added latency).
   Prints requests/s, p50 and p90, the ratios to direct, "added p50" = p50(mode) - p50(direct), and
   added(route) / added(haproxy), and the proxy process's CPU time per request (the gateway's, HAProxy's).
   Targets: route throughput ≥ 0.98x direct; added p50 ≤ 1 ms and ≤ 2x HAProxy's. Throughput ratios are
   given pooled and as the median over rounds of the same round's ratio: with two vLLM replicas saturating
   the CPUs, vLLM's batching swings between faster and slower rhythms from round to round.

2. Shared-prefix multi-turn chats: K conversations, each with its own long system prompt (about 6,000
   characters of words, about 2,100 tokens, so the prefix spans many of vLLM's 16-token KV blocks and
   kubeserve's 256-character prefix blocks) and T turns, each turn repeating the conversation so far (the
   model's own replies included). Sent as streamed `POST /v1/chat/completions` (`max_tokens` 8, `ignore_eos`),
   4 conversations at a time so both replicas are busy; TTFT = the request's start → the first chunk with
   content. The same workload runs through the main gateway (policy `prefix`, the default) and through a
   second gateway process on other ports with `--policy round-robin --no-admit` (it serves the Routes the
   first admitted), alternating; every run's prompts start with a line naming the run, so no run is helped by
   the KV cache of another. No session header is sent: the affinity comes from the prompt alone. vLLM's
   automatic prefix caching is on by default for this model on x86 CPUs (V1 engine), so the runtime's
   arguments do not name it. Prints mean and p50 TTFT per policy and the reduction (target: mean ≥ 30 % lower
   with prefix-aware balancing).

The client runs on the same machine as the pods and the gateway (2 CPUs here), so the absolute numbers are
those of a crowded machine; the alternation keeps the comparison fair. It never asserts.

    .venv/bin/python bench/gateway.py [--rounds 5] [--seconds 4] [--concurrency 8] [--conversations 8]
        [--turns 4] [--prefix-rounds 6] [--prefix-chars 6000] [--skip-datapath] [--skip-prefix]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import shutil
import signal
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import aiohttp
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from common import KUBESERVE, Sample, cpu_seconds, demo_model_on_pvc, merge

from harness import GUIDE, KubeServe, eventually, free_port, start_kubeserve
from kubeserve.gateway.tls import issue_leaf

NS = "bench"
NAME = "bench-gw"
HAPROXY = "/usr/sbin/haproxy"
ISVC_LABEL = "serving.kserve.io/inferenceservice"
MODES = ("direct", "route", "haproxy")


@dataclass
class Target:
    """Where one mode sends: base URLs (rotated per request), and the TLS host for SNI and Host."""

    name: str
    urls: list[str]
    host: str | None = None
    context: ssl.SSLContext | None = None
    pid: int | None = None  # the proxy's process, whose CPU time per request is reported

    def request_kwargs(self) -> dict[str, Any]:
        if self.host is None:
            return {}
        return {"headers": {"Host": self.host}, "server_hostname": self.host, "ssl": self.context}


# -- setup ------------------------------------------------------------------------------------------------

def manifests(uri: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The guide's CPU runtime and service, renamed, two replicas of 1 CPU / 4 GiB, exposed, at `uri`."""
    runtime = yaml.safe_load((GUIDE / "cpu-model-runtime.yaml").read_text())
    isvc = yaml.safe_load((GUIDE / "cpu-model-service.yaml").read_text())
    runtime["metadata"]["name"] = isvc["metadata"]["name"] = NAME
    resources = {"requests": {"cpu": "1", "memory": "4Gi"}, "limits": {"cpu": "1", "memory": "8Gi"}}
    container = runtime["spec"]["containers"][0]
    container["resources"] = resources
    # one OpenMP thread per replica: vLLM's CPU worker otherwise runs one per core of the machine, and two
    # replicas spinning on both cores of a 2-CPU machine starve each other, the gateway and the client
    container["env"] = [*container.get("env", []), {"name": "OMP_NUM_THREADS", "value": "1"}]
    # the demo model has 4096 positions; the multi-turn prompts grow past the guide's 2048 in long runs
    container["args"] = [a for a in container["args"] if not a.startswith("--max-model-len")]
    container["args"].append("--max-model-len=4096")
    isvc["metadata"].setdefault("labels", {})["networking.kserve.io/visibility"] = "exposed"
    predictor = isvc["spec"]["predictor"]
    predictor["minReplicas"] = predictor["maxReplicas"] = 2
    predictor["model"].update(runtime=NAME, storageUri=uri, resources=resources)
    return runtime, isvc


def serve(server: KubeServe) -> tuple[list[str], str]:
    """Apply the runtime and the InferenceService; wait for Ready, both pods and the admitted Route.
    Returns (pod IPs, the Route's host)."""
    runtime, isvc = manifests("pvc://bench-model/model")
    server.kubectl("apply", "-n", NS, "-f", "-", input=json.dumps(runtime))
    server.kubectl("apply", "-n", NS, "-f", "-", input=json.dumps(isvc))
    done = server.kubectl("wait", "-n", NS, "--for=condition=Ready", f"isvc/{NAME}", "--timeout=600s",
                          timeout=620, check=False)
    if done.returncode != 0:
        pods = server.kubectl("get", "pods", "-n", NS, "-o", "wide", check=False).stdout
        raise RuntimeError(f"InferenceService {NAME} not Ready within 600 s: {done.stderr.strip()}\n{pods}")

    def ready_pods() -> list[str]:
        items = server.kubectl_json("get", "pods", "-n", NS, "-l", f"{ISVC_LABEL}={NAME}")["items"]
        ips = [p["status"].get("podIP") for p in items
               if any(c.get("type") == "Ready" and c.get("status") == "True"
                      for c in p["status"].get("conditions") or [])]
        return [ip for ip in ips if ip] if len(ips) == 2 else []
    ips = eventually(ready_pods, timeout=600, interval=1)

    def admitted_host() -> str | None:
        route = server.kubectl_json("get", "route", "-n", NS, NAME)
        for ingress in (route.get("status") or {}).get("ingress") or []:
            if any(c.get("type") == "Admitted" and c.get("status") == "True" for c in ingress.get("conditions") or []):
                return str(ingress.get("host") or route["spec"]["host"])
        return None
    host = eventually(admitted_host, timeout=60, interval=0.5)
    return sorted(ips), host


def start_second_gateway(server: KubeServe, work: Path) -> tuple[subprocess.Popen[bytes], int]:
    """A round-robin gateway process serving the Routes the main one admitted; returns (process, https port)."""
    ports_file = work / "rr-ports"
    pki = server.home / "pki"
    log = open(work / "gateway-rr.log", "ab")  # noqa: SIM115 - the process writes it for its whole life
    process = subprocess.Popen(
        [sys.executable, "-m", "kubeserve.gateway", "--kubeconfig", str(server.kubeconfig),
         "--ca-cert", str(pki / "ca.crt"), "--ca-key", str(pki / "ca.key"), "--https-port", str(free_port()),
         "--http-port", str(free_port()), "--policy", "round-robin", "--no-admit", "--ports-file", str(ports_file)],
        stdout=log, stderr=log, env=server.env(), start_new_session=True)
    log.close()

    def port() -> int | None:
        if process.poll() is not None:
            raise RuntimeError(f"the round-robin gateway exited with {process.returncode}:\n"
                               f"{(work / 'gateway-rr.log').read_text()[-3000:]}")
        return int(ports_file.read_text().split()[0]) if ports_file.exists() and ports_file.read_text() else None
    return process, eventually(port, timeout=30)


def start_haproxy(server: KubeServe, work: Path, host: str, ips: list[str]) -> tuple[subprocess.Popen[bytes], int]:
    """HAProxy in front of both pods, configured as the gateway is: TLS for `host`, HTTP/1.1 keep-alive."""
    cert, key = issue_leaf(server.ca, server.home / "pki" / "ca.key", host)
    bundle = work / "haproxy.pem"
    bundle.touch(mode=0o600)
    bundle.write_bytes(cert + server.ca.read_bytes() + key)
    port = free_port()
    servers = "\n".join(f"    server pod{i} {ip}:8080" for i, ip in enumerate(ips))
    config = work / "haproxy.cfg"
    config.write_text(f"""global
    maxconn 4096
defaults
    mode http
    option http-keep-alive
    timeout connect 5s
    timeout client 300s
    timeout server 300s
    timeout http-keep-alive 300s
frontend fe
    bind 127.0.0.1:{port} ssl crt {bundle} alpn http/1.1
    default_backend pods
backend pods
    balance leastconn
    http-reuse always
{servers}
""")
    log = open(work / "haproxy.log", "ab")  # noqa: SIM115
    process = subprocess.Popen([HAPROXY, "-f", str(config), "-db"], stdout=log, stderr=log, start_new_session=True)
    log.close()
    return process, port


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


async def wait_serving(target: Target, timeout: float = 60) -> None:
    """Until one completion through `target` answers 200 (a fresh Route can take a moment to reach a gateway)."""
    deadline = time.monotonic() + timeout
    last = ""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1)) as session:
        while time.monotonic() < deadline:
            try:
                async with session.post(f"{target.urls[0]}/v1/completions", json=completion_body(0),
                                        **target.request_kwargs()) as response:
                    last = f"{response.status} {(await response.text())[:200]}"
                    if response.status == 200:
                        return
            except (aiohttp.ClientError, OSError) as exc:
                last = repr(exc)
            await asyncio.sleep(0.5)
    raise RuntimeError(f"{target.name} ({target.urls[0]}) did not serve within {timeout:.0f} s: {last}")


# -- 1. data path -----------------------------------------------------------------------------------------

def completion_body(number: int) -> dict[str, Any]:
    return {"model": NAME, "prompt": f"def handler_{number}(request):", "max_tokens": 2, "temperature": 0}


def gateway_pid(server: KubeServe) -> int | None:
    """The main gateway process `kubeserve up` started (its command line names this home's kubeconfig)."""
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            if entry.name.isdigit():
                argv = (entry / "cmdline").read_bytes().split(b"\0")
                if b"kubeserve.gateway" in argv and str(server.kubeconfig).encode() in argv \
                        and b"--no-admit" not in argv:
                    return int(entry.name)
    return None


async def drive(target: Target, seconds: float, concurrency: int) -> Sample:
    """Keep-alive load at `concurrency` for `seconds`, after a warm-up that opens the connections."""
    sample = Sample()
    counter = iter(range(10**9))
    in_flight = dict.fromkeys(target.urls, 0)
    connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        kwargs = target.request_kwargs()

        async def one(record: bool) -> None:
            number = next(counter)
            # the client balances direct requests itself: fewest of its own requests in flight, ties in turn
            url = min(target.urls[number % len(target.urls):] + target.urls[:number % len(target.urls)],
                      key=in_flight.__getitem__)
            in_flight[url] += 1
            start = time.perf_counter()
            try:
                async with session.post(f"{url}/v1/completions", json=completion_body(number), **kwargs) as response:
                    body = await response.read()
                    if response.status != 200:
                        sample.errors += record
                        sample.last_error = f"{response.status} {body[:200]!r}"
                        return
            except (aiohttp.ClientError, OSError) as exc:
                sample.errors += record
                sample.last_error = repr(exc)
                return
            finally:
                in_flight[url] -= 1
            if record:
                sample.latencies.append(time.perf_counter() - start)

        async def warm() -> None:
            for _ in range(3):
                await one(False)
        await asyncio.gather(*(warm() for _ in range(concurrency)))
        deadline = time.perf_counter() + seconds

        async def worker() -> None:
            while time.perf_counter() < deadline:
                await one(True)
        cpu = cpu_seconds(target.pid)
        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        sample.seconds = time.perf_counter() - began
        sample.cpu = cpu_seconds(target.pid) - cpu
    return sample


async def datapath(targets: dict[str, Target], args: argparse.Namespace) -> dict[str, dict[str, list[Sample]]]:
    """{run: {mode: a sample per round}} for the throughput run (concurrency C) and the latency run (1)."""
    runs = {f"concurrency {args.concurrency}": args.concurrency, "sequential": 1}
    modes = [m for m in MODES if m in targets]
    results: dict[str, dict[str, list[Sample]]] = {run: {m: [] for m in MODES} for run in runs}
    for number in range(args.rounds):
        shift = number % len(modes)
        order = modes[shift:] + modes[:shift]  # each mode goes first as often as the others
        for run, concurrency in runs.items():
            for mode in order:
                sample = await drive(targets[mode], args.seconds, concurrency)
                results[run][mode].append(sample)
                print(f"  round {number + 1} {run:<15} {mode:<8} {sample.rate():7.1f} req/s  "
                      f"p50 {sample.percentile(0.5):7.2f} ms  errors {sample.errors}"
                      + (f"  (last: {sample.last_error})" if sample.errors else ""), flush=True)
    return results


def round_ratio(rounds: dict[str, list[Sample]], mode: str) -> float:
    """The median over rounds of mode's rate / direct's rate in the same round: robust to a round in which
    vLLM's batching fell into a slower rhythm (on a saturated machine its throughput swings round to round)."""
    ratios = [s.rate() / d.rate() for s, d in zip(rounds[mode], rounds["direct"], strict=True) if d.rate()]
    return statistics.median(ratios) if ratios else float("nan")


def report_datapath(results: dict[str, dict[str, list[Sample]]]) -> list[tuple[str, str, str, str]]:
    """Print the per-run tables; return the summary rows (measure, value, target, met)."""
    summary: list[tuple[str, str, str, str]] = []
    for run, rounds in results.items():
        samples = {mode: merge(per_round) for mode, per_round in rounds.items()}
        d = samples["direct"]
        print(f"\n{run} ({sum(len(s.latencies) for s in samples.values())} requests)")
        print(f"{'mode':<9}{'req/s':>9}{'p50 ms':>9}{'p90 ms':>9}{'errors':>8}{'xdirect req/s':>15}"
              f"{'(round med)':>12}{'xdirect p50':>13}{'added p50 ms':>14}{'proxy CPU us/req':>18}")
        for mode in MODES:
            s = samples[mode]
            if not s.latencies and not s.errors:  # a skipped mode
                continue
            print(f"{mode:<9}{s.rate():>9.1f}{s.percentile(0.5):>9.2f}{s.percentile(0.9):>9.2f}{s.errors:>8}"
                  f"{s.rate() / d.rate() if d.rate() else float('nan'):>15.3f}{round_ratio(rounds, mode):>12.3f}"
                  f"{s.percentile(0.5) / d.percentile(0.5):>13.3f}{s.percentile(0.5) - d.percentile(0.5):>14.2f}"
                  f"{s.cpu_per_request() if mode != 'direct' else float('nan'):>18.0f}")
        added_route = samples["route"].percentile(0.5) - d.percentile(0.5)
        added_haproxy = samples["haproxy"].percentile(0.5) - d.percentile(0.5)
        ratio = added_route / added_haproxy if added_haproxy > 0 else float("nan")
        print(f"added p50 route / haproxy: {ratio:.2f}"
              + ("  (HAProxy added nothing measurable)" if added_haproxy <= 0 else ""))
        if run != "sequential":
            for mode, target in (("route", "≥ 0.98"), ("haproxy", "-")):
                if not samples[mode].latencies:
                    continue
                pooled = samples[mode].rate() / d.rate() if d.rate() else float("nan")
                median = round_ratio(rounds, mode)
                summary.append((f"throughput {mode}/direct ({run}): pooled; median of rounds",
                                f"{pooled:.3f}; {median:.3f}", target,
                                yes(pooled >= 0.98) + "; " + yes(median >= 0.98) if mode == "route" else ""))
        summary.append((f"added p50 route ({run})", f"{added_route:.2f} ms", "≤ 1 ms", yes(added_route <= 1)))
        summary.append((f"added p50 haproxy ({run})", f"{added_haproxy:.2f} ms", "-", ""))
        # judged as added(route) ≤ 2 x max(added(haproxy), 0): a ratio means nothing when HAProxy's is ≤ 0
        summary.append((f"added p50 route/haproxy ({run})", f"{ratio:.2f}", "≤ 2",
                        yes(added_route <= 2 * max(added_haproxy, 0.0))))
    return summary


# -- 2. shared-prefix multi-turn --------------------------------------------------------------------------

WORDS = sorted(set(re.findall(r"\b[a-z]{3,10}\b", Path(os.__file__).read_text())))


def system_prompt(run: str, conversation: int, chars: int) -> str:
    """A distinct long system prompt; its first line names the run, so no two runs share a cached prefix."""
    rng = random.Random(f"{run}/{conversation}")
    text = f"Run {run}, conversation {conversation}. You are a careful assistant. Rules follow.\n"
    while len(text) < chars:
        text += " ".join(rng.choice(WORDS) for _ in range(12)) + ".\n"
    return text


async def chat_turn(session: aiohttp.ClientSession, target: Target, messages: list[dict[str, str]],
                    max_tokens: int) -> tuple[float | None, str, str]:
    """One streamed chat completion: (TTFT seconds or None on error, the reply's text, an error)."""
    body = {"model": NAME, "messages": messages, "max_tokens": max_tokens, "temperature": 0, "stream": True,
            "ignore_eos": True}
    start = time.perf_counter()
    ttft: float | None = None
    reply = ""
    try:
        async with session.post(f"{target.urls[0]}/v1/chat/completions", json=body,
                                **target.request_kwargs()) as response:
            if response.status != 200:
                return None, "", f"{response.status} {(await response.text())[:200]}"
            async for raw in response.content:
                line = raw.strip()
                if not line.startswith(b"data: {"):
                    continue
                for choice in json.loads(line[6:]).get("choices") or []:
                    content = (choice.get("delta") or {}).get("content") or ""
                    if content and ttft is None:
                        ttft = time.perf_counter() - start
                    reply += content
    except (aiohttp.ClientError, OSError, ValueError) as exc:
        return None, "", repr(exc)
    # a reply whose tokens never made a whole character streams no content: count the end as its first token
    return (ttft if ttft is not None else time.perf_counter() - start), reply, ""


async def conversations(target: Target, run: str, args: argparse.Namespace) -> tuple[list[float], list[str]]:
    """All K conversations of T turns, `args.parallel` at a time; returns (TTFTs, errors)."""
    ttfts: list[float] = []
    errors: list[str] = []
    gate = asyncio.Semaphore(args.parallel)
    connector = aiohttp.TCPConnector(limit=args.parallel)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def converse(number: int) -> None:
            async with gate:
                rng = random.Random(f"{run}/{number}/user")
                messages = [{"role": "system", "content": system_prompt(run, number, args.prefix_chars)}]
                for turn in range(args.turns):
                    question = " ".join(rng.choice(WORDS) for _ in range(15))
                    messages.append({"role": "user", "content": f"Turn {turn + 1}: {question}?"})
                    ttft, reply, error = await chat_turn(session, target, messages, args.max_tokens)
                    if ttft is None:
                        errors.append(error)
                        return
                    ttfts.append(ttft)
                    messages.append({"role": "assistant", "content": reply})
        await asyncio.gather(*(converse(n) for n in range(args.conversations)))
    return ttfts, errors


async def prefix_workload(targets: dict[str, Target], args: argparse.Namespace) -> dict[str, list[list[float]]]:
    """{policy: the TTFTs of each run}."""
    found: dict[str, list[list[float]]] = {"prefix": [], "round-robin": []}
    stamp = f"{time.time():.0f}"
    # warm both gateways' connections to the pods and vLLM's compiled paths with one throwaway run each
    for policy in found:
        await conversations(targets[policy], f"{stamp}-warm-{policy}", argparse.Namespace(
            **{**vars(args), "conversations": 2, "turns": 1}))
    for number in range(args.prefix_rounds):
        order = list(found) if number % 2 == 0 else list(reversed(found))
        for policy in order:
            ttfts, errors = await conversations(targets[policy], f"{stamp}-{number}-{policy}", args)
            found[policy].append(ttfts)
            print(f"  round {number + 1} {policy:<12} {len(ttfts)} turns, mean TTFT "
                  f"{statistics.fmean(ttfts) * 1000 if ttfts else float('nan'):7.1f} ms"
                  + (f", {len(errors)} errors (last: {errors[-1]})" if errors else ""), flush=True)
    return found


def report_prefix(found: dict[str, list[list[float]]]) -> list[tuple[str, str, str, str]]:
    print(f"\nshared-prefix multi-turn (TTFT, ms)\n{'policy':<13}{'turns':>7}{'mean':>9}{'p50':>9}{'p90':>9}")
    stats: dict[str, tuple[float, float]] = {}
    for policy, runs in found.items():
        ms = sorted(v * 1000 for run in runs for v in run)
        mean = statistics.fmean(ms) if ms else float("nan")
        p50 = statistics.median(ms) if ms else float("nan")
        p90 = ms[min(len(ms) - 1, int(0.9 * len(ms)))] if ms else float("nan")
        stats[policy] = (mean, p50)
        print(f"{policy:<13}{len(ms):>7}{mean:>9.1f}{p50:>9.1f}{p90:>9.1f}")
    (pm, pp), (rm, rp) = stats["prefix"], stats["round-robin"]
    mean_cut, p50_cut = (1 - pm / rm) * 100, (1 - pp / rp) * 100
    # each prefix run against the round-robin run beside it (runs alternate), median over the pairs
    pairs = [(1 - statistics.fmean(p) / statistics.fmean(r)) * 100
             for p, r in zip(found["prefix"], found["round-robin"], strict=True) if p and r]
    paired = statistics.median(pairs) if pairs else float("nan")
    print(f"prefix-aware vs round-robin: mean {mean_cut:.1f} % lower, p50 {p50_cut:.1f} % lower; "
          f"per run pair, mean: {', '.join(f'{x:.0f} %' for x in pairs)} (median {paired:.1f} %)")
    return [("mean TTFT reduction, prefix vs round-robin", f"{mean_cut:.1f} %", "≥ 30 %", yes(mean_cut >= 30)),
            ("  the same, median of run pairs", f"{paired:.1f} %", "≥ 30 %", yes(paired >= 30)),
            ("p50 TTFT reduction, prefix vs round-robin", f"{p50_cut:.1f} %", "-", "")]


def yes(ok: bool) -> str:
    return "yes" if ok else "NO"


# -- main -------------------------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds of the data-path modes")
    parser.add_argument("--seconds", type=float, default=4.0, help="timed seconds per mode and round")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--conversations", type=int, default=8)
    parser.add_argument("--turns", type=int, default=4)
    parser.add_argument("--parallel", type=int, default=4, help="conversations in flight at once")
    parser.add_argument("--prefix-chars", type=int, default=6000,
                        help="length of each system prompt (6000 characters: about 2,100 tokens of the demo model)")
    parser.add_argument("--max-tokens", type=int, default=8, help="tokens per chat reply")
    parser.add_argument("--prefix-rounds", type=int, default=6, help="alternating runs per policy")
    parser.add_argument("--skip-datapath", action="store_true")
    parser.add_argument("--skip-prefix", action="store_true")
    parser.add_argument("--skip-haproxy", action="store_true")
    args = parser.parse_args()
    if not args.skip_haproxy and not Path(HAPROXY).exists():
        sys.exit(f"{HAPROXY} is missing: install HAProxy (apt-get install haproxy) or pass --skip-haproxy")

    def interrupted(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, interrupted)  # clean up as on Ctrl-C
    signal.signal(signal.SIGINT, signal.default_int_handler)
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}", flush=True)
    with contextlib.ExitStack() as stack:
        work = Path(tempfile.mkdtemp(prefix="kubeserve-bench-gw-"))
        stack.callback(shutil.rmtree, work, True)
        server = start_kubeserve(work / "home", env={"KUBESERVE_ROUTER_POLICY": "prefix"})
        stack.callback(subprocess.run, [*KUBESERVE, "down", "--home", str(server.home)], capture_output=True,
                       timeout=60, check=False)
        stack.callback(server.stop)
        print("building the demo model and its PVC copy …", flush=True)
        demo_model_on_pvc(server, work, NS)
        print("starting two vLLM replicas (about a minute or two) …", flush=True)
        started = time.monotonic()
        ips, host = serve(server)
        print(f"  Ready after {time.monotonic() - started:.0f} s: pods {', '.join(ips)}; Route host {host}",
              flush=True)
        context = ssl.create_default_context(cafile=str(server.ca))
        https, _ = server.router_ports
        targets = {"direct": Target("direct", [f"http://{ip}:8080" for ip in ips]),
                   "route": Target("route", [f"https://127.0.0.1:{https}"], host, context, gateway_pid(server))}
        targets["prefix"] = targets["route"]
        if not args.skip_prefix:
            rr, rr_port = start_second_gateway(server, work)
            stack.callback(stop, rr)
            targets["round-robin"] = Target("round-robin", [f"https://127.0.0.1:{rr_port}"], host, context)
        if not args.skip_datapath and not args.skip_haproxy:
            haproxy, haproxy_port = start_haproxy(server, work, host, ips)
            stack.callback(stop, haproxy)
            targets["haproxy"] = Target("haproxy", [f"https://127.0.0.1:{haproxy_port}"], host, context,
                                        haproxy.pid)

        async def measure() -> list[tuple[str, str, str, str]]:
            for target in targets.values():
                await wait_serving(target)
            summary: list[tuple[str, str, str, str]] = []
            if not args.skip_datapath:
                print(f"\ndata path: {args.rounds} rounds x {args.seconds:.0f} s per mode, modes alternating; "
                      f"completions of 2 tokens", flush=True)
                results = await datapath(targets, args)
                summary += report_datapath(results)
            if not args.skip_prefix:
                print(f"\nshared-prefix multi-turn: {args.conversations} conversations x {args.turns} turns, "
                      f"{args.parallel} at a time, system prompts of {args.prefix_chars} characters, "
                      f"{args.prefix_rounds} runs per policy, alternating", flush=True)
                summary += report_prefix(await prefix_workload(targets, args))
            return summary
        summary = asyncio.run(measure())
        show(summary)
        print(f"load average now {os.getloadavg()[0]:.2f}")


def show(rows: list[tuple[str, str, str, str]]) -> None:
    width = max([len(r[0]) for r in rows] + [7])
    print(f"\nresults\n{'measure':<{width}}  {'value':>14}  {'target':>8}  met")
    for measure, value, target, met in rows:
        print(f"{measure:<{width}}  {value:>14}  {target:>8}  {met}")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        print("interrupted; kubeserve, the second gateway and HAProxy stopped, temporary files removed",
              file=sys.stderr)
        sys.exit(130)
