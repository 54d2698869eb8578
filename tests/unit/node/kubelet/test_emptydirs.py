"""emptyDir sizeLimit decisions (tables) and the scandir measurement on real directories."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from kubeserve.node.kubelet.emptydirs import (
    SizeLimit,
    directory_usage,
    eviction_message,
    measure,
    over_limit,
    size_limits,
)

MI = 1024 * 1024


def pod(*volumes: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"name": "p", "namespace": "default"}, "spec": {"containers": [], "volumes": list(volumes)}}


@pytest.mark.parametrize(("volumes", "want"), [
    ([], []),
    ([{"name": "cache", "emptyDir": {}}], []),
    ([{"name": "cache", "emptyDir": None}], []),
    ([{"name": "cache", "emptyDir": {"sizeLimit": "10Mi"}}], [SizeLimit("cache", 10 * MI, "10Mi")]),
    ([{"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": "1Gi"}}], [SizeLimit("shm", 1024 * MI, "1Gi")]),
    ([{"name": "a", "emptyDir": {"sizeLimit": "1k"}}, {"name": "b", "emptyDir": {"sizeLimit": "2M"}}],
     [SizeLimit("a", 1000, "1k"), SizeLimit("b", 2_000_000, "2M")]),
    ([{"name": "zero", "emptyDir": {"sizeLimit": "0"}}], []),  # no positive limit: nothing to enforce
    ([{"name": "bad", "emptyDir": {"sizeLimit": "lots"}}], []),
    ([{"name": "data", "persistentVolumeClaim": {"claimName": "c"}}], []),
])
def test_size_limits(volumes: list[dict[str, Any]], want: list[SizeLimit]) -> None:
    assert size_limits(pod(*volumes)) == want


LIMITS = [SizeLimit("cache", 100, "100"), SizeLimit("tmp", 50, "50")]


@pytest.mark.parametrize(("usage", "want"), [
    ({}, None),
    ({"cache": 100, "tmp": 50}, None),  # at the limit is still within it
    ({"cache": 101}, "cache"),
    ({"tmp": 51}, "tmp"),
    ({"cache": 500, "tmp": 500}, "cache"),  # the first over its limit, in spec order
    ({"other": 10_000}, None),
])
def test_over_limit(usage: dict[str, int], want: str | None) -> None:
    found = over_limit(LIMITS, usage)
    assert (found.volume if found else None) == want


def test_eviction_message_is_kubernetes_wording() -> None:
    assert eviction_message(SizeLimit("cache", 10 * MI, "10Mi")) == \
        'Usage of EmptyDir volume "cache" exceeds the limit "10Mi".'


def test_directory_usage_counts_blocks_once_and_does_not_follow_links(tmp_path: Path) -> None:
    root = tmp_path / "vol"
    (root / "a" / "b").mkdir(parents=True)
    empty = directory_usage(root)
    (root / "a" / "b" / "big").write_bytes(os.urandom(MI))
    (root / "small").write_bytes(b"x")
    with_files = directory_usage(root)
    assert with_files - empty >= MI
    os.link(root / "a" / "b" / "big", root / "hard")  # a hard link is the same blocks
    outside = tmp_path / "outside"
    outside.write_bytes(os.urandom(2 * MI))
    (root / "link").symlink_to(outside)  # a symlink is not followed
    (root / "dirlink").symlink_to(tmp_path)
    assert directory_usage(root) - with_files < 64 * 1024
    assert directory_usage(tmp_path / "missing") == 0


def test_measure_only_limited_volumes(tmp_path: Path) -> None:
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "f").write_bytes(os.urandom(MI))
    usage = measure({"cache": tmp_path / "cache", "other": tmp_path}, [SizeLimit("cache", MI, "1Mi")])
    assert list(usage) == ["cache"]
    assert usage["cache"] >= MI
