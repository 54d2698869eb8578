"""The v2 binary tensor extension, as far as BYTES tensors go: what `tritonclient` sends and expects.

A binary request or response is a JSON header followed by raw tensor bytes; the header's length travels in
the `Inference-Header-Content-Length` HTTP header, and each binary tensor says its size in
`parameters.binary_data_size`, in tensor order. A BYTES tensor's raw form is its elements in row-major
order, each a 4-byte little-endian length followed by that many bytes. `tritonclient.http` sends inputs
this way by default (`set_data_from_numpy(binary_data=True)`) and asks for binary outputs by default
(`InferRequestedOutput(binary_data=True)`, or `binary_data_output` when it names no outputs).
"""

from __future__ import annotations

import gzip
import json
import struct
import zlib
from collections.abc import Sequence
from typing import Any

from kubeserve.protocols.v2_errors import BAD_REQUEST, V2Error

HEADER_LENGTH = "Inference-Header-Content-Length"
_LENGTH = struct.Struct("<I")


def split_body(body: bytes, header_length: str | None) -> tuple[dict[str, Any], bytes]:
    """(the JSON header as an object, the binary rest) of a v2 request body; raises V2Error(400)."""
    if header_length is None or header_length.strip() == "":
        json_part, rest = body, b""
    else:
        try:
            size = int(header_length)
        except ValueError:
            raise V2Error(BAD_REQUEST, f"{HEADER_LENGTH} must be an integer, got {header_length!r}") from None
        if size < 0 or size > len(body):
            raise V2Error(BAD_REQUEST, f"{HEADER_LENGTH} is {size} but the body has {len(body)} bytes")
        json_part, rest = body[:size], body[size:]
    if not json_part.strip():
        raise V2Error(BAD_REQUEST, "the request body is empty; send a JSON object with 'inputs'")
    try:
        header = json.loads(json_part)
    except (UnicodeDecodeError, ValueError) as err:
        raise V2Error(BAD_REQUEST, f"the request body is not valid JSON: {err}") from None
    if not isinstance(header, dict):
        raise V2Error(BAD_REQUEST, f"the request body must be a JSON object, got {type(header).__name__}")
    return header, rest


def decode_bytes_tensor(raw: bytes, name: str) -> list[str]:
    """The elements of a binary BYTES tensor, as UTF-8 text; raises V2Error(400) on a malformed one."""
    items: list[str] = []
    offset = 0
    while offset < len(raw):
        if offset + _LENGTH.size > len(raw):
            raise V2Error(BAD_REQUEST, f"input '{name}': binary BYTES data is truncated in an element's length")
        (length,) = _LENGTH.unpack_from(raw, offset)
        offset += _LENGTH.size
        if offset + length > len(raw):
            raise V2Error(BAD_REQUEST, f"input '{name}': binary BYTES element {len(items)} claims {length} bytes"
                                       f" but only {len(raw) - offset} remain")
        try:
            items.append(raw[offset:offset + length].decode("utf-8"))
        except UnicodeDecodeError:
            raise V2Error(BAD_REQUEST, f"input '{name}': element {len(items)} is not UTF-8 text") from None
        offset += length
    return items


def encode_bytes_tensor(items: Sequence[str]) -> bytes:
    """The binary form of a BYTES tensor with these elements."""
    parts: list[bytes] = []
    for item in items:
        data = item.encode("utf-8")
        parts.append(_LENGTH.pack(len(data)))
        parts.append(data)
    return b"".join(parts)


def decompress(body: bytes, content_encoding: str | None) -> bytes:
    """The body without its Content-Encoding (tritonclient may gzip or deflate requests)."""
    encoding = (content_encoding or "identity").strip().lower()
    try:
        if encoding == "gzip":
            return gzip.decompress(body)
        if encoding == "deflate":
            return zlib.decompress(body)
    except (OSError, zlib.error, EOFError) as err:
        raise V2Error(BAD_REQUEST, f"the request body is not valid {encoding} data: {err}") from None
    if encoding != "identity":
        raise V2Error(BAD_REQUEST, f"unsupported Content-Encoding {encoding!r}; use gzip, deflate or none")
    return body
