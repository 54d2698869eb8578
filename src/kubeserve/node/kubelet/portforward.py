"""Port-forwarding to a pod's IP: the SPDY/3.1 streams kubectl tunnels in a WebSocket, and the Python client's
older v4 channel protocol (notes §9.3).

kubectl opens two SPDY streams per local connection, sharing a `requestid`: an error stream, then a data
stream naming the `port`. Every SYN_STREAM gets a SYN_REPLY at once (kubectl blocks until it does). The data
stream is piped to `<pod ip>:<port>`; when the target closes, the data stream and then the error stream are
finished with FIN, since kubectl waits for the error stream's end before it closes the local connection. A
failed connect is reported as text on the error stream, which kubectl prints.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from kubeserve.node.kubelet import channels, spdy

log = logging.getLogger(__name__)

Send = Callable[[bytes], Awaitable[None]]
Connect = Callable[[int], Awaitable[tuple[asyncio.StreamReader, asyncio.StreamWriter]]]
_CHUNK = 32 * 1024


@dataclass
class _Forward:
    """One forwarded connection: a kubectl `requestid`."""

    port: int = 0
    error_stream: int = 0
    data_stream: int = 0
    inbound: asyncio.Queue[bytes | None] = field(default_factory=asyncio.Queue)
    task: asyncio.Task[None] | None = None


class SpdyTunnel:
    """The server side of one port-forward connection. Feed it the client's bytes; it sends frames back."""

    def __init__(self, send: Send, connect: Connect, target: str) -> None:
        self._send_raw = send
        self._connect = connect
        self._target = target  # for error messages
        self._reader = spdy.FrameReader()
        self._codec = spdy.HeaderCodec()
        self._lock = asyncio.Lock()
        self._forwards: dict[str, _Forward] = {}
        self._by_stream: dict[int, _Forward] = {}
        self._closed = False

    async def _send(self, frame: bytes) -> None:
        if self._closed:
            return
        async with self._lock:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await self._send_raw(frame)

    async def feed(self, data: bytes) -> bool:
        """Handle the client's bytes; False once the client has said GOAWAY."""
        for frame in self._reader.feed(data):
            if isinstance(frame, spdy.DataFrame):
                self._on_data(frame)
            elif not await self._on_control(frame):
                return False
        return True

    async def _on_control(self, frame: spdy.ControlFrame) -> bool:
        if frame.type == spdy.SYN_STREAM:
            syn = spdy.parse_syn_stream(frame, self._codec)
            await self._send(spdy.syn_reply(syn.stream_id, self._codec))
            self._on_syn(syn)
        elif frame.type == spdy.PING:
            await self._send(spdy.control_frame(spdy.PING, 0, frame.payload))
        elif frame.type == spdy.RST_STREAM:
            stream_id, _ = spdy.parse_rst_stream(frame)
            forward = self._by_stream.get(stream_id)
            if forward is not None and stream_id == forward.data_stream and forward.task is not None:
                forward.task.cancel()
        elif frame.type == spdy.GOAWAY:
            return False
        # SETTINGS, WINDOW_UPDATE, HEADERS: nothing to do (spdystream does not enforce flow control)
        return True

    def _on_syn(self, syn: spdy.SynStream) -> None:
        request_id = syn.headers.get("requestid", str(syn.stream_id))
        forward = self._forwards.setdefault(request_id, _Forward())
        self._by_stream[syn.stream_id] = forward
        kind = syn.headers.get("streamtype", "")
        if kind == "error":
            forward.error_stream = syn.stream_id
        elif kind == "data":
            forward.data_stream = syn.stream_id
            try:
                forward.port = int(syn.headers.get("port", ""))
            except ValueError:
                forward.port = 0
            forward.task = asyncio.get_running_loop().create_task(self._run(request_id, forward))

    def _on_data(self, frame: spdy.DataFrame) -> None:
        forward = self._by_stream.get(frame.stream_id)
        if forward is None or frame.stream_id != forward.data_stream:
            return  # the client only ever closes its side of the error stream
        if frame.data:
            forward.inbound.put_nowait(frame.data)
        if frame.fin:
            forward.inbound.put_nowait(None)

    async def _run(self, request_id: str, forward: _Forward) -> None:
        try:
            if not 0 < forward.port < 65536:
                raise OSError(f"invalid port {forward.port!r}")
            reader, writer = await self._connect(forward.port)
        except OSError as exc:
            message = f"error forwarding port {forward.port} to pod {self._target}: {exc}"
            if forward.error_stream:
                await self._send(spdy.data_frame(forward.error_stream, message.encode()))
            await self._finish(forward)
            return
        upstream = asyncio.get_running_loop().create_task(self._pump_in(forward, writer))
        try:
            while chunk := await reader.read(_CHUNK):
                await self._send(spdy.data_frame(forward.data_stream, chunk))
            await self._finish(forward)
        except (ConnectionError, OSError):
            await self._finish(forward)
        finally:
            upstream.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionError, OSError):
                await upstream
            writer.close()
            self._forwards.pop(request_id, None)

    async def _pump_in(self, forward: _Forward, writer: asyncio.StreamWriter) -> None:
        while (data := await forward.inbound.get()) is not None:
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()

    async def _finish(self, forward: _Forward) -> None:
        await self._send(spdy.data_frame(forward.data_stream, b"", fin=True))
        if forward.error_stream:
            await self._send(spdy.data_frame(forward.error_stream, b"", fin=True))

    async def close(self) -> None:
        self._closed = True
        tasks = [f.task for f in self._forwards.values() if f.task is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, ConnectionError, OSError):
                await task


