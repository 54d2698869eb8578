"""SPDY/3 framing: frames cut from arbitrary pieces, header blocks sharing one zlib context per direction."""

from __future__ import annotations

import struct
import zlib

import pytest

from kubeserve.node.kubelet import spdy


def test_dictionary_is_the_spdy3_one() -> None:
    # 1423 bytes; the adler32 is the dictionary id Go's zlib writer puts in the stream (kubectl checks it)
    assert len(spdy.DICTIONARY) == 1423
    assert spdy.DICTIONARY.startswith(b"\x00\x00\x00\x07options\x00\x00\x00\x04head")
    assert spdy.DICTIONARY.endswith(b"utf-,*,enq=0.")
    assert zlib.adler32(spdy.DICTIONARY) == 3821447106


def test_frames_survive_any_split() -> None:
    client = spdy.HeaderCodec()
    stream = (spdy.syn_stream(1, {"streamtype": "error", "port": "80", "requestid": "0"}, client)
              + spdy.syn_stream(3, {"streamtype": "data", "port": "80", "requestid": "0"}, client)
              + spdy.data_frame(3, b"GET / HTTP/1.0\r\n\r\n") + spdy.data_frame(3, b"", fin=True)
              + spdy.ping(7) + spdy.rst_stream(3, spdy.RST_CANCEL))
    for size in (1, 3, 7, len(stream)):
        reader, codec = spdy.FrameReader(), spdy.HeaderCodec()  # a fresh receiving context per connection
        frames = []
        for i in range(0, len(stream), size):
            frames += reader.feed(stream[i:i + size])
        assert [type(f).__name__ for f in frames] == ["ControlFrame", "ControlFrame", "DataFrame", "DataFrame",
                                                      "ControlFrame", "ControlFrame"]
        first = spdy.parse_syn_stream(frames[0], codec)  # type: ignore[arg-type]
        second = spdy.parse_syn_stream(frames[1], codec)  # type: ignore[arg-type]
        assert (first.stream_id, first.headers["streamtype"]) == (1, "error")
        assert (second.stream_id, second.headers) == (3, {"streamtype": "data", "port": "80", "requestid": "0"})
        data, fin = frames[2], frames[3]
        assert isinstance(data, spdy.DataFrame) and isinstance(fin, spdy.DataFrame)
        assert (data.stream_id, data.data, data.fin, fin.fin) == (3, b"GET / HTTP/1.0\r\n\r\n", False, True)
        assert isinstance(frames[4], spdy.ControlFrame) and frames[4].type == spdy.PING
        assert spdy.parse_rst_stream(frames[5]) == (3, spdy.RST_CANCEL)  # type: ignore[arg-type]


def test_header_blocks_share_one_context() -> None:
    sender, receiver = spdy.HeaderCodec(), spdy.HeaderCodec()
    blocks = [sender.encode({"requestid": str(i), "streamtype": "data"}) for i in range(3)]
    assert [receiver.decode(b)["requestid"] for b in blocks] == ["0", "1", "2"]
    # a fresh inflater cannot read a later block: the context is the connection's
    with pytest.raises(spdy.ProtocolError):
        spdy.HeaderCodec().decode(blocks[1])


def test_syn_reply_round_trip() -> None:
    server, client = spdy.HeaderCodec(), spdy.HeaderCodec()
    frame = spdy.FrameReader().feed(spdy.syn_reply(5, server))[0]
    assert isinstance(frame, spdy.ControlFrame) and frame.type == spdy.SYN_REPLY
    assert spdy.parse_syn_reply(frame, client) == (5, {})


def test_header_block_layout_and_errors() -> None:
    raw = struct.pack(">I", 1) + struct.pack(">I", 4) + b"port" + struct.pack(">I", 5) + b"80\x0081"
    assert spdy.parse_header_block(raw) == {"port": "80"}
    with pytest.raises(spdy.ProtocolError):
        spdy.parse_header_block(b"\x00\x00")
    with pytest.raises(spdy.ProtocolError):
        spdy.FrameReader().feed(b"\x80\x02\x00\x01\x00\x00\x00\x00")  # SPDY/2
