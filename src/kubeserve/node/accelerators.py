"""Accelerator detection: which GPUs (and other devices) this machine has, read from the hardware.

Used for the Node's capacity and for the AcceleratorProfiles `kubeserve up` creates. Each probe is a
small function; a probe that cannot run (tool missing, driver absent) reports nothing.
"""

from __future__ import annotations

import glob
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Accelerator:
    resource: str  # the extended resource name, e.g. nvidia.com/gpu
    count: int
    display_name: str  # e.g. "NVIDIA H100 80GB HBM3"
    profile_name: str  # the AcceleratorProfile to create, e.g. nvidia-gpu


def _run(cmd: list[str]) -> str:
    if shutil.which(cmd[0]) is None:
        return ""
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=10, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return ""


def _nvidia() -> Accelerator | None:
    names = [line.split(":", 1)[1].split("(UUID")[0].strip()
             for line in _run(["nvidia-smi", "-L"]).splitlines() if line.startswith("GPU ")]
    if not names:
        return None
    return Accelerator("nvidia.com/gpu", len(names), names[0], "nvidia-gpu")


def _amd() -> Accelerator | None:
    cards = [p for p in glob.glob("/sys/class/drm/card*/device/vendor")
             if Path(p).read_text().strip() == "0x1002" and glob.glob(p.rsplit("/", 1)[0] + "/mem_info_vram_total")]
    if not cards:
        return None
    return Accelerator("amd.com/gpu", len(cards), "AMD GPU", "amd-gpu")


def _gaudi() -> Accelerator | None:
    lines = [line for line in _run(["hl-smi", "-Q", "name", "-f", "csv,noheader"]).splitlines() if line.strip()]
    if not lines:
        return None
    return Accelerator("habana.ai/gaudi", len(lines), lines[0].strip(), "habana-gaudi")


PROBES: tuple[Callable[[], Accelerator | None], ...] = (_nvidia, _amd, _gaudi)


def detect(probes: tuple[Callable[[], Accelerator | None], ...] = PROBES) -> list[Accelerator]:
    found = []
    for probe in probes:
        try:
            accelerator = probe()
        except OSError:
            accelerator = None
        if accelerator is not None:
            found.append(accelerator)
    return found


def accelerator_profile(accelerator: Accelerator, namespace: str) -> dict[str, object]:
    """The AcceleratorProfile OpenShift AI would show for this device (as in the guide's example)."""
    return {
        "apiVersion": "dashboard.opendatahub.io/v1",
        "kind": "AcceleratorProfile",
        "metadata": {"name": accelerator.profile_name, "namespace": namespace,
                     "labels": {"app.kubernetes.io/managed-by": "kubeserve"}},
        "spec": {
            "displayName": accelerator.display_name,
            "enabled": True,
            "identifier": accelerator.resource,
            "description": f"{accelerator.count} x {accelerator.display_name} detected by kubeserve",
            "tolerations": [{"effect": "NoSchedule", "key": accelerator.resource, "operator": "Exists"}],
        },
    }
