"""Model storage benchmark: kubeserve's downloads against the standard tools, side by side in one run.

Builds a model tree of random bytes (so compression cannot cheat: a 400 MiB and a 100 MiB weight shard plus
small config and tokenizer files), then measures in alternating rounds (ABAB, after a warm-up round) so both
sides see the same machine noise and memory state, and prints medians and ratios. It never asserts.

* OCI pull: the tree as a modelcar (`build_modelcar`, gzip by default; optionally uncompressed too) pushed to
  Debian's `docker-registry` on 127.0.0.1; kubeserve's OciProvider (resolve + fetch + verify + decompress +
  extract into a fresh directory) against `skopeo copy docker://… dir:…` (fetch + verify, no decompression
  nor extraction). Ratio = skopeo / kubeserve; target >= 1.0x.
* S3: the same files in SeaweedFS (`weed mini`); kubeserve's S3Provider (list + parallel ranged GETs)
  against boto3's `download_file` of each object with the default TransferConfig, listing included, on a
  client configured as kubeserve's (path addressing, checksums only when required). Ratio = boto3 /
  kubeserve; target >= 1.0x.
* Warm-cache start: `initializer.fetch` of an already cached modelcar into a fresh destination, 500 MiB
  against 5 MiB (target < 1 s and independent of size), and whether the placed files are hard links of the
  cache's (the same inode: no byte copied).

Page caches cannot be dropped without root, so nothing here is a cold-disk figure: every measure starts
after `sync` (neither side pays for the other's writeback) with the source bytes warm in memory.

    .venv/bin/python bench/storage.py [--rounds 5] [--warmup 1] [--big-mib 400] [--shard-mib 100] [--no-plain]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from kubeserve.storage import initializer
from kubeserve.storage.cache import ModelCache
from kubeserve.storage.oci import OciProvider, build_modelcar
from kubeserve.storage.oci.build import plan_layers
from kubeserve.storage.s3 import S3Provider
from kubeserve.storage.settings import StorageSettings
from kubeserve.storage.types import Context
from servers.registry import start_registry
from servers.s3 import start_s3_server

MiB = 1 << 20
BUCKET = "bench"


class Counter:
    """A thread-safe Progress that only counts (what the initializer's reporter costs is not measured)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.done = 0

    def set_total(self, total: int | None) -> None:
        pass

    def advance(self, done: int) -> None:
        with self.lock:
            self.done += done


@dataclass
class Timings:
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    sys: list[float] = field(default_factory=list)
    """The kernel's share of `cpu` (page-cache writes, sockets)."""

    @property
    def median(self) -> float:
        return statistics.median(self.wall)


def make_model(root: Path, sizes: dict[str, int]) -> Path:
    for rel, size in sizes.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as f:
            for offset in range(0, size, 8 * MiB):
                f.write(os.urandom(min(8 * MiB, size - offset)))
    return root


def tree_sizes(root: Path) -> dict[str, int]:
    return {p.relative_to(root).as_posix(): p.stat().st_size for p in root.rglob("*") if p.is_file()}


def cpu_now() -> tuple[float, float]:
    """(user + system, system) CPU seconds of this process and its finished children (skopeo)."""
    mine, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    system = mine.ru_stime + children.ru_stime
    return mine.ru_utime + children.ru_utime + system, system


def timed(action: Callable[[Path], None], dest: Path, into: Timings, check: Callable[[Path], None]) -> None:
    """One measure into a fresh `dest`: sync first so no earlier writeback lands in it; CPU is this process's
    plus its children's (skopeo); `check` runs untimed, then `dest` is removed."""
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    os.sync()
    (cpu0, sys0), wall0 = cpu_now(), time.perf_counter()
    action(dest)
    into.wall.append(time.perf_counter() - wall0)
    cpu1, sys1 = cpu_now()
    into.cpu.append(cpu1 - cpu0)
    into.sys.append(sys1 - sys0)
    check(dest)
    shutil.rmtree(dest, ignore_errors=True)


def alternate(rounds: tuple[int, int], sides: dict[str, Callable[[Path], None]],
              checks: dict[str, Callable[[Path], None]], scratch: Path) -> dict[str, Timings]:
    """`rounds` = (measured, warm-up): warm-up rounds run and check both sides first, then are dropped (the
    servers' first reads are paid there). Strictly ABAB, not ABBA: each run follows one of the other side.
    On this kind of VM, memory the kernel freed a few seconds ago is slow to touch again (about 1 s of kernel
    time per 500 MiB of new page cache) while memory freed just now is not, so a side run twice in a row
    (the BB of ABBA) comes out up to 2x faster on its second run."""
    results = {name: Timings() for name in sides}
    measured, warmup = rounds
    for number in range(-warmup, measured):
        for name in sides:
            timed(sides[name], scratch / name, results[name] if number >= 0 else Timings(), checks[name])
    return results


def same_tree(model: Path) -> Callable[[Path], None]:
    expected = tree_sizes(model)

    def check(dest: Path) -> None:
        got = {rel: size for rel, size in tree_sizes(dest).items() if not rel.startswith(".kubeserve")}
        if got != expected:
            raise SystemExit(f"{dest} does not hold the model: {sorted(got.items())} != {sorted(expected.items())}")
    return check


def blob_count(expected: int) -> Callable[[Path], None]:
    def check(dest: Path) -> None:
        blobs = [p for p in dest.iterdir() if p.name not in ("manifest.json", "version")]
        if len(blobs) != expected:
            raise SystemExit(f"skopeo wrote {len(blobs)} blobs to {dest}, expected {expected}")
    return check


def oci_pull(model: Path, host: str, work: Path, compression: str, rounds: tuple[int, int]) -> dict[str, Timings]:
    context = Context(StorageSettings(), env={"DOCKER_CONFIG": str(work / "no-docker-config")})
    image = f"{host}/bench/model:{compression}"
    print(f"building and pushing {image} ({compression}) …", flush=True)
    built = build_modelcar(model, image, push=True, layout=None, context=context, compression=compression)
    layers = len(plan_layers(list(tree_sizes(model).items())))

    def kubeserve(dest: Path) -> None:
        plan = OciProvider().plan(f"oci://{image}", context)
        assert plan.download is not None
        plan.download(dest, Counter())

    def skopeo(dest: Path) -> None:
        subprocess.run(["skopeo", "copy", "--quiet", "--src-tls-verify=false", f"docker://{image}", f"dir:{dest}"],
                       check=True, stdin=subprocess.DEVNULL)

    print(f"  {built.size / MiB:.0f} MiB of layers, {layers} layers; {rounds[1]} warm-up + {rounds[0]} rounds "
          "each, alternating", flush=True)
    return alternate(rounds, {"kubeserve": kubeserve, "skopeo": skopeo},
                     {"kubeserve": same_tree(model), "skopeo": blob_count(layers + 1)}, work / "pulls")


def s3_download(model: Path, work: Path, rounds: tuple[int, int]) -> dict[str, Timings]:
    print("starting SeaweedFS and uploading the model …", flush=True)
    server = start_s3_server(work / "s3")
    try:
        server.upload_tree(model, BUCKET, "model")
        context = Context(StorageSettings(), env=server.env())

        def kubeserve(dest: Path) -> None:
            plan = S3Provider().plan(f"s3://{BUCKET}/model", context)
            assert plan.download is not None
            plan.download(dest, Counter())

        def boto(dest: Path) -> None:
            client = server.client()
            for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix="model/"):
                for item in page.get("Contents", []):
                    target = dest / item["Key"].removeprefix("model/")
                    target.parent.mkdir(parents=True, exist_ok=True)
                    client.download_file(BUCKET, item["Key"], str(target))

        print(f"  {rounds[1]} warm-up + {rounds[0]} rounds each, alternating", flush=True)
        check = same_tree(model)
        return alternate(rounds, {"kubeserve": kubeserve, "boto3": boto}, {"kubeserve": check, "boto3": check},
                         work / "downloads")
    finally:
        server.stop()


