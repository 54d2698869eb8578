"""`kubeserve modelcar build`: package a model directory as a modelcar image without podman.

The image holds the files under `/models/` (KServe's modelcar layout). Each file of 64 MiB or more gets
its own layer so pulls parallelize; the rest share one. Tars are deterministic (sorted, mtime 0, uid/gid
0, modes 0644/0755), so building the same directory twice gives the same digests and a re-push uploads
nothing. The result is an OCI image layout directory (what `skopeo copy oci:DIR:TAG …` reads) and, with
`push`, the same image in a registry.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tarfile
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import zstandard

from kubeserve.storage.errors import ModelNotFound, StorageError
from kubeserve.storage.oci.manifests import OCI_MANIFEST
from kubeserve.storage.oci.push import Blob, push_image
from kubeserve.storage.oci.reference import Reference, parse_reference
from kubeserve.storage.types import Context, Progress

BIG_FILE = 64 << 20
CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"
LAYER_TYPE = {"gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
              "zstd": "application/vnd.oci.image.layer.v1.tar+zstd",
              "none": "application/vnd.oci.image.layer.v1.tar"}
REF_NAME = "org.opencontainers.image.ref.name"


@dataclass(frozen=True)
class BuiltModelcar:
    reference: str
    """`registry/repo:tag` as given (pushed there when `push`)."""
    digest: str
    """The image manifest's digest: pull `oci://registry/repo@<digest>` to pin it."""
    size: int
    """Bytes of the layers (compressed), what a pull downloads."""
    layout: Path | None
    pushed: bool


def plan_layers(files: list[tuple[str, int]], big: int | None = None) -> list[list[str]]:
    """Small files together in the first layer, then each big file alone (sorted, so deterministic)."""
    big = BIG_FILE if big is None else big
    small = sorted(path for path, size in files if size < big)
    large = sorted(path for path, size in files if size >= big)
    return ([small] if small or not large else []) + [[path] for path in large]


def scan_model(model_dir: Path) -> list[tuple[str, int]]:
    if not model_dir.is_dir():
        raise ModelNotFound(f"model directory {model_dir} does not exist or is not a directory")
    files = []
    for root, _dirs, names in os.walk(model_dir, followlinks=True):
        for name in names:
            path = Path(root) / name
            if path.is_file():  # symlinks are followed: a Hugging Face snapshot links into its blobs
                files.append((path.relative_to(model_dir).as_posix(), path.stat().st_size))
    if not files:
        raise ModelNotFound(f"model directory {model_dir} holds no files; nothing to package")
    return files


class _HashingWriter:
    def __init__(self, out: IO[bytes]) -> None:
        self.out = out
        self.sha = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.sha.update(data)
        self.size += len(data)
        self.out.write(data)
        return len(data)

    def flush(self) -> None:
        self.out.flush()


class _Compressor:
    """A writable stream compressing into `out` (gzip with mtime 0 for determinism, or zstd, or none)."""

    def __init__(self, out: _HashingWriter, compression: str) -> None:
        self.out = out
        self.gzip = zlib.compressobj(1, zlib.DEFLATED, 31) if compression == "gzip" else None
        self.zstd = zstandard.ZstdCompressor(level=3).compressobj() if compression == "zstd" else None

    def write(self, data: bytes) -> int:
        chunk = self.gzip.compress(data) if self.gzip else self.zstd.compress(data) if self.zstd else data
        if chunk:
            self.out.write(chunk)
        return len(data)

    def close(self) -> None:
        tail = self.gzip.flush() if self.gzip else self.zstd.flush() if self.zstd else b""
        if tail:
            self.out.write(tail)