class ChannelPortForward:
    """The Python client's `portforward()`: v4 channels 2i (data) and 2i+1 (error) for the i-th port."""

    def __init__(self, send: Send, connect: Connect, ports: Sequence[int], target: str) -> None:
        self._send_raw = send
        self._connect = connect
        self._ports = list(ports)
        self._target = target
        self._lock = asyncio.Lock()
        self._inbound: dict[int, asyncio.Queue[bytes | None]] = {}
        self._tasks: list[asyncio.Task[None]] = []

    async def _send(self, message: bytes) -> None:
        async with self._lock:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await self._send_raw(message)

    async def start(self) -> None:
        for index, port in enumerate(self._ports):
            data, error = channels.port_channels(index)
            self._inbound[data] = asyncio.Queue()
            await self._send(channels.port_prefix(data, port))
            await self._send(channels.port_prefix(error, port))
        for index, port in enumerate(self._ports):
            self._tasks.append(asyncio.get_running_loop().create_task(self._run(index, port)))

    async def _run(self, index: int, port: int) -> None:
        data, error = channels.port_channels(index)
        try:
            reader, writer = await self._connect(port)
        except OSError as exc:
            await self._send(channels.encode(error, f"error forwarding port {port} to pod {self._target}: "
                                                    f"{exc}".encode()))
            return
        upstream = asyncio.get_running_loop().create_task(self._pump_in(self._inbound[data], writer))
        try:
            while chunk := await reader.read(_CHUNK):
                await self._send(channels.encode(data, chunk))
        except (ConnectionError, OSError):
            pass
        finally:
            upstream.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionError, OSError):
                await upstream
            writer.close()

    @staticmethod
    async def _pump_in(inbound: asyncio.Queue[bytes | None], writer: asyncio.StreamWriter) -> None:
        while (data := await inbound.get()) is not None:
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()

    async def feed(self, message: bytes) -> None:
        decoded = channels.decode(message)
        if decoded is None:
            return
        inbound = self._inbound.get(decoded.channel)
        if inbound is not None and decoded.payload:
            inbound.put_nowait(decoded.payload)

    async def wait(self) -> None:
        """Until every target connection has ended."""
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def end_input(self) -> None:
        """The client went away: half-close every target connection."""
        for inbound in self._inbound.values():
            inbound.put_nowait(None)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
