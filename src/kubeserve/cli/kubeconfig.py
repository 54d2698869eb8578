"""Writing the kubeconfig that points kubectl, the Python clients and the MCP server at kubeserve.

A kubeconfig holds a bearer token, so it is written with mode 0600 and by rename, never half-written.
Users usually already have a `~/.kube/config` with other clusters in it, so merging replaces only the
cluster, user and context entries that carry kubeserve's names and keeps every other entry and every
key this module does not know about, in order; running it again changes nothing.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from kubeserve.atomicfile import write_atomic

_SECTIONS = ("clusters", "users", "contexts")


def build_kubeconfig(
    server: str, ca_path: Path, token: str, name: str = "kubeserve", namespace: str = "default"
) -> dict[str, Any]:
    """A kubeconfig with one cluster, user and context, all called `name`, and `name` as current context.

    The CA path is made absolute, because kubectl resolves relative paths against the kubeconfig's
    own directory, which is rarely where the CA is.
    """
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [
            {
                "name": name,
                "cluster": {"server": server, "certificate-authority": os.path.abspath(ca_path)},
            }
        ],
        "users": [{"name": name, "user": {"token": token}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name, "namespace": namespace}}],
        "current-context": name,
    }


def write_kubeconfig(path: Path, config: dict[str, Any]) -> None:
    """Write `config` as YAML to `path` (through a symlink, if it is one): mode 0600, atomically."""
    path = Path(path)
    if path.is_symlink():
        path = path.resolve()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    text = yaml.safe_dump(config, sort_keys=False, default_flow_style=False, allow_unicode=True)
    write_atomic(path, text.encode("utf-8"), 0o600)


def _load(target: Path) -> dict[str, Any]:
    try:
        text = target.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {"apiVersion": "v1", "kind": "Config", "preferences": {}}
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValueError(f"{target} is not valid YAML; not touching it: {exc}") from exc
    if loaded is None:
        return {"apiVersion": "v1", "kind": "Config", "preferences": {}}
    if not isinstance(loaded, dict):
        raise ValueError(f"{target} is not a kubeconfig (a YAML mapping); not touching it")
    return loaded


def merge_kubeconfig(target: Path, config: dict[str, Any], *, set_current: bool = True) -> None:
    """Add or replace `config`'s clusters, users and contexts (by name) in the kubeconfig at `target`.

    Creates `target` if it is absent. Everything else in the file is kept: other entries, their order,
    and keys unknown here. With `set_current`, `config`'s current context becomes the file's.
    Raises `ValueError`, leaving the file as it is, when it exists but is not a kubeconfig.
    """
    target = Path(target)
    merged = _load(target)
    for section in _SECTIONS:
        existing = merged.get(section)
        if existing is None:
            existing = []
        elif not isinstance(existing, list):
            raise ValueError(f"{target}: {section} is not a list; not touching it")
        entries: list[Any] = list(existing)
        for entry in config.get(section) or []:
            position = next(
                (
                    i
                    for i, old in enumerate(entries)
                    if isinstance(old, dict) and old.get("name") == entry["name"]
                ),
                None,
            )
            if position is None:
                entries.append(entry)
            else:
                entries[position] = entry
        merged[section] = entries
    if set_current and config.get("current-context"):
        merged["current-context"] = config["current-context"]
    write_kubeconfig(target, merged)
