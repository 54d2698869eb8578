"""The oci:// provider: resolve the image (through mirrors) at plan time, pull its layers in parallel at
download time, and leave only the image's `/models` tree in the stage, as KServe's modelcars are laid out."""

from __future__ import annotations

import errno
import logging
import shutil
import threading
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from pathlib import Path

import requests
import urllib3

from kubeserve.storage.archives import Extracted
from kubeserve.storage.errors import DiskFull, ModelNotFound, StorageError, TransferError
from kubeserve.storage.oci.auth import AuthFile, load_auth_file
from kubeserve.storage.oci.layers import LAYERS_DIR, Cancelled, Layer, extract_layer, merge_layers
from kubeserve.storage.oci.manifests import Image, resolve_image
from kubeserve.storage.oci.mirrors import Endpoint, load_registries_conf, pull_endpoints
from kubeserve.storage.oci.reference import Reference, parse_reference
from kubeserve.storage.oci.registry import RegistryClient
from kubeserve.storage.settings import StorageSettings
from kubeserve.storage.types import Context, Plan, Progress

log = logging.getLogger(__name__)


def client_for(endpoint: Endpoint, auth: AuthFile, settings: StorageSettings, *, push: bool = False) -> RegistryClient:
    ref = endpoint.reference
    return RegistryClient(ref.registry, ref.repository, insecure=endpoint.insecure,
                          credentials=auth.credentials(ref.registry), certs_dirs=settings.certs_dirs,
                          pool=max(2, settings.concurrency), push=push, auth_hint=auth.describe())


class OciProvider:
    schemes = ("oci",)

    def plan(self, uri: str, context: Context) -> Plan:
        ref = parse_reference(uri)
        conf = load_registries_conf(context.settings.registries_conf)
        auth = load_auth_file(context.env, Path.home())
        endpoints = pull_endpoints(ref, conf)
        if not endpoints:
            raise ModelNotFound(f"{ref}: registry {ref.registry} is blocked in {conf.source} and none of its "
                                "mirrors may serve this reference")
        client, image = _resolve(ref, endpoints, auth, context.settings)
        served = client.image + "@" + image.digest
        if endpoints[0].reference != ref or client.registry != ref.registry:
            log.info("pulling %s from %s", ref, served)
        return Plan(source=served, key="oci-sha256-" + image.digest.removeprefix("sha256:"),
                    total_bytes=sum(layer.size for layer in image.layers),
                    download=lambda stage, progress: pull_layers(client, image, stage, progress,
                                                                 context.settings.concurrency, str(ref)))


def _resolve(ref: Reference, endpoints: tuple[Endpoint, ...], auth: AuthFile,
             settings: StorageSettings) -> tuple[RegistryClient, Image]:
    """Try each endpoint in order; the first that has the image serves it. A mirror's failure moves on to
    the next; when all fail, the first definite answer (not found, denied…) is raised, else a transfer
    error, listing every location tried."""
    failures: list[tuple[Endpoint, StorageError]] = []
    for endpoint in endpoints:
        client = client_for(endpoint, auth, settings)
        try:
            return client, resolve_image(client, endpoint.reference.ref, f"image {endpoint.reference}")
        except StorageError as err:
            client.close()
            failures.append((endpoint, err))
            log.info("%s %s failed: %s", "mirror" if endpoint.mirror else "registry", endpoint.reference.registry,
                     err)
    last = failures[-1][1]
    if len(failures) == 1:
        raise last
    tried = "; ".join(f"{'mirror' if e.mirror else 'registry'} {e.reference.name}: {err.message}"
                      for e, err in failures)
    # A location that answered (404, 401, a bad digest) says more than ones that could not be reached.
    answered = [err for _e, err in failures if not isinstance(err, TransferError)]
    if not answered:
        raise TransferError(f"{ref}: no location could serve it (tried {len(failures)}): {tried}")
    raise type(answered[0])(f"{answered[0].message} (tried in order: {tried})")


def pull_layers(client: RegistryClient, image: Image, stage: Path, progress: Progress, concurrency: int,
                name: str) -> None:
    source = f"{client.image}@{image.digest}"
    progress.set_total(sum(layer.size for layer in image.layers))
    work = stage / LAYERS_DIR
    if work.exists():
        shutil.rmtree(work)
    work.mkdir()
    cancel = threading.Event()
    try:
        with ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(image.layers)))) as pool:
            futures = [pool.submit(_pull_one, client, layer, work / str(i), source, progress, cancel)
                       for i, layer in enumerate(image.layers)]
            done, _ = wait(futures, return_when=FIRST_EXCEPTION)
            if any(f.exception() for f in done):
                cancel.set()
            wait(futures)
        errors = [f.exception() for f in futures if f.exception() is not None]
        real = [e for e in errors if not isinstance(e, Cancelled)]
        if real:
            raise real[0]  # type: ignore[misc]
        results = [f.result() for f in futures]
        present = merge_layers(stage, [(work / str(i), r) for i, r in enumerate(results)])
    finally:
        shutil.rmtree(work, ignore_errors=True)
        client.close()
    if not present:
        raise ModelNotFound(f"image {name} ({source}) has no /models directory: a modelcar keeps the model files "
                            "under /models (build one with `kubeserve modelcar build DIR IMAGE`)")


def _pull_one(client: RegistryClient, layer: Layer, dest: Path, source: str, progress: Progress,
              cancel: threading.Event) -> Extracted:
    for attempt in range(3):
        dest.mkdir()
        response = client.request("GET", f"blobs/{layer.digest}", stream=True)
        client.check(response, f"layer {layer.digest} of {source}")
        try:
            with response:
                return extract_layer(response.raw, layer, dest, source=source, progress=progress, cancel=cancel)
        except OSError as err:
            if err.errno in (errno.ENOSPC, errno.EDQUOT):
                raise DiskFull(f"no space left in {dest.parent.parent} while pulling layer {layer.digest} of "
                               f"{source}: free space or move the model cache") from None
            raise
        except (urllib3.exceptions.HTTPError, requests.exceptions.RequestException) as err:
            # The connection dropped mid-layer: start the layer again.
            shutil.rmtree(dest, ignore_errors=True)
            if attempt == 2 or cancel.is_set():
                raise TransferError(f"layer {layer.digest} of {source}: the download kept failing ({err})") from None
    raise AssertionError("unreachable")
