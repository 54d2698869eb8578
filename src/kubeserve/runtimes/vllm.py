"""The vLLM runtime: `python -m kubeserve.runtimes.vllm ARGS…` runs vLLM's OpenAI server for a pod.

The image catalog maps the guide's vLLM images (`quay.io/modh/vllm:*`, `vllm/vllm-openai`) to this
adapter, so a ServingRuntime's container — which gives only `args`, the image supplying the entrypoint —
starts here with the guide's arguments. The adapter runs in kubeserve's own interpreter with nothing but
the standard library, decides what to change (`vllm_args.translate`: bind the pod's address, drop what
the installed vLLM rejects such as `--device=cpu`, size the CPU KV cache from the container's memory),
prints one `kubeserve: …` line per change to stderr (so `kubectl logs` shows why the command differs from
the manifest), and then replaces itself (`os.execve`, same pid, so the kubelet's signals and exit codes
reach vLLM directly) with the vLLM environment's python running `-m vllm.entrypoints.openai.api_server`.
vLLM therefore runs in its own virtual environment. The one thing of kubeserve it loads is the KServe v2
middleware (`--middleware kubeserve.runtimes.v2asgi.V2Middleware`, standard library only), so `/v2/...`
answers in the pod itself: through the predictor Service and `kubectl port-forward`, not only the gateway.

`python -m kubeserve.runtimes.vllm --kubeserve-dry-run ARGS…` prints the command and environment changes
instead of starting vLLM.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from kubeserve.runtimes.vllm_args import describe_version, offers, translate
from kubeserve.runtimes.vllm_env import API_SERVER, VllmNotInstalled, gather_facts, venv_python

V2_MIDDLEWARE = "kubeserve.runtimes.v2asgi.V2Middleware"
# The directory holding the `kubeserve` package: vLLM's interpreter imports the middleware from here.
SOURCE_ROOT = Path(__file__).resolve().parents[2]

DRY_RUN_FLAG = "--kubeserve-dry-run"
# What the kubelet reports when a container's command cannot run at all (as a shell does).
NOT_INSTALLED_EXIT = 127


def plan(args: Sequence[str], environ: Mapping[str, str]) -> tuple[list[str], dict[str, str], list[str]]:
    """(argv to exec, the full environment, notes) for these server arguments; raises VllmNotInstalled."""
    venv, facts = gather_facts(environ)
    server_args, extra_env, notes = translate(args, environ, facts)
    python = str(venv_python(venv))
    env = dict(environ)
    env.update(extra_env)
    # vLLM's own children (its engine core, `python -m …` helpers) must find the same environment.
    env["VIRTUAL_ENV"] = str(venv)
    env["PATH"] = f"{venv / 'bin'}:{environ.get('PATH', os.defpath)}"
    env.pop("PYTHONHOME", None)
    env.pop("PYTHONPATH", None)
    if offers("--middleware", facts):
        env["PYTHONPATH"] = str(SOURCE_ROOT)  # only for the v2 middleware; kubeserve's dependencies stay out
        server_args.append(f"--middleware={V2_MIDDLEWARE}")
        notes.append("serving the KServe v2 protocol (/v2/models/<name>/infer, generate) beside the OpenAI API")
    notes.insert(0, f"starting {describe_version(facts.version)} from {venv}"
                    f" ({'GPU' if facts.gpu else 'no GPU visible: CPU back end'})")
    return [python, "-m", API_SERVER, *server_args], env, notes


def main(argv: Sequence[str], environ: Mapping[str, str]) -> int:
    dry_run = bool(argv) and argv[0] == DRY_RUN_FLAG
    args = list(argv[1:] if dry_run else argv)
    try:
        command, env, notes = plan(args, environ)
    except VllmNotInstalled as err:
        print(f"kubeserve: cannot start vLLM: {err}", file=sys.stderr, flush=True)
        return NOT_INSTALLED_EXIT
    for note in notes:
        print(f"kubeserve: {note}", file=sys.stderr, flush=True)
    if dry_run:
        changed = {k: v for k, v in env.items() if environ.get(k) != v}
        print(json.dumps({"argv": command, "env": changed}, indent=2, sort_keys=True))
        return 0
    sys.stdout.flush()
    os.execve(command[0], command, env)
    return 0  # not reached: execve replaced this process


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:], os.environ))
