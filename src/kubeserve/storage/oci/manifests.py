"""Manifests and indexes: fetch by tag or digest, verify the digest, pick the linux/amd64 entry of an index,
and read the layer list out of an OCI or Docker schema 2 image manifest."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from kubeserve.storage.errors import IntegrityError, InvalidStorageUri
from kubeserve.storage.oci.layers import LAYER_TYPES, Layer
from kubeserve.storage.oci.registry import RegistryClient

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MANIFESTS = (OCI_MANIFEST, DOCKER_MANIFEST)
INDEXES = (OCI_INDEX, DOCKER_LIST)
ACCEPT = ", ".join((*MANIFESTS, *INDEXES))


@dataclass(frozen=True)
class Image:
    digest: str
    """Digest of the platform image manifest (not of an index pointing at it)."""
    layers: tuple[Layer, ...]


def digest_of(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()


def fetch_manifest(client: RegistryClient, ref: str, what: str) -> tuple[str, bytes, str]:
    """GET a manifest; returns (media type, body, verified digest)."""
    response = client.request("GET", f"manifests/{ref}", headers={"Accept": ACCEPT})
    client.check(response, what)
    with response:
        body = response.content
        media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
        header = response.headers.get("Docker-Content-Digest")
    actual = digest_of(body)
    expected = ref if ref.startswith("sha256:") else header
    if expected and expected != actual:
        raise IntegrityError(f"manifest of {what} from registry {client.registry} does not match its digest: "
                             f"expected {expected}, got {actual}; the registry or a proxy altered it")
    return media_type, body, actual


def _json(body: bytes, what: str) -> dict[str, Any]:
    try:
        doc = json.loads(body)
    except ValueError:
        doc = None
    if not isinstance(doc, dict):
        raise InvalidStorageUri(f"{what}: the registry's manifest is not a JSON object")
    return doc


def choose_platform(manifests: Sequence[Any], what: str) -> dict[str, Any]:
    """linux/amd64 (preferring no variant or v1), else the only entry."""
    entries = [m for m in manifests if isinstance(m, dict) and isinstance(m.get("digest"), str)]
    if len(entries) == 1:
        return entries[0]
    matches = [m for m in entries if (m.get("platform") or {}).get("os") == "linux"
               and (m.get("platform") or {}).get("architecture") == "amd64"]
    matches.sort(key=lambda m: (m.get("platform") or {}).get("variant") not in (None, "", "v1"))
    if matches:
        return matches[0]
    platforms = ", ".join(f"{(m.get('platform') or {}).get('os')}/{(m.get('platform') or {}).get('architecture')}"
                          for m in entries) or "none"
    raise InvalidStorageUri(f"{what} is an image index without a linux/amd64 image (it has: {platforms}); "
                            "use the digest of the image to pull")


def resolve_image(client: RegistryClient, ref: str, what: str) -> Image:
    media_type, body, digest = fetch_manifest(client, ref, what)
    doc = _json(body, what)
    media_type = media_type if media_type in (*MANIFESTS, *INDEXES) else str(doc.get("mediaType", media_type))
    if media_type in INDEXES or (not media_type and "manifests" in doc):
        entry = choose_platform(doc.get("manifests") or [], what)
        media_type, body, digest = fetch_manifest(client, entry["digest"], f"{what} ({entry['digest']})")
        doc = _json(body, what)
    if doc.get("schemaVersion") == 1:
        raise InvalidStorageUri(f"{what} is a Docker schema 1 manifest, which kubeserve does not read; push it "
                                "again with a current tool (skopeo copy converts it)")
    layers = doc.get("layers")
    if not isinstance(layers, list):
        raise InvalidStorageUri(f"{what}: the manifest ({media_type or 'unknown type'}) lists no layers")
    parsed = []
    for item in layers:
        if not (isinstance(item, dict) and isinstance(item.get("digest"), str) and isinstance(item.get("size"), int)):
            raise InvalidStorageUri(f"{what}: a layer in the manifest lacks a digest or size")
        layer = Layer(item["digest"], item["size"], str(item.get("mediaType", "")))
        if layer.media_type not in LAYER_TYPES and "tar" not in layer.media_type:
            raise InvalidStorageUri(f"{what}: layer {layer.digest} has media type {layer.media_type!r}, which is not "
                                    "a tar layer; a modelcar's layers are tar, tar+gzip or tar+zstd")
        if not layer.digest.startswith("sha256:"):
            raise InvalidStorageUri(f"{what}: layer digest {layer.digest} is not sha256")
        parsed.append(layer)
    return Image(digest=digest, layers=tuple(parsed))
