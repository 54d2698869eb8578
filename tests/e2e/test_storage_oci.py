"""oci:// end to end against a real registry (Debian's docker-registry) on 127.0.0.1: build and push a
modelcar, pull it back through OciProvider, check skopeo reads what kubeserve builds, and every bad input
of the issue (auth failures, 404s, tampered digests, evil layers) fails with its own error and leaves
nothing outside the stage."""

from __future__ import annotations

import json
import shutil
import subprocess
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import zstandard

from kubeserve.storage.errors import AccessDenied, IntegrityError, ModelNotFound, TransferError, UnsafeArchive
from kubeserve.storage.oci import OciProvider, build_modelcar
from kubeserve.storage.oci import build as build_module
from kubeserve.storage.settings import StorageSettings
from kubeserve.storage.types import Context
from servers.registry import (
    TAR_GZIP,
    Registry,
    gz,
    member,
    push_image,
    push_index,
    running_registry,
    start_registry,
    tar_bytes,
)
from servers.registry import (
    digest as sha,
)

pytestmark = pytest.mark.e2e
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
ZSTD_LAYER = "application/vnd.oci.image.layer.v1.tar+zstd"
USERS = {"alice": "wonderland"}


class Counter:
    def __init__(self) -> None:
        self.total: int | None = None
        self.done = 0
        self.lock = threading.Lock()

    def set_total(self, total: int | None) -> None:
        self.total = total

    def advance(self, done: int) -> None:
        with self.lock:
            self.done += done


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("oci")


def _registry(work: Path, name: str, **kwargs: object) -> Iterator[Registry]:
    registry = start_registry(work / name, **kwargs)  # type: ignore[arg-type]
    yield registry
    registry.stop()


@pytest.fixture(scope="module")
def anon(work: Path) -> Iterator[Registry]:
    yield from _registry(work, "anon")


@pytest.fixture(scope="module")
def basic(work: Path) -> Iterator[Registry]:
    yield from _registry(work, "basic", auth="htpasswd", users=USERS)


@pytest.fixture(scope="module")
def token(work: Path) -> Iterator[Registry]:
    yield from _registry(work, "token", auth="token", users=USERS, deny=frozenset({"secret/model"}))


def context(tmp: Path, *, auth: Path | None = None, conf: Path | None = None) -> Context:
    env = {"REGISTRY_AUTH_FILE": str(auth)} if auth else {"DOCKER_CONFIG": str(tmp / "no-docker-config")}
    return Context(settings=StorageSettings(registries_conf=conf, concurrency=4), env=env)


def pull(uri: str, ctx: Context, stage: Path) -> Counter:
    plan = OciProvider().plan(uri, ctx)
    assert plan.download is not None
    stage.mkdir(parents=True, exist_ok=True)
    progress = Counter()
    plan.download(stage, progress)
    return progress


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def model(work: Path) -> Path:
    directory = work / "model"
    (directory / "tokenizer").mkdir(parents=True)
    (directory / "config.json").write_text('{"model_type": "llama"}')
    (directory / "tokenizer" / "tokenizer.json").write_text("{}" * 1000)
    (directory / "model-00001.safetensors").write_bytes(bytes(range(256)) * 8192)
    (directory / "model-00002.safetensors").write_bytes(b"\x07" * 3_000_000)
    return directory


@pytest.fixture(scope="module")
def built(anon: Registry, model: Path, work: Path) -> tuple[str, str, Path]:
    mp = pytest.MonkeyPatch()
    mp.setattr(build_module, "BIG_FILE", 1 << 20)  # the two weight files get layers of their own
    try:
        result = build_modelcar(model, f"oci://{anon.host}/acme/llm:v1", push=True, layout=work / "llm.oci",
                                context=context(work))
    finally:
        mp.undo()
    return f"{anon.host}/acme/llm:v1", result.digest, work / "llm.oci"


def test_build_push_then_pull_gives_the_same_files(built: tuple[str, str, Path], model: Path, tmp_path: Path) -> None:
    image, manifest_digest, layout = built
    index = json.loads((layout / "index.json").read_text())
    manifest = json.loads((layout / "blobs" / "sha256" / manifest_digest.removeprefix("sha256:")).read_bytes())
    assert len(manifest["layers"]) == 3
    plan = OciProvider().plan("oci://" + image, context(tmp_path))
    assert plan.key == "oci-sha256-" + manifest_digest.removeprefix("sha256:")
    assert plan.total_bytes == sum(layer["size"] for layer in manifest["layers"])
    assert index["manifests"][0]["digest"] == manifest_digest
    progress = pull("oci://" + image, context(tmp_path), tmp_path / "stage")
    assert tree(tmp_path / "stage") == tree(model)
    assert progress.total == plan.total_bytes and progress.done == plan.total_bytes
    pinned = pull(f"oci://{image.rsplit(':', 1)[0]}@{manifest_digest}", context(tmp_path), tmp_path / "pinned")
    assert tree(tmp_path / "pinned") == tree(model) and pinned.done == plan.total_bytes


