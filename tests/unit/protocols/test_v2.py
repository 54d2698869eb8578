"""The v2 ⇄ OpenAI translation, in tables: request parsing and its 400s, sampling parameters, completion
bodies, responses (JSON and binary), generate, routes, model names, OpenAI errors."""

from __future__ import annotations

import ast
import gzip
import json
import struct
import sys
import zlib
from pathlib import Path
from typing import Any

import pytest

from kubeserve import protocols
from kubeserve.protocols import (
    InferPlan,
    V2Error,
    V2Route,
    completion_body,
    decompress,
    encode_infer_response,
    error_from_openai,
    generate_completion_body,
    generate_response,
    match_route,
    model_metadata,
    parse_generate_request,
    parse_infer_request,
    resolve_model,
    stream_event,
    text_from_completion,
    texts_from_completion,
)
from kubeserve.protocols.v2_binary import decode_bytes_tensor, encode_bytes_tensor
from kubeserve.protocols.v2_sampling import sampling_from

GUIDE = {"inputs": [{"name": "text_input", "shape": [1], "datatype": "BYTES", "data": ["What is machine learning?"]}],
         "parameters": {"temperature": 0.7, "max_tokens": 100}}


def body(obj: Any) -> bytes:
    return json.dumps(obj).encode()


def text_input(data: Any, shape: Any = None, datatype: str = "BYTES", **extra: Any) -> dict[str, Any]:
    return {"name": "text_input", "datatype": datatype, "shape": [len(data)] if shape is None else shape,
            "data": data, **extra}


def test_the_guides_request() -> None:
    plan = parse_infer_request(body(GUIDE))
    assert plan == InferPlan(prompts=("What is machine learning?",), shape=(1,),
                             sampling={"temperature": 0.7, "max_tokens": 100})
    assert completion_body(plan, "granite") == {
        "model": "granite", "prompt": ["What is machine learning?"], "n": 1, "stream": False,
        "temperature": 0.7, "max_tokens": 100}


@pytest.mark.parametrize(("request_body", "prompts", "shape"), [
    ({"inputs": [text_input(["a", "b", "c"])]}, ("a", "b", "c"), (3,)),
    ({"inputs": [text_input([["a"], ["b"]], shape=[2, 1])]}, ("a", "b"), (2, 1)),  # nested, row-major
    ({"inputs": [text_input(["a", "b"], shape=[1, 2])]}, ("a", "b"), (1, 2)),  # flat data, 2-D shape
])
def test_prompts_and_shapes(request_body: dict[str, Any], prompts: tuple[str, ...], shape: tuple[int, ...]) -> None:
    plan = parse_infer_request(body(request_body))
    assert (plan.prompts, plan.shape) == (prompts, shape)


