"""The registry of storage providers, one small module per URI scheme, imported only when a URI of its scheme
is fetched (boto3 and huggingface_hub take a while to import; an oci:// pull should not pay for them)."""

from __future__ import annotations

import importlib
import re

from kubeserve.storage.errors import InvalidStorageUri
from kubeserve.storage.types import Provider

# scheme → (module, class). "" is a plain local path.
_PROVIDERS: dict[str, tuple[str, str]] = {
    "oci": ("kubeserve.storage.oci", "OciProvider"),
    "s3": ("kubeserve.storage.s3", "S3Provider"),
    "pvc": ("kubeserve.storage.pvc", "PvcProvider"),
    "hf": ("kubeserve.storage.hf", "HfProvider"),
    "http": ("kubeserve.storage.http", "HttpProvider"),
    "https": ("kubeserve.storage.http", "HttpProvider"),
    "file": ("kubeserve.storage.local", "LocalProvider"),
    "": ("kubeserve.storage.local", "LocalProvider"),
}

SUPPORTED = "oci://, s3://, pvc://, hf://, http(s)://, file:// and local paths"

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


def scheme_of(uri: str) -> str:
    match = _SCHEME.match(uri)
    return match.group(1).lower() if match else ""


def provider_for(uri: str) -> Provider:
    if not uri.strip():
        raise InvalidStorageUri(f"empty storage URI: kubeserve supports {SUPPORTED}")
    scheme = scheme_of(uri)
    if scheme not in _PROVIDERS:
        hint = ""
        if scheme in ("gs", "gcs"):
            hint = " (Google Cloud Storage is not supported: copy the model to S3 or an OCI registry)"
        elif scheme in ("azure", "abfs", "wasb", "wasbs"):
            hint = " (Azure Blob Storage is not supported: copy the model to S3 or an OCI registry)"
        raise InvalidStorageUri(f"unsupported storage URI scheme {scheme!r} in {uri}{hint}: kubeserve supports "
                                f"{SUPPORTED}")
    module_name, class_name = _PROVIDERS[scheme]
    provider: Provider = getattr(importlib.import_module(module_name), class_name)()
    return provider
