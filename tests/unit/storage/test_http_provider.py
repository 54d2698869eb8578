"""The http(s):// provider's pure decisions: what is an archive, the file name, the cache key, KServe's
per-host headers, TLS trust and byte-range parts. (Downloads over real sockets: e2e/test_storage_sources.)"""

from __future__ import annotations

import pytest

from kubeserve.storage.errors import CredentialsError
from kubeserve.storage.http import archive_kind, content_key, file_name, host_headers, part_ranges, tls_verify


@pytest.mark.parametrize(("path", "content_type", "kind"), [
    ("/m/model.bin", "application/octet-stream", None),
    ("/m/model.tar", None, "tar"),
    ("/m/model.tar.gz", None, "tar"),
    ("/m/MODEL.TGZ", None, "tar"),
    ("/m/model.tar.zst", None, "tar"),
    ("/m/model.tzst", None, "tar"),
    ("/m/model.zip", None, "zip"),
    ("/m/model%2Etar", None, "tar"),
    ("/download", "application/x-tar", "tar"),
    ("/download", "application/x-gtar; charset=binary", "tar"),
    ("/download", "application/zip", "zip"),
    ("/download", "application/x-zip-compressed", "zip"),
    ("/m/model.gz", "application/gzip", None),  # a gzipped file is not a tar archive
    ("/m/config.json", "application/json", None),
])
def test_archive_kind(path: str, content_type: str | None, kind: str | None) -> None:
    assert archive_kind(path, content_type) == kind


@pytest.mark.parametrize(("url", "name"), [
    ("https://h/models/model.joblib", "model.joblib"),
    ("https://h/models/my%20model.bin?sig=abc", "my model.bin"),
    ("https://h/", ""),
    ("https://h", ""),
    ("https://h/a/..", ""),
])
def test_file_name(url: str, name: str) -> None:
    assert file_name(url) == name


def test_content_key_changes_with_each_validator() -> None:
    base = content_key("http://h/m.bin", '"abc"', None, "10")
    assert base is not None and base.startswith("http-")
    assert content_key("http://h/m.bin", '"abc"', None, "10") == base
    assert content_key("http://h/m.bin", '"abd"', None, "10") != base
    assert content_key("http://h/m.bin", '"abc"', None, "11") != base
    assert content_key("http://h/other.bin", '"abc"', None, "10") != base
    assert content_key("http://h/m.bin", None, "Tue, 14 Nov 2023 22:13:20 GMT", "10") is not None


def test_no_validator_means_not_cacheable() -> None:
    assert content_key("http://h/m.bin", None, None, "10") is None
    assert content_key("http://h/m.bin", "", "", None) is None


def test_host_headers_follow_kserve_convention() -> None:
    env = {"models.example.com-headers": '{"Authorization": "Bearer t0k", "X-Team": "a"}'}
    assert host_headers("https://models.example.com/m.bin", env) == {"Authorization": "Bearer t0k", "X-Team": "a"}
    assert host_headers("https://other.example.com/m.bin", env) == {}


@pytest.mark.parametrize("value", ["not json", '["a"]', '{"A": 1}'])
def test_bad_host_headers_name_the_variable(value: str) -> None:
    with pytest.raises(CredentialsError, match=r"h\.example-headers"):
        host_headers("https://h.example/m.bin", {"h.example-headers": value})


@pytest.mark.parametrize(("env", "verify"), [
    ({}, True),
    ({"REQUESTS_CA_BUNDLE": "/ca.pem"}, "/ca.pem"),
    ({"SSL_CERT_FILE": "/other.pem"}, "/other.pem"),
    ({"REQUESTS_CA_BUNDLE": "/ca.pem", "SSL_CERT_FILE": "/other.pem"}, "/ca.pem"),
    ({"HTTPS_VERIFY": "false", "REQUESTS_CA_BUNDLE": "/ca.pem"}, False),
])
def test_tls_verify_comes_from_the_context(env: dict[str, str], verify: bool | str) -> None:
    assert tls_verify(env) == verify


@pytest.mark.parametrize(("total", "part", "ranges"), [
    (10, 4, [(0, 3), (4, 7), (8, 9)]),
    (8, 4, [(0, 3), (4, 7)]),
    (3, 4, [(0, 2)]),
    (0, 4, []),
])
def test_part_ranges_cover_every_byte_once(total: int, part: int, ranges: list[tuple[int, int]]) -> None:
    assert part_ranges(total, part) == ranges