@dataclass
class WarmResult:
    cold: float
    warm: Timings
    files: int
    linked: bool
    method: str


def warm_cache(models: dict[str, Path], images: dict[str, str], work: Path, rounds: int) -> dict[str, WarmResult]:
    """`images`: name → an image of that model already in the registry."""
    settings = StorageSettings(cache_dir=work / "cache")
    context = Context(settings, env={"DOCKER_CONFIG": str(work / "no-docker-config")})
    uris, results = {}, {}
    for name in models:
        uris[name] = f"oci://{images[name]}"
        began = time.perf_counter()
        first = initializer.fetch(uris[name], work / "first" / name, context)
        results[name] = WarmResult(time.perf_counter() - began, Timings(), first.placed.files, True, "")
        assert not first.cache_hit
        shutil.rmtree(work / "first" / name)
    cache = ModelCache(work / "cache")
    for number in range(rounds):
        for name in models:
            dest = work / "warm" / name / str(number)  # fetch creates it: a fresh destination every time
            os.sync()
            began = time.perf_counter()
            fetched = initializer.fetch(uris[name], dest, context)
            results[name].warm.wall.append(time.perf_counter() - began)
            assert fetched.cache_hit and fetched.key is not None
            results[name].method = fetched.placed.method
            entry = cache.model_path(fetched.key)
            for rel in tree_sizes(models[name]):
                if os.stat(dest / rel).st_ino != os.stat(entry / rel).st_ino:
                    results[name].linked = False
            shutil.rmtree(dest)
    return results


def ratio_line(label: str, ours: Timings, theirs: Timings, their_name: str, target: str) -> str:
    return (f"{label:<28} kubeserve {ours.median:6.2f} s, {their_name} {theirs.median:6.2f} s → "
            f"{theirs.median / ours.median:4.2f}x (target {target})")


