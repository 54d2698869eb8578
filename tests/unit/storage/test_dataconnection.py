"""OpenShift AI data connections and KServe storage-config Secrets → the S3 provider's env and URI."""

from __future__ import annotations

import json

import pytest

from kubeserve.storage.dataconnection import clean_path, connection_env, is_storage_config, storage_uri
from kubeserve.storage.errors import CredentialsError, InvalidStorageUri

# The guide's data connection (s3-model-secret.yaml), decoded.
GUIDE = {"AWS_ACCESS_KEY_ID": "your-access-key", "AWS_SECRET_ACCESS_KEY": "your-secret-key",
         "AWS_S3_ENDPOINT": "https://s3.amazonaws.com", "AWS_S3_BUCKET": "your-model-bucket",
         "AWS_DEFAULT_REGION": "us-east-1"}


def test_guide_data_connection() -> None:
    assert connection_env("model-s3-storage", GUIDE) == GUIDE
    assert storage_uri("model-s3-storage", GUIDE, "models/llama-3.1-8b-instruct/") == \
        "s3://your-model-bucket/models/llama-3.1-8b-instruct/"


def test_unrelated_keys_are_dropped_and_values_trimmed() -> None:
    env = connection_env("dc", {**GUIDE, "AWS_S3_BUCKET": " b \n", "unrelated": "x"})
    assert "unrelated" not in env and env["AWS_S3_BUCKET"] == "b"


@pytest.mark.parametrize("missing", ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_S3_ENDPOINT"])
def test_missing_required_key(missing: str) -> None:
    data = {k: v for k, v in GUIDE.items() if k != missing}
    with pytest.raises(CredentialsError) as caught:
        connection_env("model-s3-storage", data)
    message = caught.value.message
    assert "Secret model-s3-storage" in message and f"missing {missing}" in message
    assert "opendatahub.io/connection-type: s3" in message and "AWS_S3_BUCKET" in message


def test_empty_value_counts_as_missing() -> None:
    with pytest.raises(CredentialsError, match="missing AWS_SECRET_ACCESS_KEY"):
        connection_env("dc", {**GUIDE, "AWS_SECRET_ACCESS_KEY": "  "})


def test_bad_value_names_the_secret() -> None:
    with pytest.raises(CredentialsError, match="Secret dc: S3_VERIFY_SSL=perhaps"):
        connection_env("dc", {**GUIDE, "S3_VERIFY_SSL": "perhaps"})


def test_storage_uri_needs_a_bucket() -> None:
    data = {k: v for k, v in GUIDE.items() if k != "AWS_S3_BUCKET"}
    assert "AWS_S3_BUCKET" not in connection_env("dc", data)
    with pytest.raises(CredentialsError, match=r"Secret dc has no AWS_S3_BUCKET"):
        storage_uri("dc", data, "models/x")


@pytest.mark.parametrize(("path", "expected"), [
    ("models/llama/", "models/llama/"),
    ("models/llama", "models/llama"),
    ("models//llama/./x", "models/llama/x"),
    ("", ""),
    ("model.safetensors", "model.safetensors"),
])
def test_clean_path(path: str, expected: str) -> None:
    assert clean_path(path) == expected


@pytest.mark.parametrize(("path", "message"), [
    ("/models/llama", "absolute"),
    ("models/../../etc", "'..'"),
    ("..", "'..'"),
])
def test_clean_path_rejects(path: str, message: str) -> None:
    with pytest.raises(InvalidStorageUri, match=message):
        storage_uri("dc", GUIDE, path)


STORAGE_CONFIG = {
    "localMinIO": json.dumps({"type": "s3", "access_key_id": "minio", "secret_access_key": "minio123",
                              "endpoint_url": "http://minio:9000", "bucket": "mlpipeline", "region": "us-south"}),
    "public": json.dumps({"type": "s3", "anonymous": "true", "bucket": "open-models"}),
}


def test_storage_config_secret() -> None:
    assert is_storage_config(STORAGE_CONFIG) and not is_storage_config(GUIDE)
    env = connection_env("storage-config", STORAGE_CONFIG, key="localMinIO")
    assert env["AWS_ACCESS_KEY_ID"] == "minio" and env["AWS_ENDPOINT_URL"] == "http://minio:9000"
    assert storage_uri("storage-config", STORAGE_CONFIG, "models/x", key="localMinIO") == "s3://mlpipeline/models/x"
    assert connection_env("storage-config", STORAGE_CONFIG, key="public")["awsAnonymousCredential"] == "true"


def test_storage_config_single_entry_needs_no_key() -> None:
    only = {"localMinIO": STORAGE_CONFIG["localMinIO"]}
    assert connection_env("storage-config", only)["AWS_S3_BUCKET"] == "mlpipeline"


@pytest.mark.parametrize(("data", "key", "message"), [
    (STORAGE_CONFIG, None, "name one"),
    (STORAGE_CONFIG, "nope", "no storage-config entry 'nope'"),
    ({"x": '{"type": "s3", "access_key_id": "a"}'}, "x", "key x: missing secret_access_key"),
    ({"x": '{"type": "gcs"}'}, "x", "key x has type 'gcs'"),
    ({"x": "{broken"}, "x", "key x is not valid JSON"),
])
def test_storage_config_rejects(data: dict[str, str], key: str | None, message: str) -> None:
    with pytest.raises(CredentialsError, match=message):
        connection_env("storage-config", data, key=key)
