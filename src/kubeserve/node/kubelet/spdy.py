"""SPDY/3 framing, as kubectl's port-forward speaks it inside a WebSocket (notes §9.3).

kubectl 1.32 tunnels SPDY/3.1 through a WebSocket whose binary messages, concatenated, form one byte stream;
frame boundaries need not line up with message boundaries, so `FrameReader` buffers. Header blocks are zlib
streams primed with the SPDY/3 dictionary, and each direction of a connection keeps ONE compression context for
its whole life (a fresh inflater per block would fail from the second block on), so a `HeaderCodec` belongs to a
connection, not to a frame. Pure: no I/O.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

VERSION = 3
FLAG_FIN = 0x01

SYN_STREAM = 1
SYN_REPLY = 2
RST_STREAM = 3
SETTINGS = 4
PING = 6
GOAWAY = 7
HEADERS = 8
WINDOW_UPDATE = 9

RST_PROTOCOL_ERROR = 1
RST_INVALID_STREAM = 2
RST_CANCEL = 5

_MAX_FRAME = 0xFFFFFF


def _dictionary() -> bytes:
    """The SPDY/3 header-compression dictionary (draft 3, §2.6.10.1): length-prefixed header names and common
    values, then a run of status codes, reason phrases, dates and media types."""
    words = (
        "options", "head", "post", "put", "delete", "trace", "accept", "accept-charset", "accept-encoding",
        "accept-language", "accept-ranges", "age", "allow", "authorization", "cache-control", "connection",
        "content-base", "content-encoding", "content-language", "content-length", "content-location",
        "content-md5", "content-range", "content-type", "date", "etag", "expect", "expires", "from", "host",
        "if-match", "if-modified-since", "if-none-match", "if-range", "if-unmodified-since", "last-modified",
        "location", "max-forwards", "pragma", "proxy-authenticate", "proxy-authorization", "range", "referer",
        "retry-after", "server", "te", "trailer", "transfer-encoding", "upgrade", "user-agent", "vary", "via",
        "warning", "www-authenticate", "method", "get", "status", "200 OK", "version", "HTTP/1.1", "url", "public",
        "set-cookie", "keep-alive", "origin",
    )
    prefixed = b"".join(struct.pack(">I", len(w)) + w.encode() for w in words)
    tail = (
        "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
        "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 Unauthorized"
        "403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented503 Service Unavailable"
        "Jan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMT"
        "chunked,text/html,image/png,image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,"
        "text/javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0."
    )
    return prefixed + tail.encode()


DICTIONARY = _dictionary()


class ProtocolError(Exception):
    """The peer sent something that is not SPDY/3."""


@dataclass(frozen=True)
class ControlFrame:
    type: int
    flags: int
    payload: bytes


@dataclass(frozen=True)
class DataFrame:
    stream_id: int
    flags: int
    data: bytes

    @property
    def fin(self) -> bool:
        return bool(self.flags & FLAG_FIN)


Frame = ControlFrame | DataFrame


@dataclass
class FrameReader:
    """Cuts a byte stream fed in arbitrary pieces into frames."""

    _buffer: bytearray = field(default_factory=bytearray)

    def feed(self, data: bytes) -> list[Frame]:
        self._buffer += data
        frames: list[Frame] = []
        while len(self._buffer) >= 8:
            length = int.from_bytes(self._buffer[5:8], "big")
            if len(self._buffer) < 8 + length:
                break
            head, payload = bytes(self._buffer[:8]), bytes(self._buffer[8:8 + length])
            del self._buffer[:8 + length]
            flags = head[4]
            if head[0] & 0x80:
                version = int.from_bytes(head[0:2], "big") & 0x7FFF
                if version != VERSION:
                    raise ProtocolError(f"unsupported SPDY version {version}")
                frames.append(ControlFrame(int.from_bytes(head[2:4], "big"), flags, payload))
            else:
                frames.append(DataFrame(int.from_bytes(head[0:4], "big") & 0x7FFFFFFF, flags, payload))
        return frames


def control_frame(type_: int, flags: int, payload: bytes) -> bytes:
    if len(payload) > _MAX_FRAME:
        raise ValueError("SPDY frame payload too large")
    return struct.pack(">HHI", 0x8000 | VERSION, type_, (flags << 24) | len(payload)) + payload


def data_frame(stream_id: int, data: bytes, fin: bool = False) -> bytes:
    if len(data) > _MAX_FRAME:
        raise ValueError("SPDY frame payload too large")
    flags = FLAG_FIN if fin else 0
    return struct.pack(">II", stream_id & 0x7FFFFFFF, (flags << 24) | len(data)) + data


class HeaderCodec:
    """One direction's compression context: `encode` for what we send, `decode` for what the peer sends."""

    def __init__(self) -> None:
        self._deflate = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, 15, 8, zlib.Z_DEFAULT_STRATEGY,
                                         zdict=DICTIONARY)
        self._inflate = zlib.decompressobj(zdict=DICTIONARY)

    def encode(self, headers: dict[str, str]) -> bytes:
        block = struct.pack(">I", len(headers))
        for name, value in headers.items():
            n, v = name.lower().encode(), value.encode()
            block += struct.pack(">I", len(n)) + n + struct.pack(">I", len(v)) + v
        return self._deflate.compress(block) + self._deflate.flush(zlib.Z_SYNC_FLUSH)

    def decode(self, block: bytes) -> dict[str, str]:
        try:
            raw = self._inflate.decompress(block)
        except zlib.error as exc:
            raise ProtocolError(f"bad SPDY header block: {exc}") from exc
        return parse_header_block(raw)


