"""Placing a model at its destination (the pod's /mnt/models) without copying its bytes.

A cached model is hard-linked file by file into a temporary directory beside (or inside, when the
destination is an existing mount point) the destination and moved into place by renames, so the destination
holds either the whole model or nothing. Where hard links are impossible (another filesystem) the files are
copied, and the result says so. Sources already on this machine (pvc://, local paths) are symlinked: used in
place, read-only by convention, never copied.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from kubeserve.storage.cache import MARKER
from kubeserve.storage.errors import DiskFull, StorageError
from kubeserve.storage.mounts import same_mount_alias


class DestinationNotEmpty(StorageError):
    reason = "DestinationNotEmpty"


@dataclass(frozen=True)
class Placed:
    method: str
    """hardlink, copy, symlink, or already (the destination held this model)."""
    files: int


def already_placed(dest: Path, key: str | None) -> bool:
    if key is None:
        return False
    try:
        return (dest / MARKER).read_text().strip() == key
    except OSError:
        return False


def check_destination(dest: Path) -> None:
    if dest.is_dir() and any(True for child in dest.iterdir()
                             if child.name != "lost+found" and not child.name.startswith(".kubeserve-")):
        raise DestinationNotEmpty(f"destination {dest} is not empty: empty it or choose another directory "
                                  "(a placed model is kept; re-running with the same model is a no-op)")
    if dest.exists() and not dest.is_dir():
        raise DestinationNotEmpty(f"destination {dest} exists and is not a directory")


def link_tree(model: Path, dest: Path, key: str | None) -> Placed:
    """Hard-link (or copy, across filesystems) the tree `model` into `dest`, all or nothing."""
    if already_placed(dest, key):
        return Placed("already", 0)
    check_destination(dest)
    with _staged_destination(dest) as tmp:
        method, files = _link_files(model, tmp)
        if key is not None:
            (tmp / MARKER).write_text(key + "\n")
    return Placed(method, files)


def move_tree(stage: Path, dest: Path) -> Placed:
    """Move a downloaded (uncached) tree into `dest`, all or nothing."""
    check_destination(dest)
    files = sum(len(names) for _d, _s, names in os.walk(stage))
    with _staged_destination(dest) as tmp:
        for child in stage.iterdir():
            _move(child, tmp / child.name)
    return Placed("move", files)


def symlink_into(source: Path, dest: Path) -> Placed:
    """Use a local model in place: `dest` becomes a symlink to it (or, when `dest` is an existing empty
    directory such as a mount point, holds a symlink per top-level entry)."""
    check_destination(dest)
    if not dest.exists():
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.symlink_to(source.resolve())
        return Placed("symlink", 1)
    children = [source] if source.is_file() else sorted(source.iterdir())
    for child in children:
        (dest / child.name).symlink_to(child.resolve())
    return Placed("symlink", len(children))


@contextlib.contextmanager
def _staged_destination(dest: Path) -> Iterator[Path]:
    """Yield `tmp`: build the tree there; on success it becomes `dest` (or `dest`'s content)."""
    created_dest = not dest.exists()
    if created_dest:
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.parent / f".{dest.name}.kubeserve-{uuid.uuid4().hex[:8]}"
    else:
        tmp = dest / f".kubeserve-{uuid.uuid4().hex[:8]}"
    moved: list[Path] = []
    try:
        tmp.mkdir()
        yield tmp
        if created_dest:
            tmp.rename(dest)
        else:
            # dest may be a mount point (an emptyDir at /mnt/models): move entries in, marker last.
            children = sorted(tmp.iterdir(), key=lambda child: child.name == MARKER)
            for child in children:
                target = dest / child.name
                child.rename(target)
                moved.append(target)
            tmp.rmdir()
    except BaseException:
        for target in moved:
            _remove(target)
        _remove(tmp)
        raise


def _link_files(model: Path, tmp: Path) -> tuple[str, int]:
    root, method = _link_root(model, tmp)
    files = 0
    for dirpath, dirnames, filenames in os.walk(model):
        rel = os.path.relpath(dirpath, model)
        out_dir = root if rel == "." else root / rel
        for name in dirnames + filenames:
            src = Path(dirpath, name)
            out = out_dir / name
            try:
                if src.is_symlink():
                    out.symlink_to(os.readlink(src))
                elif src.is_dir():
                    out.mkdir()
                elif method == "hardlink":
                    os.link(src, out)
                    files += 1
                else:
                    shutil.copy2(src, out)
                    files += 1
            except OSError as err:
                if err.errno == errno.ENOSPC:
                    raise DiskFull(f"no space left on the device of {tmp} while placing the model: free "
                                   "space there") from None
                raise
    return method, files


def _link_root(model: Path, tmp: Path) -> tuple[Path, str]:
    """Where to build the tree so hard links work: `tmp` itself, or `tmp` reached through the model's mount
    (see mounts.py); copying only where neither works (another filesystem)."""
    sample = next((Path(d, f) for d, _s, fs in os.walk(model) for f in fs if not Path(d, f).is_symlink()), None)
    if sample is None:
        return tmp, "hardlink"
    candidates = [tmp]
    alias = same_mount_alias(str(tmp), str(model))
    if alias is not None and Path(alias) != tmp:
        candidates.append(Path(alias))
    for root in candidates:
        probe = root / ".kubeserve-link-probe"
        try:
            os.link(sample, probe)
        except OSError as err:
            if err.errno in (errno.EXDEV, errno.EPERM, errno.EMLINK):
                continue
            raise
        probe.unlink()
        return root, "hardlink"
    return tmp, "copy"


def _move(src: Path, dst: Path) -> None:
    try:
        src.rename(dst)
    except OSError as err:
        if err.errno != errno.EXDEV:
            raise
        shutil.move(str(src), str(dst))


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink(missing_ok=True)
    elif path.exists():
        shutil.rmtree(path, ignore_errors=True)