def _tar_info(name: str, *, size: int = 0, directory: bool = False, executable: bool = False) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE if directory else tarfile.REGTYPE
    info.mode = 0o755 if directory or executable else 0o644
    info.size = size
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def write_layer(model_dir: Path, paths: list[str], blobs: Path, compression: str,
                progress: Progress | None) -> tuple[Blob, str]:
    """One layer into `blobs/<hex>`; returns the blob and its diff_id (sha256 of the uncompressed tar)."""
    fd, tmp_name = tempfile.mkstemp(dir=blobs, prefix=".layer-")
    with os.fdopen(fd, "wb") as raw:
        packed = _HashingWriter(raw)
        compressor = _Compressor(packed, compression)
        plain = _HashingWriter(compressor)  # type: ignore[arg-type]
        dirs = sorted({"models"} | {"models/" + "/".join(p.split("/")[:i]) for p in paths
                                    for i in range(1, p.count("/") + 1)})
        with tarfile.open(fileobj=plain, mode="w|", format=tarfile.PAX_FORMAT) as tar:  # type: ignore[call-overload]
            for directory in dirs:
                tar.addfile(_tar_info(directory + "/", directory=True))
            for path in paths:
                source = model_dir / path
                size = source.stat().st_size
                info = _tar_info("models/" + path, size=size, executable=os.access(source, os.X_OK))
                with source.open("rb") as f:
                    tar.addfile(info, f)
                if progress is not None:
                    progress.advance(size)
        compressor.close()
    digest = "sha256:" + packed.sha.hexdigest()
    os.replace(tmp_name, blobs / packed.sha.hexdigest())
    return Blob(digest, packed.size, LAYER_TYPE[compression]), "sha256:" + plain.sha.hexdigest()


def _write_json(blobs: Path, doc: object, media_type: str) -> tuple[Blob, bytes]:
    body = json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()
    hex_digest = hashlib.sha256(body).hexdigest()
    (blobs / hex_digest).write_bytes(body)
    return Blob("sha256:" + hex_digest, len(body), media_type), body


def write_layout(model_dir: Path, ref: Reference, layout: Path, compression: str,
                 progress: Progress | None) -> tuple[Blob, list[Blob], Blob]:
    """Write the image into an OCI image layout; returns (manifest, layers, config)."""
    if compression not in LAYER_TYPE:
        raise StorageError(f"compression {compression!r}: use one of {', '.join(LAYER_TYPE)}")
    files = scan_model(model_dir)
    if progress is not None:
        progress.set_total(sum(size for _, size in files))
    blobs = layout / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)
    (layout / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    layers, diff_ids = [], []
    for paths in plan_layers(files):
        blob, diff_id = write_layer(model_dir, paths, blobs, compression, progress)
        layers.append(blob)
        diff_ids.append(diff_id)
    config, _ = _write_json(blobs, {"architecture": "amd64", "os": "linux", "config": {},
                                    "rootfs": {"type": "layers", "diff_ids": diff_ids}}, CONFIG_TYPE)
    manifest, _ = _write_json(blobs, {
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": config.media_type, "digest": config.digest, "size": config.size},
        "layers": [{"mediaType": b.media_type, "digest": b.digest, "size": b.size} for b in layers],
    }, OCI_MANIFEST)
    _update_index(layout, manifest, ref.tag or "latest")
    return manifest, layers, config


def _update_index(layout: Path, manifest: Blob, tag: str) -> None:
    index_path = layout / "index.json"
    entries = []
    if index_path.is_file():
        old = json.loads(index_path.read_text())
        entries = [m for m in old.get("manifests", []) if (m.get("annotations") or {}).get(REF_NAME) != tag]
    entries.append({"mediaType": manifest.media_type, "digest": manifest.digest, "size": manifest.size,
                    "annotations": {REF_NAME: tag}})
    index_path.write_text(json.dumps({"schemaVersion": 2, "manifests": entries}, indent=2))


def build_modelcar(model_dir: Path, image: str, *, push: bool, layout: Path | None, context: Context,
                   progress: Progress | None = None, compression: str = "gzip") -> BuiltModelcar:
    """Package `model_dir` as the modelcar `image`; write it to `layout` and/or push it to its registry."""
    ref = parse_reference(image)
    if ref.digest:
        raise StorageError(f"{image}: give a tag to build, not a digest (the digest is the result)")
    if layout is None and not push:
        raise StorageError("build_modelcar: nothing to do; give a layout directory, push, or both")
    scratch = Path(tempfile.mkdtemp(prefix="kubeserve-modelcar-")) if layout is None else None
    target = layout or scratch
    assert target is not None
    try:
        manifest, layers, config = write_layout(model_dir, ref, target, compression, progress)
        if push:
            push_image(ref, target, manifest, [config, *layers], context)
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    return BuiltModelcar(reference=str(ref), digest=manifest.digest, size=sum(b.size for b in layers),
                         layout=layout, pushed=push)

