"""Finding the model-server interpreter, so the image catalog can start this runtime with kubeserve's python.

The catalog runs every built-in image as `sys.executable -m …` (kubeserve's interpreter), which has no torch
or transformers. When `python -m kubeserve.runtimes.hfserver` starts there, `__main__` replaces itself
(`os.execve`: same pid, so the kubelet's signals and exit codes reach the server) with the environment that
has them, running the same module with the same arguments. That environment is looked up in the same
order as the vLLM runtime's (`runtimes/vllm_env.py`), because the vLLM environment is where transformers
lives here: `KUBESERVE_HF_VENV`, `KUBESERVE_VLLM_VENV`, the checkout's `.venvs/vllm`, `~/.kubeserve/venvs/vllm`.
The code is repeated rather than imported because this package must not import kubeserve.

Pure: the caller passes the environment, this file's location and a way to test paths.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

NOT_INSTALLED_EXIT = 127  # what a shell answers when a command cannot run; the kubelet reports it as such
INSTALL_HINT = ("install it with `make tools` in the kubeserve repository (it creates .venvs/vllm, which has "
                "torch and transformers), or set KUBESERVE_HF_VENV to a virtual environment with torch, "
                "transformers, starlette and uvicorn")


def candidates(environ: Mapping[str, str], here: Path) -> list[Path]:
    """Virtual environments to try, best first; `here` is this package's directory."""
    for name in ("KUBESERVE_HF_VENV", "KUBESERVE_VLLM_VENV"):
        if environ.get(name):
            return [Path(environ[name]).expanduser()]
    home = Path(environ["HOME"]) if environ.get("HOME") else Path.home()
    # here = <repo>/src/kubeserve/runtimes/hfserver in a checkout (an editable install).
    return [here.parents[3] / ".venvs" / "vllm", home / ".kubeserve" / "venvs" / "vllm"]


def model_server_python(environ: Mapping[str, str], here: Path, exists: Callable[[Path], bool]) -> Path | None:
    for venv in candidates(environ, here):
        if exists(venv / "bin" / "python"):
            return venv / "bin" / "python"
    return None


def relaunch_argv(python: Path, here: Path, argv: list[str]) -> list[str]:
    """The command that runs this module in `python`. The directory holding `kubeserve` is *appended* to
    that interpreter's path (not put first, as PYTHONPATH would): in an installed kubeserve it is a
    site-packages full of kubeserve's own dependencies, which must not shadow the model server's."""
    bootstrap = (f"import runpy, sys; sys.path.append({str(here.parents[2])!r}); "
                 "runpy.run_module('kubeserve.runtimes.hfserver', run_name='__main__', alter_sys=True)")
    return [str(python), "-c", bootstrap, *argv]
