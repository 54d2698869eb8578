"""v2 `parameters` → the sampling fields of an OpenAI `/v1/completions` request for vLLM.

v2 parameters are free-form (bool, number or string values), and clients write them in several dialects:
OpenAI names (`max_tokens`, `stop`), Hugging Face / TGI names (`max_new_tokens`), Triton's vLLM back end
(numbers as strings, `exclude_input_in_output`). One table maps them all, converting values to the type
vLLM expects and naming the parameter when a value cannot be converted.

Decisions, documented for users:
- Known parameters (the `SAMPLING` table) are checked and converted; `"0.7"` is accepted for 0.7.
- Triton's transport parameters (`binary_data_output`, `sequence_*`, `priority`, `timeout`, …) say how to
  carry the request, not how to sample, and are dropped.
- Fields the v2 route owns (`model`, `prompt`, `stream`, `n`, …) are refused: each prompt gives one text.
- Any other parameter with a scalar value is passed through to vLLM, so sampling options of newer vLLM
  versions work without a kubeserve change (vLLM ignores names it does not know, with a warning in its
  log). A list or object value for an unknown name is refused as an unknown parameter type.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from kubeserve.protocols.v2_errors import BAD_REQUEST, V2Error

Converter = Callable[[str, object], object]


def _bad(name: str, value: object, expected: str) -> V2Error:
    return V2Error(BAD_REQUEST, f"parameter '{name}' must be {expected}, got {json_repr(value)}")


def json_repr(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _as_float(name: str, value: object) -> object:
    if isinstance(value, bool):
        raise _bad(name, value, "a number")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    raise _bad(name, value, "a number")


def _as_int(name: str, value: object) -> object:
    if isinstance(value, bool):
        raise _bad(name, value, "an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    raise _bad(name, value, "an integer")


def _as_bool(name: str, value: object) -> object:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise _bad(name, value, "true or false")


def _as_stop(name: str, value: object) -> object:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return list(value)
    raise _bad(name, value, "a string or a list of strings")


def _as_int_list(name: str, value: object) -> object:
    if isinstance(value, list) and all(isinstance(item, int) and not isinstance(item, bool) for item in value):
        return list(value)
    raise _bad(name, value, "a list of integers")


# v2 name → (OpenAI/vLLM field, converter).
SAMPLING: Mapping[str, tuple[str, Converter]] = {
    "temperature": ("temperature", _as_float),
    "top_p": ("top_p", _as_float),
    "top_k": ("top_k", _as_int),
    "min_p": ("min_p", _as_float),
    "max_tokens": ("max_tokens", _as_int),
    "max_new_tokens": ("max_tokens", _as_int),
    "min_tokens": ("min_tokens", _as_int),
    "stop": ("stop", _as_stop),
    "stop_sequences": ("stop", _as_stop),
    "stop_token_ids": ("stop_token_ids", _as_int_list),
    "seed": ("seed", _as_int),
    "presence_penalty": ("presence_penalty", _as_float),
    "frequency_penalty": ("frequency_penalty", _as_float),
    "repetition_penalty": ("repetition_penalty", _as_float),
    "length_penalty": ("length_penalty", _as_float),
    "ignore_eos": ("ignore_eos", _as_bool),
    "include_stop_str_in_output": ("include_stop_str_in_output", _as_bool),
    "skip_special_tokens": ("skip_special_tokens", _as_bool),
    "spaces_between_special_tokens": ("spaces_between_special_tokens", _as_bool),
    "truncate_prompt_tokens": ("truncate_prompt_tokens", _as_int),
    "echo": ("echo", _as_bool),
}

# Triton/KServe transport parameters: how to carry the request, nothing to do with sampling.
TRANSPORT = frozenset({
    "binary_data_output", "binary_data", "binary_data_size", "sequence_id", "sequence_start", "sequence_end",
    "priority", "timeout", "headers", "content_type", "stream",
})

# OpenAI fields the v2 route sets itself.
OWNED = frozenset({"model", "prompt", "n", "best_of", "stream_options", "suffix", "logprobs", "user"})


def sampling_from(parameters: Mapping[str, Any], where: str = "parameters") -> dict[str, Any]:
    """The OpenAI sampling fields for these v2 parameters; raises V2Error(400) naming a bad one."""
    out: dict[str, Any] = {}
    for name, value in parameters.items():
        if name in TRANSPORT:
            continue
        if name == "exclude_input_in_output":  # Triton's vLLM back end: the inverse of OpenAI's echo.
            out["echo"] = not _as_bool(name, value)
            continue
        if name in OWNED:
            raise V2Error(BAD_REQUEST, f"{where}: '{name}' cannot be set on the v2 protocol: the gateway sets it"
                                       " (each text_input element gives exactly one text_output element)")
        known = SAMPLING.get(name)
        if known is not None and value is None:
            continue  # null means "use the default", as in OpenAI
        if known is not None:
            field, convert = known
            out[field] = convert(name, value)
        elif isinstance(value, str | int | float | bool) or value is None:
            out[name] = value
        else:
            raise V2Error(BAD_REQUEST, f"{where}: parameter '{name}' has an unsupported type"
                                       f" ({type(value).__name__}); v2 parameters are booleans, numbers or strings")
    return out
