"""The ranged-download engine over an in-process fake S3 client: parts land at their offsets, a body that
breaks mid-stream is re-requested from the next byte, a journal resumes only missing parts, a changed ETag
and a failing part stop the download with the right error."""

from __future__ import annotations

import errno
import os
import threading
from pathlib import Path
from typing import Any

import botocore.exceptions as bex
import pytest

from kubeserve.storage import ranged
from kubeserve.storage.errors import DiskFull, IntegrityError
from kubeserve.storage.ranged import JOURNAL_NAME, S3Object, download_objects, journal_identity
from kubeserve.storage.settings import StorageSettings

SETTINGS = StorageSettings(part_size=100, concurrency=3)


class Body:
    """A response body that can break (raise or end early) after `cut` bytes."""

    def __init__(self, data: bytes, cut: int | None = None, end_early: bool = False) -> None:
        self.data, self.cut, self.end_early, self.pos = data, cut, end_early, 0

    def read(self, amt: int) -> bytes:
        if self.cut is not None and self.pos >= self.cut:
            if self.end_early:
                return b""
            raise bex.ResponseStreamingError(error="connection reset mid-body")
        limit = len(self.data) if self.cut is None else self.cut
        chunk = self.data[self.pos:min(limit, self.pos + min(amt, 7))]  # small reads: many chunks per part
        self.pos += len(chunk)
        return chunk

    def close(self) -> None:
        pass


class FakeS3:
    def __init__(self, objects: dict[str, bytes], etags: dict[str, str] | None = None) -> None:
        self.objects = objects
        self.etags = etags or {key: f'"{key}-etag"' for key in objects}
        self.lock = threading.Lock()
        self.requests: list[tuple[str, int, int]] = []
        self.breaks: dict[tuple[str, int], dict[str, Any]] = {}
        """(key, range start) → Body options, applied once."""

    def get_object(self, *, Bucket: str, Key: str, Range: str, IfMatch: str) -> dict[str, Any]:
        start, end = (int(n) for n in Range.removeprefix("bytes=").split("-"))
        with self.lock:
            self.requests.append((Key, start, end))
            options = self.breaks.pop((Key, start), {})
        if IfMatch != self.etags[Key]:
            raise bex.ClientError({"Error": {"Code": "PreconditionFailed"}}, "GetObject")
        return {"Body": Body(self.objects[Key][start:end + 1], **options), "ETag": self.etags[Key]}


class Counter:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.done = 0
        self.total: int | None = None

    def set_total(self, total: int | None) -> None:
        self.total = total

    def advance(self, done: int) -> None:
        with self.lock:
            self.done += done


def make(sizes: dict[str, int]) -> tuple[FakeS3, list[S3Object]]:
    data = {f"m/{rel}": os.urandom(size) for rel, size in sizes.items()}
    fake = FakeS3(data)
    return fake, [S3Object(key, key.removeprefix("m/"), len(blob), fake.etags[key]) for key, blob in data.items()]


def run(fake: FakeS3, objects: list[S3Object], stage: Path, settings: StorageSettings = SETTINGS) -> Counter:
    progress = Counter()
    download_objects(fake, "bucket", objects, stage, progress, settings)  # type: ignore[arg-type]
    return progress


def assert_tree(fake: FakeS3, objects: list[S3Object], stage: Path) -> None:
    for obj in objects:
        assert (stage / obj.rel).read_bytes() == fake.objects[obj.key]
    assert not (stage / JOURNAL_NAME).exists()


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ranged, "RETRY_BACKOFF", 0.0)


def test_parts_land_at_their_offsets(tmp_path: Path) -> None:
    fake, objects = make({"model.bin": 1050, "sub/dir/tok.json": 99, "empty": 0})
    progress = run(fake, objects, tmp_path)
    assert_tree(fake, objects, tmp_path)
    assert progress.done == progress.total == 1149
    assert sorted(fake.requests)[:2] == [("m/model.bin", 0, 99), ("m/model.bin", 100, 199)]
    assert len(fake.requests) == 11 + 1


@pytest.mark.parametrize("end_early", [False, True], ids=["raises", "ends-early"])
def test_broken_body_resumes_from_the_next_byte(tmp_path: Path, end_early: bool) -> None:
    fake, objects = make({"model.bin": 300})
    fake.breaks[("m/model.bin", 100)] = {"cut": 42, "end_early": end_early}
    progress = run(fake, objects, tmp_path)
    assert_tree(fake, objects, tmp_path)
    assert ("m/model.bin", 142, 199) in fake.requests
    assert progress.done == 300  # nothing counted twice


