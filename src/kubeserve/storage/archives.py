"""Safe extraction of tar streams (OCI layers, http(s) archives) and zip files into a directory.

`tarfile`'s defaults trust the archive: absolute names, `..`, links pointing anywhere, device nodes. Every
member here is checked before anything is written (the rules of tarfile's "data" filter, made explicit),
nothing is ever written through a symlink, and a last pass checks that every symlink created resolves
inside the destination. Streams are read once, front to back, so a layer can be extracted while it is still
arriving from the network. OCI whiteouts (`.wh.<name>`, `.wh..wh..opq`) can be collected instead of written,
for the caller to apply when it merges layers in order.
"""

from __future__ import annotations

import os
import posixpath
import shutil
import stat
import tarfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal, Protocol

import zstandard

from kubeserve.storage.errors import UnsafeArchive

Compression = Literal["auto", "none", "gzip", "zstd"]


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...
CHUNK = 1 << 20
WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"


@dataclass(frozen=True)
class Extracted:
    present: bool
    """Something of the subtree (or of the archive, without one) was in it."""
    whiteouts: tuple[str, ...] = ()
    """Paths (relative to the subtree) this layer deletes from lower layers; "" is the subtree itself."""
    opaque: tuple[str, ...] = ()
    """Directories whose lower-layer content this layer hides; "" is the subtree itself."""
    files: int = 0
    bytes: int = 0


def member_path(name: str, source: str) -> PurePosixPath | None:
    """The archive name as a relative path (`./models/x` → `models/x`); None for the root itself."""
    if name.startswith("/") or name.startswith("\\") or (len(name) > 1 and name[1] == ":"):
        raise UnsafeArchive(f"{source}: entry {name!r} has an absolute path; refusing to extract it")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UnsafeArchive(f"{source}: entry {name!r} contains '..' and would escape the destination")
    return PurePosixPath(*parts) if parts else None


def symlink_inside(link: PurePosixPath, target: str) -> bool:
    """Whether a relative symlink at `link` (relative to the root) points inside the root, lexically."""
    if not target or target.startswith("/"):
        return False
    resolved = posixpath.normpath(posixpath.join(str(link.parent), target))
    return resolved != ".." and not resolved.startswith("../")


def in_subtree(path: PurePosixPath, subtree: str | None) -> PurePosixPath | None:
    """`path` relative to `subtree` (`PurePosixPath('.')` for the subtree itself); None if outside it."""
    if subtree is None:
        return path
    top = PurePosixPath(subtree)
    if path == top:
        return PurePosixPath(".")
    return path.relative_to(top) if top in path.parents else None


def extract_tar(fileobj: Readable, dest: Path, *, compression: Compression = "auto", subtree: str | None = None,
                whiteouts: bool = False, source: str = "archive") -> Extracted:
    """Extract a tar stream into `dest` (an existing directory); with `subtree`, only that directory's
    content, placed at the top of `dest`. Raises UnsafeArchive naming `source` and the member."""
    stream = decompressing_reader(fileobj, compression)
    writer = _Writer(dest, source)
    present = subtree is None
    gone: list[str] = []
    opaque: list[str] = []
    with tarfile.open(fileobj=stream, mode="r|", bufsize=CHUNK) as tar:  # type: ignore[call-overload]
        for member in tar:
            path = member_path(member.name, source)
            if path is None:
                continue
            base = path.name
            if whiteouts and base.startswith(WHITEOUT):
                victim = path.parent if base == OPAQUE else path.parent / base[len(WHITEOUT):]
                rel = in_subtree(victim, subtree)
                if rel is not None:
                    (opaque if base == OPAQUE else gone).append("" if str(rel) == "." else str(rel))
                elif subtree is not None and (victim == PurePosixPath(".") or victim in PurePosixPath(subtree).parents
                                              or (base != OPAQUE and victim == PurePosixPath(subtree))):
                    gone.append("")  # a whiteout of /models itself or of a directory above it
                continue
            rel = in_subtree(path, subtree)
            if rel is None:
                continue
            if str(rel) == ".":
                if not member.isdir():
                    raise UnsafeArchive(f"{source}: /{subtree} is not a directory in the image; a modelcar keeps "
                                        "the model files in a /models directory")
                present = True
                continue
            present = True
            writer.write(tar, member, rel, subtree)
    writer.check_symlinks()
    return Extracted(present=present, whiteouts=tuple(gone), opaque=tuple(opaque), files=writer.files,
                     bytes=writer.bytes)


