"""The kubelet server in process over a pod directory written here: logs and their parameters, exec through
a WebSocket (v5 and v4), attach, port-forward through SPDY (with a small SPDY client) and v4 channels, stats."""

from __future__ import annotations

import asyncio
import json
import os
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import psutil
import pytest
from aiohttp import web

from kubeserve.node.kubelet import channels, spdy
from kubeserve.node.kubelet.server import KubeletServer

POD_IP = "127.10.0.3"
TOKEN = "tok"
T = "2025-01-01T00:00:0{}.000000001Z"


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@dataclass
class Kubelet:
    url: str
    session: aiohttp.ClientSession
    container_dir: Path
    target_port: int

    def ws(self, path: str, protocols: tuple[str, ...]) -> aiohttp.client._WSRequestContextManager:
        return self.session.ws_connect(self.url + path, protocols=protocols, max_msg_size=0)


@pytest.fixture
async def kubelet(tmp_path: Path) -> AsyncIterator[Kubelet]:
    pods = tmp_path / "pods"
    container = pods / "u1" / "containers" / "main"
    container.mkdir(parents=True)
    (pods / "u1" / "sandbox.json").write_text(json.dumps({"namespace": "default", "name": "web", "uid": "u1",
                                                          "ip": POD_IP}))
    me = psutil.Process()
    (container / "state.json").write_text(json.dumps({
        "pid": me.pid, "createTime": me.create_time(), "restartCount": 1, "env": {"PATH": os.environ["PATH"],
                                                                                    "X": "from-env"},
        "cwd": str(tmp_path), "enter": [], "stdin": None}))
    (container / "0.log").write_text(f"{T.format(0)} stdout F before the restart\n")
    (container / "0.exit").write_text('{"exitCode": 1}')
    (container / "1.log").write_text(f"{T.format(1)} stdout F one\n{T.format(2)} stderr P tw\n"
                                     f"{T.format(2)} stderr F o\n{T.format(3)} stdout F three\n")

    async def hello(request: web.Request) -> web.Response:
        return web.Response(text="pod says hi")

    app = web.Application()
    app.router.add_get("/", hello)
    target = web.AppRunner(app, access_log=None)
    await target.setup()
    target_port = _free_port(POD_IP)
    await web.TCPSite(target, POD_IP, target_port).start()
    server = KubeletServer(None, pods, "127.0.0.1", 0, TOKEN, node_name="n1", poll_interval=0.02,
                           node_log=lambda: ["first line", "kubeserve API server listening", "last line"])
    port = await server.start()
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"}) as session:
        yield Kubelet(f"http://127.0.0.1:{port}", session, container, target_port)
    await server.stop()
    await target.cleanup()


async def test_token_is_required(kubelet: Kubelet) -> None:
    async with aiohttp.ClientSession() as anonymous, \
            anonymous.get(kubelet.url + "/containerLogs/default/web/main") as response:
        assert response.status == 401


@pytest.mark.parametrize(
    ("query", "body"),
    [
        ("", "one\ntwo\nthree\n"),
        ("?tailLines=1", "three\n"),
        ("?tailLines=0", ""),
        ("?tailLines=2&timestamps=true", f"{T.format(2)} two\n{T.format(3)} three\n"),
        ("?previous=true", "before the restart\n"),
        ("?limitBytes=6", "one\ntw"),
        ("?sinceTime=2025-01-01T00:00:02Z", "two\nthree\n"),
        ("?sinceSeconds=5", ""),  # the entries are from 2025
    ],
)
async def test_logs(kubelet: Kubelet, query: str, body: str) -> None:
    async with kubelet.session.get(kubelet.url + "/containerLogs/default/web/main" + query) as response:
        assert response.status == 200, await response.text()
        assert response.content_type == "text/plain"
        assert await response.text() == body


@pytest.mark.parametrize(
    ("path", "code", "message"),
    [
        ("/containerLogs/default/nope/main", 404, 'pods "nope" not found'),
        ("/containerLogs/default/web/side", 400, 'container "side" in pod "web" is waiting to start'),
        ("/containerLogs/default/web/main?sinceSeconds=0", 400, "sinceSeconds"),
        ("/exec/default/web/main?command=true", 400, "Upgrade request required"),
    ],
)
async def test_log_errors_are_status(kubelet: Kubelet, path: str, code: int, message: str) -> None:
    async with kubelet.session.get(kubelet.url + path) as response:
        assert response.status == code
        body = await response.json()
        assert body["kind"] == "Status" and message in body["message"]


