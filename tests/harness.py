"""The test harness for real kubeserve processes: start one on a free port in a temporary home, talk to it
with the real kubectl or raw HTTPS, wait for conditions without sleeps.

Importable from every test (pytest's `pythonpath` includes `tests/`); the e2e fixtures are built on it.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import random
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
GUIDE = REPO / "tests" / "fixtures" / "guide"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class KubeServe:
    home: Path
    port: int
    process: subprocess.Popen[bytes]
    cache_dir: Path
    log_path: Path
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def kubeconfig(self) -> Path:
        return self.home / "kubeconfig"

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def token(self) -> str:
        return (self.home / "token").read_text().strip()

    @property
    def ca(self) -> Path:
        return self.home / "pki" / "ca.crt"

    @property
    def router_ports(self) -> tuple[int, int]:
        """(https, http) ports the gateway bound (it writes them once both listeners are up)."""
        https, http = eventually(lambda: (self.home / "router-ports").exists()
                                 and (self.home / "router-ports").read_text().split(), timeout=30)
        return int(https), int(http)

    def env(self) -> dict[str, str]:
        return {**os.environ, "KUBECONFIG": str(self.kubeconfig), "KUBECACHEDIR": str(self.cache_dir),
                "HOME": str(self.home), **self.extra_env}

    def kubectl(self, *args: str, input: str | None = None, check: bool = True,
                timeout: float = 60) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(["kubectl", *args], input=input, capture_output=True, text=True,
                                env=self.env(), timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
        return result

    def kubectl_json(self, *args: str) -> Any:
        return json.loads(self.kubectl(*args, "-o", "json").stdout)

    def request(self, method: str, path: str, body: Any = None, content_type: str = "application/json",
                token: str | None = "", headers: dict[str, str] | None = None) -> tuple[int, Any, dict[str, str]]:
        """A raw HTTPS request; returns (status, decoded JSON body or text, headers)."""
        data = body if isinstance(body, bytes) else (None if body is None else json.dumps(body).encode())
        req = urllib.request.Request(self.url + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", content_type)
        if token is not None:
            req.add_header("Authorization", f"Bearer {token or self.token}")
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        context = ssl.create_default_context(cafile=str(self.ca))
        try:
            with urllib.request.urlopen(req, context=context, timeout=30) as resp:
                raw, status, hdrs = resp.read(), resp.status, dict(resp.headers)
        except urllib.error.HTTPError as err:
            raw, status, hdrs = err.read(), err.code, dict(err.headers)
        try:
            return status, json.loads(raw), hdrs
        except ValueError:
            return status, raw.decode(errors="replace"), hdrs

    def ready(self) -> bool:
        try:
            status, _, _ = self.request("GET", "/readyz", token=None)
            return status == 200
        except (urllib.error.URLError, OSError, ssl.SSLError):
            return False

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def start_kubeserve(home: Path, port: int | None = None, timeout: float = 60,
                    env: dict[str, str] | None = None) -> KubeServe:
    port = port or free_port()
    home.mkdir(parents=True, exist_ok=True)
    log_path = home / "server.log"
    # Each instance gets its own pod and service address ranges, so servers side by side never collide.
    octet = _free_network_octet()
    full_env = {**os.environ, "KUBESERVE_HOME": str(home), "KUBESERVE_API_PORT": str(port),
                "KUBESERVE_POD_NETWORK": f"127.{10 + octet}.0.0/16",
                "KUBESERVE_SERVICE_NETWORK": f"127.{100 + octet}.0.0/16",
                # the gateway on free ports unless a test asks for 443/80 (only one server can have them)
                "KUBESERVE_ROUTER_HTTPS_PORT": str(free_port()), "KUBESERVE_ROUTER_HTTP_PORT": str(free_port()),
                **(env or {})}
    with open(log_path, "ab") as log:
        process = subprocess.Popen([sys.executable, "-m", "kubeserve", "up"], stdout=log, stderr=log,
                                   env=full_env, start_new_session=True)
    server = KubeServe(home, port, process, home / "kubectl-cache", log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"kubeserve exited with {process.returncode}:\n{log_path.read_text()[-3000:]}")
        if server.kubeconfig.exists() and server.ready():
            return server
        time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"kubeserve did not become ready:\n{log_path.read_text()[-3000:]}")


_TAKEN_OCTETS: set[int] = set()


def _listening_second_octets() -> set[int]:
    """Second octets of 127.x.y.z addresses something listens on (from /proc/net/tcp, LISTEN = 0A)."""
    found: set[int] = set()
    with contextlib.suppress(OSError):
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            fields = line.split()
            address, state = fields[1].split(":")[0], fields[3]
            if state == "0A" and int(address[6:8], 16) == 127:
                found.add(int(address[4:6], 16))
    return found


def _free_network_octet() -> int:
    """An x such that 127.(10+x)/16 (pods) and 127.(100+x)/16 (services) are used by no other server: not by
    one this process started, nor by any listener on the machine (another test run)."""
    listening = _listening_second_octets()
    start = random.randrange(80)
    for step in range(80):
        octet = (start + step) % 80
        if octet not in _TAKEN_OCTETS and 10 + octet not in listening and 100 + octet not in listening:
            _TAKEN_OCTETS.add(octet)
            return octet
    raise RuntimeError("no free loopback ranges left for another kubeserve")


def eventually(predicate: Any, timeout: float = 10.0, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s (last value: {last!r})")


class KubectlLines:
    """Reads a long-running kubectl's stdout line by line (on a thread), for `get -w`."""

    def __init__(self, ks: KubeServe, *args: str) -> None:
        self.process = subprocess.Popen(["kubectl", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        text=True, env=ks.env())
        self.seen: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._thread = threading.Thread(target=self._pump, daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def until(self, predicate: Callable[[str], bool], timeout: float = 10.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no matching line within {timeout}s; got:\n" + "\n".join(self.seen))
            try:
                line = self._queue.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                stderr = self.process.stderr.read() if self.process.stderr else ""
                raise AssertionError("kubectl exited; output:\n" + "\n".join(self.seen) + f"\nstderr:\n{stderr}")
            self.seen.append(line)
            if predicate(line):
                return line

    def stop(self) -> None:
        self.process.kill()
        self.process.wait(10)
        self._thread.join(5)
        for stream in (self.process.stdout, self.process.stderr):
            if stream:
                stream.close()