def extract_zip(path: Path, dest: Path, *, source: str | None = None) -> int:
    """Extract a zip file into `dest` with the same rules; returns the number of files."""
    label = source or str(path)
    writer = _Writer(dest, label)
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            rel = member_path(info.filename, label)
            if rel is None:
                continue
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                raise UnsafeArchive(f"{label}: entry {info.filename!r} is a symlink; zip archives with links are "
                                    "not extracted")
            if info.is_dir():
                writer.directory(rel)
                continue
            with archive.open(info) as src:
                writer.regular(rel, src, mode & 0o111 != 0)
    writer.check_symlinks()
    return writer.files


def decompressing_reader(fileobj: Readable, compression: Compression) -> Readable:
    if compression == "auto":
        head = b""
        while len(head) < 4:
            more = fileobj.read(4 - len(head))
            if not more:
                break
            head += more
        fileobj = _Prefixed(head, fileobj)
        compression = "gzip" if head[:2] == b"\x1f\x8b" else "zstd" if head == b"\x28\xb5\x2f\xfd" else "none"
    if compression == "gzip":
        return _Gunzip(fileobj)
    if compression == "zstd":
        return zstandard.ZstdDecompressor().stream_reader(fileobj, read_size=CHUNK)  # type: ignore[arg-type]
    return fileobj


def remove(path: Path) -> None:
    """Delete whatever is at `path` without following a symlink there."""
    if path.is_symlink() or not path.is_dir():
        path.unlink(missing_ok=True)
    else:
        shutil.rmtree(path)