async def test_follow_ends_when_the_run_ends(kubelet: Kubelet) -> None:
    async with kubelet.session.get(kubelet.url + "/containerLogs/default/web/main?follow=true&tailLines=1") as r:
        assert await r.content.readline() == b"three\n"
        with (kubelet.container_dir / "1.log").open("a") as f:
            f.write(f"{T.format(4)} stdout F four\n")
        assert await asyncio.wait_for(r.content.readline(), 5) == b"four\n"
        with (kubelet.container_dir / "1.log").open("a") as f:
            f.write(f"{T.format(5)} stdout F last words\n")
        (kubelet.container_dir / "1.exit").write_text('{"exitCode": 0}')
        assert await asyncio.wait_for(r.content.read(), 5) == b"last words\n"


async def _collect(ws: aiohttp.ClientWebSocketResponse) -> dict[int, bytes]:
    out: dict[int, bytes] = {}
    async for msg in ws:
        if msg.type == aiohttp.WSMsgType.BINARY and msg.data:
            out[msg.data[0]] = out.get(msg.data[0], b"") + msg.data[1:]
    return out


@pytest.mark.parametrize("protocol", [channels.V5, channels.V4])
async def test_exec(kubelet: Kubelet, protocol: str) -> None:
    async with kubelet.ws("/exec/default/web/main?command=sh&command=-c&command=echo $X; pwd; echo e >%262"
                          "&stdout=true&stderr=true", (protocol,)) as ws:
        assert ws.protocol == protocol
        out = await _collect(ws)
    assert out[channels.STDOUT] == f"from-env\n{kubelet.container_dir.parents[3]}\n".encode()
    assert out[channels.STDERR] == b"e\n"
    assert json.loads(out[channels.ERROR]) == {"metadata": {}, "status": "Success"}


async def test_exec_exit_code(kubelet: Kubelet) -> None:
    async with kubelet.ws("/exec/default/web/main?command=sh&command=-c&command=exit 3&stdout=true",
                          (channels.V5,)) as ws:
        out = await _collect(ws)
    status = json.loads(out[channels.ERROR])
    assert status["reason"] == "NonZeroExitCode"
    assert status["details"]["causes"] == [{"reason": "ExitCode", "message": "3"}]


async def test_exec_stdin_until_close_signal(kubelet: Kubelet) -> None:
    async with kubelet.ws("/exec/default/web/main?command=cat&stdin=true&stdout=true", (channels.V5,)) as ws:
        await ws.send_bytes(channels.encode(channels.STDIN, b"echoed\n"))
        await ws.send_bytes(channels.close_signal(channels.STDIN))
        out = await asyncio.wait_for(_collect(ws), 5)
    assert out[channels.STDOUT] == b"echoed\n"


async def test_exec_tty(kubelet: Kubelet) -> None:
    async with kubelet.ws("/exec/default/web/main?command=sh&command=-c&command=stty size; tty -s %26%26 echo tty"
                          "&stdin=true&stdout=true&tty=true", (channels.V5,)) as ws:
        await ws.send_bytes(channels.encode(channels.RESIZE, b'{"Width":100,"Height":30}'))
        out = await asyncio.wait_for(_collect(ws), 5)
    assert b"tty" in out[channels.STDOUT]
    assert json.loads(out[channels.ERROR])["status"] == "Success"


async def test_exec_of_a_missing_binary(kubelet: Kubelet) -> None:
    async with kubelet.ws("/exec/default/web/main?command=/no/such&stdout=true", (channels.V5,)) as ws:
        out = await _collect(ws)
    assert "/no/such" in json.loads(out[channels.ERROR])["message"]


async def test_attach_streams_the_run_until_it_ends(kubelet: Kubelet) -> None:
    async with kubelet.ws("/attach/default/web/main?stdout=true&stderr=true", (channels.V5,)) as ws:
        msg = await ws.receive(timeout=5)
        assert msg.data == b"\x01one\n"
        (kubelet.container_dir / "1.exit").write_text('{"exitCode": 0}')
        out = await asyncio.wait_for(_collect(ws), 5)
    assert out[channels.STDOUT] == b"three\n" and out[channels.STDERR] == b"two\n"
    assert json.loads(out[channels.ERROR])["status"] == "Success"


