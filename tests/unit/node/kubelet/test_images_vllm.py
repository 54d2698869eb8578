"""The image catalog's vLLM entries: which references map to the adapter, its environment, and the pull
error while vLLM is not installed."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from kubeserve.node.kubelet.images import ImageCatalog, ImagePullError, PulledImage, default_vllm_venv

ADAPTER = (sys.executable, "-m", "kubeserve.runtimes.vllm")


def fake_venv(root: Path) -> Path:
    (root / "bin").mkdir(parents=True)
    (root / "bin" / "python").write_text("#!/bin/sh\n")
    return root


async def pull(catalog: ImageCatalog, image: str) -> PulledImage:
    async def progress(line: str) -> None:
        pass

    return await catalog.pull(image, progress)


@pytest.mark.parametrize(("image", "mapped"), [
    ("quay.io/modh/vllm:rhoai-2.20-cpu", True),
    ("quay.io/modh/vllm:rhoai-2.20-cuda", True),
    ("quay.io/modh/vllm:rhoai-2.20-rocm", True),
    ("quay.io/modh/vllm:rhoai-2.20-gaudi", True),
    ("quay.io/modh/vllm:rhoai-2.20", True),
    ("quay.io/modh/vllm", True),
    ("quay.io/modh/vllm@sha256:0123", True),
    ("vllm/vllm-openai:v0.9.1", True),
    ("docker.io/vllm/vllm-openai", True),
    ("quay.io/modh/vllm-extra:1", False),
    ("quay.io/other/vllm:1", False),
])
def test_vllm_images_map_to_the_adapter(tmp_path: Path, image: str, mapped: bool) -> None:
    catalog = ImageCatalog(tmp_path / "images", None, vllm_venv=fake_venv(tmp_path / "venv"))
    entry = catalog.resolve(image)
    assert (entry is not None and entry.entrypoint == ADAPTER) is mapped


async def test_pulled_vllm_image_uses_its_environment(tmp_path: Path) -> None:
    venv = fake_venv(tmp_path / "venv")
    catalog = ImageCatalog(tmp_path / "images", None, vllm_venv=venv)
    assert catalog.is_present("quay.io/modh/vllm:rhoai-2.20-cpu")
    pulled = await pull(catalog, "quay.io/modh/vllm:rhoai-2.20-cpu")
    assert (pulled.entrypoint, pulled.cmd) == (ADAPTER, ())
    assert pulled.env["KUBESERVE_VLLM_VENV"] == str(venv)
    # An explicit `command: [python, -m, vllm…]` (the guide's AMD runtime) finds vLLM's python first.
    assert pulled.env["PATH"].split(":")[0] == str(venv / "bin")
    assert pulled.env["VIRTUAL_ENV"] == str(venv)


async def test_missing_vllm_environment_fails_the_pull(tmp_path: Path) -> None:
    catalog = ImageCatalog(tmp_path / "images", None, vllm_venv=tmp_path / "absent")
    assert not catalog.is_present("quay.io/modh/vllm:rhoai-2.20-cpu")
    with pytest.raises(ImagePullError) as info:
        await pull(catalog, "quay.io/modh/vllm:rhoai-2.20-cpu")
    assert info.value.reason == "ErrImagePull"
    assert f"needs {tmp_path / 'absent' / 'bin' / 'python'}, which is missing" in info.value.message
    assert "make tools" in info.value.message


async def test_user_file_overrides_the_vllm_entry(tmp_path: Path) -> None:
    user_file = tmp_path / "images.yaml"
    user_file.write_text('images:\n  - image: "quay.io/modh/vllm:*"\n    entrypoint: ["/bin/echo"]\n')
    catalog = ImageCatalog(tmp_path / "images", user_file, vllm_venv=tmp_path / "absent")
    assert (await pull(catalog, "quay.io/modh/vllm:rhoai-2.20-cpu")).entrypoint == ("/bin/echo",)


@pytest.mark.parametrize(("env", "in_checkout", "expected"), [
    ({"KUBESERVE_VLLM_VENV": "/opt/vllm"}, True, "/opt/vllm"),
    ({"HOME": "/home/u"}, True, "CHECKOUT/.venvs/vllm"),
    ({"HOME": "/home/u"}, False, "/home/u/.kubeserve/venvs/vllm"),
])
def test_default_vllm_venv(tmp_path: Path, env: dict[str, str], in_checkout: bool, expected: str) -> None:
    if in_checkout:
        fake_venv(tmp_path / ".venvs" / "vllm")
    assert str(default_vllm_venv(env, tmp_path)) == expected.replace("CHECKOUT", str(tmp_path))