class _Writer:
    """Writes checked members under `root`, never through a symlink, files in 1 MiB chunks."""

    def __init__(self, root: Path, source: str) -> None:
        self.root = root
        self.real_root = os.path.realpath(root)
        self.source = source
        self.files = 0
        self.bytes = 0
        self.symlinks: list[Path] = []

    def write(self, tar: tarfile.TarFile, member: tarfile.TarInfo, rel: PurePosixPath, subtree: str | None) -> None:
        if member.isdir():
            self.directory(rel)
        elif member.isreg():
            src = tar.extractfile(member)
            assert src is not None
            self.regular(rel, src, member.mode & 0o111 != 0)
        elif member.issym():
            self.symlink(rel, member.name, member.linkname)
        elif member.islnk():
            self.hardlink(rel, member.name, member.linkname, subtree)
        else:
            kind = "a device" if member.ischr() or member.isblk() else "a FIFO" if member.isfifo() else "special"
            raise UnsafeArchive(f"{self.source}: entry {member.name!r} is {kind} file; refusing to extract it")

    def _target(self, rel: PurePosixPath) -> Path:
        here = self.root
        for part in rel.parts[:-1]:
            here = here / part
            try:
                mode = os.lstat(here).st_mode
            except FileNotFoundError:
                os.mkdir(here, 0o755)
                continue
            if not stat.S_ISDIR(mode):
                what = "a symlink" if stat.S_ISLNK(mode) else "a file"
                raise UnsafeArchive(f"{self.source}: entry {str(rel)!r} would be written through {what} at "
                                    f"{here.relative_to(self.root)}")
        return here / rel.parts[-1]

    def directory(self, rel: PurePosixPath) -> None:
        target = self._target(rel)
        if target.is_symlink() or (target.exists() and not target.is_dir()):
            target.unlink()
        target.mkdir(mode=0o755, exist_ok=True)

    def regular(self, rel: PurePosixPath, src: Readable, executable: bool) -> None:
        target = self._target(rel)
        if os.path.lexists(target):
            remove(target)
        mode = 0o755 if executable else 0o644
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
        with os.fdopen(fd, "wb") as out:
            while chunk := src.read(CHUNK):
                out.write(chunk)
                self.bytes += len(chunk)
        os.chmod(target, mode)  # the umask must not narrow it, and no setuid/setgid ever survives
        self.files += 1

    def symlink(self, rel: PurePosixPath, name: str, linkname: str) -> None:
        if not symlink_inside(rel, linkname):
            raise UnsafeArchive(f"{self.source}: symlink {name!r} -> {linkname!r} points outside the destination")
        target = self._target(rel)
        if not self._inside(os.path.join(target.parent, linkname)):
            raise UnsafeArchive(f"{self.source}: symlink {name!r} -> {linkname!r} resolves outside the destination")
        if os.path.lexists(target):
            remove(target)
        os.symlink(linkname, target)
        self.symlinks.append(target)

    def hardlink(self, rel: PurePosixPath, name: str, linkname: str, subtree: str | None) -> None:
        path = member_path(linkname, self.source)
        inner = None if path is None else in_subtree(path, subtree)
        if inner is None or str(inner) == ".":
            raise UnsafeArchive(f"{self.source}: hard link {name!r} -> {linkname!r} points outside the extracted tree")
        origin = self.root.joinpath(*inner.parts)
        try:
            mode = os.lstat(origin).st_mode
        except FileNotFoundError:
            mode = 0
        if not stat.S_ISREG(mode) or not self._inside(str(origin)):
            raise UnsafeArchive(f"{self.source}: hard link {name!r} -> {linkname!r} names no file extracted before it")
        target = self._target(rel)
        if os.path.lexists(target):
            remove(target)
        os.link(origin, target, follow_symlinks=False)
        self.files += 1

    def _inside(self, path: str) -> bool:
        real = os.path.realpath(path)
        return real == self.real_root or real.startswith(self.real_root + os.sep)

    def check_symlinks(self) -> None:
        """Links checked one at a time can still combine into an escape; check what they resolve to now."""
        for link in self.symlinks:
            if os.path.islink(link) and not self._inside(str(link)):
                raise UnsafeArchive(f"{self.source}: symlink {link.relative_to(self.root)} -> "
                                    f"{os.readlink(link)!r} resolves outside the destination")


class _Prefixed:
    """Gives back bytes already read (to sniff the compression) before the rest of the stream."""

    def __init__(self, head: bytes, rest: Readable) -> None:
        self.head = head
        self.rest = rest

    def read(self, size: int = -1) -> bytes:
        if self.head:
            if size < 0:
                data, self.head = self.head + self.rest.read(), b""
                return data
            data, self.head = self.head[:size], self.head[size:]
            return data
        return self.rest.read(size)


class _Gunzip:
    """Streaming gunzip with large reads (GzipFile reads 8 KiB at a time); multi-member streams too."""

    def __init__(self, raw: Readable) -> None:
        self.raw = raw
        self.inflater = zlib.decompressobj(wbits=31)
        self.buffer = b""
        self.eof = False

    def read(self, size: int = -1) -> bytes:
        while not self.eof and (size < 0 or len(self.buffer) < size):
            chunk = self.inflater.unconsumed_tail or self.raw.read(CHUNK)
            if not chunk:
                if not self.inflater.eof:
                    raise EOFError("compressed stream ended before the end-of-stream marker")
                self.eof = True
                break
            self.buffer += self.inflater.decompress(chunk, 4 * CHUNK)
            if self.inflater.eof and self.inflater.unused_data:
                rest = self.inflater.unused_data
                self.inflater = zlib.decompressobj(wbits=31)
                self.buffer += self.inflater.decompress(rest, 4 * CHUNK)
        if size < 0:
            data, self.buffer = self.buffer, b""
        else:
            data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data