def test_a_body_that_keeps_breaking_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake, objects = make({"model.bin": 100})

    def always_broken(**kwargs: Any) -> dict[str, Any]:
        response = FakeS3.get_object(fake, **kwargs)
        response["Body"].cut = 0
        return response

    monkeypatch.setattr(fake, "get_object", always_broken)
    with pytest.raises(bex.ResponseStreamingError):
        run(fake, objects, tmp_path)
    assert len(fake.requests) == ranged.PART_ATTEMPTS


def test_changed_etag_fails_clearly(tmp_path: Path) -> None:
    fake, objects = make({"model.bin": 300})
    fake.etags["m/model.bin"] = '"new"'
    with pytest.raises(bex.ClientError, match="PreconditionFailed"):
        run(fake, objects, tmp_path)


def test_server_ignoring_if_match_is_caught(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake, objects = make({"model.bin": 300})

    def ignores_if_match(**kwargs: Any) -> dict[str, Any]:
        return {**FakeS3.get_object(fake, **kwargs), "ETag": '"other"'}

    monkeypatch.setattr(fake, "get_object", ignores_if_match)
    with pytest.raises(IntegrityError, match="changed during the download"):
        run(fake, objects, tmp_path)


def test_a_failing_part_stops_the_rest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake, objects = make({"a.bin": 100, "b.bin": 4_000_000})
    fake.etags["m/a.bin"] = '"gone"'
    bodies: list[Body] = []

    def recording(**kwargs: Any) -> dict[str, Any]:
        response = FakeS3.get_object(fake, **kwargs)
        bodies.append(response["Body"])
        return response

    monkeypatch.setattr(fake, "get_object", recording)
    with pytest.raises(bex.ClientError):
        run(fake, objects, tmp_path, StorageSettings(part_size=4_000_000, concurrency=2))
    # b.bin's single part (read 7 bytes at a time) was never started or abandoned mid-body.
    assert all(body.pos < 4_000_000 for body in bodies)
    assert len(fake.requests) <= 2


def journal(objects: list[S3Object], parts: list[int], part_size: int = 100) -> str:
    lines = [f"kubeserve-parts v1 {journal_identity(objects, part_size)}", *map(str, parts)]
    return "\n".join(lines) + "\n"


def test_resume_fetches_only_missing_parts(tmp_path: Path) -> None:
    fake, objects = make({"model.bin": 450})
    blob = fake.objects["m/model.bin"]
    (tmp_path / "model.bin").write_bytes(blob[:200] + bytes(250))  # parts 0 and 1 were written
    (tmp_path / JOURNAL_NAME).write_text(journal(objects, [0, 1]) + "2")  # part 2's line was torn by a kill
    progress = run(fake, objects, tmp_path)
    assert_tree(fake, objects, tmp_path)
    assert sorted(start for _, start, _ in fake.requests) == [200, 300, 400]
    assert progress.done == progress.total == 250


def test_journal_of_other_objects_is_ignored(tmp_path: Path) -> None:
    fake, objects = make({"model.bin": 250})
    (tmp_path / "model.bin").write_bytes(bytes(250))
    (tmp_path / JOURNAL_NAME).write_text(journal(objects, [0, 1, 2], part_size=50))
    run(fake, objects, tmp_path)
    assert_tree(fake, objects, tmp_path)
    assert len(fake.requests) == 3


def test_resized_file_is_fetched_again(tmp_path: Path) -> None:
    fake, objects = make({"a.bin": 200, "b.bin": 200})
    (tmp_path / "a.bin").write_bytes(fake.objects["m/a.bin"])
    (tmp_path / "b.bin").write_bytes(b"truncated")  # parts 2 and 3 recorded, but the file is not whole
    (tmp_path / JOURNAL_NAME).write_text(journal(objects, [0, 1, 2, 3]))
    run(fake, objects, tmp_path)
    assert_tree(fake, objects, tmp_path)
    assert sorted(key for key, _, _ in fake.requests) == ["m/b.bin", "m/b.bin"]


def test_enospc_is_disk_full(tmp_path: Path) -> None:
    error = ranged._disk_error(OSError(errno.ENOSPC, "No space left on device"), tmp_path, 12345)
    assert isinstance(error, DiskFull)
    assert str(tmp_path) in error.message and "12345 bytes" in error.message and "bytes free" in error.message
    other = OSError(errno.EACCES, "denied")
    assert ranged._disk_error(other, tmp_path, 1) is other
