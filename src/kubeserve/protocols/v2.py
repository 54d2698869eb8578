"""KServe v2 inference requests ⇄ OpenAI completions, for LLM servers that speak only OpenAI (vLLM).

The guide posts `{"inputs": [{"name": "text_input", "datatype": "BYTES", "shape": [N], "data": [...]}]}`
at a vLLM runtime, which has no v2 endpoint. This module is the pure translation the gateway (and the
in-process ASGI middleware) apply: a v2 body becomes one `/v1/completions` request whose `prompt` is the
list of N strings with `n=1`, and the N choices, ordered by their index, become the BYTES `text_output`
tensor with the input's shape. No I/O and nothing of kubeserve beyond this package: it is also imported
inside vLLM's own environment.

Inputs: exactly one BYTES `text_input`. Sampling may also come as input tensors, as Triton's vLLM back end
sends it: `sampling_parameters` (one JSON-object string) or a one-element tensor named after a parameter
(`max_tokens`, `temperature`, …); request-level `parameters` win over those.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kubeserve.protocols.v2_binary import decode_bytes_tensor, encode_bytes_tensor, split_body
from kubeserve.protocols.v2_errors import BAD_GATEWAY, BAD_REQUEST, V2Error
from kubeserve.protocols.v2_sampling import SAMPLING, sampling_from

TEXT_INPUT = "text_input"
TEXT_OUTPUT = "text_output"
SAMPLING_INPUT = "sampling_parameters"
MODEL_VERSION = "1"

# Fixed-size datatypes a parameter input may use, as struct formats (little-endian).
_FORMATS = {"BOOL": "?", "INT8": "b", "INT16": "h", "INT32": "i", "INT64": "q", "UINT8": "B", "UINT16": "H",
            "UINT32": "I", "UINT64": "Q", "FP16": "e", "FP32": "f", "FP64": "d"}


@dataclass(frozen=True)
class InferPlan:
    """What a v2 infer request asks for, validated."""

    prompts: tuple[str, ...]
    shape: tuple[int, ...]
    sampling: Mapping[str, Any] = field(default_factory=dict)
    request_id: str | None = None
    binary_output: bool = False


def parameters_of(obj: Mapping[str, Any], where: str = "") -> dict[str, Any]:
    """The `parameters` object of a request, input or output (absent or null: empty); raises V2Error(400)."""
    parameters = obj.get("parameters")
    if parameters is None:
        return {}
    if not isinstance(parameters, dict):
        raise V2Error(BAD_REQUEST, f"{where}'parameters' must be a JSON object")
    return parameters


def envelope(request: Mapping[str, Any]) -> tuple[dict[str, Any], str | None]:
    """The `parameters` and the `id` every v2 request may carry; raises V2Error(400) naming the field."""
    parameters = parameters_of(request)
    request_id = request.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise V2Error(BAD_REQUEST, f"'id' must be a string, got {type(request_id).__name__}")
    return parameters, request_id


def _flatten(data: object) -> list[object]:
    if not isinstance(data, list):
        return [data]
    out: list[object] = []
    for item in data:
        out.extend(_flatten(item))
    return out


def _shape(tensor: Mapping[str, Any], name: str) -> tuple[int, ...]:
    shape = tensor.get("shape")
    if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0
                                              for d in shape):
        raise V2Error(BAD_REQUEST, f"input '{name}': 'shape' must be a list of non-negative integers,"
                                   f" got {shape!r}")
    return tuple(shape)


def _decode_fixed(raw: bytes, datatype: str, name: str) -> list[object]:
    fmt = _FORMATS.get(datatype)
    if fmt is None:
        raise V2Error(BAD_REQUEST, f"input '{name}': unsupported datatype {datatype!r}")
    size = struct.calcsize(fmt)
    if len(raw) % size:
        raise V2Error(BAD_REQUEST, f"input '{name}': {len(raw)} bytes of binary data is not a whole number"
                                   f" of {datatype} elements")
    return [value for (value,) in struct.iter_unpack("<" + fmt, raw)]


def _elements(tensor: Mapping[str, Any], name: str, datatype: str, rest: bytes, offset: int
              ) -> tuple[list[object], int]:
    """The flat elements of one input tensor and the new offset into the binary rest."""
    parameters = parameters_of(tensor, f"input '{name}': ")
    size = parameters.get("binary_data_size")
    if size is not None:
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise V2Error(BAD_REQUEST, f"input '{name}': binary_data_size must be a non-negative integer")
        if offset + size > len(rest):
            raise V2Error(BAD_REQUEST, f"input '{name}': binary_data_size is {size} but only"
                                       f" {len(rest) - offset} bytes of binary data remain")
        raw = rest[offset:offset + size]
        if datatype == "BYTES":
            return list(decode_bytes_tensor(raw, name)), offset + size
        return _decode_fixed(raw, datatype, name), offset + size
    if "data" not in tensor:
        raise V2Error(BAD_REQUEST, f"input '{name}' has no 'data' (and no binary_data_size parameter)")
    return _flatten(tensor["data"]), offset


def _text_prompts(items: list[object], datatype: str) -> tuple[str, ...]:
    if datatype != "BYTES":
        raise V2Error(BAD_REQUEST, f"input '{TEXT_INPUT}' must have datatype BYTES, got {datatype!r}")
    for index, item in enumerate(items):
        if not isinstance(item, str):
            raise V2Error(BAD_REQUEST, f"input '{TEXT_INPUT}': element {index} must be a string,"
                                       f" got {type(item).__name__}")
    if not items:
        raise V2Error(BAD_REQUEST, f"input '{TEXT_INPUT}' has no elements; send at least one prompt")
    return tuple(str(item) for item in items)


def _sampling_input(name: str, items: list[object]) -> dict[str, Any]:
    if len(items) != 1:
        raise V2Error(BAD_REQUEST, f"input '{name}' must have exactly one element, got {len(items)}")
    value = items[0]
    if name != SAMPLING_INPUT:
        return {name: value}
    if not isinstance(value, str):
        raise V2Error(BAD_REQUEST, f"input '{SAMPLING_INPUT}' must be a BYTES string holding a JSON object")
    try:
        parsed = json.loads(value)
    except ValueError as err:
        raise V2Error(BAD_REQUEST, f"input '{SAMPLING_INPUT}' is not valid JSON: {err}") from None
    if not isinstance(parsed, dict):
        raise V2Error(BAD_REQUEST, f"input '{SAMPLING_INPUT}' must hold a JSON object")
    return parsed


def _binary_output(header: Mapping[str, Any], parameters: Mapping[str, Any]) -> bool:
    outputs = header.get("outputs")
    if outputs is None:
        return parameters.get("binary_data_output") is True
    if not isinstance(outputs, list):
        raise V2Error(BAD_REQUEST, "'outputs' must be a list of {\"name\": ...} objects")
    binary = False
    for output in outputs:
        name = output.get("name") if isinstance(output, dict) else None
        if name != TEXT_OUTPUT:
            raise V2Error(BAD_REQUEST, f"unknown output {name!r}; this model has one output, '{TEXT_OUTPUT}'")
        out_parameters = parameters_of(output, f"output '{TEXT_OUTPUT}': ")
        binary = binary or out_parameters.get("binary_data") is True
    return binary


def parse_infer_request(body: bytes, header_length: str | None = None) -> InferPlan:
    """The plan of a v2 infer request body (JSON, or JSON + binary tensors); raises V2Error(400)."""
    header, rest = split_body(body, header_length)
    inputs = header.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise V2Error(BAD_REQUEST, f"'inputs' must be a non-empty list, e.g. [{{\"name\": \"{TEXT_INPUT}\","
                                   " \"datatype\": \"BYTES\", \"shape\": [1], \"data\": [\"Hello\"]}]")
    parameters, request_id = envelope(header)
    prompts: tuple[str, ...] | None = None
    shape: tuple[int, ...] = ()
    from_inputs: dict[str, Any] = {}
    offset = 0
    for tensor in inputs:
        if not isinstance(tensor, dict) or not isinstance(tensor.get("name"), str):
            raise V2Error(BAD_REQUEST, "each input must be an object with a string 'name'")
        name = tensor["name"]
        datatype = tensor.get("datatype")
        if not isinstance(datatype, str):
            raise V2Error(BAD_REQUEST, f"input '{name}': 'datatype' must be a string such as \"BYTES\"")
        tensor_shape = _shape(tensor, name)
        items, offset = _elements(tensor, name, datatype, rest, offset)
        if len(items) != math.prod(tensor_shape):
            raise V2Error(BAD_REQUEST, f"input '{name}': shape {list(tensor_shape)} holds"
                                       f" {math.prod(tensor_shape)} elements but data has {len(items)}")
        if name == TEXT_INPUT:
            if prompts is not None:
                raise V2Error(BAD_REQUEST, f"input '{TEXT_INPUT}' is given twice")
            prompts, shape = _text_prompts(items, datatype), tensor_shape
        elif name == SAMPLING_INPUT or name in SAMPLING or name == "exclude_input_in_output":
            from_inputs.update(_sampling_input(name, items))
        else:
            raise V2Error(BAD_REQUEST, f"unknown input {name!r}; this model takes '{TEXT_INPUT}' (BYTES) and,"
                                       f" optionally, '{SAMPLING_INPUT}' or one-element sampling inputs")
    if offset != len(rest):
        raise V2Error(BAD_REQUEST, f"{len(rest) - offset} bytes of binary data follow the last binary tensor")
    if prompts is None:
        raise V2Error(BAD_REQUEST, f"no '{TEXT_INPUT}' input; send the prompts as a BYTES tensor named"
                                   f" '{TEXT_INPUT}'")
    sampling = sampling_from(from_inputs, where="inputs")
    sampling.update(sampling_from(parameters))
    return InferPlan(prompts=prompts, shape=shape, sampling=sampling, request_id=request_id,
                     binary_output=_binary_output(header, parameters))


def completion_body(plan: InferPlan, model: str) -> dict[str, Any]:
    """The one OpenAI `/v1/completions` request that answers the plan: N prompts, one choice each."""
    return {**plan.sampling, "model": model, "prompt": list(plan.prompts), "n": 1, "stream": False}


def texts_from_completion(body: Mapping[str, Any], count: int) -> list[str]:
    """The choices' texts ordered by index; raises V2Error(502) if they do not answer `count` prompts."""
    choices = body.get("choices")
    if not isinstance(choices, list):
        raise V2Error(BAD_GATEWAY, "the model server's completion has no 'choices' list")
    by_index: dict[int, str] = {}
    for position, choice in enumerate(choices):
        if not isinstance(choice, dict) or not isinstance(choice.get("text"), str):
            raise V2Error(BAD_GATEWAY, f"the model server's choice {position} has no text")
        index = choice.get("index", position)
        if not isinstance(index, int) or isinstance(index, bool):
            raise V2Error(BAD_GATEWAY, f"the model server's choice {position} has a non-integer index")
        by_index[index] = choice["text"]
    if sorted(by_index) != list(range(count)):
        raise V2Error(BAD_GATEWAY, f"the model server answered {len(by_index)} choices for {count} prompts")
    return [by_index[i] for i in range(count)]


def infer_response(plan: InferPlan, model_name: str, texts: Sequence[str], response_id: str) -> dict[str, Any]:
    """The v2 infer response as JSON (the text_output tensor inline)."""
    return {"model_name": model_name, "model_version": MODEL_VERSION, "id": response_id,
            "outputs": [{"name": TEXT_OUTPUT, "datatype": "BYTES", "shape": list(plan.shape),
                         "data": list(texts)}]}


def encode_infer_response(plan: InferPlan, model_name: str, texts: Sequence[str], response_id: str
                          ) -> tuple[bytes, int | None]:
    """(body, JSON header length or None): binary text_output when the request asked for it."""
    response = infer_response(plan, model_name, texts, response_id)
    if not plan.binary_output:
        return json.dumps(response).encode(), None
    raw = encode_bytes_tensor(texts)
    output = response["outputs"][0]
    del output["data"]
    output["parameters"] = {"binary_data_size": len(raw)}
    header = json.dumps(response).encode()
    return header + raw, len(header)
