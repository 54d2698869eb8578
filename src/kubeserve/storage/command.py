"""The storage initializer as a program: `python -m kubeserve.storage URI DEST [URI DEST…]` and
`kubeserve storage pull`. Turns cluster Secrets into the environment conventions the providers read, shows
progress (a bar on a terminal, log lines otherwise), and reports a failure as one line naming its reason,
with exit code 1 and nothing left behind."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import IO, Any

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

from kubeserve.storage.cluster import ClusterAccess, kubeconfig_path
from kubeserve.storage.errors import CredentialsError, InvalidStorageUri, StorageError
from kubeserve.storage.initializer import Fetched, ProgressSink, fetch
from kubeserve.storage.progress import ProgressReporter, Snapshot, human_bytes, line_sink
from kubeserve.storage.settings import StorageSettings
from kubeserve.storage.types import Context


@dataclass(frozen=True)
class FetchRequest:
    pairs: tuple[tuple[str, Path], ...]
    """(URI, destination) pairs; the URI is "" when it comes from --storage-key/--storage-path."""
    kubeconfig: str | None = None
    namespace: str | None = None
    storage_key: str | None = None
    storage_path: str | None = None
    pull_secrets: tuple[str, ...] = ()
    no_cache: bool = False
    progress: str = "auto"
    """auto (a bar on a terminal, log lines otherwise), bar, log, or none."""


def run_fetch(request: FetchRequest, env: Mapping[str, str], settings: StorageSettings,
              out: IO[str] = sys.stdout, err: IO[str] = sys.stderr) -> int:
    with _terminating_on_sigterm(), tempfile.TemporaryDirectory(prefix="kubeserve-storage-") as scratch:
        try:
            results = _fetch_all(request, dict(env), settings, Path(scratch), err)
        except StorageError as failure:
            print(f"error: {failure.reason}: {failure.message}", file=err, flush=True)
            return 1
    for result, (_uri, dest) in results:
        where = ("used in place" if result.placed.method == "symlink" else "from the cache" if result.cache_hit
                 else f"{human_bytes(result.downloaded)} downloaded")
        print(f"{result.source} → {dest} ({result.placed.method}, {where})", file=out, flush=True)
    return 0


def run_pvc_cp(source: Path, target: str, *, kubeconfig: str | None, namespace: str | None, via_pod: bool,
               progress: str, env: Mapping[str, str], err: IO[str] = sys.stderr, out: IO[str] = sys.stdout) -> int:
    """`kubeserve pvc cp LOCAL CLAIM:PATH`."""
    claim, sep, path = target.partition(":")
    if not sep or not claim:
        print(f"error: InvalidArgument: {target!r} is not CLAIM:PATH (e.g. model-pvc:models/granite)", file=err)
        return 2
    config = kubeconfig_path(kubeconfig, dict(env))
    try:
        cluster = ClusterAccess(config, namespace)
        with _progress_sink(progress, err) as (sink, interval):
            reporter = ProgressReporter(f"{source}", sink or (lambda _snap: None), interval=interval)
            cluster.copy_to_claim(claim, source, path, reporter, via_pod=via_pod, kubeconfig=config)
            reporter.finish()
    except StorageError as failure:
        print(f"error: {failure.reason}: {failure.message}", file=err, flush=True)
        return 1
    print(f"{source} → persistentvolumeclaim/{claim}:{path or '/'} in namespace {cluster.namespace}"
          f" (use storageUri: pvc://{claim}/{path.strip('/')})", file=out)
    return 0


def run_modelcar_build(model_dir: Path, image: str, *, push: bool, output: Path | None, compression: str,
                       kubeconfig: str | None, namespace: str | None, pull_secrets: tuple[str, ...], progress: str,
                       env: Mapping[str, str], settings: StorageSettings, err: IO[str] = sys.stderr,
                       out: IO[str] = sys.stdout) -> int:
    """`kubeserve modelcar build DIR IMAGE [--push] [--output LAYOUT]`."""
    from kubeserve.storage.oci import build_modelcar
    from kubeserve.storage.oci.reference import parse_reference

    env_ = dict(env)
    with tempfile.TemporaryDirectory(prefix="kubeserve-modelcar-") as scratch:
        try:
            reference = parse_reference(image if image.startswith("oci://") else f"oci://{image}")
            layout = output
            if layout is None and not push:
                layout = Path(f"{reference.repository.rsplit('/', 1)[-1]}.oci")
            if pull_secrets:
                def cluster() -> ClusterAccess:
                    return ClusterAccess(kubeconfig_path(kubeconfig, env_), namespace)
                env_["REGISTRY_AUTH_FILE"] = str(_auth_file(pull_secrets, cluster, env_, Path(scratch)))
            with _progress_sink(progress, err) as (sink, interval):
                reporter = ProgressReporter(str(reference), sink or (lambda _snap: None), interval=interval)
                built = build_modelcar(model_dir, str(reference), push=push, layout=layout,
                                       context=Context(settings, env_), progress=reporter, compression=compression)
                reporter.finish()
        except StorageError as failure:
            print(f"error: {failure.reason}: {failure.message}", file=err, flush=True)
            return 1
    print(f"built {built.reference}@{built.digest} ({human_bytes(built.size)})", file=out)
    if built.layout is not None:
        print(f"OCI layout: {built.layout} (skopeo copy oci:{built.layout}:{reference.tag or 'latest'} …)", file=out)
    if built.pushed:
        print(f"pushed: use storageUri: oci://{built.reference}", file=out)
    return 0


def _fetch_all(request: FetchRequest, env: dict[str, str], settings: StorageSettings, scratch: Path,
               err: IO[str]) -> list[tuple[Fetched, tuple[str, Path]]]:
    access: list[ClusterAccess] = []

    def cluster() -> ClusterAccess:
        if not access:
            access.append(ClusterAccess(kubeconfig_path(request.kubeconfig, env), request.namespace))
        return access[0]

    pairs = list(request.pairs)
    if request.storage_key is not None:
        from kubeserve.storage.dataconnection import connection_env, storage_uri
        data = cluster().secret_data(request.storage_key, "the data connection named by storage.key")
        env.update(connection_env(request.storage_key, data))
        uri = storage_uri(request.storage_key, data, request.storage_path or "")
        pairs = [(pair_uri or uri, dest) for pair_uri, dest in pairs]
    elif any(not uri for uri, _dest in pairs):
        raise InvalidStorageUri("no storage URI given: pass URI DEST, or --storage-key with --storage-path")
    if request.pull_secrets:
        env["REGISTRY_AUTH_FILE"] = str(_auth_file(request.pull_secrets, cluster, env, scratch))
    if request.no_cache:
        settings = dataclasses.replace(settings, cache_dir=None)
    context = Context(settings, env, claims=lambda claim: cluster().claim_directory(claim))
    results = []
    for uri, dest in pairs:
        with _progress_sink(request.progress, err) as (sink, interval):
            context = dataclasses.replace(context, settings=dataclasses.replace(settings, progress_interval=interval))
            results.append((fetch(uri, dest, context, sink), (uri, dest)))
    return results


def _auth_file(secrets: tuple[str, ...], cluster: Callable[[], ClusterAccess], env: Mapping[str, str],
               scratch: Path) -> Path:
    """Merge the pull secrets' `auths` (over any REGISTRY_AUTH_FILE already set) into one private file."""
    auths: dict[str, Any] = {}
    existing = env.get("REGISTRY_AUTH_FILE")
    if existing:
        try:
            auths.update(json.loads(Path(existing).read_text()).get("auths", {}))
        except (OSError, ValueError) as failure:
            raise CredentialsError(f"REGISTRY_AUTH_FILE={existing}: {failure}") from None
    for name in secrets:
        auths.update(cluster().pull_secret_auths(name))
    path = scratch / "auth.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump({"auths": auths}, handle)
    return path


@contextlib.contextmanager
def _progress_sink(mode: str, err: IO[str]) -> Iterator[tuple[ProgressSink | None, float]]:
    if mode == "none":
        yield None, 3600.0
        return
    if mode == "log" or (mode == "auto" and not err.isatty()):
        yield line_sink(err), 2.0
        return
    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(binary_units=True),
               TransferSpeedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=Console(file=err), transient=False) as bar:
        task: list[Any] = []

        def update(snap: Snapshot) -> None:
            if not task:
                task.append(bar.add_task(snap.source, total=snap.total))
            bar.update(task[0], completed=snap.done, total=snap.total)
        yield update, 0.1


@contextlib.contextmanager
def _terminating_on_sigterm() -> Iterator[None]:
    """The kubelet stops an init container with SIGTERM: unwind (and clean up) as for Ctrl-C."""
    def stop(_signum: int, _frame: FrameType | None) -> None:
        raise SystemExit(143)
    try:
        previous = signal.signal(signal.SIGTERM, stop)
    except ValueError:  # not the main thread (tests calling run_fetch from a worker)
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
