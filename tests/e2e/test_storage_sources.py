"""http(s)://, hf:// and local sources end to end: the storage initializer's `fetch` against real HTTP servers
on 127.0.0.1 (a file server with ETags, ranges, auth and archives; a small Hugging Face Hub), with the
model cache on, checking the bytes that land at the destination, cache hits, and that every bad input fails
with its specific error and leaves no partial model behind."""

from __future__ import annotations

import io
import socket
import ssl
import subprocess
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import zstandard

from kubeserve.storage.errors import AccessDenied, ModelNotFound, TransferError, UnsafeArchive
from kubeserve.storage.initializer import fetch
from kubeserve.storage.settings import StorageSettings
from kubeserve.storage.types import Context
from servers.hfhub import FakeHub, Repo
from servers.http import HttpServer, Resource

pytestmark = pytest.mark.e2e

SHA = "3f1c2b4a5d6e7f8091a2b3c4d5e6f708192a3b4c"


@pytest.fixture(scope="module")
def server() -> Iterator[HttpServer]:
    with HttpServer() as running:
        yield running


def context(tmp_path: Path, env: dict[str, str] | None = None, **settings: int) -> Context:
    return Context(StorageSettings(cache_dir=tmp_path / "cache", **settings), env=env or {})  # type: ignore[arg-type]


