"""Registry mirrors and insecure registries, read from a containers-registries.conf(5) v2 file.

This is how the guide's `oci://registry.redhat.io/rhelai1/…` URIs are served from a local or internal
registry unchanged: a `[[registry]]` with `prefix = "registry.redhat.io"` and a `location` or
`[[registry.mirror]]` entries pointing elsewhere. The choice of where to pull from is a pure function
(`pull_endpoints`) of the reference and the parsed file.

Deviation from containers/image: a `blocked` registry still lets its mirrors serve it (a mirror-only
registry for air-gapped machines); only its own location is never contacted.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from kubeserve.storage.errors import InvalidStorageUri
from kubeserve.storage.oci.reference import Reference, parse_reference

PULL_FROM_MIRROR = ("all", "digest-only", "tag-only")


@dataclass(frozen=True)
class Mirror:
    location: str
    insecure: bool = False
    pull_from_mirror: str = "all"


@dataclass(frozen=True)
class Registry:
    prefix: str
    location: str
    insecure: bool = False
    blocked: bool = False
    mirror_by_digest_only: bool = False
    mirrors: tuple[Mirror, ...] = ()


@dataclass(frozen=True)
class RegistriesConf:
    registries: tuple[Registry, ...] = ()
    source: str = "registries.conf"


@dataclass(frozen=True)
class Endpoint:
    """One place to try: the reference rewritten to that location."""
    reference: Reference
    insecure: bool
    mirror: bool


def load_registries_conf(path: Path | None) -> RegistriesConf:
    if path is None:
        return RegistriesConf()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise InvalidStorageUri(f"registries.conf {path}: cannot read it ({err.strerror})") from None
    return parse_registries_conf(text, str(path))


def parse_registries_conf(text: str, source: str) -> RegistriesConf:
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise InvalidStorageUri(f"registries.conf {source} is not valid TOML: {err}") from None
    registries = [_registry(entry, source) for entry in _tables(doc.get("registry", []), source, "[[registry]]")]
    # The v1 format's `[registries.insecure] registries = [...]`, still common in old files.
    v1 = doc.get("registries", {})
    for host in (v1.get("insecure", {}).get("registries", []) if isinstance(v1, dict) else []):
        registries.append(Registry(prefix=str(host), location=str(host), insecure=True))
    return RegistriesConf(tuple(registries), source)


def _tables(value: Any, source: str, what: str) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise InvalidStorageUri(f"registries.conf {source}: {what} must be an array of tables")
    return value


def _registry(entry: dict[str, Any], source: str) -> Registry:
    location = str(entry.get("location", ""))
    prefix = str(entry.get("prefix", "") or location)
    if not prefix:
        raise InvalidStorageUri(f"registries.conf {source}: a [[registry]] needs a location or a prefix")
    if not location and not prefix.startswith("*."):
        raise InvalidStorageUri(f"registries.conf {source}: [[registry]] prefix={prefix!r} needs a location")
    mirrors = []
    for item in _tables(entry.get("mirror", []), source, "[[registry.mirror]]"):
        mode = str(item.get("pull-from-mirror", "all") or "all")
        if mode not in PULL_FROM_MIRROR:
            raise InvalidStorageUri(f"registries.conf {source}: pull-from-mirror={mode!r} for mirror "
                                    f"{item.get('location')}; use one of {', '.join(PULL_FROM_MIRROR)}")
        if not item.get("location"):
            raise InvalidStorageUri(f"registries.conf {source}: a mirror of {prefix} has no location")
        mirrors.append(Mirror(str(item["location"]), bool(item.get("insecure", False)), mode))
    return Registry(prefix=prefix, location=location, insecure=bool(entry.get("insecure", False)),
                    blocked=bool(entry.get("blocked", False)),
                    mirror_by_digest_only=bool(entry.get("mirror-by-digest-only", False)), mirrors=tuple(mirrors))


def _matches(name: str, prefix: str) -> bool:
    if prefix.startswith("*."):
        host = name.split("/", 1)[0]
        return host.endswith(prefix[1:])
    return name == prefix or (name.startswith(prefix) and name[len(prefix)] in "/:@")


def find_registry(ref: Reference, conf: RegistriesConf) -> Registry | None:
    """The `[[registry]]` with the longest prefix matching the reference's name (a `*.` prefix is shortest)."""
    name = ref.name
    best: Registry | None = None
    for reg in conf.registries:
        rank = 0 if reg.prefix.startswith("*.") else len(reg.prefix)
        if _matches(name, reg.prefix) and (best is None or rank > (0 if best.prefix.startswith("*.")
                                                                     else len(best.prefix))):
            best = reg
    return best


def _rewrite(ref: Reference, prefix: str, location: str) -> Reference:
    if prefix.startswith("*."):
        return ref
    moved = parse_reference(location + ref.name[len(prefix):])
    return replace(ref, registry=moved.registry, repository=moved.repository)


def pull_endpoints(ref: Reference, conf: RegistriesConf) -> tuple[Endpoint, ...]:
    """Mirrors in order (those allowed for a tag or digest pull), then the location itself unless blocked."""
    reg = find_registry(ref, conf)
    if reg is None:
        return (Endpoint(ref, insecure=False, mirror=False),)
    by_digest = ref.digest is not None
    endpoints = []
    for mirror in reg.mirrors:
        if (reg.mirror_by_digest_only or mirror.pull_from_mirror == "digest-only") and not by_digest:
            continue
        if mirror.pull_from_mirror == "tag-only" and by_digest:
            continue
        endpoints.append(Endpoint(_rewrite(ref, reg.prefix, mirror.location), mirror.insecure, mirror=True))
    if not reg.blocked:
        endpoints.append(Endpoint(_rewrite(ref, reg.prefix, reg.location or ""), reg.insecure, mirror=False))
    return tuple(endpoints)


def is_insecure(registry: str, conf: RegistriesConf) -> bool:
    """For pushes, which use no mirrors: is this host[:port] marked insecure?"""
    hosts = {host.split("/", 1)[0] for reg in conf.registries if reg.insecure
             for host in (reg.location or reg.prefix,)}
    hosts |= {m.location.split("/", 1)[0] for reg in conf.registries for m in reg.mirrors if m.insecure}
    return registry in hosts
