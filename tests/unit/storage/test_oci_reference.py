"""Image references as modelcar URIs write them."""

from __future__ import annotations

import pytest

from kubeserve.storage.errors import InvalidStorageUri
from kubeserve.storage.oci.reference import Reference, is_loopback, parse_reference

D = "sha256:" + "a" * 64


@pytest.mark.parametrize(("uri", "expected"), [
    ("oci://registry.redhat.io/rhelai1/modelcar-granite-7b-starter:latest",
     Reference("registry.redhat.io", "rhelai1/modelcar-granite-7b-starter", "latest")),
    ("oci://127.0.0.1:5000/a/b", Reference("127.0.0.1:5000", "a/b", "latest")),
    (f"oci://quay.io/org/m@{D}", Reference("quay.io", "org/m", None, D)),
    (f"oci://quay.io/org/m:v1@{D}", Reference("quay.io", "org/m", "v1", D)),
    ("oci://localhost/m:1.0", Reference("localhost", "m", "1.0")),
    ("oci://[::1]:5000/m:t", Reference("[::1]:5000", "m", "t")),
    ("oci://library/ubuntu:22.04", Reference("docker.io", "library/ubuntu", "22.04")),
    ("oci://ubuntu", Reference("docker.io", "library/ubuntu", "latest")),
])
def test_parse(uri: str, expected: Reference) -> None:
    assert parse_reference(uri) == expected


def test_ref_and_text() -> None:
    ref = parse_reference(f"oci://quay.io/org/m:v1@{D}")
    assert ref.ref == D and str(ref) == f"quay.io/org/m:v1@{D}" and ref.name == "quay.io/org/m"
    assert parse_reference("oci://quay.io/org/m").ref == "latest"


@pytest.mark.parametrize(("uri", "message"), [
    ("oci://", "not an image reference"),
    ("oci://quay.io/Org/m:v1", "lower-case"),
    ("oci://quay.io/org/m@sha256:abc", "64 lower-case hex"),
    ("oci://quay.io/org/m:bad/tag", "lower-case"),
    ("oci://quay.io/org/m:-x", "not a valid tag"),
    ("oci://quay.io/", "lower-case"),
    ("oci://quay io/m", "not an image reference"),
])
def test_bad_references(uri: str, message: str) -> None:
    with pytest.raises(InvalidStorageUri, match=message):
        parse_reference(uri)


@pytest.mark.parametrize(("registry", "loopback"), [
    ("127.0.0.1:5000", True), ("localhost", True), ("[::1]:5000", True), ("127.3.4.5", True),
    ("registry.redhat.io", False), ("10.0.0.1:5000", False), ("quay.io", False),
])
def test_is_loopback(registry: str, loopback: bool) -> None:
    assert is_loopback(registry) is loopback
