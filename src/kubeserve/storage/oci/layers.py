"""Image layers: which media types are tar layers and how they are compressed, one layer streamed from the
registry into its own directory while its digest is checked, and the in-order merge of those directories
with whiteouts applied.

Layers are extracted in parallel (each into `stage/.kubeserve-oci-layers/N`, only the image's `/models`
tree) and merged afterwards with renames, which cost nothing next to the bytes; the merge is where the
order matters: a layer's whiteouts delete from the layers below it, then its entries replace theirs.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import tarfile
import threading
import zlib
from dataclasses import dataclass
from pathlib import Path

import zstandard

from kubeserve.storage.archives import Compression, Extracted, Readable, extract_tar, remove
from kubeserve.storage.errors import IntegrityError, StorageError, UnsafeArchive
from kubeserve.storage.types import Progress

LAYER_TYPES: dict[str, Compression] = {
    "application/vnd.oci.image.layer.v1.tar": "none",
    "application/vnd.oci.image.layer.v1.tar+gzip": "gzip",
    "application/vnd.oci.image.layer.v1.tar+zstd": "zstd",
    "application/vnd.oci.image.layer.nondistributable.v1.tar": "none",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip": "gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd": "zstd",
    "application/vnd.docker.image.rootfs.diff.tar": "none",
    "application/vnd.docker.image.rootfs.diff.tar.gzip": "gzip",
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip": "gzip",
    "application/vnd.docker.image.rootfs.diff.tar.zstd": "zstd",
}
SUBTREE = "models"


@dataclass(frozen=True)
class Layer:
    digest: str
    size: int
    media_type: str

    @property
    def compression(self) -> Compression:
        return LAYER_TYPES.get(self.media_type, "auto")


class Cancelled(StorageError):
    """Another layer failed; this one stopped early (never reported: the first failure is)."""


class HashingReader:
    """Counts and hashes the raw (compressed) bytes as the decompressor pulls them, advancing progress."""

    def __init__(self, raw: Readable, progress: Progress, cancel: threading.Event) -> None:
        self.raw = raw
        self.progress = progress
        self.cancel = cancel
        self.sha = hashlib.sha256()
        self.count = 0

    def read(self, size: int = -1) -> bytes:
        if self.cancel.is_set():
            raise Cancelled("cancelled")
        data = self.raw.read(size)
        if data:
            self.sha.update(data)
            self.count += len(data)
            self.progress.advance(len(data))
        return data

    def drain(self) -> None:
        while self.read(1 << 20):
            pass


def extract_layer(raw: Readable, layer: Layer, dest: Path, *, source: str, progress: Progress,
                  cancel: threading.Event) -> Extracted:
    """Extract one layer blob's `/models` tree into `dest`, then check its size and digest (a tampered blob
    that does not even decompress is reported as the digest mismatch it is)."""
    reader = HashingReader(raw, progress, cancel)
    label = f"layer {layer.digest} of {source}"
    try:
        result = extract_tar(reader, dest, compression=layer.compression, subtree=SUBTREE, whiteouts=True,
                             source=label)
        reader.drain()
    except (tarfile.TarError, zlib.error, zstandard.ZstdError, EOFError, OSError) as err:
        if isinstance(err, OSError) and err.errno is not None:
            raise
        with contextlib.suppress(Exception):  # only to learn the digest; the stream may be broken
            reader.drain()
        _verify(reader, layer, source)
        raise UnsafeArchive(f"{label} is not a readable {layer.media_type} ({err}); the image is corrupt") from None
    _verify(reader, layer, source)
    return result


def _verify(reader: HashingReader, layer: Layer, source: str) -> None:
    actual = "sha256:" + reader.sha.hexdigest()
    if actual != layer.digest or reader.count != layer.size:
        raise IntegrityError(f"layer {layer.digest} of {source} does not match its digest: the registry sent "
                             f"{reader.count} bytes hashing to {actual} (expected {layer.size} bytes); the blob is "
                             "corrupt or was tampered with on the registry")


def _real_dir(path: Path) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except FileNotFoundError:
        return False


def _clear(directory: Path) -> None:
    for entry in os.scandir(directory):
        if entry.name != LAYERS_DIR or directory.name == LAYERS_DIR:
            remove(Path(entry.path))


LAYERS_DIR = ".kubeserve-oci-layers"


def _under_real_dirs(root: Path, rel: str) -> Path | None:
    """`root/rel` if every directory on the way is a real directory (never delete through a symlink)."""
    here = root
    parts = rel.split("/")
    for part in parts[:-1]:
        here = here / part
        if not _real_dir(here):
            return None
    return here / parts[-1]


def apply_whiteouts(stage: Path, extracted: Extracted) -> None:
    for rel in extracted.opaque:
        target = stage if rel == "" else _under_real_dirs(stage, rel)
        if target is not None and _real_dir(target):
            _clear(target)
    for rel in extracted.whiteouts:
        if rel == "":
            _clear(stage)
            continue
        target = _under_real_dirs(stage, rel)
        if target is not None and os.path.lexists(target):
            remove(target)


def merge_tree(source: Path, target: Path) -> None:
    """Move everything in `source` over `target`: directories merge, anything else replaces."""
    for entry in os.scandir(source):
        src = Path(entry.path)
        dst = target / entry.name
        if entry.is_dir(follow_symlinks=False) and _real_dir(dst):
            merge_tree(src, dst)
            os.rmdir(src)
            continue
        if os.path.lexists(dst):
            remove(dst)
        os.rename(src, dst)


def merge_layers(stage: Path, layers: list[tuple[Path, Extracted]]) -> bool:
    """Apply the extracted layers over `stage` bottom to top; returns whether /models exists in the result."""
    present = False
    for directory, extracted in layers:
        present = extracted.present or (present and "" not in extracted.whiteouts and "" not in extracted.opaque)
        apply_whiteouts(stage, extracted)
        merge_tree(directory, stage)
    return present