class SpdyClient:
    """Just enough of kubectl's side of a port-forward tunnel."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws, self.codec, self.reader = ws, spdy.HeaderCodec(), spdy.FrameReader()
        self.frames: list[spdy.Frame] = []

    async def open(self, stream_id: int, kind: str, port: int, request_id: int) -> None:
        headers = {"streamtype": kind, "port": str(port), "requestid": str(request_id)}
        await self.ws.send_bytes(spdy.syn_stream(stream_id, headers, self.codec))

    async def next_frame(self) -> spdy.Frame:
        while not self.frames:
            msg = await self.ws.receive(timeout=5)
            assert msg.type == aiohttp.WSMsgType.BINARY, msg
            self.frames += self.reader.feed(msg.data)
        return self.frames.pop(0)

    async def read_stream(self, stream_id: int) -> bytes:
        """Data of `stream_id` until its FIN (other frames are skipped)."""
        data = b""
        while True:
            frame = await self.next_frame()
            if isinstance(frame, spdy.DataFrame) and frame.stream_id == stream_id:
                data += frame.data
                if frame.fin:
                    return data


async def test_port_forward_over_spdy(kubelet: Kubelet) -> None:
    async with kubelet.ws("/portForward/default/web", (channels.PORT_FORWARD_SPDY,)) as ws:
        assert ws.protocol == channels.PORT_FORWARD_SPDY
        client = SpdyClient(ws)
        for request_id, (error, data) in enumerate(((1, 3), (5, 7))):  # two connections, one after the other
            await client.open(error, "error", kubelet.target_port, request_id)
            await client.open(data, "data", kubelet.target_port, request_id)
            request = b"GET / HTTP/1.1\r\nHost: pod\r\nConnection: close\r\n\r\n"
            # one WebSocket message may carry parts of frames: send the data frame in two pieces
            frame = spdy.data_frame(data, request)
            await ws.send_bytes(frame[:5])
            await ws.send_bytes(frame[5:])
            response = await client.read_stream(data)
            await ws.send_bytes(spdy.data_frame(data, b"", fin=True))
            assert response.startswith(b"HTTP/1.1 200") and response.endswith(b"pod says hi")
            assert await client.read_stream(error) == b""
        await ws.send_bytes(spdy.ping(9))
        pong = await client.next_frame()
        assert isinstance(pong, spdy.ControlFrame) and pong.type == spdy.PING


async def test_port_forward_reports_connect_errors(kubelet: Kubelet) -> None:
    closed = _free_port(POD_IP)
    async with kubelet.ws("/portForward/default/web", (channels.PORT_FORWARD_SPDY,)) as ws:
        client = SpdyClient(ws)
        await client.open(1, "error", closed, 0)
        await client.open(3, "data", closed, 0)
        message = await client.read_stream(1)
        assert f"error forwarding port {closed}".encode() in message


async def test_port_forward_v4_channels(kubelet: Kubelet) -> None:
    async with kubelet.ws(f"/portForward/default/web?ports={kubelet.target_port}", (channels.V4,)) as ws:
        assert ws.protocol == channels.V4
        prefixes = [(await ws.receive(timeout=5)).data for _ in range(2)]
        assert prefixes == [channels.port_prefix(0, kubelet.target_port), channels.port_prefix(1, kubelet.target_port)]
        await ws.send_bytes(channels.encode(0, b"GET / HTTP/1.1\r\nHost: pod\r\nConnection: close\r\n\r\n"))
        response = b""
        while not response.endswith(b"pod says hi"):
            msg = await ws.receive(timeout=5)
            assert msg.data[0] == 0
            response += msg.data[1:]


async def test_stats_summary(kubelet: Kubelet) -> None:
    for _ in range(2):  # the second answer is a rate between two samples
        async with kubelet.session.get(kubelet.url + "/stats/summary") as response:
            summary = await response.json()
    assert summary["node"]["nodeName"] == "n1"
    assert summary["node"]["memory"]["workingSetBytes"] > 0
    (pod,) = summary["pods"]
    assert pod["podRef"] == {"name": "web", "namespace": "default", "uid": "u1"}
    (container,) = pod["containers"]
    assert container["name"] == "main"
    assert container["memory"]["workingSetBytes"] > 1024 * 1024
    assert container["cpu"]["usageNanoCores"] >= 0


async def test_node_log_is_kubeserves_recent_log(kubelet: Kubelet) -> None:
    async with kubelet.session.get(kubelet.url + "/logs", params={"query": "kubelet", "tailLines": "2"}) as response:
        assert response.status == 200
        assert await response.text() == "kubeserve API server listening\nlast line\n"
    async with kubelet.session.get(kubelet.url + "/logs", params={"query": "syslog"}) as response:
        assert response.status == 404
        assert "query=kubelet" in (await response.json())["message"]
