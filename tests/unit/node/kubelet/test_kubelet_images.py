"""The image catalog: reference matching, built-ins, the user file, pulls and their errors."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from kubeserve.node.kubelet.images import ImageCatalog, ImagePullError, matches, normalize


@pytest.mark.parametrize(("ref", "expected"), [
    ("busybox", ("busybox", None, None)),
    ("docker.io/library/busybox:1.36", ("busybox", "1.36", None)),
    ("docker.io/curlimages/curl:8.5.0", ("curlimages/curl", "8.5.0", None)),
    ("localhost:5000/team/img", ("localhost:5000/team/img", None, None)),
    ("quay.io/modh/vllm:rhoai-2.20-cpu@sha256:abc", ("quay.io/modh/vllm", "rhoai-2.20-cpu", "sha256:abc")),
])
def test_normalize(ref: str, expected: tuple[str, str | None, str | None]) -> None:
    assert normalize(ref) == expected


@pytest.mark.parametrize(("pattern", "ref", "expected"), [
    ("curlimages/curl", "curlimages/curl:8.5.0", True),
    ("curlimages/curl", "docker.io/curlimages/curl@sha256:1234", True),
    ("busybox", "docker.io/library/busybox:1.36", True),
    ("docker.io/library/busybox:*", "busybox", True),
    ("foo/bar:*", "foo/bar:1", True),
    ("foo/bar:1", "foo/bar:2", False),
    ("foo/bar:1", "foo/bar", False),
    ("foo/bar:latest", "foo/bar", True),
    ("quay.io/modh/vllm:*-cpu", "quay.io/modh/vllm:rhoai-2.20-cpu", True),
    ("quay.io/modh/vllm:*-cpu", "quay.io/modh/vllm:rhoai-2.20-cuda", False),
    ("foo/bar", "foo/barbaz:1", False),
])
def test_matches(pattern: str, ref: str, expected: bool) -> None:
    assert matches(pattern, ref) is expected


async def collect(catalog: ImageCatalog, image: str) -> tuple[list[str], object]:
    lines: list[str] = []

    async def progress(line: str) -> None:
        lines.append(line)

    pulled = await catalog.pull(image, progress)
    return lines, pulled


async def test_builtins(tmp_path: Path) -> None:
    catalog = ImageCatalog(tmp_path / "images", None)
    lines, curl = await collect(catalog, "curlimages/curl:8.5.0")
    assert curl.entrypoint == ("curl",)  # type: ignore[attr-defined]
    assert lines == ["using host command curl"]
    _, server = await collect(catalog, "ghcr.io/kubeserve/http-test-server:latest")
    assert server.entrypoint == (sys.executable, "-m", "kubeserve.runtimes.testserver")  # type: ignore[attr-defined]
    _, box = await collect(catalog, "docker.io/library/busybox:1.36")
    assert (box.entrypoint, box.cmd) == ((), ("sh",))  # type: ignore[attr-defined]
    _, python = await collect(catalog, "python:3.11-slim")
    assert python.cmd == ("python3",)  # type: ignore[attr-defined]
    assert catalog.is_present("alpine:3")


async def test_unmapped_image_says_how_to_map_it(tmp_path: Path) -> None:
    user_file = tmp_path / "images.yaml"
    catalog = ImageCatalog(tmp_path / "images", user_file)
    assert catalog.resolve("foo/bar:1") is None
    assert not catalog.is_present("foo/bar:1")
    with pytest.raises(ImagePullError) as info:
        await collect(catalog, "foo/bar:1")
    assert info.value.reason == "ErrImagePull"
    assert info.value.message == (
        f'image "foo/bar:1" is not in kubeserve\'s image catalog; map it to a local command in {user_file}, '
        'e.g. images: [{image: "foo/bar:*", entrypoint: ["/path/to/cmd"]}]')


async def test_user_file_adds_and_overrides(tmp_path: Path) -> None:
    user_file = tmp_path / "images.yaml"
    user_file.write_text("""
images:
  - image: "busybox:*"
    entrypoint: ["/bin/echo", "overridden"]
  - image: "registry.example.com/team/app:*"
    entrypoint: ["sh", "-c"]
    cmd: ["echo hi"]
    env: {MODE: fast}
    workdir: /srv
  - image: "missing/tool"
    entrypoint: ["/no/such/binary"]
""")
    catalog = ImageCatalog(tmp_path / "images", user_file)
    _, box = await collect(catalog, "busybox")
    assert box.entrypoint == ("/bin/echo", "overridden")  # type: ignore[attr-defined]
    _, app = await collect(catalog, "registry.example.com/team/app:v2")
    assert (app.cmd, app.env, app.workdir) == (("echo hi",), {"MODE": "fast"}, "/srv")  # type: ignore[attr-defined]
    with pytest.raises(ImagePullError, match='mapped to the command "/no/such/binary"'):
        await collect(catalog, "missing/tool:1")
    user_file.write_text("images: {not: a list}\n")
    with pytest.raises(ImagePullError, match="is invalid"):
        catalog.resolve("busybox")


async def test_venv_entries_are_prepared_once(tmp_path: Path) -> None:
    user_file = tmp_path / "images.yaml"
    user_file.write_text(f"""
images:
  - image: "example/venv-app:*"
    entrypoint: ["python", "-c", "print(1)"]
    venv: {{packages: [], python: {sys.executable}}}
  - image: "example/no-python:*"
    entrypoint: ["python"]
    venv: {{packages: [], python: /no/python3}}
""")
    catalog = ImageCatalog(tmp_path / "images", user_file)
    assert not catalog.is_present("example/venv-app:1")
    lines, pulled = await collect(catalog, "example/venv-app:1")
    assert catalog.is_present("example/venv-app:1")
    env = pulled.env  # type: ignore[attr-defined]
    venv = Path(env["VIRTUAL_ENV"])
    assert venv.parent == tmp_path / "images"
    assert env["PATH"].startswith(f"{venv}/bin:")
    assert (venv / "bin" / "python").exists()
    assert any("creating virtual environment" in line for line in lines)
    again, _ = await collect(catalog, "example/venv-app:2")
    assert again[0].startswith("environment for example/venv-app:2 already prepared")
    with pytest.raises(ImagePullError, match='needs the interpreter "/no/python3"'):
        await collect(catalog, "example/no-python:1")
