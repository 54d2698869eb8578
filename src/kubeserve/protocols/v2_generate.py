"""Triton's generate extension over an OpenAI server: `/v2/models/{name}/generate` and `generate_stream`.

A generate request is flat JSON, `{"text_input": "…", "parameters": {…}}`, where (as in Triton) any other
top-level field is an input too, so `{"text_input": "…", "max_tokens": 20}` works; `parameters` win over
top-level fields. The answer is `{"model_name", "model_version", "text_output"}`; the streaming form is
server-sent events `data: {…, "text_output": "<delta>"}`, one per OpenAI stream chunk with text, and
`data: {"error": "…"}` if the stream fails part way.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kubeserve.protocols.v2 import MODEL_VERSION, TEXT_INPUT, TEXT_OUTPUT, envelope
from kubeserve.protocols.v2_binary import split_body
from kubeserve.protocols.v2_errors import BAD_GATEWAY, BAD_REQUEST, V2Error
from kubeserve.protocols.v2_sampling import sampling_from


@dataclass(frozen=True)
class GeneratePlan:
    prompt: str
    sampling: Mapping[str, Any] = field(default_factory=dict)
    request_id: str | None = None


def parse_generate_request(body: bytes) -> GeneratePlan:
    """The plan of a generate request body; raises V2Error(400) naming the bad field."""
    request, _ = split_body(body, None)
    prompt = request.get(TEXT_INPUT)
    if isinstance(prompt, list) and len(prompt) == 1:
        prompt = prompt[0]
    if not isinstance(prompt, str):
        raise V2Error(BAD_REQUEST, f"'{TEXT_INPUT}' must be a string, e.g. {{\"{TEXT_INPUT}\": \"Hello\","
                                   " \"parameters\": {\"max_tokens\": 50}}")
    parameters, request_id = envelope(request)
    top = {k: v for k, v in request.items() if k not in (TEXT_INPUT, "parameters", "id")}
    sampling = sampling_from(top, where="request")
    sampling.update(sampling_from(parameters))
    return GeneratePlan(prompt=prompt, sampling=sampling, request_id=request_id)


def generate_completion_body(plan: GeneratePlan, model: str, stream: bool) -> dict[str, Any]:
    return {**plan.sampling, "model": model, "prompt": plan.prompt, "n": 1, "stream": stream}


def generate_response(model_name: str, text: str, request_id: str | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {"model_name": model_name, "model_version": MODEL_VERSION, TEXT_OUTPUT: text}
    if request_id is not None:
        response["id"] = request_id
    return response


def text_from_completion(body: Mapping[str, Any]) -> str:
    """The first choice's text; raises V2Error(502) when the back end's answer has none."""
    choices = body.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        text = choices[0].get("text")
        if isinstance(text, str):
            return text
    raise V2Error(BAD_GATEWAY, "the model server's completion has no choices[0].text")


def sse(event: Mapping[str, Any]) -> bytes:
    return f"data: {json.dumps(event)}\n\n".encode()


def stream_event(model_name: str, chunk: Mapping[str, Any], request_id: str | None = None) -> bytes | None:
    """The SSE event for one OpenAI stream chunk: its text delta, an error, or None (nothing to say)."""
    error = chunk.get("error")
    if error is not None:
        message = error.get("message") if isinstance(error, dict) else error
        return sse({"error": str(message)})
    choices = chunk.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return None
    text = choices[0].get("text")
    if not isinstance(text, str) or not text:
        return None
    return sse(generate_response(model_name, text, request_id))


def stream_error_event(message: str) -> bytes:
    return sse({"error": message})
