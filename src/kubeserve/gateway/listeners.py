"""The gateway's two external listeners: HTTPS (SNI decides: splice or terminate) and plain HTTP.

The HTTPS listener accepts sockets itself and peeks at the ClientHello without consuming it. A passthrough
Route's connection is spliced, still encrypted, to one of its endpoints (`splice`), which is how OpenShift's
router serves `termination: passthrough`; every other connection is handed, unread, to the HTTP server
with TLS, whose SNI callback picks the Route's certificate. The HTTP listener serves Routes without TLS,
redirects (`insecureEdgeTerminationPolicy: Redirect`) and `Allow` routes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from collections.abc import Callable

from kubeserve.gateway.tls import NotClientHello, client_hello_length, client_hello_sni

log = logging.getLogger(__name__)

HELLO_TIMEOUT = 10.0
HELLO_LIMIT = 16 * 1024 + 5
CONNECT_TIMEOUT = 5.0
BUFFER = 256 * 1024

ProtocolFactory = Callable[[], asyncio.BaseProtocol]
PassthroughLookup = Callable[[str | None], list[str] | None]  # SNI → endpoints, or None: terminate here


def listening_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(1024)
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


class TlsListener:
    """Accepts on the HTTPS port; peeks the SNI; splices passthrough Routes, terminates the rest."""

    def __init__(self, sock: socket.socket, http_factory: ProtocolFactory, context: ssl.SSLContext,
                 passthrough: PassthroughLookup, on_passthrough_failure: Callable[[str], object]) -> None:
        self.sock = sock
        self.http_factory = http_factory
        self.context = context
        self.passthrough = passthrough
        self.on_passthrough_failure = on_passthrough_failure
        self._task: asyncio.Task[None] | None = None
        self._connections: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._accept(), name="gateway https accept")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for task in list(self._connections):
            task.cancel()
        self.sock.close()

    async def _accept(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                conn, _ = await loop.sock_accept(self.sock)
            except OSError as exc:
                log.warning("https accept failed: %s", exc)
                await asyncio.sleep(0.05)
                continue
            conn.setblocking(False)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            task = loop.create_task(self._dispatch(conn))
            self._connections.add(task)
            task.add_done_callback(self._connections.discard)

    async def _dispatch(self, conn: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        try:
            hello = await asyncio.wait_for(_peek_client_hello(conn), HELLO_TIMEOUT)
            sni = client_hello_sni(hello)
        except (TimeoutError, NotClientHello, OSError) as exc:
            log.debug("dropping a connection on the https port: %s", exc)
            conn.close()
            return
        endpoints = self.passthrough(sni)
        if endpoints is not None:
            await splice(conn, endpoints, sni or "", self.on_passthrough_failure)
            return
        try:
            await loop.connect_accepted_socket(self.http_factory, sock=conn, ssl=self.context,
                                               ssl_handshake_timeout=HELLO_TIMEOUT)
        except (OSError, ssl.SSLError) as exc:
            log.debug("TLS handshake failed (SNI %s): %s", sni, exc)
            conn.close()


async def _peek_client_hello(conn: socket.socket) -> bytes:
    """The first TLS record, read with MSG_PEEK so the TLS server still sees every byte."""
    loop = asyncio.get_running_loop()
    need = 5
    while True:
        await _readable(loop, conn)
        data = conn.recv(HELLO_LIMIT, socket.MSG_PEEK)
        if not data:
            raise OSError("client closed before its ClientHello")
        need = client_hello_length(data)
        if len(data) >= need:
            return data
        if need > HELLO_LIMIT:
            raise NotClientHello("ClientHello too large")
        await asyncio.sleep(0.001)  # the rest of the record is in flight; peeking again would spin


async def _readable(loop: asyncio.AbstractEventLoop, conn: socket.socket) -> None:
    ready: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_reader(conn.fileno(), wake)
    try:
        await ready
    finally:
        loop.remove_reader(conn.fileno())


async def splice(conn: socket.socket, endpoints: list[str], label: str,
                 on_failure: Callable[[str], object]) -> None:
    """Connect to the first endpoint that answers and copy bytes both ways until both sides close."""
    for endpoint in endpoints:
        host, _, port = endpoint.rpartition(":")
        try:
            upstream_reader, upstream_writer = await asyncio.wait_for(
                asyncio.open_connection(host, int(port)), CONNECT_TIMEOUT)
            break
        except (OSError, TimeoutError):
            on_failure(endpoint)
            continue
    else:
        log.info("passthrough %s: no endpoint accepted the connection", label)
        conn.close()
        return
    client_reader, client_writer = await asyncio.open_connection(sock=conn)

    async def pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while chunk := await reader.read(BUFFER):
                writer.write(chunk)
                await writer.drain()
            if writer.can_write_eof():
                writer.write_eof()
        except (OSError, ConnectionError):
            writer.transport.abort()

    try:
        await asyncio.gather(pump(client_reader, upstream_writer), pump(upstream_reader, client_writer))
    finally:
        for writer in (client_writer, upstream_writer):
            writer.close()


async def serve_plain(sock: socket.socket, http_factory: ProtocolFactory) -> asyncio.Server:
    loop = asyncio.get_running_loop()
    return await loop.create_server(http_factory, sock=sock)

