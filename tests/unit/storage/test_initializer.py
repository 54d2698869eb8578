"""fetch(): cache hits skip downloads, replicas share one download, failures leave nothing behind, and
eviction never removes a model in use. A fake provider writes files; everything else is real (files,
locks, hard links) in a temporary directory."""

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from kubeserve.storage.cache import MARKER, ModelCache
from kubeserve.storage.errors import DiskFull, IntegrityError
from kubeserve.storage.initializer import fetch
from kubeserve.storage.materialize import DestinationNotEmpty
from kubeserve.storage.settings import StorageSettings
from kubeserve.storage.types import Context, Plan


@dataclass
class FakeProvider:
    files: dict[str, bytes]
    key: str | None = "fake-1"
    fail_after: int | None = None
    interrupt: bool = False
    resumable: bool = False
    delay: float = 0.0
    total: int | None = None
    downloads: list[Path] = field(default_factory=list)
    seen_in_stage: list[list[str]] = field(default_factory=list)
    schemes = ("fake",)

    def plan(self, uri, context):
        size = self.total if self.total is not None else sum(len(data) for data in self.files.values())
        return Plan(source=uri, key=self.key, total_bytes=size, download=self._download, resumable=self.resumable)

    def _download(self, stage: Path, progress):
        self.downloads.append(stage)
        self.seen_in_stage.append(sorted(p.name for p in stage.iterdir()))
        time.sleep(self.delay)
        for i, (name, data) in enumerate(sorted(self.files.items())):
            if self.fail_after is not None and i >= self.fail_after:
                if self.interrupt:
                    raise KeyboardInterrupt
                raise IntegrityError(f"layer {name} digest mismatch")
            path = stage / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            progress.advance(len(data))


MODEL = {"config.json": b"{}", "model.safetensors": b"w" * 4096, "tokenizer/tokenizer.json": b"t" * 100}


def context(tmp_path, cap=None, cache=True):
    return Context(StorageSettings(cache_dir=tmp_path / "cache" if cache else None, cache_max_bytes=cap))


def run(provider, dest, ctx):
    return fetch("fake://m", dest, ctx, providers=lambda _uri: provider)


def test_miss_then_hit_hard_links_the_same_bytes(tmp_path):
    provider, ctx = FakeProvider(MODEL), context(tmp_path)
    first = run(provider, tmp_path / "pod1" / "models", ctx)
    assert (first.cache_hit, first.placed.method, first.downloaded) == (False, "hardlink", 4096 + 102)
    second = run(provider, tmp_path / "pod2" / "models", ctx)
    assert (second.cache_hit, second.downloaded) == (True, 0)
    assert len(provider.downloads) == 1
    a = tmp_path / "pod1/models/model.safetensors"
    b = tmp_path / "pod2/models/model.safetensors"
    assert a.read_bytes() == MODEL["model.safetensors"]
    assert os.stat(a).st_ino == os.stat(b).st_ino  # no byte copied
    assert (tmp_path / "pod2/models/tokenizer/tokenizer.json").read_bytes() == MODEL["tokenizer/tokenizer.json"]
    assert not os.access(a, os.W_OK) or os.geteuid() == 0  # read-only (root ignores modes)
    assert os.stat(a).st_mode & 0o222 == 0


def test_existing_empty_destination_is_filled_and_a_rerun_is_a_no_op(tmp_path):
    provider, ctx = FakeProvider(MODEL), context(tmp_path)
    dest = tmp_path / "mnt-models"
    dest.mkdir()
    run(provider, dest, ctx)
    assert sorted(p.name for p in dest.iterdir()) == sorted([MARKER, "config.json", "model.safetensors",
                                                             "tokenizer"])
    again = run(provider, dest, ctx)
    assert again.placed.method == "already"


def test_destination_with_other_files_is_refused_and_kept(tmp_path):
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "mine.txt").write_text("keep")
    with pytest.raises(DestinationNotEmpty, match="not empty"):
        run(FakeProvider(MODEL), dest, context(tmp_path))
    assert (dest / "mine.txt").read_text() == "keep"


