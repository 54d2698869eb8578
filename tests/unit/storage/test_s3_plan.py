"""The S3 provider's pure decisions: URI parsing, which listed objects form the model, the content key, the
part split and journal, and how botocore's exceptions read to a user."""

from __future__ import annotations

import botocore.exceptions as bex
import pytest

from kubeserve.storage.errors import (
    AccessDenied,
    CredentialsError,
    IntegrityError,
    InvalidStorageUri,
    ModelNotFound,
    TransferError,
    UnsafeArchive,
)
from kubeserve.storage.ranged import JOURNAL_NAME, Part, S3Object, journal_identity, parse_journal, split_parts
from kubeserve.storage.s3 import content_key, parse_s3_uri, select_objects
from kubeserve.storage.s3client import Where, translate


@pytest.mark.parametrize(("uri", "expected"), [
    ("s3://bucket/models/llama", ("bucket", "models/llama")),
    ("s3://bucket/models/llama/", ("bucket", "models/llama/")),
    ("s3://bucket", ("bucket", "")),
    ("s3://bucket/", ("bucket", "")),
    ("S3://bucket//a//b/", ("bucket", "a/b/")),
])
def test_parse_s3_uri(uri: str, expected: tuple[str, str]) -> None:
    assert parse_s3_uri(uri) == expected


@pytest.mark.parametrize(("uri", "message"), [
    ("s3:///models", "names no bucket"),
    ("s3://bucket/a/../b", "'..'"),
    ("gs://bucket/a", "not an s3:// URI"),
])
def test_parse_s3_uri_rejects(uri: str, message: str) -> None:
    with pytest.raises(InvalidStorageUri, match=message):
        parse_s3_uri(uri)


LISTING = [("m/llama/config.json", 10, '"e1"'), ("m/llama/", 0, '"d"'), ("m/llama/tok/", 0, '"d"'),
           ("m/llama/tok/vocab.json", 20, '"e2"'), ("m/llama-2/config.json", 30, '"e3"'),
           ("m/llama/model.bin", 40, '"e4"')]


@pytest.mark.parametrize(("prefix", "expected"), [
    # A folder: relative paths kept, folder markers skipped, the sibling m/llama-2 not matched.
    ("m/llama", [("m/llama/config.json", "config.json"), ("m/llama/model.bin", "model.bin"),
                 ("m/llama/tok/vocab.json", "tok/vocab.json")]),
    ("m/llama/", [("m/llama/config.json", "config.json"), ("m/llama/model.bin", "model.bin"),
                  ("m/llama/tok/vocab.json", "tok/vocab.json")]),
    # One object lands as its base name.
    ("m/llama/model.bin", [("m/llama/model.bin", "model.bin")]),
    ("m/llama/tok", [("m/llama/tok/vocab.json", "vocab.json")]),
    ("m/nothing", []),
    ("m/llam", []),
    ("", [("m/llama-2/config.json", "m/llama-2/config.json"), ("m/llama/config.json", "m/llama/config.json"),
          ("m/llama/model.bin", "m/llama/model.bin"), ("m/llama/tok/vocab.json", "m/llama/tok/vocab.json")]),
])
def test_select_objects(prefix: str, expected: list[tuple[str, str]]) -> None:
    listing = [entry for entry in LISTING if entry[0].startswith(prefix)]
    assert [(obj.key, obj.rel) for obj in select_objects(prefix, listing)] == expected


@pytest.mark.parametrize(("listing", "message"), [
    ([("m/../escape", 1, "e")], "'..'"),
    ([("m/a//b", 1, "e")], "empty"),
    ([("m/a", 1, "e"), ("m/a/b", 1, "e")], "needs 'a' to be a folder"),
    ([("m/" + JOURNAL_NAME, 1, "e")], "cannot be placed"),
])
def test_select_objects_rejects_unplaceable_keys(listing: list[tuple[str, int, str]], message: str) -> None:
    with pytest.raises(UnsafeArchive, match=message):
        select_objects("m/", listing)


