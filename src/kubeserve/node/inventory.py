"""The accelerator inventory: which devices of which extended resource this node hands out.

From `KUBESERVE_GPUS` when set (to pretend, to restrict, or where detection cannot see the devices), else
from the hardware (`accelerators.detect()`). Device ids are what the kubelet later puts in
`CUDA_VISIBLE_DEVICES` (or the AMD/Gaudi equivalent), so a count `N` means ids `0..N-1`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence

from kubeserve.node.accelerators import Accelerator, detect

Inventory = dict[str, tuple[str, ...]]

# an extended resource name: a DNS subdomain prefix, "/", a name (nvidia.com/gpu, habana.ai/gaudi)
_RESOURCE = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?/[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_DEVICE_ID = re.compile(r"^[A-Za-z0-9][-A-Za-z0-9_.:]*$")
_EXAMPLE = "for example nvidia.com/gpu=4 or nvidia.com/gpu=0,1,3;amd.com/gpu=2"


def parse_inventory(text: str) -> Inventory:
    """`nvidia.com/gpu=4;amd.com/gpu=0,1`: a bare number is a count (ids 0..N-1), a comma list names the
    device ids (a single id is written with a trailing comma, `nvidia.com/gpu=3,`)."""
    out: Inventory = {}
    for raw in text.split(";"):
        entry = raw.strip()
        if not entry:
            continue
        resource, sep, value = (part.strip() for part in entry.partition("="))
        if not sep:
            raise ValueError(f"accelerator inventory entry {entry!r} has no '=': {_EXAMPLE}")
        if not _RESOURCE.match(resource):
            raise ValueError(f"accelerator inventory entry {entry!r}: {resource!r} is not an extended resource "
                             f"name such as nvidia.com/gpu: {_EXAMPLE}")
        if resource in out:
            raise ValueError(f"accelerator inventory names {resource} twice: {_EXAMPLE}")
        if "," not in value:
            if not value.isdigit():
                raise ValueError(f"accelerator inventory entry {entry!r}: {value!r} is neither a device count nor "
                                 f"a comma-separated list of device ids: {_EXAMPLE}")
            out[resource] = tuple(str(i) for i in range(int(value)))
            continue
        ids = tuple(i.strip() for i in value.split(",") if i.strip())
        bad = [i for i in ids if not _DEVICE_ID.match(i)]
        if bad:
            raise ValueError(f"accelerator inventory entry {entry!r}: invalid device id {bad[0]!r}: {_EXAMPLE}")
        if len(set(ids)) != len(ids):
            raise ValueError(f"accelerator inventory entry {entry!r} lists a device id twice")
        out[resource] = ids
    return out


def from_accelerators(accelerators: Sequence[Accelerator]) -> Inventory:
    out: Inventory = {}
    for accelerator in accelerators:
        ids = out.get(accelerator.resource, ())
        out[accelerator.resource] = ids + tuple(str(len(ids) + i) for i in range(accelerator.count))
    return out


def resolve_inventory(setting: str | None,
                      detector: Callable[[], Sequence[Accelerator]] = detect) -> Inventory:
    """The setting when given, else the hardware (an empty setting means "detect")."""
    if setting is not None and setting.strip():
        return parse_inventory(setting)
    return from_accelerators(detector())


def product_names(accelerators: Sequence[Accelerator]) -> dict[str, str]:
    """resource -> display name of its first device, for the node's `<resource>.product` label."""
    out: dict[str, str] = {}
    for accelerator in accelerators:
        out.setdefault(accelerator.resource, accelerator.display_name)
    return out


def accelerator_labels(inventory: Mapping[str, Sequence[str]],
                       products: Mapping[str, str] | None = None) -> dict[str, str]:
    """Labels as the vendors' device plugins/feature discovery set them: `nvidia.com/gpu.present=true`,
    `nvidia.com/gpu.count=2`, and the product name where known."""
    labels: dict[str, str] = {}
    for resource, ids in inventory.items():
        if not ids:
            continue
        labels[f"{resource}.present"] = "true"
        labels[f"{resource}.count"] = str(len(ids))
        product = (products or {}).get(resource)
        if product:
            labels[f"{resource}.product"] = _label_value(product)
    return labels


def _label_value(text: str) -> str:
    value = re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-_.")[:63]
    return value.strip("-_.")
