"""KServe huggingfaceserver's command line, as its ServingRuntimes pass it, read by the light HF runtime."""

from __future__ import annotations

import pytest

from kubeserve.runtimes.hfserver.options import Options, OptionsError, parse_options, resolve_dtype, resolve_host


def test_defaults_match_kserve() -> None:
    o = parse_options([], {})
    assert (o.model_dir, o.model_name, o.port, o.host, o.dtype, o.max_model_len) == (
        "/mnt/models", "model", 8080, "0.0.0.0", "auto", None)
    assert o.model_source == "/mnt/models" and o.ignored == ()


def test_kserve_runtime_args() -> None:
    o = parse_options(["--model_name=cpu-model", "--model_dir", "/m", "--http_port=9000", "--dtype=bfloat16",
                       "--max_length=512", "--task=text_generation", "--trust_remote_code"], {})
    assert o == Options(model_dir="/m", model_name="cpu-model", port=9000, dtype="bfloat16", max_model_len=512,
                        task="text_generation", trust_remote_code=True)


def test_model_id_wins_over_model_dir() -> None:
    assert parse_options(["--model_id=org/m"], {}).model_source == "org/m"


@pytest.mark.parametrize(("argv", "ignored"), [
    (["--enable_grpc=false", "--workers", "2"], ("--enable_grpc", "--workers")),
    (["--backend=huggingface", "--disable_lower_case"], ("--backend", "--disable_lower_case")),
    (["--tensor-parallel-size=2"], ("--tensor-parallel-size=2",)),  # vLLM backend flags: unknown, kept to report
])
def test_accepted_but_ignored(argv: list[str], ignored: tuple[str, ...]) -> None:
    assert parse_options(argv, {}).ignored == ignored


@pytest.mark.parametrize(("argv", "message"), [
    (["--task=fill_mask"], "--task=fill_mask is not served"),
    (["--backend=vllm"], "--backend=vllm is not available"),
    (["--max_model_len=1"], "leaves no room"),
    (["--dtype=int4"], "invalid arguments"),
    (["--http_port=eighty"], "invalid arguments"),
])
def test_refused(argv: list[str], message: str) -> None:
    with pytest.raises(OptionsError, match=message):
        parse_options(argv, {})


@pytest.mark.parametrize(("flag", "env", "host"), [
    (None, {}, "0.0.0.0"),
    (None, {"KUBESERVE_POD_IP": "127.0.3.7"}, "127.0.3.7"),
    (None, {"POD_IP": "10.0.0.5"}, "10.0.0.5"),
    (None, {"KUBESERVE_POD_IP": "127.0.3.7", "POD_IP": "10.0.0.5"}, "127.0.3.7"),
    ("127.0.0.1", {"KUBESERVE_POD_IP": "127.0.3.7"}, "127.0.0.1"),
])
def test_host(flag: str | None, env: dict[str, str], host: str) -> None:
    assert resolve_host(flag, env) == host


def test_host_from_env_through_parse() -> None:
    assert parse_options(["--port=8081"], {"KUBESERVE_POD_IP": "127.0.9.9"}).host == "127.0.9.9"


@pytest.mark.parametrize(("name", "cuda", "dtype"), [
    ("auto", False, "float32"), ("auto", True, "float16"),
    ("float16", False, "float32"), ("half", True, "float16"),
    ("float", True, "float32"), ("bfloat16", False, "bfloat16"), ("float32", True, "float32"),
])
def test_dtype(name: str, cuda: bool, dtype: str) -> None:
    assert resolve_dtype(name, cuda) == dtype
