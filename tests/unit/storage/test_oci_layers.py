"""Layer merge with whiteouts, layer planning for builds, platform choice in an index."""

from __future__ import annotations

import hashlib
import io
import os
import threading
from pathlib import Path

import pytest

from kubeserve.storage.archives import Extracted
from kubeserve.storage.errors import IntegrityError, InvalidStorageUri
from kubeserve.storage.oci.build import plan_layers
from kubeserve.storage.oci.layers import LAYERS_DIR, Layer, extract_layer, merge_layers
from kubeserve.storage.oci.manifests import choose_platform


def write(root: Path, spec: dict[str, str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for rel, content in spec.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if content.startswith("-> "):
            path.symlink_to(content[3:])
        else:
            path.write_text(content)
    return root


def snapshot(root: Path) -> dict[str, str]:
    out = {}
    for dirpath, dirs, names in os.walk(root):
        for name in names + [d for d in dirs if (Path(dirpath) / d).is_symlink()]:
            p = Path(dirpath) / name
            out[p.relative_to(root).as_posix()] = "-> " + os.readlink(p) if p.is_symlink() else p.read_text()
    return out


CASES = [
    ("upper replaces lower", [({"a": "1", "d/x": "1"}, (), ()), ({"a": "2"}, (), ())], {"a": "2", "d/x": "1"}, True),
    ("whiteout deletes", [({"a": "1", "b": "1"}, (), ()), ({}, ("a",), ())], {"b": "1"}, True),
    ("opaque dir hides lower", [({"d/x": "1", "d/e/y": "1", "k": "1"}, (), ()), ({"d/z": "2"}, (), ("d",))],
     {"d/z": "2", "k": "1"}, True),
    ("whiteout then re-add", [({"d/x": "1"}, (), ()), ({"d/y": "2"}, ("d",), ())], {"d/y": "2"}, True),
    ("file replaces dir", [({"d/x": "1"}, (), ()), ({"d": "file"}, (), ())], {"d": "file"}, True),
    ("dir replaces symlink", [({"d": "-> e", "e/x": "1"}, (), ()), ({"d/y": "2"}, (), ())],
     {"d/y": "2", "e/x": "1"}, True),
    ("whiteout of /models", [({"a": "1"}, (), ()), ({}, ("",), ())], {}, False),
    ("whiteout never follows symlinks", [({"l": "-> e", "e/x": "1"}, (), ()), ({}, ("l/x",), ())],
     {"l": "-> e", "e/x": "1"}, True),
]


@pytest.mark.parametrize(("name", "layers", "expected", "present"), CASES, ids=[c[0] for c in CASES])
def test_merge(name: str, layers: list[tuple[dict[str, str], tuple[str, ...], tuple[str, ...]]],
               expected: dict[str, str], present: bool, tmp_path: Path) -> None:
    stage = tmp_path / "stage"
    stage.mkdir()
    dirs = []
    for i, (spec, gone, opaque) in enumerate(layers):
        extracted = Extracted(present=bool(spec), whiteouts=gone, opaque=opaque)
        dirs.append((write(stage / LAYERS_DIR / str(i), spec), extracted))
    assert merge_layers(stage, dirs) is present
    (stage / LAYERS_DIR).rename(tmp_path / "work")
    assert snapshot(stage) == expected


class Sink:
    def set_total(self, total: int | None) -> None:
        pass

    def advance(self, done: int) -> None:
        pass


def test_extract_layer_verifies_digest_and_size(tmp_path: Path) -> None:
    import gzip
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        info = tarfile.TarInfo("models/a")
        info.size = 1
        t.addfile(info, io.BytesIO(b"a"))
    blob = gzip.compress(buf.getvalue())
    good = Layer("sha256:" + hashlib.sha256(blob).hexdigest(), len(blob), "application/vnd.oci.image.layer.v1.tar+gzip")
    (tmp_path / "ok").mkdir()
    assert extract_layer(io.BytesIO(blob), good, tmp_path / "ok", source="r/x", progress=Sink(),
                         cancel=threading.Event()).present
    bad = Layer("sha256:" + "0" * 64, len(blob), good.media_type)
    (tmp_path / "bad").mkdir()
    with pytest.raises(IntegrityError, match=r"layer sha256:0+ of r/x does not match its digest"):
        extract_layer(io.BytesIO(blob), bad, tmp_path / "bad", source="r/x", progress=Sink(), cancel=threading.Event())
    (tmp_path / "garbage").mkdir()
    with pytest.raises(IntegrityError):
        extract_layer(io.BytesIO(b"\x1f\x8bnot gzip at all"), good, tmp_path / "garbage", source="r/x",
                      progress=Sink(), cancel=threading.Event())


@pytest.mark.parametrize(("files", "layers"), [
    ([("b", 1), ("a", 2)], [["a", "b"]]),
    ([("w2", 100), ("c", 1), ("w1", 100)], [["c"], ["w1"], ["w2"]]),
    ([("w", 100)], [["w"]]),
])
def test_plan_layers(files: list[tuple[str, int]], layers: list[list[str]]) -> None:
    assert plan_layers(files, big=100) == layers


def _entry(os_name: str, arch: str, variant: str | None = None) -> dict[str, object]:
    platform = {"os": os_name, "architecture": arch} | ({"variant": variant} if variant else {})
    return {"digest": f"sha256:{os_name}-{arch}-{variant}", "platform": platform}


@pytest.mark.parametrize(("entries", "chosen"), [
    ([_entry("linux", "arm64"), _entry("linux", "amd64")], "sha256:linux-amd64-None"),
    ([_entry("linux", "amd64", "v3"), _entry("linux", "amd64")], "sha256:linux-amd64-None"),
    ([_entry("linux", "arm64")], "sha256:linux-arm64-None"),
])
def test_choose_platform(entries: list[dict[str, object]], chosen: str) -> None:
    assert choose_platform(entries, "img")["digest"] == chosen


def test_choose_platform_without_amd64() -> None:
    with pytest.raises(InvalidStorageUri, match=r"without a linux/amd64 image .*linux/arm64, windows/amd64"):
        choose_platform([_entry("linux", "arm64"), _entry("windows", "amd64")], "img")