def parse_header_block(raw: bytes) -> dict[str, str]:
    try:
        (count,) = struct.unpack_from(">I", raw, 0)
        offset = 4
        headers: dict[str, str] = {}
        for _ in range(count):
            (n,) = struct.unpack_from(">I", raw, offset)
            name = raw[offset + 4:offset + 4 + n].decode()
            offset += 4 + n
            (v,) = struct.unpack_from(">I", raw, offset)
            value = raw[offset + 4:offset + 4 + v].decode()
            offset += 4 + v
            # several values of one header are NUL-separated; port-forward headers have one each
            headers[name.lower()] = value.split("\0")[0]
        return headers
    except (struct.error, UnicodeDecodeError) as exc:
        raise ProtocolError(f"bad SPDY header block: {exc}") from exc


# ---- the control frames port-forward uses -----------------------------------------------------------------


@dataclass(frozen=True)
class SynStream:
    stream_id: int
    associated_id: int
    fin: bool
    headers: dict[str, str]


def parse_syn_stream(frame: ControlFrame, codec: HeaderCodec) -> SynStream:
    if len(frame.payload) < 10:
        raise ProtocolError("short SYN_STREAM")
    stream_id, assoc = struct.unpack_from(">II", frame.payload, 0)
    return SynStream(stream_id & 0x7FFFFFFF, assoc & 0x7FFFFFFF, bool(frame.flags & FLAG_FIN),
                     codec.decode(frame.payload[10:]))


def syn_stream(stream_id: int, headers: dict[str, str], codec: HeaderCodec, fin: bool = False) -> bytes:
    payload = struct.pack(">IIBB", stream_id, 0, 0, 0) + codec.encode(headers)
    return control_frame(SYN_STREAM, FLAG_FIN if fin else 0, payload)


def syn_reply(stream_id: int, codec: HeaderCodec, headers: dict[str, str] | None = None, fin: bool = False) -> bytes:
    payload = struct.pack(">I", stream_id) + codec.encode(headers or {})
    return control_frame(SYN_REPLY, FLAG_FIN if fin else 0, payload)


def parse_syn_reply(frame: ControlFrame, codec: HeaderCodec) -> tuple[int, dict[str, str]]:
    (stream_id,) = struct.unpack_from(">I", frame.payload, 0)
    return stream_id & 0x7FFFFFFF, codec.decode(frame.payload[4:])


def rst_stream(stream_id: int, status: int) -> bytes:
    return control_frame(RST_STREAM, 0, struct.pack(">II", stream_id, status))


def parse_rst_stream(frame: ControlFrame) -> tuple[int, int]:
    stream_id, status = struct.unpack_from(">II", frame.payload, 0)
    return stream_id & 0x7FFFFFFF, status


def ping(ping_id: int) -> bytes:
    return control_frame(PING, 0, struct.pack(">I", ping_id))


def goaway(last_good_stream: int, status: int = 0) -> bytes:
    return control_frame(GOAWAY, 0, struct.pack(">II", last_good_stream, status))
