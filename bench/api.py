"""API server benchmark: lists, watch latency and write throughput of InferenceServices, over real HTTPS.

Starts `kubeserve up` in a temporary home on a free port, creates N InferenceServices of the guide's
granite-model-service.yaml shape (distinct names) and N ConfigMaps of about the same size (the baseline),
over keep-alive HTTPS with several concurrent connections, then measures:

* Table list (what `kubectl get isvc` asks for) and JSON list of all N, against the same lists of ConfigMaps;
* watch-event delivery latency: a watch is open on inferenceservices, then paced merge patches; for each,
  the time from the write's response to the event's arrival (0 when the event came first), and from just
  before the request was sent;
* sustained writes per second, creates and merge patches mixed, with C concurrent connections.

Per the project's rules it prints figures measured side by side in one run and never asserts: each figure
comes with a baseline measured in the same run (ConfigMaps of similar size, GET /version as the floor of a
round trip) and its ratio to the target (list <= 150 ms, watch p99 <= 20 ms, >= 500 writes/s).

    .venv/bin/python bench/api.py [--count 1000] [--patches 300] [--write-seconds 5] [--concurrency 8]
    .venv/bin/python bench/api.py --profile /tmp/server.prof   # the server runs under cProfile
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import itertools
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import yaml

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "tests" / "fixtures" / "guide"
NAMESPACE = "bench"
ISVC = f"/apis/serving.kserve.io/v1beta1/namespaces/{NAMESPACE}/inferenceservices"
RUNTIMES = f"/apis/serving.kserve.io/v1alpha1/namespaces/{NAMESPACE}/servingruntimes"
CONFIGMAPS = f"/api/v1/namespaces/{NAMESPACE}/configmaps"
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
MERGE = "application/merge-patch+json"
FIELD_MANAGER = "kubeserve-bench"

TARGET_LIST_MS = 150.0
TARGET_WATCH_P99_MS = 20.0
TARGET_WRITES = 500.0


# ---- the server --------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """`kubeserve up` in the foreground, in a temporary home; stopped and removed by `stop()`."""

    def __init__(self, profile: str | None) -> None:
        self.home = Path(tempfile.mkdtemp(prefix="kubeserve-bench-"))
        self.port = free_port()
        self.url = f"https://127.0.0.1:{self.port}"
        env = {**os.environ, "KUBESERVE_HOME": str(self.home), "KUBESERVE_API_PORT": str(self.port)}
        command = [sys.executable]
        if profile:
            command += ["-m", "cProfile", "-o", str(Path(profile).resolve())]
        command += ["-m", "kubeserve", "up"]
        self.log = open(self.home / "bench-server.log", "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(command, env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, start_new_session=True)

    async def wait_ready(self, timeout: float = 30.0) -> tuple[ssl.SSLContext, str]:
        deadline = time.monotonic() + timeout
        ca, token_file = self.home / "pki" / "ca.crt", self.home / "token"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit("kubeserve exited:\n" + (self.home / "bench-server.log").read_text()[-3000:])
            if ca.exists() and token_file.exists():
                context = ssl.create_default_context(cafile=str(ca))
                try:
                    async with aiohttp.ClientSession() as session, session.get(
                            f"{self.url}/readyz", ssl=context) as response:
                        if response.status == 200:
                            return context, token_file.read_text().strip()
                except (aiohttp.ClientError, ssl.SSLError, OSError):
                    pass
            await asyncio.sleep(0.1)
        raise SystemExit(f"kubeserve did not become ready within {timeout:.0f}s")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()
        shutil.rmtree(self.home, ignore_errors=True)


# ---- measuring ---------------------------------------------------------------------------------------

def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def median(values: list[float]) -> float:
    return percentile(values, 50)


@dataclass
class Client:
    session: aiohttp.ClientSession
    base: str
    token: str
    context: ssl.SSLContext

    def headers(self, accept: str = "application/json", content_type: str | None = None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.token}", "Accept": accept}
        if content_type:
            headers["Content-Type"] = content_type
        return headers

    async def request(self, method: str, path: str, body: Any = None, *, accept: str = "application/json",
                      content_type: str = "application/json", expect: tuple[int, ...] = (200, 201)) -> Any:
        data = None if body is None else json.dumps(body).encode()
        if method in ("POST", "PUT", "PATCH") and "?" not in path:
            path += f"?fieldManager={FIELD_MANAGER}"  # as kubectl sends (kubectl-create, kubectl-patch, ...)
        async with self.session.request(method, self.base + path, data=data, ssl=self.context,
                                        headers=self.headers(accept, content_type if data else None)) as response:
            raw = await response.read()
            if response.status not in expect:
                raise RuntimeError(f"{method} {path}: {response.status} {raw[:300]!r}")
            return json.loads(raw)


async def run_concurrently(concurrency: int, jobs: list[Callable[[], Awaitable[Any]]]) -> None:
    queue = iter(jobs)

    async def worker() -> None:
        for job in queue:
            await job()

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def timed(repeat: int, fn: Callable[[], Awaitable[Any]]) -> tuple[list[float], Any]:
    """Milliseconds of `repeat` sequential calls after one warm-up call, and the last result."""
    result = await fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = await fn()
        times.append((time.perf_counter() - start) * 1000)
    return times, result


# ---- the objects -------------------------------------------------------------------------------------

def load_guide(name: str) -> dict[str, Any]:
    doc = yaml.safe_load((GUIDE / name).read_text())
    assert isinstance(doc, dict)
    return doc


def isvc(template: dict[str, Any], name: str) -> dict[str, Any]:
    obj = copy.deepcopy(template)
    obj["metadata"]["name"] = name
    return obj


def configmap(template: dict[str, Any], name: str) -> dict[str, Any]:
    """A ConfigMap about the size of the InferenceService: same labels and annotations, its spec as data."""
    meta = template["metadata"]
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "labels": dict(meta.get("labels") or {}),
                         "annotations": dict(meta.get("annotations") or {})},
            "data": {"spec.json": json.dumps(template["spec"]), "storageUri":
                     template["spec"]["predictor"]["model"]["storageUri"]}}


# ---- the phases --------------------------------------------------------------------------------------

async def populate(client: Client, count: int, concurrency: int) -> dict[str, float]:
    template = load_guide("granite-model-service.yaml")
    await client.request("POST", "/api/v1/namespaces", {"metadata": {"name": NAMESPACE}})
    await client.request("POST", RUNTIMES, load_guide("granite-model-runtime.yaml"))
    rates = {}
    for label, path, make in (("isvc", ISVC, isvc), ("configmap", CONFIGMAPS, configmap)):
        def job(i: int, path: str = path, make: Any = make) -> Callable[[], Awaitable[Any]]:
            return lambda: client.request("POST", path, make(template, f"granite-model-{i:04d}"))

        start = time.perf_counter()
        await run_concurrently(concurrency, [job(i) for i in range(count)])
        rates[label] = count / (time.perf_counter() - start)
    return rates


async def list_times(client: Client, path: str, accept: str, repeat: int, count: int) -> list[float]:
    async def once() -> int:
        async with client.session.get(client.base + path, ssl=client.context,
                                      headers=client.headers(accept)) as response:
            body = json.loads(await response.read())
        return len(body.get("rows", body.get("items", [])))

    times, rows = await timed(repeat, once)
    if rows != count:
        raise RuntimeError(f"list of {path} returned {rows} rows, not {count}")
    return times


@dataclass
class WatchResult:
    from_response: list[float] = field(default_factory=list)
    from_request: list[float] = field(default_factory=list)
    missed: int = 0
    before_response: int = 0  # events that arrived before the write's response was read

    def add(self, sent: float, answered: float, arrived: float | None) -> None:
        if arrived is None:
            self.missed += 1
            return
        self.before_response += arrived <= answered
        self.from_response.append(max(0.0, arrived - answered) * 1000)
        self.from_request.append((arrived - sent) * 1000)


class Watcher:
    """A watch on a collection from its current resourceVersion, on a connection of its own (so it never
    queues behind a write), noting when each event arrives, by the event object's resourceVersion."""

    def __init__(self, client: Client, path: str) -> None:
        self.client, self.path = client, path
        self.arrivals: dict[str, float] = {}
        self.waiting: dict[str, asyncio.Future[None]] = {}
        self.stack = contextlib.AsyncExitStack()

    async def __aenter__(self) -> Watcher:
        listed = await self.client.request("GET", self.path)
        rv = listed["metadata"]["resourceVersion"]
        session = await self.stack.enter_async_context(aiohttp.ClientSession())
        self.stream = await self.stack.enter_async_context(session.get(
            f"{self.client.base}{self.path}?watch=true&resourceVersion={rv}", ssl=self.client.context,
            headers=self.client.headers(), timeout=aiohttp.ClientTimeout(total=None, sock_read=None)))
        if self.stream.status != 200:
            await self.stack.aclose()
            raise RuntimeError(f"watch {self.path}: {self.stream.status}")
        self.reader = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.reader
        await self.stack.aclose()

    async def _read(self) -> None:
        async for line in self.stream.content:
            now = time.perf_counter()
            if not line.strip():
                continue
            event = json.loads(line)
            rv = event["object"].get("metadata", {}).get("resourceVersion", "")
            self.arrivals[rv] = now
            waiter = self.waiting.pop(rv, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(None)

    async def arrival(self, rv: str, timeout: float = 2.0) -> float | None:
        """When the event of revision `rv` arrived (waiting for it up to `timeout`), or None."""
        if rv not in self.arrivals:
            waiter = self.waiting.setdefault(rv, asyncio.get_running_loop().create_future())
            try:
                await asyncio.wait_for(waiter, timeout)
            except TimeoutError:
                return None
        return self.arrivals[rv]


async def watch_latency(client: Client, path: str, names: list[str], patches: int, interval: float) -> WatchResult:
    """Open a watch on `path`, then patch objects one at a time (at most one per `interval` seconds), each
    time waiting for its event; the event is matched by the resourceVersion the patch returned."""
    result = WatchResult()
    async with Watcher(client, path) as watcher:
        for i in range(patches):
            started = time.perf_counter()
            patch = {"metadata": {"annotations": {"bench.kubeserve.io/seq": str(i)}}}
            sent = time.perf_counter()
            obj = await client.request("PATCH", f"{path}/{names[i % len(names)]}", patch, content_type=MERGE)
            answered = time.perf_counter()
            result.add(sent, answered, await watcher.arrival(obj["metadata"]["resourceVersion"]))
            rest = interval - (time.perf_counter() - started)
            if rest > 0:
                await asyncio.sleep(rest)
    return result


@dataclass
class WriteResult:
    creates: int = 0
    patches: int = 0
    errors: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    watch: WatchResult = field(default_factory=WatchResult)  # delivery of these writes to an open watch

    @property
    def per_second(self) -> float:
        return (self.creates + self.patches) / self.seconds if self.seconds else 0.0


async def sustained_writes(client: Client, path: str, make: Callable[[str], dict[str, Any]], names: list[str],
                           seconds: float, concurrency: int, prefix: str) -> WriteResult:
    """Each of `concurrency` workers alternates a create (a new name) and a merge patch (an existing one)."""
    result = WriteResult()
    deadline = time.perf_counter() + seconds
    counter = itertools.count()
    written: list[tuple[str, float, float]] = []  # (resourceVersion, sent, answered)

    async def worker(w: int) -> None:
        for n in itertools.count():
            if time.perf_counter() >= deadline:
                return
            i = next(counter)
            start = time.perf_counter()
            try:
                if n % 2 == 0:
                    obj = await client.request("POST", path, make(f"{prefix}-{w}-{n:05d}"))
                    result.creates += 1
                else:
                    patch = {"metadata": {"labels": {"bench-write": str(i)}}}
                    obj = await client.request("PATCH", f"{path}/{names[i % len(names)]}", patch,
                                               content_type=MERGE)
                    result.patches += 1
            except RuntimeError:
                result.errors += 1
                continue
            answered = time.perf_counter()
            result.latencies.append((answered - start) * 1000)
            written.append((obj["metadata"]["resourceVersion"], start, answered))

    async with Watcher(client, path) as watcher:
        start = time.perf_counter()
        await asyncio.gather(*(worker(w) for w in range(concurrency)))
        result.seconds = time.perf_counter() - start
        arrivals = await asyncio.gather(*(watcher.arrival(rv, 3.0) for rv, _, _ in written))
    for (_, sent, answered), arrived in zip(written, arrivals, strict=True):
        result.watch.add(sent, answered, arrived)
    return result


async def version_rate(client: Client, seconds: float, concurrency: int) -> float:
    done = 0
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            await client.request("GET", "/version")
            done += 1

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done / (time.perf_counter() - start)


# ---- the report ---------------------------------------------------------------------------------------

def budget(value: float, target: float) -> str:
    return f"{value / target:.2f}x of budget"


def rate_vs(value: float, target: float) -> str:
    return f"{value / target:.2f}x of target"


async def main(args: argparse.Namespace) -> None:
    wall = time.perf_counter()
    server = Server(args.profile)
    try:
        context, token = await server.wait_ready()
        connector = aiohttp.TCPConnector(limit=args.concurrency + 2)
        async with aiohttp.ClientSession(connector=connector) as session:
            client = Client(session, server.url, token, context)
            print(f"kubeserve at {server.url} (home {server.home}); {os.cpu_count()} CPUs", flush=True)

            create_rates = await populate(client, args.count, args.concurrency)
            print(f"created {args.count} InferenceServices ({create_rates['isvc']:.0f}/s) and "
                  f"{args.count} ConfigMaps ({create_rates['configmap']:.0f}/s), concurrency {args.concurrency}",
                  flush=True)
            names = [f"granite-model-{i:04d}" for i in range(args.count)]
            sample_isvc = await client.request("GET", f"{ISVC}/{names[0]}")
            sample_cm = await client.request("GET", f"{CONFIGMAPS}/{names[0]}")
            print(f"object sizes: InferenceService {len(json.dumps(sample_isvc))} B, "
                  f"ConfigMap {len(json.dumps(sample_cm))} B", flush=True)

            version_ms, _ = await timed(args.repeat * 10, lambda: client.request("GET", "/version"))
            version_rps = await version_rate(client, 1.0, args.concurrency)

            lists: dict[str, list[float]] = {}
            for label, path, accept in (("table isvc", ISVC, TABLE), ("table cm", CONFIGMAPS, TABLE),
                                        ("json isvc", ISVC, "application/json"),
                                        ("json cm", CONFIGMAPS, "application/json")):
                lists[label] = await list_times(client, path, accept, args.repeat, args.count)
                print(f"{label} list: median {median(lists[label]):.1f} ms, min {min(lists[label]):.1f} ms",
                      flush=True)

            watch_isvc = await watch_latency(client, ISVC, names, args.patches, args.interval)
            watch_cm = await watch_latency(client, CONFIGMAPS, names, max(1, args.patches // 3), args.interval)
            print(f"watch: {len(watch_isvc.from_response)} isvc events, {len(watch_cm.from_response)} "
                  f"configmap events", flush=True)

            template = load_guide("granite-model-service.yaml")  # parsed once: the client must stay cheap
            writes_isvc = await sustained_writes(
                client, ISVC, lambda n: isvc(template, n), names, args.write_seconds, args.concurrency, "w")
            writes_cm = await sustained_writes(
                client, CONFIGMAPS, lambda n: configmap(template, n), names,
                max(1.0, args.write_seconds / 2.5), args.concurrency, "w")
    finally:
        server.stop()

    # ---- summary ----
    rows: list[tuple[str, str, str, str]] = []

    def ms(v: float) -> str:
        return f"{v:.1f} ms"

    t_isvc, t_cm = median(lists["table isvc"]), median(lists["table cm"])
    j_isvc, j_cm = median(lists["json isvc"]), median(lists["json cm"])
    rows.append((f"table list, {args.count} isvc (median of {args.repeat})", ms(t_isvc),
                 f"{ms(t_cm)} configmaps", budget(t_isvc, TARGET_LIST_MS) + f" ({TARGET_LIST_MS:.0f} ms)"))
    rows.append((f"json list, {args.count} isvc (median of {args.repeat})", ms(j_isvc),
                 f"{ms(j_cm)} configmaps", budget(j_isvc, TARGET_LIST_MS) + f" ({TARGET_LIST_MS:.0f} ms)"))
    def watch_rows(what: str, ours: WatchResult, base: WatchResult) -> None:
        for label, pick in (("from response", lambda w: w.from_response),
                            ("from request", lambda w: w.from_request)):
            mine, theirs = pick(ours), pick(base)
            if not mine:
                rows.append((f"watch p50/p99 {label}, {what}", "no events", "", ""))
                continue
            p99 = percentile(mine, 99)
            rows.append((f"watch p50/p99 {label}, {what}", f"{percentile(mine, 50):.1f}/{p99:.1f} ms",
                         f"{percentile(theirs, 50):.1f}/{percentile(theirs, 99):.1f} ms configmaps" if theirs else "-",
                         budget(p99, TARGET_WATCH_P99_MS) + f" ({TARGET_WATCH_P99_MS:.0f} ms p99)"))

    watch_rows(f"{len(watch_isvc.from_response)} paced patches", watch_isvc, watch_cm)
    watch_rows(f"during the writes below ({len(writes_isvc.watch.from_response)})", writes_isvc.watch,
               writes_cm.watch)
    rows.append((f"writes/s, c={args.concurrency}, {writes_isvc.seconds:.1f} s "
                 f"({writes_isvc.creates} creates, {writes_isvc.patches} patches)",
                 f"{writes_isvc.per_second:.0f}/s", f"{writes_cm.per_second:.0f}/s configmaps",
                 rate_vs(writes_isvc.per_second, TARGET_WRITES) + f" ({TARGET_WRITES:.0f}/s)"))
    if writes_isvc.latencies:
        rows.append(("write latency p50/p99",
                     f"{percentile(writes_isvc.latencies, 50):.1f}/{percentile(writes_isvc.latencies, 99):.1f} ms",
                     f"{percentile(writes_cm.latencies, 50):.1f}/{percentile(writes_cm.latencies, 99):.1f} ms "
                     "configmaps" if writes_cm.latencies else "-", ""))
    rows.append(("floor: GET /version", f"{median(version_ms):.1f} ms", f"{version_rps:.0f}/s at c="
                 f"{args.concurrency}", ""))
    errors = writes_isvc.errors + writes_cm.errors
    missed = watch_isvc.missed + watch_cm.missed + writes_isvc.watch.missed + writes_cm.watch.missed

    header = ("measure", "kubeserve", "baseline (same run)", "vs target")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
    line = "  ".join("-" * w for w in widths)
    print()
    print(f"== kubeserve API benchmark: {args.count} InferenceServices, {os.cpu_count()} CPUs, "
          f"{time.perf_counter() - wall:.1f} s in all ==")
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print(line)
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    print(line)
    print(f"write errors: {errors}; watch events missed: {missed}; watch events that arrived before the write's "
          f"response (counted as 0 ms from response): {watch_isvc.before_response}/{len(watch_isvc.from_response)} "
          f"paced, {writes_isvc.watch.before_response}/{len(writes_isvc.watch.from_response)} during the writes")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=1000, help="InferenceServices (and ConfigMaps) to create")
    parser.add_argument("--patches", type=int, default=300, help="patches for the watch latency")
    parser.add_argument("--interval", type=float, default=0.005, help="least seconds between watch patches")
    parser.add_argument("--write-seconds", type=float, default=5.0, help="duration of the sustained writes")
    parser.add_argument("--concurrency", type=int, default=8, help="concurrent connections for writes")
    parser.add_argument("--repeat", type=int, default=7, help="timed repetitions of each list")
    parser.add_argument("--profile", metavar="FILE", help="run the server under cProfile, stats to FILE")
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
