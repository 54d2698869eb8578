"""The v4/v5 channel protocol: negotiation, framing, the final Status, resize and the v4 port-forward ports."""

from __future__ import annotations

import json

import pytest

from kubeserve.node.kubelet import channels


@pytest.mark.parametrize(
    ("offered", "supported", "chosen"),
    [
        (["v5.channel.k8s.io"], channels.REMOTE_COMMAND_PROTOCOLS, "v5.channel.k8s.io"),  # kubectl 1.32
        (["v5.channel.k8s.io,v4.channel.k8s.io"], channels.REMOTE_COMMAND_PROTOCOLS, "v5.channel.k8s.io"),
        (["v4.channel.k8s.io"], channels.REMOTE_COMMAND_PROTOCOLS, "v4.channel.k8s.io"),  # Python client
        (["channel.k8s.io", "v4.channel.k8s.io"], channels.REMOTE_COMMAND_PROTOCOLS, "v4.channel.k8s.io"),
        (["SPDY/3.1+portforward.k8s.io"], channels.PORT_FORWARD_PROTOCOLS, "SPDY/3.1+portforward.k8s.io"),
        (["base64.channel.k8s.io"], channels.REMOTE_COMMAND_PROTOCOLS, None),
        ([], channels.REMOTE_COMMAND_PROTOCOLS, None),
    ],
)
def test_negotiate(offered: list[str], supported: tuple[str, ...], chosen: str | None) -> None:
    assert channels.negotiate(offered, supported) == chosen


def test_encode_decode_and_close_signal() -> None:
    assert channels.encode(channels.STDOUT, b"hi") == b"\x01hi"
    message = channels.decode(b"\x00data")
    assert message is not None and (message.channel, message.payload, message.closes) == (0, b"data", None)
    close = channels.decode(channels.close_signal(channels.STDIN))
    assert close is not None and close.closes == channels.STDIN
    assert channels.decode(b"") is None


def test_exit_status_is_what_client_go_decodes() -> None:
    status = channels.exit_status(["sh", "-c", "exit 3"], 3)
    assert status["reason"] == "NonZeroExitCode"
    assert status["details"]["causes"] == [{"reason": "ExitCode", "message": "3"}]
    assert status["message"].endswith("exit code 3")
    message = channels.status_message(channels.V5, status)
    assert message is not None and message[0] == channels.ERROR and json.loads(message[1:]) == status


def test_old_protocols_send_text_and_nothing_for_success() -> None:
    assert channels.status_message(channels.V1, channels.success_status()) is None
    assert channels.status_message(channels.V1, channels.failure_status("boom")) == b"\x03boom"
    assert channels.status_message(channels.V4, channels.success_status()) == b'\x03{"metadata":{},"status":"Success"}'


@pytest.mark.parametrize(
    ("payload", "size"),
    [(b'{"Width":80,"Height":24}', (80, 24)), (b'{"Width":0,"Height":24}', None), (b"nonsense", None),
     (b'{"Width":"x"}', None), (b"[]", None)],
)
def test_parse_resize(payload: bytes, size: tuple[int, int] | None) -> None:
    assert channels.parse_resize(payload) == size


def test_ports() -> None:
    assert channels.parse_ports(["80,8080", "9000"]) == [80, 8080, 9000]
    for bad in (["0"], ["x"], [""], ["70000"]):
        with pytest.raises(ValueError):
            channels.parse_ports(bad)
    assert channels.port_channels(1) == (2, 3)
    assert channels.port_prefix(2, 8080) == b"\x02\x90\x1f"
