"""A real OCI registry for tests: Debian's `docker-registry` (distribution 2.8) on 127.0.0.1 with its own
storage, anonymous, with htpasswd (bcrypt) basic auth, or with token auth served by a small RS256 token
server in a thread. Plus helpers to push arbitrary images (raw layers and manifests) for bad-input tests.
"""

from __future__ import annotations

import base64
import datetime
import gzip
import hashlib
import io
import json
import os
import signal
import subprocess
import tarfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from harness import free_port
from servers.tls import make_tls_files

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
TAR_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"


@dataclass
class Registry:
    host: str
    """`127.0.0.1:PORT`."""
    root: Path
    process: subprocess.Popen[bytes]
    users: dict[str, str] = field(default_factory=dict)
    token_server: ThreadingHTTPServer | None = None
    ca_file: Path | None = None

    @property
    def url(self) -> str:
        return f"{'https' if self.ca_file else 'http'}://{self.host}"

    def auth_file(self, path: Path, user: str, password: str, host: str | None = None) -> Path:
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        path.write_text(json.dumps({"auths": {host or self.host: {"auth": token}}}))
        return path

    def blob_path(self, digest: str) -> Path:
        hexd = digest.removeprefix("sha256:")
        return self.root / "docker/registry/v2/blobs/sha256" / hexd[:2] / hexd / "data"

    def stop(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait()
        if self.token_server is not None:
            self.token_server.shutdown()
            self.token_server.server_close()


def start_registry(workdir: Path, *, auth: str = "none", users: dict[str, str] | None = None,
                   deny: frozenset[str] = frozenset(), tls: bool = False) -> Registry:
    """auth: "none", "htpasswd" or "token" (users: name → password; `deny`: repositories the token
    server refuses with 403). tls: serve HTTPS with a throwaway CA (`Registry.ca_file`)."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    users = users or {}
    config: dict[str, Any] = {
        "version": 0.1, "log": {"level": "error", "accesslog": {"disabled": True}},
        "storage": {"filesystem": {"rootdirectory": str(workdir / "data")}, "delete": {"enabled": True}},
        "http": {"addr": f"127.0.0.1:{port}", "secret": uuid.uuid4().hex},
    }
    token_server = None
    ca_file = None
    if tls:
        ca_file, tls_cert, tls_key = make_tls_files(workdir / "tls")
        config["http"]["tls"] = {"certificate": str(tls_cert), "key": str(tls_key)}
    if auth == "htpasswd":
        lines = [subprocess.run(["htpasswd", "-Bbn", u, p], check=True, capture_output=True, text=True).stdout.strip()
                 for u, p in users.items()]
        (workdir / "htpasswd").write_text("\n".join(lines) + "\n")
        config["auth"] = {"htpasswd": {"realm": "kubeserve-test", "path": str(workdir / "htpasswd")}}
    elif auth == "token":
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        cert = _self_signed(key)
        (workdir / "token.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        token_server = _start_token_server(key, users, deny)
        config["auth"] = {"token": {"realm": f"http://127.0.0.1:{token_server.server_port}/token",
                                    "service": "kubeserve-registry", "issuer": "kubeserve-test-issuer",
                                    "rootcertbundle": str(workdir / "token.crt")}}
    (workdir / "config.yml").write_text(json.dumps(config))  # JSON is YAML
    log = (workdir / "registry.log").open("wb")
    process = subprocess.Popen(["docker-registry", "serve", str(workdir / "config.yml")], stdout=log,
                               stderr=subprocess.STDOUT)
    registry = Registry(f"127.0.0.1:{port}", workdir / "data", process, users, token_server, ca_file)
    deadline = time.monotonic() + 30
    while True:
        if process.poll() is not None:
            registry.stop()
            raise RuntimeError(f"docker-registry exited: {(workdir / 'registry.log').read_text()[-2000:]}")
        try:
            requests.get(f"{registry.url}/v2/", timeout=1, verify=str(ca_file) if ca_file else True)
            return registry
        except requests.ConnectionError:
            if time.monotonic() > deadline:
                registry.stop()
                raise RuntimeError("docker-registry did not start in 30 s") from None
            time.sleep(0.05)


def mirror_conf(host: str, prefix: str = "registry.redhat.io") -> str:
    """A registries.conf that serves `prefix` (the guide's registry.redhat.io) from the test registry at `host`:
    what kubeserve reads from `$KUBESERVE_HOME/registries.conf`."""
    return (f'[[registry]]\nprefix = "{prefix}"\nlocation = "{prefix}"\n'
            f'[[registry.mirror]]\nlocation = "{host}"\ninsecure = true\n')


@contextmanager
def running_registry(workdir: Path, **kwargs: Any) -> Iterator[Registry]:
    registry = start_registry(workdir, **kwargs)
    try:
        yield registry
    finally:
        registry.stop()


def _self_signed(key: rsa.RSAPrivateKey) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kubeserve test token signer")])
    now = datetime.datetime.now(datetime.UTC)
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))


def libtrust_key_id(key: rsa.RSAPublicKey) -> str:
    """docker/libtrust's key id: base32 of the first 240 bits of sha256(DER SubjectPublicKeyInfo), in
    groups of four separated by colons. The registry finds the signing key by it (the JWT's `kid`)."""
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    encoded = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode().rstrip("=")
    return ":".join(encoded[i:i + 4] for i in range(0, len(encoded), 4))


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def sign_jwt(key: rsa.RSAPrivateKey, claims: dict[str, Any]) -> str:
    header = {"alg": "RS256", "typ": "JWT", "kid": libtrust_key_id(key.public_key())}
    signing_input = _b64url(json.dumps(header).encode()) + "." + _b64url(json.dumps(claims).encode())
    signature = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return signing_input + "." + _b64url(signature)


def _start_token_server(key: rsa.RSAPrivateKey, users: dict[str, str], deny: frozenset[str]) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            query = parse_qs(urlparse(self.path).query)
            header = self.headers.get("Authorization", "")
            user = None
            if header.startswith("Basic "):
                name, _, password = base64.b64decode(header[6:]).decode().partition(":")
                if users.get(name) != password:
                    return self._reply(401, {"details": "bad credentials"})
                user = name
            if user is None:
                return self._reply(401, {"details": "credentials required"})
            access = []
            for scope in query.get("scope", []):
                kind, name, actions = scope.split(":")
                if name in deny:
                    return self._reply(403, {"details": f"{user} may not access {name}"})
                access.append({"type": kind, "name": name, "actions": actions.split(",")})
            now = int(time.time())
            token = sign_jwt(key, {"iss": "kubeserve-test-issuer", "sub": user, "aud": query.get("service", [""])[0],
                                   "exp": now + 600, "nbf": now - 10, "iat": now, "jti": uuid.uuid4().hex,
                                   "access": access})
            self._reply(200, {"access_token": token, "expires_in": 600})

        def _reply(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


# --- building and pushing raw images --------------------------------------------------------------------

def tar_bytes(members: list[tuple[tarfile.TarInfo, bytes | None]]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return out.getvalue()


def member(name: str, data: bytes | None = None, *, kind: bytes = tarfile.REGTYPE, link: str = "",
           mode: int = 0o644) -> tuple[tarfile.TarInfo, bytes | None]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    info.mode = 0o755 if kind == tarfile.DIRTYPE else mode
    return info, data if kind == tarfile.REGTYPE else None


def gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def push_blob(registry: Registry, repo: str, data: bytes) -> str:
    start = requests.post(f"{registry.url}/v2/{repo}/blobs/uploads/", timeout=30)
    assert start.status_code == 202, start.text
    location = start.headers["Location"]
    location = location if "://" in location else registry.url + location
    put = requests.put(location + ("&" if "?" in location else "?") + f"digest={digest(data)}", data=data,
                       headers={"Content-Type": "application/octet-stream"}, timeout=30)
    assert put.status_code == 201, put.text
    return digest(data)


def push_manifest(registry: Registry, repo: str, ref: str, body: bytes, media_type: str) -> str:
    put = requests.put(f"{registry.url}/v2/{repo}/manifests/{ref}", data=body, headers={"Content-Type": media_type},
                       timeout=30)
    assert put.status_code == 201, put.text
    return digest(body)


def push_image(registry: Registry, repo: str, tag: str, layers: list[tuple[bytes, str]], *,
               manifest_type: str = OCI_MANIFEST, config_type: str = OCI_CONFIG,
               platform: tuple[str, str] = ("linux", "amd64")) -> str:
    """Push layers (blob bytes, media type) as an image; returns the manifest digest."""
    config = json.dumps({"architecture": platform[1], "os": platform[0],
                         "rootfs": {"type": "layers", "diff_ids": [digest(b) for b, _ in layers]}}).encode()
    push_blob(registry, repo, config)
    for data, _ in layers:
        push_blob(registry, repo, data)
    manifest = json.dumps({"schemaVersion": 2, "mediaType": manifest_type,
                           "config": {"mediaType": config_type, "digest": digest(config), "size": len(config)},
                           "layers": [{"mediaType": t, "digest": digest(b), "size": len(b)} for b, t in layers]})
    return push_manifest(registry, repo, tag, manifest.encode(), manifest_type)


def push_index(registry: Registry, repo: str, tag: str, entries: list[tuple[str, str, str]]) -> str:
    """An index over already-pushed manifests: (manifest digest, os, architecture)."""
    manifests = []
    for manifest_digest, os_name, arch in entries:
        head = requests.head(f"{registry.url}/v2/{repo}/manifests/{manifest_digest}",
                             headers={"Accept": OCI_MANIFEST}, timeout=30)
        manifests.append({"mediaType": OCI_MANIFEST, "digest": manifest_digest,
                          "size": int(head.headers["Content-Length"]),
                          "platform": {"os": os_name, "architecture": arch}})
    body = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}).encode()
    return push_manifest(registry, repo, tag, body, OCI_INDEX)