def tree(root: Path) -> dict[str, bytes]:
    """The model files at a destination (the initializer's own `.kubeserve-model` marker aside)."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != ".kubeserve-model"}


def nothing_left(tmp_path: Path, dest: Path) -> None:
    """No partial model at the destination, and none committed to (or staged in) the cache."""
    assert not dest.exists() or not any(dest.iterdir())
    cache = tmp_path / "cache"
    for part in ("entries", "staging"):
        assert not (cache / part).exists() or not any((cache / part).iterdir()), f"left in the cache's {part}"


def tar_bytes(files: dict[str, bytes], compression: str = "") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=f"w:{compression}" if compression else "w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


MODEL = {"config.json": b'{"model_type": "llama"}', "weights/model.safetensors": b"\x00\x01" * 5000}


# -- plain files -------------------------------------------------------------------------------------------

def test_file_lands_under_its_basename_and_is_cached_by_etag(server: HttpServer, tmp_path: Path) -> None:
    body = b"joblib-model-bytes" * 1000
    url = server.put("/sklearn/model.joblib", Resource(body))
    first = fetch(url, tmp_path / "dest1", context(tmp_path))
    assert tree(tmp_path / "dest1") == {"model.joblib": body}
    assert first.key is not None and first.key.startswith("http-") and not first.cache_hit
    assert first.downloaded == len(body)
    gets = len(server.requests("GET"))
    second = fetch(url, tmp_path / "dest2", context(tmp_path))
    assert second.cache_hit and second.key == first.key
    assert tree(tmp_path / "dest2") == {"model.joblib": body}
    assert len(server.requests("GET")) == gets  # the second start read no model bytes


def test_changed_etag_downloads_again(server: HttpServer, tmp_path: Path) -> None:
    url = server.put("/changing/model.bin", Resource(b"version one"))
    fetch(url, tmp_path / "a", context(tmp_path))
    server.put("/changing/model.bin", Resource(b"version two!"))
    again = fetch(url, tmp_path / "b", context(tmp_path))
    assert not again.cache_hit
    assert (tmp_path / "b" / "model.bin").read_bytes() == b"version two!"


def test_without_validators_nothing_is_cached(server: HttpServer, tmp_path: Path) -> None:
    url = server.put("/plain/model.bin", Resource(b"abc", etag=False))
    fetched = fetch(url, tmp_path / "dest", context(tmp_path))
    assert fetched.key is None
    assert (tmp_path / "dest" / "model.bin").read_bytes() == b"abc"
    dated = server.put("/dated/model.bin", Resource(b"abc", etag=False, last_modified=True))
    assert fetch(dated, tmp_path / "dest2", context(tmp_path)).key is not None


def test_head_refused_falls_back_to_get(server: HttpServer, tmp_path: Path) -> None:
    url = server.put("/nohead/model.bin", Resource(b"no head here", head=False))
    fetch(url, tmp_path / "dest", context(tmp_path))
    assert (tmp_path / "dest" / "model.bin").read_bytes() == b"no head here"


def test_big_file_in_parallel_ranges(server: HttpServer, tmp_path: Path) -> None:
    body = bytes(range(256)) * 4096  # 1 MiB
    url = server.put("/big/model.safetensors", Resource(body))
    before = len(server.requests("GET"))
    fetch(url, tmp_path / "dest", context(tmp_path, concurrency=4, part_size=64 << 10))
    assert (tmp_path / "dest" / "model.safetensors").read_bytes() == body
    ranged = [s for s in server.requests("GET")[before:] if "Range" in s.headers]
    assert len(ranged) == 16


def test_https_trusts_the_ca_from_the_context(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    with HttpServer(tls) as secure:
        url = secure.put("/m/model.bin", Resource(b"over tls"))
        with pytest.raises(TransferError, match="REQUESTS_CA_BUNDLE"):
            fetch(url, tmp_path / "untrusted", context(tmp_path))
        fetch(url, tmp_path / "dest", context(tmp_path, {"REQUESTS_CA_BUNDLE": str(cert)}))
        assert (tmp_path / "dest" / "model.bin").read_bytes() == b"over tls"
        fetch(url, tmp_path / "dest2", context(tmp_path / "other", {"SSL_CERT_FILE": str(cert)}))
        assert (tmp_path / "dest2" / "model.bin").read_bytes() == b"over tls"


# -- auth and bad input ------------------------------------------------------------------------------------

def test_auth_headers_from_the_kserve_variable(server: HttpServer, tmp_path: Path) -> None:
    url = server.put("/private/model.bin", Resource(b"secret weights", token="t0ken"))
    with pytest.raises(AccessDenied, match=r"127\.0\.0\.1-headers"):
        fetch(url, tmp_path / "denied", context(tmp_path))
    nothing_left(tmp_path, tmp_path / "denied")
    with pytest.raises(AccessDenied, match="HTTP 403"):
        fetch(url, tmp_path / "wrong", context(tmp_path, {"127.0.0.1-headers": '{"Authorization": "Bearer no"}'}))
    env = {"127.0.0.1-headers": '{"Authorization": "Bearer t0ken"}'}
    fetch(url, tmp_path / "dest", context(tmp_path, env))
    assert (tmp_path / "dest" / "model.bin").read_bytes() == b"secret weights"


def test_missing_url_names_it(server: HttpServer, tmp_path: Path) -> None:
    url = server.url("/nothing/here.bin")
    with pytest.raises(ModelNotFound, match=url.replace(".", r"\.")):
        fetch(url, tmp_path / "dest", context(tmp_path))
    nothing_left(tmp_path, tmp_path / "dest")


def test_connection_refused(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(TransferError, match=f"127.0.0.1:{port}"):
        fetch(f"http://127.0.0.1:{port}/m.bin", tmp_path / "dest", context(tmp_path))


def test_body_cut_short_leaves_nothing(server: HttpServer, tmp_path: Path) -> None:
    url = server.put("/cut/model.bin", Resource(b"x" * 100_000, cut_after=10_000, ranges=False))
    with pytest.raises(TransferError):
        fetch(url, tmp_path / "dest", context(tmp_path))
    nothing_left(tmp_path, tmp_path / "dest")


# -- archives ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("path", "compression", "content_type"), [
    ("/a/model.tar", "", "application/x-tar"),
    ("/a/model.tar.gz", "gz", "application/gzip"),
    ("/a/model.tgz", "gz", "application/octet-stream"),
    ("/a/download", "", "application/x-tar"),  # an archive by Content-Type alone
])
def test_tar_archives_are_extracted(server: HttpServer, tmp_path: Path, path: str, compression: str,
                                    content_type: str) -> None:
    url = server.put(path, Resource(tar_bytes(MODEL, compression), content_type=content_type))
    fetch(url, tmp_path / "dest", context(tmp_path))
    assert tree(tmp_path / "dest") == MODEL


def test_zstd_tar_is_extracted(server: HttpServer, tmp_path: Path) -> None:
    url = server.put("/a/model.tar.zst", Resource(zstandard.ZstdCompressor().compress(tar_bytes(MODEL))))
    fetch(url, tmp_path / "dest", context(tmp_path))
    assert tree(tmp_path / "dest") == MODEL


def test_zip_is_extracted(server: HttpServer, tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in MODEL.items():
            archive.writestr(name, data)
    url = server.put("/a/model.zip", Resource(buffer.getvalue(), content_type="application/zip"))
    fetch(url, tmp_path / "dest", context(tmp_path))
    assert tree(tmp_path / "dest") == MODEL  # and no downloaded archive left beside the model


@pytest.mark.parametrize("evil", ["../escaped.txt", "/tmp/absolute.txt", "a/../../escaped.txt"])
def test_evil_tar_is_refused(server: HttpServer, tmp_path: Path, evil: str) -> None:
    url = server.put("/evil/model.tar", Resource(tar_bytes({"config.json": b"{}", evil: b"pwned"})))
    dest = tmp_path / "deep" / "dest"
    with pytest.raises(UnsafeArchive, match=r"escape|absolute"):
        fetch(url, dest, context(tmp_path))
    nothing_left(tmp_path, dest)
    assert not (tmp_path / "deep" / "escaped.txt").exists() and not (tmp_path / "escaped.txt").exists()


def test_tar_with_symlink_out_is_refused(server: HttpServer, tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        link = tarfile.TarInfo("weights")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc"
        tar.addfile(link)
    url = server.put("/evil/link.tar", Resource(buffer.getvalue()))
    with pytest.raises(UnsafeArchive):
        fetch(url, tmp_path / "dest", context(tmp_path))
    nothing_left(tmp_path, tmp_path / "dest")


# -- hf:// -------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeHub]:
    root = tmp_path_factory.mktemp("hub")
    for name, files in (("open", MODEL), ("gated", {"config.json": b"{}"}), ("private", {"w.bin": b"pp"})):
        for rel, data in files.items():
            (root / name / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / name / rel).write_bytes(data)
    repos = {"org/open": Repo(root / "open", SHA, revisions=("main", "v1")),
             "org/gated": Repo(root / "gated", "a" * 40, gated=True, token="hf_good"),
             "org/private": Repo(root / "private", "b" * 40, private=True, token="hf_good")}
    with FakeHub(repos) as running:
        yield running


def test_hf_snapshot_at_a_commit(hub: FakeHub, tmp_path: Path) -> None:
    env = {"HF_ENDPOINT": hub.endpoint}
    fetched = fetch("hf://org/open:v1", tmp_path / "dest", context(tmp_path, env))
    assert fetched.key == f"hf-{SHA}"
    assert tree(tmp_path / "dest") == MODEL  # no .cache/huggingface metadata inside the model
    assert any(f"/resolve/{SHA}/config.json" in line for line in hub.seen)  # files fetched at the pinned sha
    again = fetch("hf://org/open", tmp_path / "dest2", context(tmp_path, env))  # main is the same commit
    assert again.cache_hit


def test_hf_missing_repo_and_revision(hub: FakeHub, tmp_path: Path) -> None:
    env = {"HF_ENDPOINT": hub.endpoint}
    with pytest.raises(ModelNotFound, match=r"org/nope not found.*HF_TOKEN"):
        fetch("hf://org/nope", tmp_path / "a", context(tmp_path, env))
    with pytest.raises(ModelNotFound, match="no revision 'v9'"):
        fetch("hf://org/open:v9", tmp_path / "b", context(tmp_path, env))


def test_hf_gated_needs_a_token(hub: FakeHub, tmp_path: Path) -> None:
    env = {"HF_ENDPOINT": hub.endpoint}
    with pytest.raises(AccessDenied, match=r"gated.*HF_TOKEN"):
        fetch("hf://org/gated", tmp_path / "a", context(tmp_path, env))
    with pytest.raises(AccessDenied, match="HF_TOKEN"):
        fetch("hf://org/gated", tmp_path / "b", context(tmp_path, {**env, "HF_TOKEN": "hf_bad"}))
    nothing_left(tmp_path, tmp_path / "b")
    fetch("hf://org/gated", tmp_path / "c", context(tmp_path, {**env, "HF_TOKEN": "hf_good"}))
    assert tree(tmp_path / "c") == {"config.json": b"{}"}


def test_hf_private_with_token(hub: FakeHub, tmp_path: Path) -> None:
    env = {"HF_ENDPOINT": hub.endpoint, "HF_TOKEN": "hf_good"}
    fetch("hf://org/private", tmp_path / "dest", context(tmp_path, env))
    assert tree(tmp_path / "dest") == {"w.bin": b"pp"}


def test_hf_unreachable_hub(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(TransferError, match="cannot reach the Hub"):
        fetch("hf://org/open", tmp_path / "dest", context(tmp_path, {"HF_ENDPOINT": f"http://127.0.0.1:{port}"}))


# -- local paths -------------------------------------------------------------------------------------------

def test_local_path_is_used_in_place(tmp_path: Path) -> None:
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    fetched = fetch(f"file://{model}", tmp_path / "dest", context(tmp_path))
    assert fetched.key is None and fetched.downloaded == 0
    assert (tmp_path / "dest" / "config.json").read_text() == "{}"
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").rglob("config.json"))
