"""The small shapes every provider and the cache share.

A provider turns a URI into a `Plan` (cheap: listing, a manifest, a HEAD) and the plan's `download`
writes the model tree into a staging directory the cache owns. The content `key` lets the cache skip the
download entirely when the same bytes are already there: it must change whenever the bytes would.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from kubeserve.storage.settings import StorageSettings


class Progress(Protocol):
    """Thread-safe: downloads advance it from several worker threads at once."""

    def set_total(self, total: int | None) -> None: ...

    def advance(self, done: int) -> None: ...


# Writes the model tree into `stage`, an empty directory (or, for a resumable provider, one left by an
# interrupted download of the same key), reporting bytes as they arrive.
Download = Callable[[Path, Progress], None]


@dataclass(frozen=True)
class Plan:
    source: str
    """What is fetched, in words for messages and progress (e.g. `127.0.0.1:5000/m@sha256:…`)."""
    key: str | None
    """Content key (`oci-<digest>`, `s3-<hash of keys+ETags>`…): equal keys mean equal bytes. None: do
    not cache (the source gives no stable identity)."""
    total_bytes: int | None = None
    download: Download | None = None
    local_path: Path | None = None
    """Set instead of `download` for sources already on this machine (pvc://, local paths): the model is
    used in place, never copied into the cache."""
    resumable: bool = False
    """Keep a staging directory left by an interrupted download of the same key (the provider resumes)."""


# Claim name → the directory holding its files on this machine; raises ModelNotFound for a missing claim.
ClaimResolver = Callable[[str], Path]


@dataclass(frozen=True)
class Context:
    settings: StorageSettings
    env: Mapping[str, str] = field(default_factory=dict)
    """Credentials and endpoints in KServe's environment conventions (AWS_*, S3_*, STORAGE_CONFIG,
    REGISTRY_AUTH_FILE, HF_TOKEN…); the CLI turns `--storage-key`/`--pull-secret` Secrets into these."""
    claims: ClaimResolver | None = None
    """Finds a PersistentVolumeClaim's directory on this machine (standalone pvc:// only: in a pod the
    claim is mounted by the InferenceService controller and the initializer never sees pvc://)."""


class Provider(Protocol):
    schemes: tuple[str, ...]

    def plan(self, uri: str, context: Context) -> Plan: ...