@pytest.mark.parametrize(("raw", "message"), [
    (b"", "empty"),
    (b"{not json", "not valid JSON"),
    (b"[1, 2]", "must be a JSON object"),
    (b"\xff\xfe", "not valid JSON"),
    (body({}), "'inputs' must be a non-empty list"),
    (body({"inputs": []}), "'inputs' must be a non-empty list"),
    (body({"inputs": "x"}), "'inputs' must be a non-empty list"),
    (body({"inputs": [{"datatype": "BYTES"}]}), "string 'name'"),
    (body({"inputs": [{"name": "text_input", "shape": [1], "data": ["a"]}]}), "'datatype' must be a string"),
    (body({"inputs": [text_input(["a"], datatype="FP32")]}), "must have datatype BYTES"),
    (body({"inputs": [text_input(["a"], shape=[2])]}), "shape [2] holds 2 elements but data has 1"),
    (body({"inputs": [text_input(["a"], shape="1")]}), "'shape' must be a list"),
    (body({"inputs": [text_input(["a"], shape=[-1])]}), "'shape' must be a list"),
    (body({"inputs": [text_input([1, 2])]}), "element 0 must be a string, got int"),
    (body({"inputs": [text_input(["a", None])]}), "element 1 must be a string, got NoneType"),
    (body({"inputs": [text_input([], shape=[0])]}), "has no elements"),
    (body({"inputs": [{"name": "text_input", "datatype": "BYTES", "shape": [1]}]}), "has no 'data'"),
    (body({"inputs": [text_input(["a"]), text_input(["b"])]}), "given twice"),
    (body({"inputs": [{"name": "prompt", "datatype": "BYTES", "shape": [1], "data": ["a"]}]}),
     "unknown input 'prompt'"),
    (body({"inputs": [{"name": "max_tokens", "datatype": "INT32", "shape": [1], "data": [5]}]}), "no 'text_input'"),
    (body({"inputs": [text_input(["a"])], "parameters": []}), "'parameters' must be a JSON object"),
    (body({"inputs": [text_input(["a"])], "parameters": {"temperature": "hot"}}), "'temperature' must be a number"),
    (body({"inputs": [text_input(["a"])], "parameters": {"max_tokens": 1.5}}), "'max_tokens' must be an integer"),
    (body({"inputs": [text_input(["a"])], "parameters": {"ignore_eos": 1}}), "'ignore_eos' must be true or false"),
    (body({"inputs": [text_input(["a"])], "parameters": {"stop": [1]}}), "'stop' must be a string or a list"),
    (body({"inputs": [text_input(["a"])], "parameters": {"custom": {"a": 1}}}), "unsupported type (dict)"),
    (body({"inputs": [text_input(["a"])], "parameters": {"n": 2}}), "'n' cannot be set"),
    (body({"inputs": [text_input(["a"])], "id": 7}), "'id' must be a string"),
    (body({"inputs": [text_input(["a"])], "outputs": [{"name": "logits"}]}), "unknown output 'logits'"),
    (body({"inputs": [text_input(["a"])], "outputs": {}}), "'outputs' must be a list"),
    (body({"inputs": [text_input(["a"]), {"name": "sampling_parameters", "datatype": "BYTES", "shape": [1],
                                          "data": ["{bad"]}]}), "'sampling_parameters' is not valid JSON"),
    (body({"inputs": [text_input(["a"]), {"name": "max_tokens", "datatype": "INT32", "shape": [2],
                                          "data": [1, 2]}]}), "exactly one element"),
])
def test_bad_requests_are_400s_naming_the_field(raw: bytes, message: str) -> None:
    with pytest.raises(V2Error) as caught:
        parse_infer_request(raw)
    assert caught.value.status == 400
    assert message in caught.value.message


@pytest.mark.parametrize(("parameters", "expected"), [
    ({"temperature": 0.7, "max_tokens": 100}, {"temperature": 0.7, "max_tokens": 100}),
    ({"temperature": "0.5", "max_tokens": "20", "top_k": 5.0}, {"temperature": 0.5, "max_tokens": 20, "top_k": 5}),
    ({"max_new_tokens": 7}, {"max_tokens": 7}),
    ({"stop": "\n"}, {"stop": ["\n"]}),
    ({"stop_sequences": ["a", "b"]}, {"stop": ["a", "b"]}),
    ({"ignore_eos": "true", "skip_special_tokens": False}, {"ignore_eos": True, "skip_special_tokens": False}),
    ({"seed": 1, "top_p": 1, "min_tokens": 2, "presence_penalty": 0.1, "frequency_penalty": 0.2,
      "repetition_penalty": 1.1, "stop_token_ids": [2]},
     {"seed": 1, "top_p": 1.0, "min_tokens": 2, "presence_penalty": 0.1, "frequency_penalty": 0.2,
      "repetition_penalty": 1.1, "stop_token_ids": [2]}),
    ({"exclude_input_in_output": False}, {"echo": True}),
    ({"binary_data_output": True, "priority": 1, "timeout": 5, "sequence_id": 3, "stream": False}, {}),
    ({"guided_regex": "[a-z]+", "min_p": 0.1}, {"guided_regex": "[a-z]+", "min_p": 0.1}),  # passed through
    ({"seed": None}, {}),
])
def test_sampling_parameters(parameters: dict[str, Any], expected: dict[str, Any]) -> None:
    assert sampling_from(parameters) == expected


