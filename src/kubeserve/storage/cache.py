"""The content-addressed model cache: one copy of each model's bytes on this machine, shared by every
replica and every restart.

Layout under the cache root (`$KUBESERVE_HOME/models` by default):

    entries/<key>/model/…        a complete model tree (files read-only); present means complete
    entries/<key>/entry.json     source, size, created; its mtime is the last use (for LRU)
    staging/<key>/               a download in progress (a resumable provider may find and continue it)
    locks/<key>.lock             flock: one download per key; waiting replicas then find the entry
    leases/<key>/<hash>.json     a destination the model was placed at; live while that directory exists

A key is claimed by its lock while it is downloaded and placed. Eviction (to stay under the size cap) takes
least recently used entries first and skips any entry whose lock is held or that has a live lease: a model
some pod still has in its /mnt/models is never removed. An entry enters the cache by one rename, so a crash
leaves either a complete entry or a staging directory, never a partial entry.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import shutil
import stat
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

MARKER = ".kubeserve-model"
"""Written at a destination once a model is placed: the key it holds (idempotent re-runs, live leases)."""


@dataclass(frozen=True)
class Entry:
    key: str
    path: Path
    size: int
    last_used: float


class ModelCache:
    def __init__(self, root: Path, max_bytes: int | None = None) -> None:
        self.root = root
        self.max_bytes = max_bytes
        for sub in ("entries", "staging", "locks", "leases", "trash"):
            (root / sub).mkdir(parents=True, exist_ok=True)

    # -- lookup and locking ------------------------------------------------------------------------------

    def model_path(self, key: str) -> Path:
        return self.root / "entries" / key / "model"

    def get(self, key: str) -> Path | None:
        model = self.model_path(key)
        return model if model.is_dir() else None

    @contextlib.contextmanager
    def lock(self, key: str, *, wait: bool = True) -> Iterator[bool]:
        """Hold the key's lock; with wait=False yields False instead of blocking when another holds it."""
        with open(self.root / "locks" / f"{key}.lock", "a+") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    # -- downloading into the cache ----------------------------------------------------------------------

    def staging(self, key: str, *, resume: bool) -> Path:
        """The staging directory for a download of `key`; call with the key's lock held."""
        stage = self.root / "staging" / key
        if stage.exists() and not resume:
            self._discard(stage)
        stage.mkdir(parents=True, exist_ok=True)
        return stage

    def discard_staging(self, key: str) -> None:
        stage = self.root / "staging" / key
        if stage.exists():
            self._discard(stage)

    def commit(self, key: str, stage: Path, source: str) -> Path:
        """Move a finished download into the cache as one rename; returns the model tree."""
        size = _freeze_tree(stage)
        entry = self.root / "entries" / key
        pending = self.root / "staging" / f".commit-{key}-{uuid.uuid4().hex[:8]}"
        pending.mkdir()
        stage.rename(pending / "model")
        (pending / "entry.json").write_text(json.dumps({"key": key, "source": source, "size": size,
                                                        "created": time.time()}))
        _fsync_dir(pending)
        if entry.exists():  # an older process crashed after its rename; keep the entry already there
            self._discard(pending)
        else:
            pending.rename(entry)
            _fsync_dir(entry.parent)
        return entry / "model"

    # -- use ---------------------------------------------------------------------------------------------

    def touch(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.utime(self.root / "entries" / key / "entry.json")

    def lease(self, key: str, dest: Path) -> None:
        info = dest.stat()
        leases = self.root / "leases" / key
        leases.mkdir(parents=True, exist_ok=True)
        name = hashlib.sha256(str(dest.absolute()).encode()).hexdigest()[:16] + ".json"
        (leases / name).write_text(json.dumps({"dest": str(dest.absolute()), "dev": info.st_dev,
                                               "ino": info.st_ino}))

    def in_use(self, key: str) -> bool:
        """Whether some destination still holds this model; forgets leases whose destination is gone."""
        leases = self.root / "leases" / key
        if not leases.is_dir():
            return False
        live = False
        for lease_file in leases.glob("*.json"):
            if _lease_is_live(lease_file, key):
                live = True
            else:
                lease_file.unlink(missing_ok=True)
        return live

    # -- eviction ----------------------------------------------------------------------------------------

    def entries(self) -> list[Entry]:
        found = []
        for entry_dir in (self.root / "entries").iterdir():
            meta = entry_dir / "entry.json"
            try:
                size = int(json.loads(meta.read_text())["size"])
                found.append(Entry(entry_dir.name, entry_dir / "model", size, meta.stat().st_mtime))
            except (OSError, ValueError, KeyError):
                continue
        return found

    def size(self) -> int:
        return sum(entry.size for entry in self.entries())

    def make_room(self, incoming: int, *, keep: str | None = None) -> list[str]:
        """Evict least recently used entries not in use until `incoming` more bytes fit under the cap.
        Returns the evicted keys; an entry in use or being placed is never touched."""
        if self.max_bytes is None:
            return []
        evicted: list[str] = []
        with open(self.root / "locks" / ".evict.lock", "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            entries = sorted(self.entries(), key=lambda entry: entry.last_used)
            total = sum(entry.size for entry in entries)
            for entry in entries:
                if total + incoming <= self.max_bytes:
                    break
                if entry.key == keep or self.in_use(entry.key):
                    continue
                with self.lock(entry.key, wait=False) as held:
                    if not held:
                        continue
                    self._discard(self.root / "entries" / entry.key)
                    shutil.rmtree(self.root / "leases" / entry.key, ignore_errors=True)
                total -= entry.size
                evicted.append(entry.key)
                log.info("model cache: evicted %s (%d bytes) to stay under %d bytes", entry.key, entry.size,
                         self.max_bytes)
            if total + incoming > self.max_bytes:
                log.warning("model cache: %d bytes in use plus %d incoming exceed the cap of %d bytes "
                            "(KUBESERVE_MODEL_CACHE_SIZE); every remaining model is in use", total, incoming,
                            self.max_bytes)
        return evicted

    def _discard(self, path: Path) -> None:
        """Rename first (instant, atomic), then delete: a crash never leaves a half-deleted entry in place."""
        trash = self.root / "trash" / f"{path.name}-{uuid.uuid4().hex[:8]}"
        path.rename(trash)
        shutil.rmtree(trash, ignore_errors=True)  # already out of the way; leftovers are only trash


def _lease_is_live(lease_file: Path, key: str) -> bool:
    try:
        lease = json.loads(lease_file.read_text())
        dest = Path(lease["dest"])
        info = dest.stat()
        if (info.st_dev, info.st_ino) != (lease["dev"], lease["ino"]):
            return False
        return (dest / MARKER).read_text().strip() == key
    except (OSError, ValueError, KeyError):
        return False


def _freeze_tree(root: Path) -> int:
    """Make every file read-only (the cache's bytes are shared by hard links) and return the tree's size."""
    size = 0
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            path = os.path.join(dirpath, name)
            info = os.lstat(path)
            if stat.S_ISREG(info.st_mode):
                size += info.st_size
                os.chmod(path, stat.S_IMODE(info.st_mode) & ~0o222)
    return size


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
