"""Pushing an image from an OCI layout to a registry: blobs the registry already has are skipped (HEAD),
the others uploaded in one monolithic POST + PUT each, the manifest last (a registry refuses a manifest
whose blobs it lacks). No mirrors: a push goes to the registry named."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin

from kubeserve.storage.errors import TransferError
from kubeserve.storage.oci.auth import load_auth_file
from kubeserve.storage.oci.mirrors import is_insecure, load_registries_conf
from kubeserve.storage.oci.reference import Reference
from kubeserve.storage.oci.registry import RegistryClient
from kubeserve.storage.types import Context


@dataclass(frozen=True)
class Blob:
    digest: str
    size: int
    media_type: str


def push_image(ref: Reference, layout: Path, manifest: Blob, blobs: list[Blob], context: Context) -> None:
    conf = load_registries_conf(context.settings.registries_conf)
    auth = load_auth_file(context.env, Path.home())
    client = RegistryClient(ref.registry, ref.repository, insecure=is_insecure(ref.registry, conf),
                            credentials=auth.credentials(ref.registry), certs_dirs=context.settings.certs_dirs,
                            push=True, auth_hint=auth.describe())
    directory = layout / "blobs" / "sha256"
    try:
        for blob in blobs:
            _push_blob(client, blob, directory / blob.digest.removeprefix("sha256:"))
        body = (directory / manifest.digest.removeprefix("sha256:")).read_bytes()
        response = client.request("PUT", f"manifests/{ref.tag or 'latest'}", data=body,
                                  headers={"Content-Type": manifest.media_type})
        client.check(response, f"manifest of {ref}")
        response.close()
    finally:
        client.close()


def _push_blob(client: RegistryClient, blob: Blob, path: Path) -> None:
    head = client.request("HEAD", f"blobs/{blob.digest}")
    head.close()
    if head.status_code == 200:
        return
    started = client.request("POST", "blobs/uploads/")
    client.check(started, f"upload to {client.image}")
    started.close()
    location = started.headers.get("Location")
    if not location:
        raise TransferError(f"registry {client.registry} started an upload for {client.image} without a Location")
    upload = urljoin(client.url("blobs/uploads/"), location)
    upload += ("&" if "?" in upload else "?") + f"digest={blob.digest}"
    with path.open("rb") as body:
        response = client.request("PUT", upload, data=body, headers={
            "Content-Type": "application/octet-stream", "Content-Length": str(blob.size)})
    client.check(response, f"blob {blob.digest} of {client.image}")
    response.close()