def test_sampling_from_inputs_with_parameters_winning() -> None:
    request = {"inputs": [text_input(["a"]),
                          {"name": "sampling_parameters", "datatype": "BYTES", "shape": [1],
                           "data": [json.dumps({"temperature": "0.1", "max_tokens": "9"})]},
                          {"name": "top_k", "datatype": "INT32", "shape": [1], "data": [3]}],
               "parameters": {"max_tokens": 4}}
    assert parse_infer_request(body(request)).sampling == {"temperature": 0.1, "max_tokens": 4, "top_k": 3}


@pytest.mark.parametrize(("extra", "binary"), [
    ({}, False),
    ({"parameters": {"binary_data_output": True}}, True),
    ({"outputs": [{"name": "text_output"}]}, False),
    ({"outputs": [{"name": "text_output", "parameters": {"binary_data": True}}]}, True),
    ({"outputs": [{"name": "text_output", "parameters": {"binary_data": False}}],
      "parameters": {"binary_data_output": True}}, False),  # named outputs decide
])
def test_binary_output_requested(extra: dict[str, Any], binary: bool) -> None:
    assert parse_infer_request(body({"inputs": [text_input(["a"])], **extra})).binary_output is binary


def binary_request(prompts: list[str],
                   extra_inputs: tuple[tuple[dict[str, Any], bytes], ...] = ()) -> tuple[bytes, str]:
    raw = encode_bytes_tensor(prompts)
    inputs = [{"name": "text_input", "datatype": "BYTES", "shape": [len(prompts)],
               "parameters": {"binary_data_size": len(raw)}}]
    blobs = [raw]
    for tensor, blob in extra_inputs:
        inputs.append(tensor)
        blobs.append(blob)
    header = body({"inputs": inputs})
    return header + b"".join(blobs), str(len(header))


def test_binary_bytes_input() -> None:
    raw, header_length = binary_request(["héllo", "", "world"],
                                        (({"name": "max_tokens", "datatype": "INT32", "shape": [1],
                                           "parameters": {"binary_data_size": 4}}, struct.pack("<i", 12)),))
    plan = parse_infer_request(raw, header_length)
    assert plan.prompts == ("héllo", "", "world")
    assert plan.sampling == {"max_tokens": 12}


@pytest.mark.parametrize(("mangle", "message"), [
    (lambda raw, n: (raw, "x"), "must be an integer"),
    (lambda raw, n: (raw, str(len(raw) + 1)), "but the body has"),
    (lambda raw, n: (raw[:-2], n), "remain"),
    (lambda raw, n: (raw + b"zz", n), "2 bytes of binary data follow"),
])
def test_bad_binary_requests(mangle: Any, message: str) -> None:
    raw, header_length = binary_request(["hello"])
    with pytest.raises(V2Error) as caught:
        parse_infer_request(*mangle(raw, header_length))
    assert caught.value.status == 400
    assert message in caught.value.message


@pytest.mark.parametrize(("raw", "message"), [
    (b"\x05\x00\x00\x00abc", "claims 5 bytes"),
    (b"\x01\x00", "truncated"),
    (b"\x02\x00\x00\x00\xff\xfe", "not UTF-8"),
])
def test_bad_bytes_tensors(raw: bytes, message: str) -> None:
    with pytest.raises(V2Error, match=message):
        decode_bytes_tensor(raw, "text_input")


def test_bytes_tensor_round_trip() -> None:
    assert decode_bytes_tensor(encode_bytes_tensor(["a", "", "ünï"]), "x") == ["a", "", "ünï"]


@pytest.mark.parametrize(("encoding", "packed"), [
    (None, b"data"), ("identity", b"data"), ("gzip", gzip.compress(b"data")), ("deflate", zlib.compress(b"data")),
])
def test_decompress(encoding: str | None, packed: bytes) -> None:
    assert decompress(packed, encoding) == b"data"


@pytest.mark.parametrize(("encoding", "packed"), [("gzip", b"plain"), ("br", b"x")])
def test_decompress_refuses(encoding: str, packed: bytes) -> None:
    with pytest.raises(V2Error) as caught:
        decompress(packed, encoding)
    assert caught.value.status == 400


@pytest.mark.parametrize(("answer", "count", "texts"), [
    ({"choices": [{"index": 1, "text": "b"}, {"index": 0, "text": "a"}]}, 2, ["a", "b"]),
    ({"choices": [{"text": "a"}]}, 1, ["a"]),
])
def test_texts_ordered_by_choice_index(answer: dict[str, Any], count: int, texts: list[str]) -> None:
    assert texts_from_completion(answer, count) == texts


