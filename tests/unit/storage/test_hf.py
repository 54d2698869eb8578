"""hf:// URIs parsed by KServe's rule, tokens from the context, and a Hub listing never trusted with `..`.
(Resolution and downloads against a real local Hub server: e2e/test_storage_sources.)"""

from __future__ import annotations

import pytest

from kubeserve.storage.errors import InvalidStorageUri
from kubeserve.storage.hf import HfFile, HfRef, hf_token, parse_hf_uri, repo_files


@pytest.mark.parametrize(("uri", "ref"), [
    ("hf://meta-llama/Llama-3.1-8B-Instruct", HfRef("meta-llama/Llama-3.1-8B-Instruct", "main")),
    ("hf://org/model:v1.0", HfRef("org/model", "v1.0")),
    ("hf://org/model:0123456789abcdef0123456789abcdef01234567",
     HfRef("org/model", "0123456789abcdef0123456789abcdef01234567")),
    ("hf://ibm-granite/granite-3.0-2b.instruct", HfRef("ibm-granite/granite-3.0-2b.instruct", "main")),
])
def test_parse(uri: str, ref: HfRef) -> None:
    assert parse_hf_uri(uri) == ref


@pytest.mark.parametrize(("uri", "why"), [
    ("hf://model-only", "exactly one '/'"),
    ("hf://org/model/extra", "exactly one '/'"),
    ("hf:///model", "organisation name is empty"),
    ("hf://org/", "model name is empty"),
    ("hf://org/:main", "model name is empty"),
    ("hf://org/model:", "empty revision"),
    ("hf://org/..", "not a valid"),
    ("hf://o rg/model", "not a valid"),
    ("s3://org/model", "not an hf://"),
])
def test_parse_rejects(uri: str, why: str) -> None:
    with pytest.raises(InvalidStorageUri, match=why):
        parse_hf_uri(uri)


def test_token_only_from_the_context() -> None:
    assert hf_token({}) is None
    assert hf_token({"HF_TOKEN": "hf_a"}) == "hf_a"
    assert hf_token({"HUGGING_FACE_HUB_TOKEN": "hf_b"}) == "hf_b"
    assert hf_token({"HF_TOKEN": "", "HUGGING_FACE_HUB_TOKEN": "hf_b"}) == "hf_b"


def test_repo_files_normalized() -> None:
    assert repo_files([("config.json", 2), ("./sub/w.safetensors", None)], "hf://o/m") == [
        HfFile("config.json", 2), HfFile("sub/w.safetensors", None)]


@pytest.mark.parametrize("name", ["../evil", "/etc/passwd", "a/../../b"])
def test_repo_files_refuse_escaping_names(name: str) -> None:
    with pytest.raises(InvalidStorageUri, match="refusing"):
        repo_files([("config.json", 2), (name, 1)], "hf://o/m")
