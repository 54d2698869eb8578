"""exec and attach over an upgraded WebSocket: the channel pumps between the client and a process (exec) or a
container's log and stdin FIFO (attach). The final word is a Status on the error channel (notes §9.2).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

from aiohttp import WSMsgType, web

from kubeserve.client.background import cancel_and_wait
from kubeserve.node.kubelet import channels
from kubeserve.node.kubelet.containerlogs import follow_entries
from kubeserve.node.kubelet.execution import ContainerContext, Execution, spawn

_CHUNK = 32 * 1024
_DRAIN_AFTER_EXIT = 2.0  # seconds to wait for output after the command exits (background children may hold it)


class _Sender:
    """Serialises writes to one WebSocket from several pumps."""

    def __init__(self, ws: web.WebSocketResponse) -> None:
        self.ws = ws
        self._lock = asyncio.Lock()

    async def send(self, message: bytes) -> None:
        if self.ws.closed:
            return
        async with self._lock:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await self.ws.send_bytes(message)

    async def status(self, protocol: str, status: dict[str, object]) -> None:
        message = channels.status_message(protocol, status)
        if message is not None:
            await self.send(message)


async def _pump_stream(reader: asyncio.StreamReader | None, channel: int | None, sender: _Sender) -> None:
    if reader is None:
        return
    while chunk := await reader.read(_CHUNK):
        if channel is not None:
            await sender.send(channels.encode(channel, chunk))


async def _pump_pty(master_fd: int, sender: _Sender) -> None:
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[bytes] = asyncio.Queue()

    def readable() -> None:
        try:
            data = os.read(master_fd, _CHUNK)
        except OSError:  # EIO: every holder of the terminal's other side is gone
            data = b""
        if not data:
            loop.remove_reader(master_fd)
        queue.put_nowait(data)

    loop.add_reader(master_fd, readable)
    try:
        while data := await queue.get():
            await sender.send(channels.encode(channels.STDOUT, data))
    finally:
        loop.remove_reader(master_fd)


async def run_exec(ws: web.WebSocketResponse, protocol: str, context: ContainerContext, command: Sequence[str], *,
                   stdin: bool, stdout: bool, stderr: bool, tty: bool) -> None:
    sender = _Sender(ws)
    try:
        execution = await spawn(context, command, stdin=stdin, tty=tty)
    except OSError as exc:
        await sender.status(protocol, channels.failure_status(
            f"failed to exec in container: starting {command[0] if command else ''!r}: {exc.strerror or exc}"))
        return
    process = execution.process
    if execution.master_fd is not None:
        pumps = [_pump_pty(execution.master_fd, sender)]
    else:
        pumps = [_pump_stream(process.stdout, channels.STDOUT if stdout else None, sender),
                 _pump_stream(process.stderr, channels.STDERR if stderr else None, sender)]
    output = asyncio.gather(*pumps, return_exceptions=True)
    receiver = asyncio.get_running_loop().create_task(_receive_exec(ws, execution))
    waiter = asyncio.get_running_loop().create_task(process.wait())
    try:
        await asyncio.wait([waiter, receiver], return_when=asyncio.FIRST_COMPLETED)
        if not waiter.done():  # the client went away first
            execution.terminate()
            await waiter
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(output), _DRAIN_AFTER_EXIT)
        code = process.returncode or 0
        if code == 0:
            await sender.status(protocol, channels.success_status())
        else:
            # a signal shows as -N from asyncio; a shell reports it as 128+N, and so does the kubelet
            await sender.status(protocol, channels.exit_status(command, code if code > 0 else 128 - code))
    finally:
        await cancel_and_wait(receiver, output)
        execution.close()


async def _frames(ws: web.WebSocketResponse) -> AsyncIterator[channels.Message]:
    """The client's well-formed channel frames, until it closes."""
    async for msg in ws:
        if msg.type == WSMsgType.BINARY and (decoded := channels.decode(msg.data)) is not None:
            yield decoded


async def _receive_exec(ws: web.WebSocketResponse, execution: Execution) -> None:
    process = execution.process
    async for decoded in _frames(ws):
        if decoded.channel == channels.STDIN:
            if execution.master_fd is not None:
                with contextlib.suppress(OSError):
                    os.write(execution.master_fd, decoded.payload)
            elif process.stdin is not None and not process.stdin.is_closing():
                process.stdin.write(decoded.payload)
                with contextlib.suppress(ConnectionError):
                    await process.stdin.drain()
        elif decoded.channel == channels.RESIZE:
            size = channels.parse_resize(decoded.payload)
            if size is not None:
                execution.resize(*size)
        elif decoded.closes == channels.STDIN and process.stdin is not None:
            process.stdin.close()


# ---- attach -----------------------------------------------------------------------------------------------


async def run_attach(ws: web.WebSocketResponse, protocol: str, container_dir: Path, run: int,
                     stdin_fifo: str | None, *, stdout: bool, stderr: bool, stop: asyncio.Event) -> None:
    """Stream the run's output (from its start, so `kubectl run -it` misses nothing) and feed stdin to the
    shim's FIFO, until the run ends or the client leaves."""
    sender = _Sender(ws)
    channel_of = {"stdout": channels.STDOUT if stdout else None, "stderr": channels.STDERR if stderr else None}

    async def output() -> None:
        async for batch in follow_entries(container_dir, run, follow=True, stop=stop):
            for entry in batch:
                channel = channel_of.get(entry.stream)
                if channel is not None:
                    await sender.send(channels.encode(channel, entry.text + b"\n"))

    loop = asyncio.get_running_loop()
    out_task = loop.create_task(output())
    in_task = loop.create_task(_receive_attach(ws, stdin_fifo))
    try:
        await asyncio.wait([out_task, in_task], return_when=asyncio.FIRST_COMPLETED)
        if out_task.done() and out_task.exception() is None:
            await sender.status(protocol, channels.success_status())
    finally:
        for task in (out_task, in_task):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, OSError):
                await task


async def _receive_attach(ws: web.WebSocketResponse, fifo: str | None) -> None:
    fd: int | None = None
    try:
        if fifo:
            with contextlib.suppress(OSError):  # ENXIO: nobody reads the FIFO (no stdin for this container)
                fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
                os.set_blocking(fd, True)
        async for decoded in _frames(ws):
            if decoded.channel == channels.STDIN and fd is not None and decoded.payload:
                try:
                    await asyncio.to_thread(os.write, fd, decoded.payload)
                except OSError:
                    os.close(fd)
                    fd = None
            elif decoded.closes == channels.STDIN and fd is not None:
                os.close(fd)
                fd = None
    finally:
        if fd is not None:
            os.close(fd)
