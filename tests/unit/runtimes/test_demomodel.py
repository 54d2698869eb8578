"""`kubeserve demo-model`: the build script's shape and the error when vLLM's environment is missing.

The real build (torch, transformers, tokenizers in the vLLM environment) runs in
tests/e2e/test_vllm_runtime.py, which also checks that the same seed gives identical files.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kubeserve.runtimes.demomodel import BUILD_SCRIPT, DemoModelError, build_demo_model, main


def test_missing_environment_says_how_to_install(tmp_path: Path) -> None:
    with pytest.raises(DemoModelError) as info:
        build_demo_model(tmp_path / "model", environ={"KUBESERVE_VLLM_VENV": str(tmp_path / "none")})
    message = str(info.value)
    assert message.startswith("cannot build the demo model: no vLLM environment found at ")
    assert "make tools" in message and "KUBESERVE_VLLM_VENV" in message
    assert not (tmp_path / "model").exists()


def test_build_script_is_python_with_the_documented_shape() -> None:
    compile(BUILD_SCRIPT, "<demo-model>", "exec")
    for needle in ("hidden_size=256", "intermediate_size=512", "num_hidden_layers=2", "num_attention_heads=4",
                   "num_key_value_heads=2", "head_dim=64", "max_position_embeddings=4096", "vocab_size=2048",
                   '"<unk>", "<s>", "</s>"', "safe_serialization=True", "torch.manual_seed(seed)",
                   "add_generation_prompt"):
        assert needle in BUILD_SCRIPT


def test_main_usage(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "usage:" in capsys.readouterr().err
