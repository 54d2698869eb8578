"""KServe's S3 environment conventions, parsed purely: one table row per convention."""

from __future__ import annotations

import json

import pytest

from kubeserve.storage.errors import CredentialsError
from kubeserve.storage.s3config import S3Config, endpoint_url, s3_config, storage_config_env

KEYS = {"AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "SECRET"}


@pytest.mark.parametrize(("env", "expected"), [
    ({}, S3Config()),
    (KEYS, S3Config(access_key_id="AKID", secret_access_key="SECRET")),
    ({**KEYS, "AWS_SESSION_TOKEN": "TOKEN"}, S3Config(access_key_id="AKID", secret_access_key="SECRET",
                                                     session_token="TOKEN")),
    ({"AWS_ENDPOINT_URL": "http://minio:9000/"}, S3Config(endpoint_url="http://minio:9000")),
    ({"AWS_S3_ENDPOINT": "https://s3.amazonaws.com"}, S3Config(endpoint_url="https://s3.amazonaws.com")),
    ({"S3_ENDPOINT": "minio:9000"}, S3Config(endpoint_url="https://minio:9000")),
    ({"S3_ENDPOINT": "minio:9000", "S3_USE_HTTPS": "0"}, S3Config(endpoint_url="http://minio:9000")),
    ({"AWS_S3_ENDPOINT": "minio:9000", "S3_USE_HTTPS": "false"}, S3Config(endpoint_url="http://minio:9000")),
    # boto3's own name wins over the data connection's, which wins over KServe's host:port form.
    ({"AWS_ENDPOINT_URL": "http://a:1", "AWS_S3_ENDPOINT": "http://b:2", "S3_ENDPOINT": "c:3"},
     S3Config(endpoint_url="http://a:1")),
    ({"AWS_S3_ENDPOINT": "http://b:2", "S3_ENDPOINT": "c:3"}, S3Config(endpoint_url="http://b:2")),
    ({"AWS_DEFAULT_REGION": "eu-west-1"}, S3Config(region="eu-west-1")),
    ({"AWS_REGION": "eu-west-2"}, S3Config(region="eu-west-2")),
    ({"AWS_DEFAULT_REGION": "eu-west-1", "AWS_REGION": "eu-west-2"}, S3Config(region="eu-west-1")),
    ({"S3_VERIFY_SSL": "0"}, S3Config(verify=False)),
    ({"S3_VERIFY_SSL": "false", "AWS_CA_BUNDLE": "/ca.pem"}, S3Config(verify=False)),
    ({"S3_VERIFY_SSL": "1"}, S3Config(verify=True)),
    ({"AWS_CA_BUNDLE": "/etc/ssl/ca.pem"}, S3Config(verify="/etc/ssl/ca.pem")),
    ({**KEYS, "awsAnonymousCredential": "true"}, S3Config(anonymous=True)),
    ({"awsAnonymousCredential": "false"}, S3Config()),
    ({"S3_USER_VIRTUAL_BUCKET": "true", "S3_USE_ACCELERATE": "1"},
     S3Config(virtual_addressing=True, accelerate=True)),
    ({"AWS_S3_BUCKET": "models"}, S3Config(default_bucket="models")),
    ({"STORAGE_CONFIG": json.dumps({"type": "s3", "access_key_id": "AKID", "secret_access_key": "SECRET",
                                    "endpoint_url": "http://minio:9000", "region": "eu-west-1",
                                    "bucket": "models", "verify_ssl": "0"})},
     S3Config(endpoint_url="http://minio:9000", region="eu-west-1", access_key_id="AKID",
              secret_access_key="SECRET", verify=False, default_bucket="models")),
    # STORAGE_CONFIG overrides the plain variables, as KServe's initializer sets them from it.
    ({**KEYS, "STORAGE_CONFIG": json.dumps({"type": "s3", "anonymous": True})}, S3Config(anonymous=True)),
    ({"AWS_ENDPOINT_URL": "http://old:1", "STORAGE_CONFIG": '{"endpoint_url": "http://new:2"}'},
     S3Config(endpoint_url="http://new:2")),
], ids=lambda value: json.dumps(value, default=str)[:60] if isinstance(value, dict) else "")
def test_s3_config(env: dict[str, str], expected: S3Config) -> None:
    assert s3_config(env) == expected


@pytest.mark.parametrize(("env", "message"), [
    ({"AWS_ACCESS_KEY_ID": "AKID"}, "AWS_SECRET_ACCESS_KEY is missing"),
    ({"AWS_SECRET_ACCESS_KEY": "SECRET"}, "AWS_ACCESS_KEY_ID is missing"),
    ({"AWS_ENDPOINT_URL": "ftp://host"}, "must be an http:// or https:// URL"),
    ({"S3_VERIFY_SSL": "maybe"}, "S3_VERIFY_SSL=maybe: expected true or false"),
    ({"awsAnonymousCredential": "yes please"}, "awsAnonymousCredential"),
    ({"STORAGE_CONFIG": "{not json"}, "STORAGE_CONFIG is not valid JSON"),
    ({"STORAGE_CONFIG": "[1]"}, "must be a JSON object"),
    ({"STORAGE_CONFIG": '{"type": "gs"}'}, "only type \"s3\""),
])
def test_s3_config_rejects(env: dict[str, str], message: str) -> None:
    with pytest.raises(CredentialsError, match=message):
        s3_config(env)


def test_no_endpoint_means_aws() -> None:
    assert endpoint_url({}) is None
    assert s3_config({"AWS_DEFAULT_REGION": "eu-west-1"}).endpoint_name == "AWS S3 (eu-west-1)"


def test_storage_config_env_maps_to_kserve_variables() -> None:
    env = storage_config_env(json.dumps({"type": "s3", "access_key_id": "A", "secret_access_key": "S",
                                         "endpoint_url": "http://e", "region": "r", "verify_ssl": "1",
                                         "anonymous": "false", "bucket": "b", "ca_bundle": "/ca.pem"}))
    assert env == {"AWS_ACCESS_KEY_ID": "A", "AWS_SECRET_ACCESS_KEY": "S", "AWS_ENDPOINT_URL": "http://e",
                   "AWS_DEFAULT_REGION": "r", "S3_VERIFY_SSL": "1", "awsAnonymousCredential": "false",
                   "AWS_S3_BUCKET": "b", "AWS_CA_BUNDLE": "/ca.pem"}