def detail(results: dict[str, Timings]) -> None:
    for name, t in results.items():
        rounds = ", ".join(f"{w:.2f}" for w in t.wall)
        cpu, system = statistics.median(t.cpu), statistics.median(t.sys)
        print(f"    {name:<10} median {t.median:6.2f} s   rounds [{rounds}]   CPU median {cpu:5.2f} s "
              f"(kernel {system:4.2f} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds per side before measuring")
    parser.add_argument("--big-mib", type=int, default=400)
    parser.add_argument("--shard-mib", type=int, default=100)
    parser.add_argument("--small-mib", type=int, default=5)
    parser.add_argument("--plain", action=argparse.BooleanOptionalAction, default=True,
                        help="also pull an uncompressed image (default: on)")
    args = parser.parse_args()

    def interrupted(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, interrupted)  # clean up the servers and files as on Ctrl-C
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started with SIGINT ignored (`cmd &`)

    print(f"{os.cpu_count()} CPUs; page caches are not dropped (no root assumed): rounds alternate (ABAB, after a "
          "warm-up) so both sides see the same cache state, and each starts after sync", flush=True)
    with contextlib.ExitStack() as stack:
        work = Path(tempfile.mkdtemp(prefix="kubeserve-bench-storage-"))
        stack.callback(shutil.rmtree, work, True)
        tiny = {"config.json": 2_000, "tokenizer.json": 2 * MiB, "tokenizer_config.json": 4_000}
        large = make_model(work / "model", {"model-00001-of-00002.safetensors": args.big_mib * MiB,
                                            "model-00002-of-00002.safetensors": args.shard_mib * MiB, **tiny})
        small = make_model(work / "small", {"model.safetensors": args.small_mib * MiB - sum(tiny.values()), **tiny})
        size = sum(tree_sizes(large).values())
        print(f"model: {size / MiB:.0f} MiB of random bytes in {len(tree_sizes(large))} files", flush=True)

        registry = start_registry(work / "registry")
        stack.callback(registry.stop)
        rounds = (args.rounds, args.warmup)
        oci = {"gzip": oci_pull(large, registry.host, work, "gzip", rounds)}
        if args.plain:
            oci["none"] = oci_pull(large, registry.host, work, "none", rounds)
        s3 = s3_download(large, work, rounds)
        print("warm-cache start …", flush=True)
        small_image = f"{registry.host}/bench/small:gzip"
        build_modelcar(small, small_image, push=True, layout=None,
                       context=Context(StorageSettings(), env={"DOCKER_CONFIG": str(work / "no-docker-config")}))
        warm = warm_cache({"large": large, "small": small},
                          {"large": f"{registry.host}/bench/model:gzip", "small": small_image}, work, args.rounds)

        print(f"\nper round (wall seconds; CPU: this process plus its children, of {os.cpu_count()} cores; "
              "the registry's and SeaweedFS's own CPU is not counted):")
        for compression, results in oci.items():
            print(f"  oci pull, {compression} layers:")
            detail(results)
        print("  s3 download:")
        detail(s3)
        for name, result in warm.items():
            print(f"  warm start, {name}: cold fetch into the cache {result.cold:.2f} s; warm rounds "
                  f"[{', '.join(f'{w:.3f}' for w in result.warm.wall)}]")

        mib = f"{size / MiB:.0f} MiB"
        print("\nresults (medians):")
        for compression, results in oci.items():
            label = f"oci pull {mib} ({compression})"
            print(ratio_line(label, results["kubeserve"], results["skopeo"], "skopeo copy", "≥ 1.0x"))
        print(ratio_line(f"s3 download {mib}", s3["kubeserve"], s3["boto3"], "boto3 download_file", "≥ 1.0x"))
        big, little = warm["large"], warm["small"]
        print(f"{'warm-cache start':<28} {mib} {big.warm.median:.3f} s ({big.files} files), "
              f"{args.small_mib} MiB {little.warm.median:.3f} s ({little.files} files) → large/small "
              f"{big.warm.median / little.warm.median:.2f}x (target < 1 s, ratio ≈ 1)")
        shared = all(r.linked for r in warm.values())
        print(f"{'warm-cache placement':<28} {big.method}: destination files "
              f"{'share' if shared else 'DO NOT share'} the cache's inodes"
              f"{' (hard links, no byte copied)' if shared else ''}")
        print("notes: skopeo writes the compressed blobs as they are (no decompression, no extraction); kubeserve "
              "also verifies, decompresses and extracts. boto3 lists the prefix then download_file()s each "
              "object in turn (default TransferConfig: 8 MiB parts, 10 threads); kubeserve uses its defaults "
              f"({StorageSettings().concurrency} threads, {StorageSettings().part_size // MiB} MiB parts).")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        print("interrupted; servers stopped and temporary files removed", file=sys.stderr)
        sys.exit(130)
