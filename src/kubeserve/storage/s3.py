"""s3:// models: a listing becomes a plan, parallel ranged GETs (ranged.py) write the tree.

`s3://bucket/key` names one object (it lands as its base name) or, when no object has exactly that key, the
tree under `key/` (relative paths kept, as KServe's S3 download does; zero-byte "directory marker" keys
ending in `/` are skipped). A trailing slash always means a tree. The plan's key hashes the endpoint, the
bucket and each object's key, landing path, size and ETag, so an overwritten object is a different model to
the cache. Credentials and endpoint come from `Context.env` in KServe's conventions (s3config.py).
"""

from __future__ import annotations

import hashlib
import posixpath
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from kubeserve.storage.errors import InvalidStorageUri, ModelNotFound, StorageError, UnsafeArchive
from kubeserve.storage.ranged import JOURNAL_NAME, S3Object, download_objects
from kubeserve.storage.s3client import Where, make_client, translate
from kubeserve.storage.s3config import S3Config, s3_config
from kubeserve.storage.types import Context, Plan, Progress

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """`s3://bucket/some/prefix` → ("bucket", "some/prefix"); a trailing slash is kept (it means a tree)."""
    if not uri.lower().startswith("s3://"):
        raise InvalidStorageUri(f"{uri} is not an s3:// URI")
    rest = uri[len("s3://"):]
    bucket, _, key = rest.partition("/")
    if not bucket:
        raise InvalidStorageUri(f"{uri} names no bucket: expected s3://<bucket>/<path>")
    segments = [part for part in key.split("/") if part]
    if ".." in segments:
        raise InvalidStorageUri(f"{uri}: the path may not contain '..'")
    cleaned = "/".join(segments)
    return bucket, cleaned + "/" if key.endswith("/") and cleaned else cleaned


def select_objects(prefix: str, listing: Iterable[tuple[str, int, str]]) -> list[S3Object]:
    """The objects a URI's path names, given the listing of keys starting with it: (key, size, ETag).

    Raises UnsafeArchive for keys that cannot be a file tree (`..`, a key that is both file and folder)."""
    entries = list(listing)
    if prefix and not prefix.endswith("/"):
        exact = [entry for entry in entries if entry[0] == prefix]
        if exact:
            key, size, etag = exact[0]
            return [S3Object(key, posixpath.basename(key), size, etag)]
    folder = prefix if not prefix or prefix.endswith("/") else prefix + "/"
    objects: list[S3Object] = []
    for key, size, etag in entries:
        if not key.startswith(folder) or key.endswith("/"):
            continue
        rel = key[len(folder):]
        parts = rel.split("/")
        if any(part in ("", ".", "..") for part in parts) or rel == JOURNAL_NAME:
            raise UnsafeArchive(f"object key {key!r} cannot be placed under the model directory (empty, '.' or "
                                "'..' path segments); rename it in the bucket")
        objects.append(S3Object(key, rel, size, etag))
    objects.sort(key=lambda obj: obj.rel)
    _check_tree(objects)
    return objects


def _check_tree(objects: Sequence[S3Object]) -> None:
    files = {obj.rel for obj in objects}
    for obj in objects:
        parent = posixpath.dirname(obj.rel)
        while parent:
            if parent in files:
                raise UnsafeArchive(f"object key {obj.key!r} needs {parent!r} to be a folder, but an object of "
                                    "that name exists too; a model tree cannot hold both")
            parent = posixpath.dirname(parent)


def content_key(endpoint: str, bucket: str, objects: Sequence[S3Object]) -> str:
    digest = hashlib.sha256(f"{endpoint}\n{bucket}\n".encode())
    for obj in objects:
        digest.update(f"{obj.key}\0{obj.rel}\0{obj.size}\0{obj.etag}\n".encode())
    return "s3-" + digest.hexdigest()


class S3Provider:
    schemes = ("s3",)

    def plan(self, uri: str, context: Context) -> Plan:
        bucket, prefix = parse_s3_uri(uri)
        config = s3_config(context.env)
        where = _where(config, bucket, uri)
        client = make_client(config, context.settings)
        try:
            objects = select_objects(prefix, list_objects(client, bucket, prefix))
        except StorageError:
            raise
        except Exception as err:
            raise translate(err, where) from None
        if not objects:
            raise ModelNotFound(f"no objects under s3://{bucket}/{prefix} at {where.endpoint}: check the path "
                                "(storage.path or the storageUri) and that the model was uploaded there")
        settings = context.settings

        def download(stage: Path, progress: Progress) -> None:
            try:
                download_objects(client, bucket, objects, stage, progress, settings)
            except StorageError:
                raise
            except Exception as err:
                raise translate(err, where) from None

        source = f"s3://{bucket}/{prefix}"
        return Plan(source=source, key=content_key(where.endpoint, bucket, objects),
                    total_bytes=sum(obj.size for obj in objects), download=download, resumable=True)


def list_objects(client: S3Client, bucket: str, prefix: str) -> list[tuple[str, int, str]]:
    listing: list[tuple[str, int, str]] = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            listing.append((item["Key"], item["Size"], item["ETag"]))
    return listing


def _where(config: S3Config, bucket: str, uri: str) -> Where:
    return Where(endpoint=config.endpoint_name, bucket=bucket, key_id=config.access_key_id, uri=uri)