def test_skopeo_reads_the_built_modelcar(built: tuple[str, str, Path], tmp_path: Path) -> None:
    image, manifest_digest, layout = built
    inspect = subprocess.run(["skopeo", "inspect", "--tls-verify=false", f"docker://{image}"], capture_output=True,
                             text=True, timeout=60)
    assert inspect.returncode == 0, inspect.stderr
    assert json.loads(inspect.stdout)["Digest"] == manifest_digest
    copies = ((f"docker://{image}", tmp_path / "from-registry"), (f"oci:{layout}:v1", tmp_path / "from-layout"))
    for source, target in copies:
        copy = subprocess.run(["skopeo", "copy", "--src-tls-verify=false", source, f"dir:{target}"],
                              capture_output=True, text=True, timeout=120)
        assert copy.returncode == 0, copy.stderr
        assert (target / "manifest.json").is_file()


def test_basic_auth(basic: Registry, model: Path, tmp_path: Path) -> None:
    good = basic.auth_file(tmp_path / "good.json", "alice", "wonderland")
    build_modelcar(model, f"{basic.host}/team/m:v1", push=True, layout=None, context=context(tmp_path, auth=good))
    pull(f"oci://{basic.host}/team/m:v1", context(tmp_path, auth=good), tmp_path / "stage")
    assert tree(tmp_path / "stage") == tree(model)
    bad = basic.auth_file(tmp_path / "bad.json", "alice", "nope")
    with pytest.raises(AccessDenied, match=r"refused the credentials .*\(401\).*pull secret"):
        OciProvider().plan(f"oci://{basic.host}/team/m:v1", context(tmp_path, auth=bad))
    with pytest.raises(AccessDenied, match="requires credentials"):
        OciProvider().plan(f"oci://{basic.host}/team/m:v1", context(tmp_path))


def test_token_auth(token: Registry, model: Path, tmp_path: Path) -> None:
    good = token.auth_file(tmp_path / "good.json", "alice", "wonderland")
    build_modelcar(model, f"{token.host}/team/m:v1", push=True, layout=None, context=context(tmp_path, auth=good))
    pull(f"oci://{token.host}/team/m:v1", context(tmp_path, auth=good), tmp_path / "stage")
    assert tree(tmp_path / "stage") == tree(model)
    bad = token.auth_file(tmp_path / "bad.json", "alice", "nope")
    with pytest.raises(AccessDenied, match=r"\(401\)"):
        OciProvider().plan(f"oci://{token.host}/team/m:v1", context(tmp_path, auth=bad))
    with pytest.raises(AccessDenied, match=r"secret/model \(403\)"):
        OciProvider().plan(f"oci://{token.host}/secret/model:v1", context(tmp_path, auth=good))


def test_missing_repository_and_tag(built: tuple[str, str, Path], anon: Registry, tmp_path: Path) -> None:
    with pytest.raises(ModelNotFound, match=rf"image {anon.host}/nobody/here:v1 not found on registry"):
        OciProvider().plan(f"oci://{anon.host}/nobody/here:v1", context(tmp_path))
    with pytest.raises(ModelNotFound, match=r"acme/llm:nope not found .*MANIFEST_UNKNOWN"):
        OciProvider().plan(f"oci://{anon.host}/acme/llm:nope", context(tmp_path))


def _one_layer(anon: Registry, repo: str, members: list[tuple[tarfile.TarInfo, bytes | None]]) -> str:
    return push_image(anon, repo, "v1", [(gz(tar_bytes(members)), TAR_GZIP)])


