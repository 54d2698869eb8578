"""Image references: `oci://registry[:port]/repo[:tag|@sha256:…]` (KServe's modelcar URIs) parsed into parts.

A reference without a registry host is a Docker Hub name, as container runtimes read it
(`oci://library/x` → `docker.io/library/x`), so URIs copied from a Containerfile still work.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, replace

from kubeserve.storage.errors import InvalidStorageUri

_COMPONENT = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_HOST = re.compile(r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*"
                   r"|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$")
EXAMPLE = "oci://registry.example.com/org/model:tag"


@dataclass(frozen=True)
class Reference:
    registry: str
    """`host[:port]` as written (`docker.io` for Docker Hub names)."""
    repository: str
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        return f"{self.registry}/{self.repository}"

    @property
    def ref(self) -> str:
        """What to ask the registry for: the digest when pinned, else the tag."""
        return self.digest or self.tag or "latest"

    def __str__(self) -> str:
        text = self.name
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text

    def pinned(self, digest: str) -> Reference:
        return replace(self, tag=None, digest=digest)


def parse_reference(uri: str) -> Reference:
    text = uri[len("oci://"):] if uri.startswith("oci://") else uri
    bad = f"{uri}: not an image reference; expected {EXAMPLE} or …@sha256:<digest>"
    if not text or any(c.isspace() for c in text):
        raise InvalidStorageUri(bad)
    digest = None
    if "@" in text:
        text, digest = text.split("@", 1)
        if not _DIGEST.match(digest):
            raise InvalidStorageUri(f"{uri}: the digest {digest!r} must be sha256: and 64 lower-case hex digits")
    tag = None
    slash = text.rfind("/")
    colon = text.rfind(":")
    if colon > slash:
        text, tag = text[:colon], text[colon + 1:]
        if not _TAG.match(tag):
            raise InvalidStorageUri(f"{uri}: the tag {tag!r} is not a valid tag")
    first, sep, rest = text.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost" or first.startswith("[")):
        registry, repository = first, rest
        if not _HOST.match(registry):
            raise InvalidStorageUri(f"{uri}: {registry!r} is not a registry host[:port]")
    else:
        registry, repository = "docker.io", text if sep else f"library/{text}"
    if not repository or not all(_COMPONENT.match(part) for part in repository.split("/")):
        raise InvalidStorageUri(f"{uri}: repository {repository!r} must be lower-case path components "
                                f"(letters, digits, '.', '_', '-'), e.g. {EXAMPLE}")
    if tag is None and digest is None:
        tag = "latest"
    return Reference(registry=registry, repository=repository, tag=tag, digest=digest)


def split_host(registry: str) -> str:
    """The host part of `host[:port]` (brackets of an IPv6 literal removed)."""
    if registry.startswith("["):
        return registry[1:registry.index("]")]
    return registry.rsplit(":", 1)[0] if registry.count(":") == 1 else registry


def is_loopback(registry: str) -> bool:
    host = split_host(registry)
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def api_host(registry: str) -> str:
    """Docker Hub's API lives on another host than its name."""
    return "registry-1.docker.io" if registry in ("docker.io", "index.docker.io") else registry
