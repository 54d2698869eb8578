"""Parallel ranged GETs from S3 into preallocated files, resumable after the process dies.

Every object is split into `part_size` byte ranges; `concurrency` threads GET them (`If-Match` the planned
ETag, so an object overwritten mid-download fails instead of mixing two versions) and `os.pwrite` each
chunk at its offset, so no part is buffered whole and no thread waits on another's file. A finished part is
appended to a journal in the staging directory; a later run with the same objects and part size skips the
parts listed there (the bytes are in the page cache or on disk once pwrite returns, which is all a killed
process needs). A part whose body read fails mid-stream is re-requested from the first byte not yet
written. The journal is removed once every part is in.

`download_objects` is the whole engine, callable without a provider (the benchmark calls it directly).
"""

from __future__ import annotations

import errno
import hashlib
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import botocore.exceptions as bex
import urllib3.exceptions as uex

from kubeserve.storage.errors import DiskFull, IntegrityError
from kubeserve.storage.settings import StorageSettings
from kubeserve.storage.types import Progress

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

CHUNK = 1 << 20
PART_ATTEMPTS = 5
RETRY_BACKOFF = 0.1
"""Seconds before a part's second attempt; doubled each time, at most 2 s."""
# What a body read raises when the connection drops or stalls mid-part: retried from the next byte.
_STREAM_ERRORS = (bex.ResponseStreamingError, bex.ReadTimeoutError, bex.IncompleteReadError,
                  bex.ConnectionClosedError, uex.ProtocolError, uex.ReadTimeoutError, ConnectionError, TimeoutError)


@dataclass(frozen=True)
class S3Object:
    key: str
    rel: str
    """Where it lands, relative to the staging directory (POSIX separators)."""
    size: int
    etag: str


@dataclass(frozen=True)
class Part:
    index: int
    obj: int
    start: int
    end: int
    """Exclusive."""


def split_parts(objects: Sequence[S3Object], part_size: int) -> list[Part]:
    parts: list[Part] = []
    for number, obj in enumerate(objects):
        for start in range(0, obj.size, part_size):
            parts.append(Part(len(parts), number, start, min(obj.size, start + part_size)))
    return parts


def journal_identity(objects: Sequence[S3Object], part_size: int) -> str:
    """Parts recorded under one identity are only valid for the same objects split the same way."""
    digest = hashlib.sha256(f"{part_size}\n".encode())
    for obj in objects:
        digest.update(f"{obj.key}\0{obj.rel}\0{obj.size}\0{obj.etag}\n".encode())
    return digest.hexdigest()


JOURNAL_NAME = ".kubeserve-parts"
_JOURNAL_MAGIC = "kubeserve-parts v1"


def parse_journal(text: str, identity: str) -> frozenset[int]:
    """The finished part numbers in a journal's text; none when it was written for other objects. A line
    torn by a kill (no newline yet) is not trusted."""
    lines = text.split("\n")
    if not lines or lines[0] != f"{_JOURNAL_MAGIC} {identity}":
        return frozenset()
    return frozenset(int(line) for line in lines[1:-1] if line.isdigit())


class PartJournal:
    """Append-only list of finished parts; `record` is called from every download thread."""

    def __init__(self, path: Path, identity: str) -> None:
        self._path = path
        self._identity = identity
        self._lock = threading.Lock()
        self._fd: int | None = None

    def open(self) -> set[int]:
        try:
            done = set(parse_journal(self._path.read_text(errors="replace"), self._identity))
        except FileNotFoundError:
            done = set()
        if done:
            self._fd = os.open(self._path, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
        else:
            self._fd = os.open(self._path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND | os.O_CLOEXEC, 0o644)
            os.write(self._fd, f"{_JOURNAL_MAGIC} {self._identity}\n".encode())
        return done

    def record(self, index: int) -> None:
        with self._lock:
            assert self._fd is not None
            os.write(self._fd, f"{index}\n".encode())

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def remove(self) -> None:
        self._path.unlink(missing_ok=True)


class _Stopped(Exception):
    """Another part failed; this one gives up quietly."""


def download_objects(client: S3Client, bucket: str, objects: Sequence[S3Object], stage: Path,
                     progress: Progress, settings: StorageSettings, *, preallocate: bool = True) -> None:
    """Download `objects` of `bucket` into `stage`; resumes a journal left there by an interrupted run.

    `progress` gets the bytes still to fetch as its total (less than the model on a resumed run)."""
    parts = split_parts(objects, settings.part_size)
    journal = PartJournal(stage / JOURNAL_NAME, journal_identity(objects, settings.part_size))
    done = journal.open()
    total = sum(obj.size for obj in objects)
    fds: dict[int, int] = {}
    try:
        for number, obj in enumerate(objects):
            fd, kept = _open_file(stage, obj, preallocate, total)
            fds[number] = fd
            if not kept:  # a missing or resized file invalidates what the journal says about it
                done -= {p.index for p in parts if p.obj == number}
        todo = [part for part in parts if part.index not in done]
        progress.set_total(sum(part.end - part.start for part in todo))
        stop = threading.Event()

        def fetch(part: Part) -> None:
            _fetch_part(client, bucket, objects[part.obj], part, fds[part.obj], progress, stop, (stage, total))
            journal.record(part.index)

        if todo:
            _run_parts(fetch, todo, settings.concurrency, stop)
    finally:
        for fd in fds.values():
            os.close(fd)
        journal.close()
    journal.remove()


def _run_parts(fetch: Callable[[Part], None], todo: list[Part], concurrency: int, stop: threading.Event) -> None:
    """Run every part; on the first failure (or a signal in this thread) stop the others and re-raise it."""
    with ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(todo)))) as pool:
        futures = [pool.submit(fetch, part) for part in todo]
        try:
            wait(futures, return_when=FIRST_EXCEPTION)
        finally:
            errors = [f.exception() for f in futures if f.done() and not f.cancelled()]
            failed = [err for err in errors if err is not None and not isinstance(err, _Stopped)]
            if failed or not all(f.done() for f in futures):
                stop.set()
                for future in futures:
                    future.cancel()
        if failed:
            raise failed[0]


