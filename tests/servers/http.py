"""A real HTTP file server on 127.0.0.1 for the http(s):// storage tests: each path serves bytes with the
headers a test chooses (ETag or Last-Modified or neither, byte ranges, a bearer token, HEAD refused, a
body cut short), so every branch of the provider meets a real socket.

    with HttpServer() as server:
        server.put("/m/model.bin", Resource(b"..."))
        url = server.url("/m/model.bin")
"""

from __future__ import annotations

import email.utils
import hashlib
import re
import ssl
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler

from servers.threaded import ThreadedServer


@dataclass
class Resource:
    body: bytes
    content_type: str = "application/octet-stream"
    etag: bool = True
    last_modified: bool = False
    ranges: bool = True
    head: bool = True
    """False: HEAD answers 405, as some servers (and presigned URLs, with 403) do."""
    token: str | None = None
    """A bearer token the request must carry; 401 without it, 403 with a wrong one."""
    cut_after: int | None = None
    """Announce the full Content-Length but close the connection after this many bytes."""


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)


_RANGE = re.compile(r"^bytes=(\d+)-(\d*)$")


class HttpServer(ThreadedServer):
    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.resources: dict[str, Resource] = {}
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        super().__init__("http-test-server", tls)

    def url(self, path: str) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}{path}"

    def put(self, path: str, resource: Resource) -> str:
        self.resources[path] = resource
        return self.url(path)

    def requests(self, method: str | None = None) -> list[Seen]:
        with self._lock:
            return [s for s in self.seen if method is None or s.method == method]

    def _serve(self, handler: BaseHTTPRequestHandler, *, head: bool) -> None:
        path = handler.path.split("?")[0]
        with self._lock:
            self.seen.append(Seen(handler.command, handler.path, dict(handler.headers.items())))
        resource = self.resources.get(path)
        if resource is None:
            return _reply(handler, 404, b"not found\n", head=head)
        if head and not resource.head:
            return _reply(handler, 405, b"", head=True)
        if resource.token is not None:
            auth = handler.headers.get("Authorization")
            if auth is None:
                return _reply(handler, 401, b"unauthorized\n", head=head, extra={"WWW-Authenticate": "Bearer"})
            if auth != f"Bearer {resource.token}":
                return _reply(handler, 403, b"forbidden\n", head=head)
        body = resource.body
        headers = {"Content-Type": resource.content_type}
        if resource.etag:
            headers["ETag"] = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        if resource.last_modified:
            headers["Last-Modified"] = email.utils.formatdate(1_700_000_000, usegmt=True)
        if resource.ranges:
            headers["Accept-Ranges"] = "bytes"
        match = _RANGE.match(handler.headers.get("Range", "")) if resource.ranges else None
        if match:
            start = int(match.group(1))
            end = min(int(match.group(2)) if match.group(2) else len(body) - 1, len(body) - 1)
            headers["Content-Range"] = f"bytes {start}-{end}/{len(body)}"
            return _reply(handler, 206, body[start:end + 1], head=head, extra=headers)
        return _reply(handler, 200, body, head=head, extra=headers, cut_after=resource.cut_after)


def _reply(handler: BaseHTTPRequestHandler, status: int, body: bytes, *, head: bool,
           extra: dict[str, str] | None = None, cut_after: int | None = None) -> None:
    handler.send_response(status)
    for name, value in (extra or {}).items():
        handler.send_header(name, value)
    handler.send_header("Content-Length", str(len(body)))
    if cut_after is not None:
        handler.send_header("Connection", "close")
    handler.end_headers()
    if head:
        return
    handler.wfile.write(body if cut_after is None else body[:cut_after])
    if cut_after is not None:
        handler.wfile.flush()
        handler.close_connection = True