@pytest.mark.parametrize(("answer", "count"), [
    ({}, 1), ({"choices": [{"index": 0, "text": "a"}]}, 2), ({"choices": [{"index": 0}]}, 1),
    ({"choices": [{"index": "0", "text": "a"}]}, 1), ({"choices": ["a"]}, 1),
])
def test_bad_completions_are_502s(answer: dict[str, Any], count: int) -> None:
    with pytest.raises(V2Error) as caught:
        texts_from_completion(answer, count)
    assert caught.value.status == 502


def test_json_response() -> None:
    plan = InferPlan(prompts=("p", "q"), shape=(2, 1))
    raw, header_length = encode_infer_response(plan, "granite-model", ["x", "y"], "req-1")
    assert header_length is None
    assert json.loads(raw) == {"model_name": "granite-model", "model_version": "1", "id": "req-1",
                               "outputs": [{"name": "text_output", "datatype": "BYTES", "shape": [2, 1],
                                            "data": ["x", "y"]}]}


def test_binary_response() -> None:
    plan = InferPlan(prompts=("p",), shape=(1,), binary_output=True)
    raw, header_length = encode_infer_response(plan, "m", ["héllo"], "r")
    assert header_length is not None
    header = json.loads(raw[:header_length])
    output = header["outputs"][0]
    assert "data" not in output
    assert output["parameters"] == {"binary_data_size": 4 + len("héllo".encode())}
    assert decode_bytes_tensor(raw[header_length:], "text_output") == ["héllo"]


@pytest.mark.parametrize(("request_body", "prompt", "sampling"), [
    ({"text_input": "Hi", "parameters": {"max_tokens": 5}}, "Hi", {"max_tokens": 5}),
    ({"text_input": ["Hi"], "max_tokens": 5, "temperature": 0}, "Hi", {"max_tokens": 5, "temperature": 0.0}),
    ({"text_input": "Hi", "max_tokens": 5, "parameters": {"max_tokens": 6, "stream": True}}, "Hi", {"max_tokens": 6}),
])
def test_generate_requests(request_body: dict[str, Any], prompt: str, sampling: dict[str, Any]) -> None:
    plan = parse_generate_request(body(request_body))
    assert (plan.prompt, dict(plan.sampling)) == (prompt, sampling)
    assert generate_completion_body(plan, "m", stream=True) == {**sampling, "model": "m", "prompt": prompt, "n": 1,
                                                                "stream": True}


@pytest.mark.parametrize(("raw", "message"), [
    (b"nope", "not valid JSON"), (body({}), "'text_input' must be a string"),
    (body({"text_input": 3}), "'text_input' must be a string"), (body({"text_input": ["a", "b"]}), "must be a string"),
    (body({"text_input": "a", "parameters": 1}), "'parameters' must be"),
    (body({"text_input": "a", "max_tokens": "many"}), "'max_tokens' must be an integer"),
])
def test_bad_generate_requests(raw: bytes, message: str) -> None:
    with pytest.raises(V2Error) as caught:
        parse_generate_request(raw)
    assert caught.value.status == 400
    assert message in caught.value.message


def test_generate_responses_and_stream_events() -> None:
    assert generate_response("m", "out") == {"model_name": "m", "model_version": "1", "text_output": "out"}
    assert text_from_completion({"choices": [{"index": 0, "text": "t"}]}) == "t"
    assert stream_event("m", {"choices": [{"index": 0, "text": "tok"}]}) == \
        b'data: {"model_name": "m", "model_version": "1", "text_output": "tok"}\n\n'
    assert stream_event("m", {"choices": [{"index": 0, "text": "", "finish_reason": "stop"}]}) is None
    assert stream_event("m", {"error": {"message": "boom"}}) == b'data: {"error": "boom"}\n\n'
    with pytest.raises(V2Error):
        text_from_completion({"choices": []})


