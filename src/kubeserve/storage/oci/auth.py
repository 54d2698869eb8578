"""Registry credentials and auth challenges.

Credentials come from a docker/containers auth file, the same JSON as a `kubernetes.io/dockerconfigjson`
Secret's `.dockerconfigjson` (the CLI writes an imagePullSecret's content to a file and points
`REGISTRY_AUTH_FILE` at it). A registry says how to authenticate in its 401's `WWW-Authenticate` header:
`Basic realm=…` or `Bearer realm=…,service=…,scope=…` (the token flow of the distribution spec).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubeserve.storage.errors import CredentialsError

DOCKER_HUB_KEYS = ("https://index.docker.io/v1/", "index.docker.io", "docker.io", "registry-1.docker.io")


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str
    source: str
    """Where they came from, for messages (the auth file's path)."""


@dataclass(frozen=True)
class AuthFile:
    path: Path | None
    entries: Mapping[str, tuple[str, str]]

    def credentials(self, registry: str) -> Credentials | None:
        """The entry for `host[:port]`, tolerating the URL-style keys docker writes."""
        for key in _keys(registry):
            if key in self.entries:
                user, password = self.entries[key]
                return Credentials(user, password, str(self.path))
        return None

    def describe(self) -> str:
        return str(self.path) if self.path else "no auth file (set REGISTRY_AUTH_FILE or use a pull secret)"


def _keys(registry: str) -> list[str]:
    keys = [registry, f"https://{registry}", f"http://{registry}", f"https://{registry}/v1/",
            f"https://{registry}/v2/"]
    if registry in DOCKER_HUB_KEYS:
        keys += list(DOCKER_HUB_KEYS)
    return keys


def auth_file_path(env: Mapping[str, str], home: Path) -> Path | None:
    """REGISTRY_AUTH_FILE, else $DOCKER_CONFIG/config.json, else ~/.docker/config.json (if it exists)."""
    if env.get("REGISTRY_AUTH_FILE"):
        path = Path(env["REGISTRY_AUTH_FILE"])
        if not path.is_file():
            raise CredentialsError(f"REGISTRY_AUTH_FILE={path}: no such file; point it at a docker config.json "
                                   "or the .dockerconfigjson of a pull secret")
        return path
    if env.get("DOCKER_CONFIG"):
        path = Path(env["DOCKER_CONFIG"]) / "config.json"
        return path if path.is_file() else None
    path = home / ".docker" / "config.json"
    return path if path.is_file() else None


def load_auth_file(env: Mapping[str, str], home: Path) -> AuthFile:
    path = auth_file_path(env, home)
    if path is None:
        return AuthFile(None, {})
    return AuthFile(path, parse_auth_file(path.read_text(encoding="utf-8", errors="replace"), str(path)))


def parse_auth_file(text: str, source: str) -> dict[str, tuple[str, str]]:
    """`{"auths": {"host": {"auth": base64(user:pass)} | {"username", "password"}}}` → host → (user, pass)."""
    try:
        doc: Any = json.loads(text)
    except json.JSONDecodeError as err:
        raise CredentialsError(f"auth file {source} is not valid JSON ({err.msg} at line {err.lineno}); expected "
                               '{"auths": {"registry": {"auth": "base64(user:password)"}}}') from None
    auths = doc.get("auths", {}) if isinstance(doc, dict) else None
    if not isinstance(auths, dict):
        raise CredentialsError(f'auth file {source}: "auths" must be an object of registry → credentials')
    entries: dict[str, tuple[str, str]] = {}
    for host, entry in auths.items():
        if not isinstance(entry, dict):
            raise CredentialsError(f"auth file {source}: the entry for {host} must be an object")
        if entry.get("auth"):
            try:
                user, sep, password = base64.b64decode(str(entry["auth"]), validate=True).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                sep = ""
            if not sep:
                raise CredentialsError(f'auth file {source}: the "auth" of {host} must be base64 of user:password')
            entries[str(host)] = (user, password)
        elif entry.get("username") is not None and entry.get("password") is not None:
            entries[str(host)] = (str(entry["username"]), str(entry["password"]))
    return entries


@dataclass(frozen=True)
class Challenge:
    scheme: str
    """Lower case: "basic" or "bearer"."""
    params: Mapping[str, str]


_PARAM = re.compile(r'\s*([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))\s*,?')


def parse_challenge(header: str) -> Challenge | None:
    """`Bearer realm="https://auth",service="registry",scope="repository:a/b:pull,push"` → Challenge."""
    scheme, _, rest = header.strip().partition(" ")
    if not scheme:
        return None
    params: dict[str, str] = {}
    pos = 0
    while pos < len(rest):
        match = _PARAM.match(rest, pos)
        if not match or match.end() == pos:
            break
        value = match.group(2)
        params[match.group(1).lower()] = (re.sub(r"\\(.)", r"\1", value) if value is not None
                                          else match.group(3))
        pos = match.end()
    return Challenge(scheme.lower(), params)
