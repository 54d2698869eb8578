"""Storage settings: one frozen dataclass, built once by the entry point (`python -m kubeserve.storage`,
the `kubeserve` CLI, or the kubelet's image catalog through the environment)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from kubeserve.api.quantity import parse_quantity

MiB = 1 << 20

STORAGE_ENV_KEYS = ("KUBESERVE_MODEL_CACHE", "KUBESERVE_MODEL_CACHE_SIZE", "KUBESERVE_REGISTRIES_CONF",
                    "KUBESERVE_REGISTRY_CERTS", "KUBESERVE_STORAGE_CONCURRENCY", "KUBESERVE_STORAGE_PART_MIB")


@dataclass(frozen=True)
class StorageSettings:
    cache_dir: Path | None = None
    """The content-addressed model cache; None downloads straight to the destination every time."""
    cache_max_bytes: int | None = None
    """Size cap of the cache; least recently used models not in use are evicted to stay under it."""
    registries_conf: Path | None = None
    """containers-registries.conf(5) file with `[[registry]]` prefixes, mirrors and `insecure`."""
    certs_dirs: tuple[Path, ...] = ()
    """containers-certs.d(5) directories: `<dir>/<host[:port]>/ca.crt` trusts a registry's CA."""
    concurrency: int = 8
    part_size: int = 16 * MiB
    progress_interval: float = 2.0


class SettingsError(ValueError):
    """A KUBESERVE_* storage variable that cannot be used; the message names it."""


def default_home(env: Mapping[str, str]) -> Path:
    return Path(env.get("KUBESERVE_HOME") or Path.home() / ".kubeserve")


def settings_from_env(env: Mapping[str, str]) -> StorageSettings:
    home = default_home(env)
    cache = env.get("KUBESERVE_MODEL_CACHE", str(home / "models"))
    cache_dir = None if cache in ("", "none", "off") else Path(cache)
    cap = _cap(env.get("KUBESERVE_MODEL_CACHE_SIZE", ""))
    conf_text = env.get("KUBESERVE_REGISTRIES_CONF")
    if conf_text is not None:
        registries_conf = Path(conf_text) if conf_text else None
        if registries_conf is not None and not registries_conf.is_file():
            raise SettingsError(f"KUBESERVE_REGISTRIES_CONF={conf_text}: no such file")
    else:
        registries_conf = next((p for p in (home / "registries.conf", Path("/etc/containers/registries.conf"))
                                if p.is_file()), None)
    certs = tuple(Path(p) for p in env.get("KUBESERVE_REGISTRY_CERTS", "").split(os.pathsep) if p)
    certs = certs or (home / "certs.d", Path("/etc/containers/certs.d"), Path("/etc/docker/certs.d"))
    concurrency = _positive_int(env, "KUBESERVE_STORAGE_CONCURRENCY", 8)
    part_mib = _positive_int(env, "KUBESERVE_STORAGE_PART_MIB", 16)
    return StorageSettings(cache_dir=cache_dir, cache_max_bytes=cap, registries_conf=registries_conf,
                           certs_dirs=certs, concurrency=concurrency, part_size=part_mib * MiB)


def _cap(text: str) -> int | None:
    if text in ("", "0", "none", "unlimited"):
        return None
    try:
        value = int(parse_quantity(text))
    except ValueError as err:
        raise SettingsError(f"KUBESERVE_MODEL_CACHE_SIZE={text}: {err}") from None
    if value <= 0:
        raise SettingsError(f"KUBESERVE_MODEL_CACHE_SIZE={text}: must be positive, e.g. 50Gi")
    return value


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    text = env.get(name, "")
    if not text:
        return default
    if not text.isdigit() or int(text) <= 0:
        raise SettingsError(f"{name}={text}: expected a positive whole number")
    return int(text)
