"""The Kubernetes WebSocket channel protocols (`v5.channel.k8s.io` and older) used by exec, attach and the
Python client's port-forward: pure encoders, decoders and status bodies (notes §9.2).

Every message is binary: the first byte names the channel, the rest is its payload. Channel 3 carries one
JSON `Status` at the end; kubectl turns `reason: NonZeroExitCode` into its own exit code. v5 adds a close
signal (`[255, channel]`) with which the client says that it has finished writing stdin.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

V5 = "v5.channel.k8s.io"
V4 = "v4.channel.k8s.io"
V3 = "v3.channel.k8s.io"
V2 = "v2.channel.k8s.io"
V1 = "channel.k8s.io"
# Preferred first: the server picks the first of these that the client offers.
REMOTE_COMMAND_PROTOCOLS: tuple[str, ...] = (V5, V4, V3, V2, V1)
PORT_FORWARD_SPDY = "SPDY/3.1+portforward.k8s.io"
PORT_FORWARD_PROTOCOLS: tuple[str, ...] = (PORT_FORWARD_SPDY, V4, V1)

STDIN, STDOUT, STDERR, ERROR, RESIZE = 0, 1, 2, 3, 4
CLOSE = 255


def negotiate(offered: Sequence[str], supported: Sequence[str]) -> str | None:
    """The protocol both sides speak, by the server's preference; None when there is none."""
    wanted = {p.strip() for item in offered for p in item.split(",") if p.strip()}
    return next((p for p in supported if p in wanted), None)


def encode(channel: int, payload: bytes = b"") -> bytes:
    return bytes([channel]) + payload


@dataclass(frozen=True)
class Message:
    channel: int
    payload: bytes

    @property
    def closes(self) -> int | None:
        """For a v5 close signal, the channel being closed."""
        if self.channel == CLOSE and self.payload:
            return self.payload[0]
        return None


def decode(message: bytes) -> Message | None:
    if not message:
        return None
    return Message(message[0], message[1:])


def close_signal(channel: int) -> bytes:
    return bytes([CLOSE, channel])


def structured_status(protocol: str) -> bool:
    """v4 and later send a JSON Status on the error channel; older protocols send plain error text."""
    return protocol in (V4, V5)


def success_status() -> dict[str, Any]:
    return {"metadata": {}, "status": "Success"}


def exit_status(command: Sequence[str], code: int) -> dict[str, Any]:
    """What the kubelet says for a command that exited with `code` != 0 (client-go's errorDecoderV4 reads it)."""
    return {
        "metadata": {}, "status": "Failure",
        "message": f"command terminated with non-zero exit code: error executing command [{' '.join(command)}], "
                   f"exit code {code}",
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]},
    }


def failure_status(message: str) -> dict[str, Any]:
    return {"metadata": {}, "status": "Failure", "message": message, "reason": "InternalError", "code": 500}


def status_message(protocol: str, status: dict[str, Any]) -> bytes | None:
    """The error-channel message for `status`, or None where the protocol says nothing for success."""
    if structured_status(protocol):
        return encode(ERROR, json.dumps(status, separators=(",", ":")).encode())
    if status.get("status") == "Success":
        return None
    return encode(ERROR, str(status.get("message", "")).encode())


def parse_resize(payload: bytes) -> tuple[int, int] | None:
    """`{"Width":80,"Height":24}` → (80, 24); None for anything else."""
    try:
        size = json.loads(payload)
        width, height = int(size["Width"]), int(size["Height"])
    except (ValueError, TypeError, KeyError):
        return None
    if width <= 0 or height <= 0 or width > 0xFFFF or height > 0xFFFF:
        return None
    return width, height


# ---- the Python client's port-forward (v4 channels, `?ports=`) ----------------------------------------------


def parse_ports(values: Sequence[str]) -> list[int]:
    """`?ports=80,8080&ports=9000` → [80, 8080, 9000]; ValueError for anything that is not a port."""
    ports: list[int] = []
    for value in values:
        for part in value.split(","):
            if not part.strip():
                continue
            port = int(part)
            if not 0 < port < 65536:
                raise ValueError(f"invalid port {port}")
            ports.append(port)
    if not ports:
        raise ValueError("at least one port must be given with ?ports=")
    return ports


def port_prefix(channel: int, port: int) -> bytes:
    """The first message on each port-forward channel: the port, 2 bytes little-endian."""
    return encode(channel, struct.pack("<H", port))


def port_channels(index: int) -> tuple[int, int]:
    """Data and error channel of the `index`-th forwarded port."""
    return 2 * index, 2 * index + 1
