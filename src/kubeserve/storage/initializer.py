"""Fetch one model to a destination: the storage initializer's whole job.

plan (cheap: a manifest, a listing) → a local source is symlinked in place → a cached key is hard-linked
from the cache → otherwise the one process holding the key's lock downloads into the cache's staging
directory, commits it by rename, and places it. Replicas of one model that start together wait on the lock
and then find the entry. Any failure removes the staging directory and whatever was placed at the
destination, so neither the cache nor the destination ever holds a partial model. (A resumable download
interrupted by a signal keeps its staging directory: the next try continues it.)
"""

from __future__ import annotations

import errno
import logging
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kubeserve.storage.cache import ModelCache
from kubeserve.storage.errors import DiskFull, StorageError
from kubeserve.storage.materialize import Placed, already_placed, check_destination, link_tree, move_tree, symlink_into
from kubeserve.storage.progress import ProgressReporter, Snapshot, human_bytes
from kubeserve.storage.providers import provider_for
from kubeserve.storage.types import Context, Plan, Provider

log = logging.getLogger(__name__)

ProgressSink = Callable[[Snapshot], None]


@dataclass(frozen=True)
class Fetched:
    source: str
    key: str | None
    placed: Placed
    cache_hit: bool
    downloaded: int
    """Bytes read from the source in this run (0 on a cache hit)."""


def fetch(uri: str, dest: Path, context: Context, sink: ProgressSink | None = None, *,
          providers: Callable[[str], Provider] = provider_for) -> Fetched:
    plan = providers(uri).plan(uri, context)
    if plan.local_path is not None:
        return Fetched(plan.source, None, symlink_into(plan.local_path, dest), cache_hit=False, downloaded=0)
    if already_placed(dest, plan.key):
        return Fetched(plan.source, plan.key, Placed("already", 0), cache_hit=True, downloaded=0)
    check_destination(dest)
    reporter = ProgressReporter(plan.source, sink or (lambda _snap: None),
                                interval=context.settings.progress_interval)
    reporter.set_total(plan.total_bytes)
    cache_dir = context.settings.cache_dir
    if cache_dir is None or plan.key is None:
        return _fetch_uncached(plan, dest, reporter)
    cache = ModelCache(cache_dir, context.settings.cache_max_bytes)
    with cache.lock(plan.key):
        model = cache.get(plan.key)
        hit = model is not None
        if model is None:
            model = _download_into_cache(cache, plan, plan.key, reporter)
        placed = link_tree(model, dest, plan.key)
        cache.lease(plan.key, dest)
        cache.touch(plan.key)
    return Fetched(plan.source, plan.key, placed, cache_hit=hit, downloaded=reporter.done)


def _download_into_cache(cache: ModelCache, plan: Plan, key: str, reporter: ProgressReporter) -> Path:
    assert plan.download is not None
    if plan.total_bytes:
        cache.make_room(plan.total_bytes, keep=key)
        _check_free_space(cache.root, plan.total_bytes, plan.source)
    stage = cache.staging(key, resume=plan.resumable)
    try:
        plan.download(stage, reporter)
    except BaseException as err:
        # A resumable download stopped by a signal (the pod deleted, Ctrl-C) keeps what it has.
        if not (plan.resumable and not isinstance(err, Exception)):
            cache.discard_staging(key)
        if isinstance(err, OSError):
            raise _translated(err, stage) from None
        raise
    reporter.finish()
    return cache.commit(key, stage, plan.source)


def _fetch_uncached(plan: Plan, dest: Path, reporter: ProgressReporter) -> Fetched:
    assert plan.download is not None
    parent = dest.parent if not dest.exists() else dest
    parent.mkdir(parents=True, exist_ok=True)
    stage = parent / f".kubeserve-download-{uuid.uuid4().hex[:8]}"
    stage.mkdir()
    try:
        if plan.total_bytes:
            _check_free_space(parent, plan.total_bytes, plan.source)
        plan.download(stage, reporter)
        reporter.finish()
        placed = move_tree(stage, dest)
    except OSError as err:
        raise _translated(err, stage) from None
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return Fetched(plan.source, plan.key, placed, cache_hit=False, downloaded=reporter.done)


def _check_free_space(directory: Path, needed: int, source: str) -> None:
    free = shutil.disk_usage(directory).free
    if free < needed:
        raise DiskFull(f"{source} needs {human_bytes(needed)} but {directory} has {human_bytes(free)} free: free "
                       "space there, or lower KUBESERVE_MODEL_CACHE_SIZE so older models are evicted")


def _translated(err: BaseException, stage: Path) -> BaseException:
    """A provider should raise StorageError itself; this is the safety net for a raw ENOSPC."""
    if isinstance(err, StorageError) or not isinstance(err, OSError):
        return err
    if err.errno == errno.ENOSPC:
        return DiskFull(f"no space left on the device of {stage} while downloading: free space there, or set "
                        "KUBESERVE_MODEL_CACHE_SIZE so older models are evicted")
    return err
