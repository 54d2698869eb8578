"""The v2 REST surface: which endpoint a method and path name, which served model a v2 name means, and
the metadata bodies.

Pure, so the gateway (aiohttp) and the in-process ASGI middleware dispatch the same way. The v2 model name
is the InferenceService's; vLLM serves whatever `--served-model-name` says (the guide sets it to the
InferenceService name, but not always), so a name the server does not list still reaches a server that
serves exactly one model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from kubeserve.protocols.v2 import MODEL_VERSION, TEXT_INPUT, TEXT_OUTPUT
from kubeserve.protocols.v2_errors import METHOD_NOT_ALLOWED, NOT_FOUND, V2Error

EXTENSIONS = ("binary_tensor_data", "parameters", "generate")
_GET = ("GET", "HEAD")
_POST = ("POST",)
# Last path segment after /v2/models/{name}[/versions/{v}] → (endpoint, allowed methods).
_MODEL_ACTIONS = {"": ("model_metadata", _GET), "ready": ("model_ready", _GET), "infer": ("infer", _POST),
                  "generate": ("generate", _POST), "generate_stream": ("generate_stream", _POST)}
_FIXED = {"": ("server_metadata", _GET), "health/live": ("live", _GET), "health/ready": ("ready", _GET),
          "models": ("models", _GET)}


@dataclass(frozen=True)
class V2Route:
    """One v2 endpoint: `server_metadata`, `live`, `ready`, `models`, `model_metadata`, `model_ready`,
    `infer`, `generate` or `generate_stream`, with the model name and version it names."""

    endpoint: str
    model: str | None = None
    version: str | None = None


def _allow(endpoint: str, methods: tuple[str, ...], method: str, path: str) -> None:
    if method.upper() not in methods:
        raise V2Error(METHOD_NOT_ALLOWED, f"{method} is not allowed on {path}; use {' or '.join(methods)}")


def match_route(method: str, path: str) -> V2Route:
    """The endpoint of a `/v2…` path; raises V2Error(404) for an unknown path, (405) for a wrong method."""
    if path != "/v2" and not path.startswith("/v2/"):
        raise V2Error(NOT_FOUND, f"{path} is not a v2 path")
    rest = path[len("/v2"):].strip("/")
    fixed = _FIXED.get(rest)
    if fixed is not None:
        _allow(*fixed, method, path)
        return V2Route(fixed[0])
    parts = rest.split("/")
    if parts[0] == "models" and len(parts) >= 2 and parts[1]:
        model, tail = parts[1], parts[2:]
        version: str | None = None
        if len(tail) >= 2 and tail[0] == "versions" and tail[1]:
            version, tail = tail[1], tail[2:]
        action = _MODEL_ACTIONS.get("/".join(tail)) if len(tail) <= 1 else None
        if action is not None:
            _allow(*action, method, path)
            if version is not None and version != MODEL_VERSION:
                raise V2Error(NOT_FOUND, f"model '{model}' has no version {version!r}; it has version"
                                         f" {MODEL_VERSION!r}")
            return V2Route(action[0], model, version)
    raise V2Error(NOT_FOUND, f"no v2 endpoint at {path}; see /v2/models/{{name}}/infer, /v2/models/{{name}},"
                             " /v2/health/ready")


def resolve_model(requested: str, served: Sequence[str], default_model: str = "") -> str:
    """The served model id a v2 name addresses; raises V2Error(404) listing what is served.

    A one-model server also answers to `default_model` (the InferenceService's name, whatever id the runtime
    serves under); with no default known (inside the pod) it answers to any name, as it has only one."""
    if requested in served:
        return requested
    if len(served) == 1 and (requested == default_model or not default_model):
        return served[0]
    listing = ", ".join(repr(name) for name in served) or "none"
    raise V2Error(NOT_FOUND, f"unknown model '{requested}'; this server serves: {listing}")


def server_metadata(name: str = "kubeserve", version: str = "") -> dict[str, Any]:
    return {"name": name, "version": version, "extensions": list(EXTENSIONS)}


def model_metadata(name: str, platform: str = "vllm") -> dict[str, Any]:
    return {"name": name, "versions": [MODEL_VERSION], "platform": platform,
            "inputs": [{"name": TEXT_INPUT, "datatype": "BYTES", "shape": [-1]}],
            "outputs": [{"name": TEXT_OUTPUT, "datatype": "BYTES", "shape": [-1]}]}


def models_list(names: Sequence[str]) -> dict[str, Any]:
    return {"models": list(names)}


def model_ready(name: str, ready: bool) -> dict[str, Any]:
    return {"name": name, "ready": ready}
