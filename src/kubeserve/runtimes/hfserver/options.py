"""The server's command line: KServe huggingfaceserver's arguments, so its ServingRuntimes run unchanged.

KServe's `kserve-huggingfaceserver` ClusterServingRuntime starts the image with `--model_name={{.Name}}` and
the model at `/mnt/models`; users add `--dtype`, `--max_length`, `--task`, `--backend`, … in
`predictor.model.args`. Every argument of KServe's parser is accepted here. Those that only mean something to
KServe's own server (gRPC, workers, logging, the vLLM backend's engine flags) are accepted and reported as
ignored rather than failing the pod, because KServe itself parses with `parse_known_args`.

Additions: `--host` (KServe always binds 0.0.0.0; kubeserve runs every pod on one machine, so each pod binds
its own loopback address from `$KUBESERVE_POD_IP`) and `--port` as another name for `--http_port`.

Pure: no I/O, no torch; the caller passes argv and the environment.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

DTYPES = ("auto", "float16", "float32", "bfloat16", "float", "half")
# KServe's MLTask names; only generation is served here, the rest fail at start with a clear message.
GENERATIVE_TASKS = ("text_generation",)


class OptionsError(ValueError):
    """The command line asks for something this server cannot do; the message says what and why."""


@dataclass(frozen=True)
class Options:
    model_dir: str = "/mnt/models"
    model_id: str | None = None
    model_name: str = "model"
    host: str = "0.0.0.0"
    port: int = 8080
    dtype: str = "auto"
    max_model_len: int | None = None
    task: str | None = None
    trust_remote_code: bool = False
    disable_log_requests: bool = False
    ignored: tuple[str, ...] = ()

    @property
    def model_source(self) -> str:
        """Where to load from: KServe prefers `--model_id` over the directory when both are given."""
        return self.model_id or self.model_dir


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser("hfserver", description="OpenAI-compatible server for Hugging Face causal LMs")
    p.add_argument("--model_dir", default="/mnt/models")
    p.add_argument("--model_id", default=None)
    p.add_argument("--model_name", default="model")
    p.add_argument("--http_port", "--port", dest="http_port", type=int, default=8080)
    p.add_argument("--host", default=None)
    p.add_argument("--dtype", default="auto", choices=DTYPES)
    # KServe keeps --max_length as the old name of --max_model_len; both land in one place.
    p.add_argument("--max_model_len", "--max_length", dest="max_model_len", type=int, default=None)
    p.add_argument("--task", default=None)
    p.add_argument("--trust_remote_code", action="store_true")
    p.add_argument("--disable_log_requests", action="store_true")
    # Accepted for compatibility, with no effect here (reported in `Options.ignored` when given).
    for flag in ("--grpc_port", "--workers", "--max_threads", "--max_asyncio_workers", "--enable_grpc",
                 "--enable_docs_url", "--enable_latency_logging", "--configure_logging", "--log_config_file",
                 "--access_log_format", "--predictor_host", "--protocol", "--predictor_protocol",
                 "--predictor_use_ssl", "--predictor_request_timeout_seconds", "--model_revision",
                 "--tokenizer_revision", "--tensor_input_names", "--backend", "--max_log_len"):
        p.add_argument(flag, dest=f"ignored_{flag[2:]}", default=None)
    for flag in ("--disable_lower_case", "--disable_special_tokens", "--return_token_type_ids",
                 "--return_probabilities"):
        p.add_argument(flag, dest=f"ignored_{flag[2:]}", action="store_const", const="true", default=None)
    return p


def resolve_host(flag: str | None, env: Mapping[str, str]) -> str:
    """`--host`, else the pod's own address (kubeserve sets it in every container), else all interfaces."""
    return flag or env.get("KUBESERVE_POD_IP") or env.get("POD_IP") or "0.0.0.0"


def resolve_dtype(name: str, cuda: bool) -> str:
    """The torch dtype name to load weights in, KServe's rule: `auto` is float16 on a GPU, float32 on a CPU.

    Half precision on a CPU is slow and some kernels lack it, so it falls back to float32 there; bfloat16 is
    honoured everywhere because CPUs run it.
    """
    canonical = {"float": "float32", "half": "float16"}.get(name, name)
    if canonical == "auto":
        return "float16" if cuda else "float32"
    if canonical == "float16" and not cuda:
        return "float32"
    return canonical


def parse_options(argv: Sequence[str], env: Mapping[str, str]) -> Options:
    """Options from the command line; raises `OptionsError` for what cannot be served."""
    parser = _parser()
    try:
        ns, unknown = parser.parse_known_args(list(argv))
    except SystemExit as exc:  # argparse exits on a bad value; the caller decides how to report it
        raise OptionsError(f"invalid arguments: {' '.join(argv)}") from exc
    values = vars(ns)
    ignored = tuple(sorted(f"--{k.removeprefix('ignored_')}" for k, v in values.items()
                           if k.startswith("ignored_") and v is not None)) + tuple(unknown)
    task = values["task"]
    if task is not None and task not in GENERATIVE_TASKS:
        raise OptionsError(f"--task={task} is not served by this runtime; it serves {', '.join(GENERATIVE_TASKS)}")
    backend = values["ignored_backend"]
    if backend not in (None, "auto", "huggingface"):
        raise OptionsError(f"--backend={backend} is not available here; this runtime is the 'huggingface' backend")
    max_len = values["max_model_len"]
    if max_len is not None and max_len < 2:
        raise OptionsError(f"--max_model_len={max_len} leaves no room to generate")
    return Options(
        model_dir=values["model_dir"], model_id=values["model_id"], model_name=values["model_name"],
        host=resolve_host(values["host"], env), port=values["http_port"], dtype=values["dtype"],
        max_model_len=max_len, task=task, trust_remote_code=values["trust_remote_code"],
        disable_log_requests=values["disable_log_requests"], ignored=ignored,
    )
