"""The node's settings: who the one Node is (name, labels, taints), what it hands out, how it schedules.

Built once in `main.py` from `KUBESERVE_NODE_NAME`, `KUBESERVE_NODE_LABELS`, `KUBESERVE_NODE_TAINTS`,
`KUBESERVE_GPUS` and `KUBESERVE_RESOURCE_POLICY`; the parsers here give each malformed value a message
that says what a good one looks like.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from kubeserve.node.accelerators import Accelerator, detect
from kubeserve.node.fit import POLICIES
from kubeserve.node.inventory import product_names, resolve_inventory

T = TypeVar("T")

_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
_NAME = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)$")
_PREFIX = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


@dataclass(frozen=True)
class NodeSettings:
    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    taints: tuple[Mapping[str, Any], ...] = ()
    inventory: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # resource -> device ids
    resource_policy: str = "clamp"
    kubelet_port: int = 0  # published in status.daemonEndpoints.kubeletEndpoint.Port
    products: Mapping[str, str] = field(default_factory=dict)  # resource -> device display name, for labels

    def __post_init__(self) -> None:
        if self.resource_policy not in POLICIES:
            raise ValueError(f"resource policy {self.resource_policy!r} is not one of {', '.join(POLICIES)} "
                             "(KUBESERVE_RESOURCE_POLICY)")


def default_node_name() -> str:
    return socket.gethostname().split(".")[0].lower() or "kubeserve"


def _check_key(key: str, what: str, example: str) -> None:
    prefix, slash, name = key.rpartition("/")
    if not name or len(name) > 63 or not _NAME.match(name) or (slash and (not prefix or len(prefix) > 253
                                                                          or not _PREFIX.match(prefix))):
        raise ValueError(f"{what} key {key!r} is not a qualified name ([prefix/]name of letters, digits, '-', "
                         f"'_', '.'); for example {example}")


def _check_value(value: str, what: str, example: str) -> None:
    if len(value) > 63 or not _VALUE.match(value):
        raise ValueError(f"{what} value {value!r} must be at most 63 letters, digits, '-', '_' or '.', starting "
                         f"and ending with a letter or digit; for example {example}")


def parse_labels(text: str) -> dict[str, str]:
    """`a=b,c=d` (KUBESERVE_NODE_LABELS)."""
    example = "KUBESERVE_NODE_LABELS=zone=lab,example.com/tier=gpu"
    out: dict[str, str] = {}
    for raw in text.split(","):
        entry = raw.strip()
        if not entry:
            continue
        key, sep, value = entry.partition("=")
        key, value = key.strip(), value.strip()
        if not sep:
            raise ValueError(f"node label {entry!r} has no '=': {example}")
        _check_key(key, "node label", example)
        _check_value(value, "node label", example)
        out[key] = value
    return out


def parse_taints(text: str) -> tuple[dict[str, str], ...]:
    """`key=value:NoSchedule,key2:NoExecute` (KUBESERVE_NODE_TAINTS), as kubectl taint writes them."""
    example = "KUBESERVE_NODE_TAINTS=nvidia.com/gpu=present:NoSchedule,dedicated:NoExecute"
    out: list[dict[str, str]] = []
    for raw in text.split(","):
        entry = raw.strip()
        if not entry:
            continue
        spec, sep, effect = entry.rpartition(":")
        if not sep:
            raise ValueError(f"node taint {entry!r} has no effect: write key[=value]:effect with effect one of "
                             f"{', '.join(_EFFECTS)}; {example}")
        if effect not in _EFFECTS:
            raise ValueError(f"node taint {entry!r}: effect {effect!r} is not one of {', '.join(_EFFECTS)}; "
                             f"{example}")
        key, has_value, value = spec.partition("=")
        _check_key(key, "node taint", example)
        taint = {"key": key, "effect": effect}
        if has_value:
            _check_value(value, "node taint", example)
            taint["value"] = value
        out.append(taint)
    return tuple(out)


def parse_policy(text: str) -> str:
    policy = text.strip().lower() or "clamp"
    if policy not in POLICIES:
        raise ValueError(f"KUBESERVE_RESOURCE_POLICY={text!r} is not one of {', '.join(POLICIES)}")
    return policy


def settings_from_env(env: Mapping[str, str], *, kubelet_port: int = 0,
                      detector: Callable[[], Sequence[Accelerator]] = detect) -> NodeSettings:
    """NodeSettings from the `KUBESERVE_*` variables (for `main.py`); detection runs only without KUBESERVE_GPUS."""
    gpus = env.get("KUBESERVE_GPUS")
    detected: list[Accelerator] = [] if gpus and gpus.strip() else list(detector())
    return NodeSettings(
        name=env.get("KUBESERVE_NODE_NAME", "").strip().lower() or default_node_name(),
        labels=parse_labels(env.get("KUBESERVE_NODE_LABELS", "")),
        taints=parse_taints(env.get("KUBESERVE_NODE_TAINTS", "")),
        inventory=_named("KUBESERVE_GPUS", lambda: resolve_inventory(gpus, lambda: detected)),
        resource_policy=parse_policy(env.get("KUBESERVE_RESOURCE_POLICY", "")),
        kubelet_port=kubelet_port,
        products=product_names(detected),
    )


def _named(variable: str, parse: Callable[[], T]) -> T:
    """Run a parser whose errors should name the variable the value came from."""
    try:
        return parse()
    except ValueError as exc:
        raise ValueError(f"{variable}: {exc}") from None
