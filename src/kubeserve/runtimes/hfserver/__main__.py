"""Entry point: parse KServe's arguments, load the model, serve until SIGTERM.

Started by an interpreter without torch (kubeserve's own, as the image catalog does), it first replaces
itself with the model-server environment's python (`relaunch.py`).

Exit codes: 2 for arguments this runtime cannot honour, 1 when the model cannot be loaded; the message is
the last line of the log, which kubeserve shows in the InferenceService's `lastFailureInfo`.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import time
from pathlib import Path

RELAUNCHED = "KUBESERVE_HF_RELAUNCHED"  # set on the way in, so a second interpreter without torch cannot loop


def log(line: str) -> None:
    print(f"hfserver: {line}", file=sys.stderr, flush=True)


def relaunch(argv: list[str]) -> int:
    """Replaces this process with the model-server environment's python; returns only on failure."""
    from .relaunch import INSTALL_HINT, NOT_INSTALLED_EXIT, model_server_python, relaunch_argv

    here = Path(__file__).resolve().parent
    python = None if os.environ.get(RELAUNCHED) else model_server_python(os.environ, here, Path.exists)
    if python is None:
        log(f"{sys.executable} has no torch/transformers and no model-server environment was found; {INSTALL_HINT}")
        return NOT_INSTALLED_EXIT
    os.execve(python, relaunch_argv(python, here, argv), {**os.environ, RELAUNCHED: "1"})


def main(argv: list[str]) -> int:
    from .options import OptionsError, parse_options

    if importlib.util.find_spec("torch") is None or importlib.util.find_spec("transformers") is None:
        return relaunch(argv)

    try:
        options = parse_options(argv, os.environ)
    except OptionsError as exc:
        log(str(exc))
        return 2
    if options.ignored:
        log(f"ignoring arguments that mean nothing to this runtime: {' '.join(options.ignored)}")
    if options.model_id is None and not (Path(options.model_dir) / "config.json").is_file():
        log(f"no Hugging Face model in {options.model_dir} (config.json is missing); "
            "check the InferenceService's storageUri")
        return 1
    # Imported here so that a bad command line is reported without paying torch's import time.
    import uvicorn

    from .app import build_app
    from .engine import Engine

    log(f"loading {options.model_source}")
    try:
        engine, seconds = Engine.load(options)
    except (OSError, ValueError, RuntimeError) as exc:
        log(f"cannot load {options.model_source}: {exc}")
        return 1
    log(f"loaded {options.model_source} as '{options.model_name}' on {engine.device} ({engine.dtype}), "
        f"context {engine.max_model_len} tokens, in {seconds:.2f}s")
    app = build_app(engine, options, created=int(time.time()))
    log(f"serving on http://{options.host}:{options.port}")
    try:
        uvicorn.run(app, host=options.host, port=options.port, access_log=not options.disable_log_requests,
                    log_level="info", timeout_graceful_shutdown=30)
    finally:
        engine.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