def test_tampered_manifest_and_layer(anon: Registry, tmp_path: Path) -> None:
    manifest_digest = _one_layer(anon, "tamper/manifest", [member("models/a", b"a" * 1000)])
    path = anon.blob_path(manifest_digest)
    path.write_bytes(path.read_bytes().replace(b'"schemaVersion": 2', b'"schemaVersion":  2'))
    with pytest.raises(IntegrityError, match=r"manifest of image .* does not match its digest"):
        OciProvider().plan(f"oci://{anon.host}/tamper/manifest@{manifest_digest}", context(tmp_path))

    layer = gz(tar_bytes([member("models/a", b"hello" * 5000)]))
    push_image(anon, "tamper/layer", "v1", [(layer, TAR_GZIP)])
    blob = anon.blob_path(sha(layer))
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF
    blob.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match=rf"layer {sha(layer)} of {anon.host}/tamper/layer.*tampered"):
        pull(f"oci://{anon.host}/tamper/layer:v1", context(tmp_path), tmp_path / "stage")


EVIL = {
    "dotdot": [member("models/../../escaped", b"x")],
    "absolute": [member("/models/abs", b"x"), member("/tmp/kubeserve-evil-abs", b"x")],
    "symlink-out": [member("models/link", kind=tarfile.SYMTYPE, link="../../../../etc/passwd")],
    "symlink-absolute": [member("models/link", kind=tarfile.SYMTYPE, link="/etc/passwd")],
    "through-symlink": [member("models/d", kind=tarfile.SYMTYPE, link="."),
                        member("models/e", kind=tarfile.SYMTYPE, link="d/.."),
                        member("models/e/escaped", b"x")],
    "hardlink-out": [member("models/h", kind=tarfile.LNKTYPE, link="etc/shadow")],
    "device": [member("models/dev", kind=tarfile.CHRTYPE)],
}


@pytest.mark.parametrize("case", sorted(EVIL))
def test_evil_layers_are_refused(anon: Registry, case: str, tmp_path: Path) -> None:
    repo = f"evil/{case}"
    _one_layer(anon, repo, [member("models/ok", b"fine"), *EVIL[case]])
    outer = tmp_path / "outer"
    stage = outer / "a" / "b" / "stage"
    with pytest.raises(UnsafeArchive, match=r"layer sha256:[0-9a-f]+ of .*evil"):
        pull(f"oci://{anon.host}/{repo}:v1", context(tmp_path), stage)
    assert [p for p in outer.rglob("*") if not p.is_relative_to(stage)] in ([outer / "a", outer / "a" / "b"],
                                                                          [outer / "a" / "b", outer / "a"])
    assert not Path("/tmp/kubeserve-evil-abs").exists()


def test_index_whiteouts_zstd_and_docker_types(anon: Registry, tmp_path: Path) -> None:
    lower = gz(tar_bytes([member("etc/os-release", b"linux"), member("models/", kind=tarfile.DIRTYPE),
                          member("models/a", b"gone"), member("models/d/x", b"hidden"), member("models/keep", b"k")]))
    upper = zstandard.ZstdCompressor().compress(tar_bytes([
        member("models/.wh.a", b""), member("models/d/.wh..wh..opq", b""), member("models/d/y", b"new")]))
    amd = push_image(anon, "multi/model", "amd64", [(lower, TAR_GZIP), (upper, ZSTD_LAYER)])
    arm = push_image(anon, "multi/model", "arm64", [(gz(tar_bytes([member("models/arm", b"arm")])), TAR_GZIP)],
                     platform=("linux", "arm64"))
    push_index(anon, "multi/model", "v1", [(arm, "linux", "arm64"), (amd, "linux", "amd64")])
    plan = OciProvider().plan(f"oci://{anon.host}/multi/model:v1", context(tmp_path))
    assert plan.key == "oci-sha256-" + amd.removeprefix("sha256:")
    pull(f"oci://{anon.host}/multi/model:v1", context(tmp_path), tmp_path / "stage")
    assert tree(tmp_path / "stage") == {"d/y": b"new", "keep": b"k"}

    push_image(anon, "docker/model", "v1", [(gz(tar_bytes([member("./models/w", b"docker")])), DOCKER_LAYER)],
               manifest_type=DOCKER_MANIFEST, config_type=DOCKER_CONFIG)
    pull(f"oci://{anon.host}/docker/model:v1", context(tmp_path), tmp_path / "docker")
    assert tree(tmp_path / "docker") == {"w": b"docker"}


def test_image_without_models(anon: Registry, tmp_path: Path) -> None:
    _one_layer(anon, "plain/app", [member("usr/bin/app", b"#!/bin/sh\n")])
    with pytest.raises(ModelNotFound, match="no /models directory: a modelcar keeps the model files under /models"):
        pull(f"oci://{anon.host}/plain/app:v1", context(tmp_path), tmp_path / "stage")


