"""Container probes (startup, liveness, readiness): one attempt, judged as kubelet's prober judges it.

The failure messages are kubelet's, so `kubectl describe` reads the same as on a cluster:
`Get "http://127.10.0.2:8080/ready": dial tcp 127.10.0.2:8080: connect: connection refused`,
`HTTP probe failed with statuscode: 503`. Given probe_type ("Readiness", ...), failures carry the Event's
prefix: `Readiness probe failed: ...`. Thresholds and periods are the pod worker's; this module runs one try.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiohttp

from kubeserve.client import Obj

USER_AGENT = "kube-probe/1.31"
MAX_BODY = 10 * 1024

ExecIn = Callable[[list[str], float], Awaitable[tuple[int, bytes]]]


@dataclass(frozen=True)
class ProbeResult:
    success: bool
    message: str


def resolve_port(port: object, container: Obj) -> int:
    if isinstance(port, int):
        return port
    text = str(port)
    if text.isdigit():
        return int(text)
    for declared in container.get("ports") or []:
        if declared.get("name") == text:
            return int(declared["containerPort"])
    raise ValueError(f'couldn\'t find port: {text} in container "{container.get("name", "")}"')


def _dial_error(exc: OSError) -> str:
    code = exc.errno
    if code is None and isinstance(exc.__cause__, OSError):
        code = exc.__cause__.errno
    words = {errno.ECONNREFUSED: "connection refused", errno.EHOSTUNREACH: "no route to host",
             errno.ENETUNREACH: "network is unreachable", errno.EADDRNOTAVAIL: "cannot assign requested address",
             errno.ECONNRESET: "connection reset by peer"}
    return f"connect: {words.get(code or 0, (exc.strerror or str(exc)).lower())}"


def _host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


async def _http(action: Obj, pod_ip: str, container: Obj, timeout: float) -> ProbeResult:
    host = action.get("host") or pod_ip
    port = resolve_port(action.get("port"), container)
    scheme = str(action.get("scheme") or "HTTP").lower()
    path = str(action.get("path") or "/")
    if not path.startswith("/"):
        path = "/" + path
    url = f"{scheme}://{_host_port(host, port)}{path}"
    headers = {"User-Agent": USER_AGENT, "Accept": "*/*"}
    for header in action.get("httpHeaders") or []:
        headers[str(header.get("name"))] = str(header.get("value", ""))
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session, \
                session.get(url, headers=headers, allow_redirects=False, ssl=False) as response:
            with contextlib.suppress(aiohttp.ClientError):
                await response.content.read(MAX_BODY)
            status = response.status
    except TimeoutError:
        return ProbeResult(False, f'Get "{url}": context deadline exceeded (Client.Timeout exceeded while awaiting '
                                  "headers)")
    except aiohttp.ClientConnectorError as exc:
        return ProbeResult(False, f'Get "{url}": dial tcp {_host_port(host, port)}: {_dial_error(exc.os_error)}')
    except (aiohttp.ClientError, OSError) as exc:
        return ProbeResult(False, f'Get "{url}": {exc}')
    if 200 <= status < 400:
        return ProbeResult(True, "")
    return ProbeResult(False, f"HTTP probe failed with statuscode: {status}")


async def _tcp(action: Obj, pod_ip: str, container: Obj, timeout: float) -> ProbeResult:
    host = action.get("host") or pod_ip
    port = resolve_port(action.get("port"), container)
    address = _host_port(host, port)
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except TimeoutError:
        return ProbeResult(False, f"dial tcp {address}: i/o timeout")
    except OSError as exc:
        return ProbeResult(False, f"dial tcp {address}: {_dial_error(exc)}")
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return ProbeResult(True, "")


async def _exec(action: Obj, exec_in: ExecIn, timeout: float) -> ProbeResult:
    command = [str(part) for part in action.get("command") or []]
    if not command:
        return ProbeResult(False, "exec probe has no command")
    try:
        code, output = await exec_in(command, timeout)
    except TimeoutError:
        return ProbeResult(False, f'command "{" ".join(command)}" timed out')
    except OSError as exc:
        return ProbeResult(False, f"exec probe could not run: {exc}")
    text = output.decode("utf-8", "replace")
    if code == 0:
        return ProbeResult(True, text)
    return ProbeResult(False, text or f"command exited with {code}")


async def run_probe(probe: Obj, pod_ip: str, container: Obj, exec_in: ExecIn,
                    probe_type: str = "") -> ProbeResult:
    timeout = float(probe.get("timeoutSeconds") or 1)
    try:
        if probe.get("httpGet") is not None:
            result = await _http(probe["httpGet"], pod_ip, container, timeout)
        elif probe.get("tcpSocket") is not None:
            result = await _tcp(probe["tcpSocket"], pod_ip, container, timeout)
        elif probe.get("exec") is not None:
            result = await _exec(probe["exec"], exec_in, timeout)
        elif probe.get("grpc") is not None:
            result = ProbeResult(False, "gRPC probes are not supported by kubeserve; use httpGet, tcpSocket or exec")
        else:
            result = ProbeResult(False, "probe has no handler (httpGet, tcpSocket or exec)")
    except ValueError as exc:
        result = ProbeResult(False, str(exc))
    if not result.success and probe_type:
        return ProbeResult(False, f"{probe_type} probe failed: {result.message}")
    return result
