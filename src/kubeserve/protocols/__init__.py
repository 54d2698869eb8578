"""Protocol translation between the KServe v2 REST protocol and the OpenAI API.

Pure functions and frozen plans, standard library only and nothing else of kubeserve: the gateway uses them
in front of any OpenAI server, and vLLM's own environment imports them for the in-process middleware.
`v2` (infer), `v2_generate` (Triton's generate), `v2_routes` (paths, model names, metadata),
`v2_sampling` (parameters), `v2_binary` (the binary tensor extension), `v2_errors` (the error shape),
`v2_service` (every endpoint over any OpenAI back end, independent of the web framework).
"""

from kubeserve.protocols.v2 import (
    InferPlan,
    completion_body,
    encode_infer_response,
    infer_response,
    parse_infer_request,
    texts_from_completion,
)
from kubeserve.protocols.v2_binary import HEADER_LENGTH, decompress
from kubeserve.protocols.v2_errors import V2Error, error_body, error_from_openai
from kubeserve.protocols.v2_generate import (
    GeneratePlan,
    generate_completion_body,
    generate_response,
    parse_generate_request,
    stream_error_event,
    stream_event,
    text_from_completion,
)
from kubeserve.protocols.v2_routes import (
    V2Route,
    match_route,
    model_metadata,
    model_ready,
    models_list,
    resolve_model,
    server_metadata,
)
from kubeserve.protocols.v2_service import Answer, BackendError, OpenAIBackend, answer

__all__ = [
    "HEADER_LENGTH",
    "Answer",
    "BackendError",
    "GeneratePlan",
    "InferPlan",
    "OpenAIBackend",
    "V2Error",
    "V2Route",
    "answer",
    "completion_body",
    "decompress",
    "encode_infer_response",
    "error_body",
    "error_from_openai",
    "generate_completion_body",
    "generate_response",
    "infer_response",
    "match_route",
    "model_metadata",
    "model_ready",
    "models_list",
    "parse_generate_request",
    "parse_infer_request",
    "resolve_model",
    "server_metadata",
    "stream_error_event",
    "stream_event",
    "text_from_completion",
    "texts_from_completion",
]
