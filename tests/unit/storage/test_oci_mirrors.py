"""Where a pull goes, as containers-registries.conf(5) says: a table over `pull_endpoints`."""

from __future__ import annotations

import pytest

from kubeserve.storage.errors import InvalidStorageUri
from kubeserve.storage.oci.mirrors import find_registry, is_insecure, parse_registries_conf, pull_endpoints
from kubeserve.storage.oci.reference import parse_reference

D = "sha256:" + "b" * 64
CONF = parse_registries_conf("""
unqualified-search-registries = ["quay.io"]

[[registry]]
prefix = "registry.redhat.io"
location = "registry.redhat.io"
[[registry.mirror]]
location = "127.0.0.1:5000"
[[registry.mirror]]
location = "mirror.corp/redhat"
pull-from-mirror = "digest-only"
[[registry.mirror]]
location = "tags.corp"
pull-from-mirror = "tag-only"
insecure = true

[[registry]]
prefix = "registry.redhat.io/rhelai1"
location = "internal.corp:8443/ai"
insecure = true

[[registry]]
location = "blocked.io"
blocked = true
[[registry.mirror]]
location = "open.corp"

[[registry]]
location = "gone.io"
blocked = true

[[registry]]
prefix = "*.example.com"
[[registry.mirror]]
location = "cache.corp"

[[registry]]
location = "legacy.io"
mirror-by-digest-only = true
[[registry.mirror]]
location = "legacy-mirror.corp"

[registries.insecure]
registries = ["old.corp:5000"]
""", "test.conf")


@pytest.mark.parametrize(("uri", "expected"), [
    # tag pull: the all + tag-only mirrors, then the location
    ("registry.redhat.io/ubi9/ubi:9", [("127.0.0.1:5000/ubi9/ubi:9", False, True),
                                       ("tags.corp/ubi9/ubi:9", True, True),
                                       ("registry.redhat.io/ubi9/ubi:9", False, False)]),
    # digest pull: the all + digest-only mirrors (mirror path prefixes kept)
    (f"registry.redhat.io/ubi9/ubi@{D}", [(f"127.0.0.1:5000/ubi9/ubi@{D}", False, True),
                                          (f"mirror.corp/redhat/ubi9/ubi@{D}", False, True),
                                          (f"registry.redhat.io/ubi9/ubi@{D}", False, False)]),
    # the longest prefix wins, and rewrites the path
    ("registry.redhat.io/rhelai1/modelcar-granite-7b-starter:latest",
     [("internal.corp:8443/ai/modelcar-granite-7b-starter:latest", True, False)]),
    # a prefix matches whole path components only
    ("registry.redhat.io.evil.com/x:1", [("registry.redhat.io.evil.com/x:1", False, False)]),
    ("blocked.io/a/b:1", [("open.corp/a/b:1", False, True)]),
    ("gone.io/a:1", []),
    ("foo.example.com/a:1", [("foo.example.com/a:1", False, True), ("foo.example.com/a:1", False, False)]),
    ("legacy.io/a:1", [("legacy.io/a:1", False, False)]),
    (f"legacy.io/a@{D}", [(f"legacy-mirror.corp/a@{D}", False, True), (f"legacy.io/a@{D}", False, False)]),
    ("old.corp:5000/a:1", [("old.corp:5000/a:1", True, False)]),
    ("quay.io/a/b:1", [("quay.io/a/b:1", False, False)]),
])
def test_pull_endpoints(uri: str, expected: list[tuple[str, bool, bool]]) -> None:
    got = [(str(e.reference), e.insecure, e.mirror) for e in pull_endpoints(parse_reference(uri), CONF)]
    assert got == expected


def test_wildcard_mirror_rewrites_nothing_but_is_found() -> None:
    reg = find_registry(parse_reference("a.example.com/x:1"), CONF)
    assert reg is not None and reg.prefix == "*.example.com"


def test_is_insecure_for_push() -> None:
    assert is_insecure("internal.corp:8443", CONF) and is_insecure("old.corp:5000", CONF)
    assert is_insecure("tags.corp", CONF)
    assert not is_insecure("registry.redhat.io", CONF)


@pytest.mark.parametrize(("text", "message"), [
    ("[[registry]\n", "not valid TOML"),
    ('[[registry]]\nprefix = "a.io"\n', "needs a location"),
    ('[[registry]]\nlocation = "a.io"\n[[registry.mirror]]\nlocation = "m"\npull-from-mirror = "sometimes"\n',
     "pull-from-mirror='sometimes'"),
    ('[[registry]]\nlocation = "a.io"\n[[registry.mirror]]\ninsecure = true\n', "has no location"),
    ('registry = "x"\n', "must be an array of tables"),
])
def test_bad_files(text: str, message: str) -> None:
    with pytest.raises(InvalidStorageUri, match=message):
        parse_registries_conf(text, "bad.conf")