def test_replicas_starting_together_download_once(tmp_path):
    provider, ctx = FakeProvider(MODEL, delay=0.3), context(tmp_path)
    results = []
    threads = [threading.Thread(target=lambda i=i: results.append(run(provider, tmp_path / f"r{i}", ctx)))
               for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(provider.downloads) == 1
    assert sorted(result.cache_hit for result in results) == [False, True, True]


@pytest.mark.parametrize("existing_dest", [False, True])
def test_failure_leaves_no_partial_model(tmp_path, existing_dest):
    dest = tmp_path / "dest"
    if existing_dest:
        dest.mkdir()
    provider = FakeProvider(MODEL, fail_after=2)
    with pytest.raises(IntegrityError):
        run(provider, dest, context(tmp_path))
    cache = tmp_path / "cache"
    assert list((cache / "entries").iterdir()) == []
    assert list((cache / "staging").iterdir()) == []
    assert (not dest.exists()) if not existing_dest else list(dest.iterdir()) == []


def test_interrupted_resumable_download_keeps_its_staging_for_the_next_try(tmp_path):
    provider = FakeProvider(MODEL, fail_after=2, interrupt=True, resumable=True)
    with pytest.raises(KeyboardInterrupt):
        run(provider, tmp_path / "dest", context(tmp_path))
    provider.fail_after = None
    run(provider, tmp_path / "dest", context(tmp_path))
    assert provider.seen_in_stage[1] == ["config.json", "model.safetensors"]  # what the first try wrote


def test_uncached_key_moves_the_download_and_caches_nothing(tmp_path):
    provider = FakeProvider(MODEL, key=None)
    result = run(provider, tmp_path / "dest", context(tmp_path))
    assert result.placed.method == "move"
    assert (tmp_path / "dest/model.safetensors").read_bytes() == MODEL["model.safetensors"]
    assert not (tmp_path / "cache").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_cache_disabled(tmp_path):
    result = run(FakeProvider(MODEL), tmp_path / "dest", context(tmp_path, cache=False))
    assert result.placed.method == "move" and not (tmp_path / "cache").exists()


def test_not_enough_free_space_fails_before_downloading(tmp_path):
    provider = FakeProvider(MODEL, total=1 << 60)
    with pytest.raises(DiskFull, match=r"needs 1073741824\.0 GiB"):
        run(provider, tmp_path / "dest", context(tmp_path))
    assert provider.downloads == []
    assert not (tmp_path / "dest").exists()


def test_eviction_is_lru_and_spares_models_in_use(tmp_path):
    ctx = context(tmp_path, cap=10_000)
    small = {"w": b"x" * 4000}
    a, b, c = (FakeProvider(small, key=k) for k in ("key-a", "key-b", "key-c"))
    run(a, tmp_path / "pa", ctx)
    run(b, tmp_path / "pb", ctx)
    # Both placed and in use: c does not fit under the cap but neither may go.
    run(c, tmp_path / "pc", ctx)
    cache = ModelCache(tmp_path / "cache", 10_000)
    assert {e.key for e in cache.entries()} == {"key-a", "key-b", "key-c"}
    # b's pod goes away; a is used again (more recent); a fourth model evicts the unused one only.
    import shutil
    shutil.rmtree(tmp_path / "pb")
    run(a, tmp_path / "pa2", ctx)
    run(FakeProvider(small, key="key-d"), tmp_path / "pd", ctx)
    assert {e.key for e in cache.entries()} == {"key-a", "key-c", "key-d"}
    assert (tmp_path / "pa/w").read_bytes() == small["w"]


def test_local_sources_are_used_in_place(tmp_path):
    model = tmp_path / "claim" / "models"
    model.mkdir(parents=True)
    (model / "config.json").write_text("{}")

    class Local:
        schemes = ("file",)

        def plan(self, uri, context):
            return Plan(source=uri, key=None, local_path=model)

    result = fetch("file:///x", tmp_path / "dest", context(tmp_path), providers=lambda _u: Local())
    assert result.placed.method == "symlink"
    assert (tmp_path / "dest").resolve() == model.resolve()
