"""The boto3 S3 client for a parsed `S3Config`, and the one place botocore's exceptions become StorageErrors.

The client is built hermetically: everything comes from the config (itself from `Context.env`), so an
AWS_* variable in the process environment cannot redirect a download the caller did not ask for. Only when
the config carries no keys and is not anonymous does botocore's provider chain look for credentials, minus
its environment step (~/.aws files, web identity, instance metadata: what a pod's service account gives).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3
import botocore.exceptions as bex
from botocore import UNSIGNED
from botocore.config import Config
from botocore.session import Session

from kubeserve.storage.errors import (
    AccessDenied,
    CredentialsError,
    IntegrityError,
    ModelNotFound,
    StorageError,
    TransferError,
)
from kubeserve.storage.s3config import S3Config
from kubeserve.storage.settings import StorageSettings

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# Request attempts in botocore's "standard" retry mode (exponential back-off with jitter, at most a few
# seconds in all for an endpoint that refuses connections).
MAX_ATTEMPTS = 3
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 60.0

_DENIED = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "AllAccessDisabled", "ExpiredToken",
           "InvalidToken", "InvalidClientTokenId", "403", "Forbidden", "AuthorizationHeaderMalformed"}
_CHANGED = {"PreconditionFailed", "412"}


def make_client(config: S3Config, settings: StorageSettings) -> S3Client:
    if isinstance(config.verify, str) and not os.path.isfile(config.verify):
        raise CredentialsError(f"AWS_CA_BUNDLE={config.verify}: no such file; give the path of a PEM file with "
                               f"the CA that signed {config.endpoint_name}'s certificate")
    session = Session()
    # Credentials come from Context.env, never from this process's environment.
    resolver = session.get_component("credential_provider")
    resolver.remove("env")
    boto = boto3.session.Session(botocore_session=session)
    botocore_config = Config(
        region_name=config.region,
        signature_version=UNSIGNED if config.anonymous else None,
        retries={"max_attempts": MAX_ATTEMPTS, "mode": "standard"},
        connect_timeout=CONNECT_TIMEOUT, read_timeout=READ_TIMEOUT,
        # One pooled connection per download thread, plus listing.
        max_pool_connections=max(10, settings.concurrency + 2),
        s3={"addressing_style": "virtual" if config.virtual_addressing else "path",
            "use_accelerate_endpoint": config.accelerate},
        # Self-hosted S3 servers often reject the newer default checksum headers; GETs are ranged anyway.
        request_checksum_calculation="when_required", response_checksum_validation="when_required",
        ignore_configured_endpoint_urls=True,  # type: ignore[call-arg]  # botocore has it; the stubs lag
    )
    client: S3Client = boto.client(
        "s3", endpoint_url=config.endpoint_url, verify=config.verify, config=botocore_config,
        aws_access_key_id=config.access_key_id, aws_secret_access_key=config.secret_access_key,
        aws_session_token=config.session_token)
    return client


@dataclass(frozen=True)
class Where:
    """What a failing request was about, for messages."""

    endpoint: str
    bucket: str
    key_id: str | None
    uri: str


def translate(err: BaseException, where: Where) -> StorageError:
    """A botocore/urllib3 exception as the StorageError that says what to fix."""
    if isinstance(err, StorageError):
        return err
    if isinstance(err, bex.ClientError):
        return _client_error(err, where)
    if isinstance(err, bex.SSLError):
        return TransferError(f"TLS verification of the S3 endpoint {where.endpoint} failed ({_short(err)}): set "
                             "AWS_CA_BUNDLE to a PEM file with the CA that signed its certificate, or S3_VERIFY_SSL=0 "
                             "to turn verification off (only for a trusted network)")
    if isinstance(err, bex.NoCredentialsError):
        return CredentialsError(f"no S3 credentials for {where.uri}: set AWS_ACCESS_KEY_ID and "
                                "AWS_SECRET_ACCESS_KEY (a data connection's keys), or awsAnonymousCredential=true "
                                "for a public bucket")
    if isinstance(err, bex.EndpointConnectionError | bex.ConnectTimeoutError | bex.ConnectionClosedError):
        return TransferError(f"cannot reach the S3 endpoint {where.endpoint} after {MAX_ATTEMPTS} attempts "
                             f"({_short(err)}); check AWS_S3_ENDPOINT / AWS_ENDPOINT_URL and that the server is up")
    if isinstance(err, bex.BotoCoreError | OSError):
        return TransferError(f"downloading {where.uri} from {where.endpoint} failed: {_short(err)}")
    return TransferError(f"downloading {where.uri} from {where.endpoint} failed: {type(err).__name__}: {err}")


def _client_error(err: bex.ClientError, where: Where) -> StorageError:
    response: dict[str, Any] = dict(err.response)
    error = response.get("Error", {})
    code = str(error.get("Code", ""))
    status = str(response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
    detail = str(error.get("Message") or code or status)
    if code in _DENIED or status == "403":
        who = f"access key {where.key_id}" if where.key_id else "anonymous requests"
        return AccessDenied(f"the S3 endpoint {where.endpoint} refused {who} for bucket {where.bucket} "
                            f"({code or status}: {detail}); check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the "
                            "data connection (Secret) and that the key may read the bucket")
    if code == "NoSuchBucket":
        return ModelNotFound(f"bucket {where.bucket} does not exist at the S3 endpoint {where.endpoint}; check "
                             "AWS_S3_BUCKET in the data connection or the bucket in the storage URI")
    if code in ("NoSuchKey", "404", "NotFound") or status == "404":
        return ModelNotFound(f"{where.uri} disappeared from {where.endpoint} while downloading ({code or status}); "
                             "retry once the model upload is complete")
    if code in _CHANGED or status == "412":
        return IntegrityError(f"{where.uri} changed at {where.endpoint} during the download (its ETag no longer "
                              "matches); retry to download the new version, and avoid overwriting a model in place")
    return TransferError(f"the S3 endpoint {where.endpoint} answered {code or status} for {where.uri}: {detail}")


def _short(err: BaseException) -> str:
    text = str(err).strip() or type(err).__name__
    return text if len(text) <= 300 else text[:300] + "…"
