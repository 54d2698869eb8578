"""Which interpreter the HF runtime re-executes in when the catalog starts it with kubeserve's python."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubeserve.runtimes.hfserver.relaunch import candidates, model_server_python, relaunch_argv

HERE = Path("/repo/src/kubeserve/runtimes/hfserver")


@pytest.mark.parametrize(("env", "expected"), [
    ({"HOME": "/h"}, [Path("/repo/.venvs/vllm"), Path("/h/.kubeserve/venvs/vllm")]),
    ({"HOME": "/h", "KUBESERVE_VLLM_VENV": "/v"}, [Path("/v")]),
    ({"HOME": "/h", "KUBESERVE_VLLM_VENV": "/v", "KUBESERVE_HF_VENV": "/hf"}, [Path("/hf")]),
    ({"HOME": "/h", "KUBESERVE_HF_VENV": ""}, [Path("/repo/.venvs/vllm"), Path("/h/.kubeserve/venvs/vllm")]),
])
def test_candidates(env: dict[str, str], expected: list[Path]) -> None:
    assert candidates(env, HERE) == expected


@pytest.mark.parametrize(("present", "found"), [
    ({Path("/repo/.venvs/vllm/bin/python"), Path("/h/.kubeserve/venvs/vllm/bin/python")},
     Path("/repo/.venvs/vllm/bin/python")),
    ({Path("/h/.kubeserve/venvs/vllm/bin/python")}, Path("/h/.kubeserve/venvs/vllm/bin/python")),
    (set(), None),
])
def test_first_existing_python(present: set[Path], found: Path | None) -> None:
    assert model_server_python({"HOME": "/h"}, HERE, present.__contains__) == found


def test_relaunch_runs_this_module_with_the_same_args() -> None:
    argv = relaunch_argv(Path("/v/bin/python"), HERE, ["--model_name=m", "--dtype=auto"])
    assert argv[:2] == ["/v/bin/python", "-c"] and argv[3:] == ["--model_name=m", "--dtype=auto"]
    assert "sys.path.append('/repo/src')" in argv[2]
    assert "run_module('kubeserve.runtimes.hfserver', run_name='__main__', alter_sys=True)" in argv[2]
