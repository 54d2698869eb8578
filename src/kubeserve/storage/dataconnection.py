"""OpenShift AI data connections: the S3 Secret an InferenceService names in `storage: {key, path}`.

The guide's data connection is an Opaque Secret annotated `opendatahub.io/connection-type: s3` whose keys
are the environment the S3 provider reads (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_S3_ENDPOINT,
AWS_S3_BUCKET, AWS_DEFAULT_REGION). KServe's own storage-config Secret holds one JSON object per key
(`{"type": "s3", "access_key_id": …, "bucket": …}`) and `storage.key` picks the entry. The CLI and the
InferenceService controller look the Secret up through the API and call these pure functions with its
decoded data; the result goes into `Context.env` and the URI into the initializer.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Mapping

from kubeserve.storage.errors import CredentialsError, InvalidStorageUri
from kubeserve.storage.s3config import s3_config, storage_config_env

CONNECTION_TYPE_ANNOTATION = "opendatahub.io/connection-type"
REQUIRED_KEYS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_S3_ENDPOINT")
OPTIONAL_KEYS = ("AWS_S3_BUCKET", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_SESSION_TOKEN", "AWS_CA_BUNDLE",
                 "S3_VERIFY_SSL", "S3_USE_HTTPS", "S3_ENDPOINT", "AWS_ENDPOINT_URL", "awsAnonymousCredential",
                 "S3_USER_VIRTUAL_BUCKET", "S3_USE_ACCELERATE")
_NEEDS = ("a data connection is an Opaque Secret annotated opendatahub.io/connection-type: s3 with keys "
          "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_S3_ENDPOINT, AWS_S3_BUCKET and optionally "
          "AWS_DEFAULT_REGION")


def is_storage_config(data: Mapping[str, str]) -> bool:
    """True for KServe's storage-config Secret shape: every value a JSON object (and none an AWS_* key)."""
    if not data or any(key.startswith("AWS_") for key in data):
        return False
    return all(value.lstrip().startswith("{") for value in data.values())


def connection_env(secret_name: str, data: Mapping[str, str], key: str | None = None) -> dict[str, str]:
    """The environment the S3 provider needs from a data-connection Secret's decoded data.

    For a KServe storage-config Secret, `key` names the entry (the only entry when there is one)."""
    if is_storage_config(data):
        return _storage_config_entry(secret_name, data, key)
    missing = [name for name in REQUIRED_KEYS if not data.get(name, "").strip()]
    if missing:
        present = ", ".join(sorted(data)) or "no keys"
        raise CredentialsError(f"Secret {secret_name} is not a usable S3 data connection: missing "
                               f"{', '.join(missing)} (it has {present}); {_NEEDS}")
    env = {name: data[name].strip() for name in (*REQUIRED_KEYS, *OPTIONAL_KEYS) if data.get(name, "").strip()}
    try:
        s3_config(env)
    except CredentialsError as err:
        raise CredentialsError(f"Secret {secret_name}: {err.message}") from None
    return env


def storage_uri(secret_name: str, data: Mapping[str, str], path: str, key: str | None = None) -> str:
    """`s3://<AWS_S3_BUCKET>/<path>` for an InferenceService's `storage: {key: secret_name, path: path}`."""
    env = connection_env(secret_name, data, key)
    bucket = env.get("AWS_S3_BUCKET", "").strip()
    if not bucket:
        raise CredentialsError(f"Secret {secret_name} has no AWS_S3_BUCKET (or \"bucket\"), so storage.path "
                               f"{path!r} names no bucket; add the bucket to the data connection")
    return f"s3://{bucket}/{clean_path(path)}"


def clean_path(path: str) -> str:
    """A storage.path inside the bucket: relative, no `..`, no empty segments."""
    text = path.strip()
    if text.startswith("/"):
        raise InvalidStorageUri(f"storage.path {path!r} is absolute; give the path inside the bucket, e.g. "
                                "models/llama-3.1-8b-instruct/")
    parts = [part for part in text.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise InvalidStorageUri(f"storage.path {path!r} contains '..'; give a path inside the bucket")
    joined = posixpath.join(*parts) if parts else ""
    return joined + "/" if text.endswith("/") and joined else joined


def _storage_config_entry(secret_name: str, data: Mapping[str, str], key: str | None) -> dict[str, str]:
    if key is None:
        if len(data) != 1:
            raise CredentialsError(f"Secret {secret_name} is a KServe storage config with entries "
                                   f"{', '.join(sorted(data))}; name one with storage.parameters or the key")
        key = next(iter(data))
    if key not in data:
        raise CredentialsError(f"Secret {secret_name} has no storage-config entry {key!r} (it has "
                               f"{', '.join(sorted(data))})")
    source = f"Secret {secret_name} key {key}"
    env = storage_config_env(data[key], source)
    try:
        entry = json.loads(data[key])
    except json.JSONDecodeError:  # storage_config_env has already raised for this
        entry = {}
    missing = [name for name in ("access_key_id", "secret_access_key") if not entry.get(name)]
    anonymous = env.get("awsAnonymousCredential", "").lower() in ("1", "true")
    if missing and not anonymous:
        raise CredentialsError(f"{source}: missing {', '.join(missing)}; a KServe storage config entry needs "
                               '"type": "s3", "access_key_id", "secret_access_key" and usually "endpoint_url" '
                               'and "bucket" (or "anonymous": "true")')
    try:
        s3_config(env)
    except CredentialsError as err:
        raise CredentialsError(f"{source}: {err.message}") from None
    return env
