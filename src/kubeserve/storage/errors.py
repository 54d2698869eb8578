"""Why a model could not be placed, as exceptions whose `reason` is the CamelCase word a condition or Event
carries (the InferenceService's `modelStatus.lastFailureInfo.reason`) and whose message names the input
at fault and the fix.

    StorageError
    ├── InvalidStorageUri      unknown scheme, malformed URI, a pvc:// path escaping the claim
    ├── CredentialsError       a Secret or a key in it is missing, a malformed auth file
    ├── AccessDenied           401/403 from a registry, wrong S3 keys
    ├── ModelNotFound          404, missing bucket, empty prefix, missing PVC, image without /models
    ├── IntegrityError         a manifest or layer digest that does not match its content
    ├── UnsafeArchive          a tar or zip entry escaping the destination (../, absolute, symlink, device)
    ├── DiskFull               the cache or destination filled up
    └── TransferError          the network failed after retries

Foreign exceptions (botocore, requests, OSError) are translated where they enter, in each provider.
"""

from __future__ import annotations


class StorageError(Exception):
    reason = "StorageError"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidStorageUri(StorageError):
    reason = "InvalidStorageUri"


class CredentialsError(StorageError):
    reason = "CredentialsError"


class AccessDenied(StorageError):
    reason = "AccessDenied"


class ModelNotFound(StorageError):
    reason = "ModelNotFound"


class IntegrityError(StorageError):
    reason = "DigestMismatch"


class UnsafeArchive(StorageError):
    reason = "UnsafeArchive"


class DiskFull(StorageError):
    reason = "DiskFull"


class TransferError(StorageError):
    reason = "DownloadFailed"