def test_guide_uri_served_by_a_mirror(anon: Registry, model: Path, tmp_path: Path) -> None:
    build_modelcar(model, f"{anon.host}/rhelai1/modelcar-granite-7b-starter:latest", push=True, layout=None,
                   context=context(tmp_path))
    conf = tmp_path / "registries.conf"
    conf.write_text(f'[[registry]]\nprefix = "registry.redhat.io"\nlocation = "registry.redhat.io"\n'
                    f'[[registry.mirror]]\nlocation = "127.0.0.1:1"\n'
                    f'[[registry.mirror]]\nlocation = "{anon.host}"\n')
    uri = "oci://registry.redhat.io/rhelai1/modelcar-granite-7b-starter:latest"
    plan = OciProvider().plan(uri, context(tmp_path, conf=conf))
    assert plan.source.startswith(f"{anon.host}/rhelai1/modelcar-granite-7b-starter@sha256:")
    pull(uri, context(tmp_path, conf=conf), tmp_path / "stage")
    assert tree(tmp_path / "stage") == tree(model)

    dead = tmp_path / "dead.conf"
    dead.write_text('[[registry]]\nprefix = "registry.redhat.io"\nlocation = "127.0.0.1:2"\n'
                    '[[registry.mirror]]\nlocation = "127.0.0.1:1"\n')
    with pytest.raises(TransferError, match=r"tried 2.*mirror 127\.0\.0\.1:1/rhelai1.*registry 127\.0\.0\.1:2/rhelai1"):
        OciProvider().plan(uri, context(tmp_path, conf=dead))


def test_build_refuses_a_missing_or_empty_directory(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFound, match="does not exist"):
        build_modelcar(tmp_path / "nope", "127.0.0.1:1/a/b:v1", push=False, layout=tmp_path / "l",
                       context=context(tmp_path))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelNotFound, match="holds no files"):
        build_modelcar(tmp_path / "empty", "127.0.0.1:1/a/b:v1", push=False, layout=tmp_path / "l",
                       context=context(tmp_path))
    shutil.rmtree(tmp_path / "empty")


def test_fetch_through_the_initializer_caches_by_digest(built: tuple[str, str, Path], model: Path,
                                                         tmp_path: Path) -> None:
    from kubeserve.storage.initializer import fetch

    image, manifest_digest, _ = built
    ctx = Context(settings=StorageSettings(cache_dir=tmp_path / "cache"), env={"DOCKER_CONFIG": str(tmp_path)})
    first = fetch("oci://" + image, tmp_path / "one", ctx)
    assert not first.cache_hit and first.key == "oci-sha256-" + manifest_digest.removeprefix("sha256:")
    marker = ".kubeserve-model"  # the initializer's record of what it placed there
    assert {k: v for k, v in tree(tmp_path / "one").items() if k != marker} == tree(model)
    second = fetch("oci://" + image, tmp_path / "two", ctx)
    assert second.cache_hit and second.downloaded == 0
    assert {k: v for k, v in tree(tmp_path / "two").items() if k != marker} == tree(model)


def test_https_registry_trust(work: Path, model: Path, tmp_path: Path) -> None:
    """HTTPS with a private CA: refused (no fallback to plain HTTP) until the CA is in certs.d, or the
    registry is marked insecure in registries.conf."""
    with running_registry(work / "tls", tls=True) as registry:
        assert registry.ca_file is not None
        certs = tmp_path / "certs.d"
        (certs / registry.host).mkdir(parents=True)
        shutil.copy(registry.ca_file, certs / registry.host / "ca.crt")
        trusted = Context(StorageSettings(certs_dirs=(certs,)), env={"DOCKER_CONFIG": str(tmp_path / "none")})
        build_modelcar(model, f"oci://{registry.host}/tls/llm:v1", push=True, layout=None, context=trusted)
        pull(f"oci://{registry.host}/tls/llm:v1", trusted, tmp_path / "trusted")
        assert tree(tmp_path / "trusted") == tree(model)

        with pytest.raises(TransferError, match=r"certificate is not trusted.*certs\.d"):
            pull(f"oci://{registry.host}/tls/llm:v1", context(tmp_path), tmp_path / "untrusted")

        conf = tmp_path / "registries.conf"
        conf.write_text(f'[[registry]]\nlocation = "{registry.host}"\ninsecure = true\n')
        pull(f"oci://{registry.host}/tls/llm:v1", context(tmp_path, conf=conf), tmp_path / "insecure")
        assert tree(tmp_path / "insecure") == tree(model)
