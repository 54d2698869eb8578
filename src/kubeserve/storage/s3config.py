"""Where an S3 download connects and with which credentials, read from KServe's environment conventions.

KServe's storage initializer takes its S3 settings from the environment its webhook and the user set, and
OpenShift AI data connections add their own names; users copy these between systems, so kubeserve accepts
all of them with the same meaning:

    AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN   the key pair (and STS token)
    AWS_ENDPOINT_URL                                              a full URL (boto3's own name)
    AWS_S3_ENDPOINT                                               a data connection's endpoint (full URL)
    S3_ENDPOINT + S3_USE_HTTPS=0|1                                KServe's host:port form
    AWS_DEFAULT_REGION / AWS_REGION                               the signing region (us-east-1)
    S3_VERIFY_SSL=0                                               no TLS verification
    AWS_CA_BUNDLE                                                 a CA bundle file for the endpoint
    awsAnonymousCredential=true                                   unsigned requests (public buckets)
    S3_USER_VIRTUAL_BUCKET=true, S3_USE_ACCELERATE=true           addressing style and acceleration
    STORAGE_CONFIG                                                a KServe storage-config JSON object

`s3_config` is pure (a mapping in, a frozen value out) so the whole table is unit-tested; the entry point
passes `os.environ`, nothing here reads it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from kubeserve.storage.errors import CredentialsError

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")

# STORAGE_CONFIG key → the environment variable KServe's initializer sets from it.
STORAGE_CONFIG_KEYS: dict[str, str] = {
    "access_key_id": "AWS_ACCESS_KEY_ID",
    "secret_access_key": "AWS_SECRET_ACCESS_KEY",
    "session_token": "AWS_SESSION_TOKEN",
    "endpoint_url": "AWS_ENDPOINT_URL",
    "region": "AWS_DEFAULT_REGION",
    "verify_ssl": "S3_VERIFY_SSL",
    "anonymous": "awsAnonymousCredential",
    "ca_bundle": "AWS_CA_BUNDLE",
    "bucket": "AWS_S3_BUCKET",
}


@dataclass(frozen=True)
class S3Config:
    endpoint_url: str | None = None
    """None: AWS itself, resolved from the region."""
    region: str = "us-east-1"
    access_key_id: str | None = None
    secret_access_key: str | None = None
    session_token: str | None = None
    verify: bool | str = True
    """False, True, or the path of a CA bundle file."""
    anonymous: bool = False
    virtual_addressing: bool = False
    accelerate: bool = False
    default_bucket: str | None = None
    """The data connection's AWS_S3_BUCKET (used for `storage: {key, path}` without a bucket)."""

    @property
    def endpoint_name(self) -> str:
        """The endpoint in words for messages."""
        return self.endpoint_url or f"AWS S3 ({self.region})"


def storage_config_env(text: str, source: str = "STORAGE_CONFIG") -> dict[str, str]:
    """The environment a KServe storage-config JSON object stands for (`{"type": "s3", …}`)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise CredentialsError(f"{source} is not valid JSON ({err.msg} at position {err.pos}); expected an object "
                               'like {"type": "s3", "access_key_id": …, "secret_access_key": …, '
                               '"endpoint_url": …, "bucket": …}') from None
    if not isinstance(data, dict):
        raise CredentialsError(f"{source} must be a JSON object with \"type\": \"s3\", not {type(data).__name__}")
    kind = str(data.get("type", "s3"))
    if kind != "s3":
        raise CredentialsError(f"{source} has type {kind!r}; only type \"s3\" storage configs are supported here")
    env: dict[str, str] = {}
    for key, name in STORAGE_CONFIG_KEYS.items():
        value = data.get(key)
        if value is None:
            continue
        env[name] = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return env


def s3_config(env: Mapping[str, str]) -> S3Config:
    """Parse KServe's S3 conventions; STORAGE_CONFIG (as KServe's initializer does) overrides the rest."""
    merged = dict(env)
    if env.get("STORAGE_CONFIG"):
        merged.update(storage_config_env(env["STORAGE_CONFIG"]))
    anonymous = _flag(merged, "awsAnonymousCredential", False)
    access_key = merged.get("AWS_ACCESS_KEY_ID") or None
    secret_key = merged.get("AWS_SECRET_ACCESS_KEY") or None
    if not anonymous and bool(access_key) != bool(secret_key):
        missing = "AWS_SECRET_ACCESS_KEY" if access_key else "AWS_ACCESS_KEY_ID"
        raise CredentialsError(f"S3 credentials are incomplete: {missing} is missing or empty; set both "
                               "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (the data connection's keys), or "
                               "awsAnonymousCredential=true for a public bucket")
    region = merged.get("AWS_DEFAULT_REGION") or merged.get("AWS_REGION") or "us-east-1"
    return S3Config(endpoint_url=endpoint_url(merged), region=region,
                    access_key_id=None if anonymous else access_key,
                    secret_access_key=None if anonymous else secret_key,
                    session_token=None if anonymous else (merged.get("AWS_SESSION_TOKEN") or None),
                    verify=_verify(merged), anonymous=anonymous,
                    virtual_addressing=_flag(merged, "S3_USER_VIRTUAL_BUCKET", False),
                    accelerate=_flag(merged, "S3_USE_ACCELERATE", False),
                    default_bucket=merged.get("AWS_S3_BUCKET") or None)


def endpoint_url(env: Mapping[str, str]) -> str | None:
    """AWS_ENDPOINT_URL, then AWS_S3_ENDPOINT, then S3_ENDPOINT; a bare host:port gets a scheme from
    S3_USE_HTTPS (default https, as KServe's webhook does)."""
    for name in ("AWS_ENDPOINT_URL", "AWS_S3_ENDPOINT", "S3_ENDPOINT"):
        value = env.get(name, "").strip()
        if not value:
            continue
        if "://" in value:
            scheme = value.split("://", 1)[0].lower()
            if scheme not in ("http", "https"):
                raise CredentialsError(f"{name}={value}: the endpoint must be an http:// or https:// URL "
                                       "(or host:port with S3_USE_HTTPS=0|1)")
            return value.rstrip("/")
        https = _flag(env, "S3_USE_HTTPS", True)
        return f"{'https' if https else 'http'}://{value.rstrip('/')}"
    return None


def _verify(env: Mapping[str, str]) -> bool | str:
    if not _flag(env, "S3_VERIFY_SSL", True):
        return False
    bundle = env.get("AWS_CA_BUNDLE", "").strip()
    return bundle or True


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    text = env.get(name, "").strip().lower()
    if not text:
        return default
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise CredentialsError(f"{name}={env[name]}: expected true or false (1 or 0)")