def test_content_key_changes_with_any_identity() -> None:
    objects = [S3Object("m/a", "a", 10, '"e1"'), S3Object("m/b/c", "b/c", 20, '"e2"')]
    key = content_key("http://s3:9000", "bucket", objects)
    assert key.startswith("s3-") and key == content_key("http://s3:9000", "bucket", list(objects))
    variants = [
        content_key("http://other:9000", "bucket", objects),
        content_key("http://s3:9000", "other", objects),
        content_key("http://s3:9000", "bucket", [objects[0], S3Object("m/b/c", "b/c", 20, '"changed"')]),
        content_key("http://s3:9000", "bucket", [objects[0], S3Object("m/b/c", "b/c", 21, '"e2"')]),
        content_key("http://s3:9000", "bucket", [objects[0], S3Object("m/b/c", "c", 20, '"e2"')]),
        content_key("http://s3:9000", "bucket", objects[:1]),
    ]
    assert len({key, *variants}) == len(variants) + 1


def test_split_parts() -> None:
    objects = [S3Object("a", "a", 25, "e"), S3Object("b", "b", 0, "e"), S3Object("c", "c", 10, "e")]
    assert split_parts(objects, 10) == [Part(0, 0, 0, 10), Part(1, 0, 10, 20), Part(2, 0, 20, 25),
                                        Part(3, 2, 0, 10)]


def test_parse_journal() -> None:
    identity = journal_identity([S3Object("a", "a", 25, "e")], 10)
    assert identity != journal_identity([S3Object("a", "a", 25, "e")], 11)
    assert parse_journal(f"kubeserve-parts v1 {identity}\n0\n2\n", identity) == {0, 2}
    # A line torn by a kill is not trusted.
    assert parse_journal(f"kubeserve-parts v1 {identity}\n0\n1", identity) == {0}
    assert parse_journal(f"kubeserve-parts v1 {identity}\n0\n", "other") == frozenset()
    assert parse_journal("", identity) == frozenset()


WHERE = Where(endpoint="http://127.0.0.1:9000", bucket="models", key_id="AKID", uri="s3://models/llama")


def client_error(code: str, status: int) -> bex.ClientError:
    return bex.ClientError({"Error": {"Code": code, "Message": f"{code} says no"},
                            "ResponseMetadata": {"HTTPStatusCode": status}}, "ListObjectsV2")


@pytest.mark.parametrize(("error", "kind", "words"), [
    (client_error("InvalidAccessKeyId", 403), AccessDenied, ["http://127.0.0.1:9000", "AKID", "data connection"]),
    (client_error("SignatureDoesNotMatch", 403), AccessDenied, ["access key AKID", "AWS_SECRET_ACCESS_KEY"]),
    (client_error("", 403), AccessDenied, ["AKID"]),
    (client_error("NoSuchBucket", 404), ModelNotFound, ["bucket models", "http://127.0.0.1:9000"]),
    (client_error("NoSuchKey", 404), ModelNotFound, ["s3://models/llama"]),
    (client_error("PreconditionFailed", 412), IntegrityError, ["changed", "s3://models/llama"]),
    (client_error("SlowDown", 503), TransferError, ["SlowDown", "http://127.0.0.1:9000"]),
    (bex.EndpointConnectionError(endpoint_url="http://127.0.0.1:9000"), TransferError,
     ["cannot reach the S3 endpoint http://127.0.0.1:9000", "attempts"]),
    (bex.SSLError(endpoint_url="https://x", error="CERTIFICATE_VERIFY_FAILED"), TransferError,
     ["TLS verification", "AWS_CA_BUNDLE", "S3_VERIFY_SSL=0"]),
    (bex.NoCredentialsError(), CredentialsError, ["AWS_ACCESS_KEY_ID", "awsAnonymousCredential"]),
    (ConnectionResetError("reset"), TransferError, ["reset"]),
])
def test_translate(error: BaseException, kind: type[Exception], words: list[str]) -> None:
    translated = translate(error, WHERE)
    assert type(translated) is kind
    for word in words:
        assert word in translated.message


def test_translate_anonymous() -> None:
    anonymous = Where(endpoint="http://e", bucket="b", key_id=None, uri="s3://b/x")
    assert "anonymous requests" in translate(client_error("AccessDenied", 403), anonymous).message
