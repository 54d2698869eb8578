"""Safe extraction: a table of hostile members, each refused before anything escapes the destination."""

from __future__ import annotations

import gzip
import io
import os
import stat
import tarfile
import zipfile
from pathlib import Path, PurePosixPath

import pytest
import zstandard

from kubeserve.storage.archives import extract_tar, extract_zip, member_path, symlink_inside
from kubeserve.storage.errors import UnsafeArchive

Member = tuple[tarfile.TarInfo, bytes | None]


def m(name: str, data: bytes | None = b"", *, kind: bytes = tarfile.REGTYPE, link: str = "",
      mode: int = 0o644) -> Member:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode = kind, link, mode
    return info, data if kind == tarfile.REGTYPE else None


def tar(members: list[Member]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as t:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            t.addfile(info, io.BytesIO(data) if data is not None else None)
    return out.getvalue()


def files(root: Path) -> dict[str, bytes | str]:
    out: dict[str, bytes | str] = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if p.is_symlink():
            out[rel] = "-> " + os.readlink(p)
        elif p.is_file():
            out[rel] = p.read_bytes()
    return out


@pytest.mark.parametrize(("name", "expected"), [
    ("models/x", "models/x"), ("./models/x", "models/x"), ("models//a/./b/", "models/a/b"), (".", None), ("./", None),
])
def test_member_path(name: str, expected: str | None) -> None:
    result = member_path(name, "t")
    assert (None if result is None else str(result)) == expected


@pytest.mark.parametrize(("link", "target", "inside"), [
    ("a/l", "b", True), ("a/l", "../b", True), ("a/l", "../../b", False), ("l", "..", False),
    ("a/b/l", "../../x/../y", True), ("l", "/etc/passwd", False), ("l", "", False), ("a/l", "./../..", False),
])
def test_symlink_inside(link: str, target: str, inside: bool) -> None:
    assert symlink_inside(PurePosixPath(link), target) is inside


EVIL: dict[str, tuple[list[Member], str]] = {
    "dotdot": ([m("../escaped", b"x")], "contains '..'"),
    "dotdot-inner": ([m("a/../../escaped", b"x")], "contains '..'"),
    "absolute": ([m("/etc/evil", b"x")], "absolute path"),
    "symlink-out": ([m("l", kind=tarfile.SYMTYPE, link="../outside")], "points outside"),
    "symlink-absolute": ([m("l", kind=tarfile.SYMTYPE, link="/etc")], "points outside"),
    "write-through-symlink": ([m("sub/", kind=tarfile.DIRTYPE), m("l", kind=tarfile.SYMTYPE, link="sub"),
                               m("l/x", b"x")], "written through a symlink"),
    "symlink-chain": ([m("d1/", kind=tarfile.DIRTYPE), m("d1/s", kind=tarfile.SYMTYPE, link=".."),
                       m("t", kind=tarfile.SYMTYPE, link="d1/s/..")], "resolves outside"),
    "hardlink-unknown": ([m("h", kind=tarfile.LNKTYPE, link="etc/shadow")], "names no file extracted"),
    "hardlink-dotdot": ([m("h", kind=tarfile.LNKTYPE, link="../x")], "contains '..'"),
    "chardev": ([m("dev", kind=tarfile.CHRTYPE)], "device"),
    "blockdev": ([m("dev", kind=tarfile.BLKTYPE)], "device"),
    "fifo": ([m("fifo", kind=tarfile.FIFOTYPE)], "FIFO"),
}


@pytest.mark.parametrize("case", sorted(EVIL))
def test_hostile_members_are_refused(case: str, tmp_path: Path) -> None:
    members, message = EVIL[case]
    dest = tmp_path / "a" / "dest"
    dest.mkdir(parents=True)
    with pytest.raises(UnsafeArchive, match=f"my-archive: .*{message}"):
        extract_tar(io.BytesIO(tar(members)), dest, source="my-archive")
    assert sorted(p.name for p in tmp_path.rglob("*") if not p.is_relative_to(dest)) == ["a"]


@pytest.mark.parametrize("compression", ["none", "gzip", "zstd"])
def test_extracts_files_links_and_modes(compression: str, tmp_path: Path) -> None:
    data = tar([m("./models/", kind=tarfile.DIRTYPE), m("models/w.bin", b"w" * 3_000_000, mode=0o4755),
                m("models/sub/c.json", b"{}"), m("models/link", kind=tarfile.SYMTYPE, link="sub/c.json"),
                m("models/hard", kind=tarfile.LNKTYPE, link="models/w.bin"), m("etc/passwd", b"root"),
                m("models/sub/c.json", b"{\"v\": 2}")])
    blob = {"none": data, "gzip": gzip.compress(data), "zstd": zstandard.ZstdCompressor().compress(data)}[compression]
    result = extract_tar(io.BytesIO(blob), tmp_path, subtree="models", source="t")
    assert files(tmp_path) == {"hard": b"w" * 3_000_000, "link": "-> sub/c.json", "sub/c.json": b'{"v": 2}',
                               "w.bin": b"w" * 3_000_000}
    assert result.present and result.files == 4
    assert stat.S_IMODE((tmp_path / "w.bin").stat().st_mode) == 0o755  # no setuid
    assert stat.S_IMODE((tmp_path / "sub" / "c.json").stat().st_mode) == 0o644
    assert (tmp_path / "hard").stat().st_ino == (tmp_path / "w.bin").stat().st_ino


def test_subtree_absent_and_whiteouts_collected(tmp_path: Path) -> None:
    absent = extract_tar(io.BytesIO(tar([m("usr/bin/x", b"x")])), tmp_path, subtree="models", source="t")
    assert not absent.present and files(tmp_path) == {}
    result = extract_tar(io.BytesIO(gzip.compress(tar([
        m("models/.wh.old", b""), m("models/d/.wh..wh..opq", b""), m("models/d/new", b"n"), m(".wh.etc", b"")]))),
        tmp_path, subtree="models", whiteouts=True, source="t")
    assert result.whiteouts == ("old",) and result.opaque == ("d",) and files(tmp_path) == {"d/new": b"n"}
    root = extract_tar(io.BytesIO(tar([m(".wh.models", b"")])), tmp_path, subtree="models", whiteouts=True, source="t")
    assert root.whiteouts == ("",) and not root.present


def test_models_that_is_not_a_directory(tmp_path: Path) -> None:
    with pytest.raises(UnsafeArchive, match="/models is not a directory"):
        extract_tar(io.BytesIO(tar([m("models", kind=tarfile.SYMTYPE, link="data")])), tmp_path, subtree="models")


def test_truncated_gzip_is_an_error(tmp_path: Path) -> None:
    blob = gzip.compress(tar([m("a", b"x" * 100_000)]))
    with pytest.raises((EOFError, tarfile.TarError)):
        extract_tar(io.BytesIO(blob[: len(blob) // 2]), tmp_path)


def test_zip(tmp_path: Path) -> None:
    good = tmp_path / "good.zip"
    with zipfile.ZipFile(good, "w") as z:
        z.writestr("model/config.json", "{}")
        z.writestr("model/sub/", "")
    dest = tmp_path / "out"
    dest.mkdir()
    assert extract_zip(good, dest) == 1 and files(dest) == {"model/config.json": b"{}"}
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as z:
        z.writestr("../../x", "x")
    with pytest.raises(UnsafeArchive, match=r"evil.zip: entry '../../x' contains '..'"):
        extract_zip(evil, dest)