def _open_file(stage: Path, obj: S3Object, preallocate: bool, total: int) -> tuple[int, bool]:
    """Open (creating) the object's file at its final size; True when it already had that size."""
    path = stage / obj.rel
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as err:
        raise _disk_error(err, stage, total) from None
    try:
        kept = os.fstat(fd).st_size == obj.size
        if not kept:
            os.ftruncate(fd, obj.size)
        # Reserve the blocks now so a full disk fails before any byte is fetched (where the file system can;
        # elsewhere pwrite reports the full disk).
        if preallocate and obj.size:
            try:
                os.posix_fallocate(fd, 0, obj.size)
            except OSError as err:
                if err.errno not in (errno.EOPNOTSUPP, errno.EINVAL):
                    raise
    except OSError as err:
        os.close(fd)
        raise _disk_error(err, stage, total) from None
    return fd, kept


def _fetch_part(client: S3Client, bucket: str, obj: S3Object, part: Part, fd: int, progress: Progress,
                stop: threading.Event, disk: tuple[Path, int]) -> None:
    position = part.start
    for attempt in range(1, PART_ATTEMPTS + 1):
        if stop.is_set():
            raise _Stopped()
        response = client.get_object(Bucket=bucket, Key=obj.key, Range=f"bytes={position}-{part.end - 1}",
                                      IfMatch=obj.etag)
        if response.get("ETag", obj.etag) != obj.etag:  # a server that ignores If-Match
            raise IntegrityError(f"s3://{bucket}/{obj.key} changed during the download (ETag {obj.etag} became "
                                 f"{response.get('ETag')}); retry to download the new version")
        body = response["Body"]
        try:
            while position < part.end:
                if stop.is_set():
                    raise _Stopped()
                chunk = body.read(min(CHUNK, part.end - position))
                if not chunk:
                    break
                _pwrite_all(fd, chunk, position, disk)
                position += len(chunk)
                progress.advance(len(chunk))
        except _STREAM_ERRORS:
            if attempt == PART_ATTEMPTS:
                raise
        finally:
            body.close()
        if position >= part.end:
            return
        time.sleep(min(2.0, RETRY_BACKOFF * 2 ** (attempt - 1)))
    raise ConnectionError(f"s3://{bucket}/{obj.key}: bytes {position}-{part.end - 1} still missing after "
                          f"{PART_ATTEMPTS} attempts (the body kept ending early)")


def _pwrite_all(fd: int, data: bytes, offset: int, disk: tuple[Path, int]) -> None:
    view = memoryview(data)
    while view:
        try:
            written = os.pwrite(fd, view, offset)
        except OSError as err:
            raise _disk_error(err, *disk) from None
        view = view[written:]
        offset += written


def _disk_error(err: OSError, stage: Path, needed: int) -> OSError | DiskFull:
    if err.errno not in (errno.ENOSPC, errno.EDQUOT):
        return err
    try:
        stats = os.statvfs(stage)
        free = f"{stats.f_bavail * stats.f_frsize} bytes free"
    except OSError:
        free = "free space unknown"
    return DiskFull(f"the disk holding {stage} is full ({os.strerror(err.errno)}): the model needs {needed} "
                    f"bytes, {free}; free some space or put the model cache (KUBESERVE_MODEL_CACHE) on a larger disk")
