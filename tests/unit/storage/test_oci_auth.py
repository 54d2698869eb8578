"""Auth files (docker config.json / .dockerconfigjson) and WWW-Authenticate challenges."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from kubeserve.storage.errors import CredentialsError
from kubeserve.storage.oci.auth import Challenge, auth_file_path, load_auth_file, parse_auth_file, parse_challenge


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_parse_auth_file_forms() -> None:
    entries = parse_auth_file(json.dumps({"auths": {
        "quay.io": {"auth": b64("robot+x:tok:en")},
        "127.0.0.1:5000": {"username": "u", "password": "p"},
        "https://index.docker.io/v1/": {"auth": b64("hub:pw")},
        "empty.io": {},
    }}), "f")
    assert entries == {"quay.io": ("robot+x", "tok:en"), "127.0.0.1:5000": ("u", "p"),
                       "https://index.docker.io/v1/": (["hub", "pw"][0], "pw")}


@pytest.mark.parametrize(("text", "message"), [
    ("{nope", "not valid JSON"),
    ('{"auths": []}', '"auths" must be an object'),
    ('{"auths": {"a": "x"}}', "must be an object"),
    ('{"auths": {"a": {"auth": "!!!"}}}', "base64 of user:password"),
    ('{"auths": {"a": {"auth": "' + b64("nocolon") + '"}}}', "base64 of user:password"),
])
def test_bad_auth_files(text: str, message: str) -> None:
    with pytest.raises(CredentialsError, match=message):
        parse_auth_file(text, "secret.json")


def test_lookup_by_host_and_url_keys(tmp_path: Path) -> None:
    path = tmp_path / "auth.json"
    path.write_text(json.dumps({"auths": {"https://quay.io": {"auth": b64("a:b")},
                                          "index.docker.io": {"auth": b64("c:d")}}}))
    auth = load_auth_file({"REGISTRY_AUTH_FILE": str(path)}, tmp_path)
    creds = auth.credentials("quay.io")
    assert creds is not None and (creds.username, creds.password, creds.source) == ("a", "b", str(path))
    hub = auth.credentials("docker.io")
    assert hub is not None and hub.username == "c"
    assert auth.credentials("ghcr.io") is None


def test_auth_file_precedence(tmp_path: Path) -> None:
    (tmp_path / "dc").mkdir()
    (tmp_path / "dc" / "config.json").write_text("{}")
    (tmp_path / "home" / ".docker").mkdir(parents=True)
    (tmp_path / "home" / ".docker" / "config.json").write_text("{}")
    explicit = tmp_path / "explicit.json"
    explicit.write_text("{}")
    home = tmp_path / "home"
    both = {"REGISTRY_AUTH_FILE": str(explicit), "DOCKER_CONFIG": str(tmp_path / "dc")}
    assert auth_file_path(both, home) == explicit
    assert auth_file_path({"DOCKER_CONFIG": str(tmp_path / "dc")}, home) == tmp_path / "dc" / "config.json"
    assert auth_file_path({}, home) == home / ".docker" / "config.json"
    assert auth_file_path({}, tmp_path / "nohome") is None
    with pytest.raises(CredentialsError, match=r"REGISTRY_AUTH_FILE=.*no such file"):
        auth_file_path({"REGISTRY_AUTH_FILE": str(tmp_path / "missing.json")}, home)


@pytest.mark.parametrize(("header", "expected"), [
    ('Basic realm="Registry Realm"', Challenge("basic", {"realm": "Registry Realm"})),
    ('Bearer realm="https://auth.io/token",service="registry.io",scope="repository:a/b:pull,push"',
     Challenge("bearer", {"realm": "https://auth.io/token", "service": "registry.io",
                          "scope": "repository:a/b:pull,push"})),
    ('Bearer realm="https://x/t", error="insufficient_scope"',
     Challenge("bearer", {"realm": "https://x/t", "error": "insufficient_scope"})),
    ("Bearer realm=https://x/t,service=reg", Challenge("bearer", {"realm": "https://x/t", "service": "reg"})),
    ('Bearer realm="a\\"b"', Challenge("bearer", {"realm": 'a"b'})),
    ("", None),
])
def test_parse_challenge(header: str, expected: Challenge | None) -> None:
    assert parse_challenge(header) == expected
