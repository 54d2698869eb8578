"""file:///abs/path and plain local paths, as KServe accepts them: the model is already on this machine, so the
plan points at it (`local_path`) and the initializer links it into the destination; nothing is downloaded
and nothing enters the cache."""

from __future__ import annotations

from pathlib import Path

from kubeserve.storage.errors import InvalidStorageUri, ModelNotFound
from kubeserve.storage.types import Context, Plan

PREFIX = "file://"


def local_path(uri: str) -> Path:
    """The path a local URI names, absolute (relative paths against the working directory).

    Like KServe, `file://` is simply stripped: file:///models/x is /models/x and file://models/x is the
    relative models/x.
    """
    text = uri[len(PREFIX):] if uri.lower().startswith(PREFIX) else uri
    if not text:
        raise InvalidStorageUri(f"{uri!r}: no path (expected file:///absolute/path or a local path)")
    if "\x00" in text:
        raise InvalidStorageUri(f"{uri!r}: the path contains a NUL character")
    return Path(text).absolute()


class LocalProvider:
    schemes = ("file", "")

    def plan(self, uri: str, context: Context) -> Plan:
        path = local_path(uri)
        if not path.exists():
            raise ModelNotFound(f"{uri}: no such file or directory ({path}); check the path, or use a URI with a "
                                "scheme (oci://, s3://, pvc://, hf://, https://)")
        return Plan(source=str(path), key=None, local_path=path)