@pytest.mark.parametrize(("method", "path", "route"), [
    ("GET", "/v2", V2Route("server_metadata")),
    ("GET", "/v2/", V2Route("server_metadata")),
    ("GET", "/v2/health/live", V2Route("live")),
    ("HEAD", "/v2/health/ready", V2Route("ready")),
    ("GET", "/v2/models", V2Route("models")),
    ("GET", "/v2/models/", V2Route("models")),
    ("GET", "/v2/models/granite-model", V2Route("model_metadata", "granite-model")),
    ("GET", "/v2/models/granite-model/ready", V2Route("model_ready", "granite-model")),
    ("POST", "/v2/models/granite-model/infer", V2Route("infer", "granite-model")),
    ("POST", "/v2/models/g/versions/1/infer", V2Route("infer", "g", "1")),
    ("GET", "/v2/models/g/versions/1", V2Route("model_metadata", "g", "1")),
    ("POST", "/v2/models/g/generate", V2Route("generate", "g")),
    ("POST", "/v2/models/g/generate_stream", V2Route("generate_stream", "g")),
])
def test_routes(method: str, path: str, route: V2Route) -> None:
    assert match_route(method, path) == route


@pytest.mark.parametrize(("method", "path", "status"), [
    ("GET", "/v2/models/g/infer", 405), ("POST", "/v2/models/g", 405), ("POST", "/v2/health/live", 405),
    ("GET", "/v2/nothing", 404), ("POST", "/v2/models/g/explain", 404),
    ("POST", "/v2/models/g/versions/2/infer", 404), ("GET", "/v1/models", 404), ("GET", "/v2x", 404),
    ("POST", "/v2/models/g/infer/more", 404),
])
def test_bad_routes(method: str, path: str, status: int) -> None:
    with pytest.raises(V2Error) as caught:
        match_route(method, path)
    assert caught.value.status == status


@pytest.mark.parametrize(("requested", "served", "default", "expected"), [
    ("granite-model", ["granite-model"], "granite-model", "granite-model"),
    ("granite-model", ["/mnt/models"], "granite-model", "/mnt/models"),  # the isvc's name: whatever its served id
    ("anything", ["/mnt/models"], "", "/mnt/models"),  # in the pod, with no isvc name known: its one model
    ("b", ["a", "b"], "a", "b"),
])
def test_resolve_model(requested: str, served: list[str], default: str, expected: str) -> None:
    assert resolve_model(requested, served, default) == expected


@pytest.mark.parametrize(("served", "default"), [(["a", "b"], ""), ([], ""), (["a"], "granite-model")])
def test_unknown_models_are_404s_listing_the_served(served: list[str], default: str) -> None:
    with pytest.raises(V2Error) as caught:
        resolve_model("c", served, default)
    assert caught.value.status == 404
    assert (", ".join(repr(s) for s in served) if served else "none") in caught.value.message


def test_model_metadata() -> None:
    assert model_metadata("g") == {"name": "g", "versions": ["1"], "platform": "vllm",
                                   "inputs": [{"name": "text_input", "datatype": "BYTES", "shape": [-1]}],
                                   "outputs": [{"name": "text_output", "datatype": "BYTES", "shape": [-1]}]}


@pytest.mark.parametrize(("status", "answer", "v2_status", "message"), [
    (400, {"error": {"message": "max_tokens too large", "type": "BadRequestError"}}, 400, "max_tokens too large"),
    (404, {"object": "error", "message": "model x does not exist"}, 404, "model x does not exist"),
    (422, {"detail": [{"loc": ["body", "top_p"], "msg": "bad"}]}, 422, "top_p"),
    (400, None, 400, "HTTP 400"),
    (503, {}, 503, "not available yet"),
    (500, {"error": {"message": "CUDA OOM"}}, 502, "CUDA OOM"),
])
def test_openai_errors(status: int, answer: dict[str, Any] | None, v2_status: int, message: str) -> None:
    err = error_from_openai(status, answer)
    assert err.status == v2_status
    assert message in err.message


def test_the_protocols_package_imports_only_the_standard_library() -> None:
    """vLLM's environment imports it, and it has nothing of kubeserve's dependencies."""
    package = Path(protocols.__file__).parent
    for source in package.glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                top = name.split(".")[0]
                assert top in sys.stdlib_module_names or name.startswith("kubeserve.protocols") \
                    or top == "__future__", f"{source.name} imports {name}"
