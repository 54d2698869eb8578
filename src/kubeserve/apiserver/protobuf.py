"""Decoding the few protobuf request bodies that kubectl 1.32 sends without being asked.

Since client-go 1.32 the generated typed clients send built-in kinds as
`application/vnd.kubernetes.protobuf`, and there is no client-side fallback to JSON. So
`kubectl create namespace|secret|configmap` and `kubectl auth can-i` (and the MCP server's RBAC
pre-check) POST protobuf bodies to a server that otherwise speaks only JSON. Rather than depend on a
protobuf library and the generated Kubernetes schemas, this module reads the wire format by hand
(varints and length-delimited fields are all these kinds use) with a field-number table for each
supported kind, and returns the same JSON-shaped dict the JSON body would have decoded to.

The body is an envelope: the 4 bytes `k8s\\x00`, then a `runtime.Unknown`
`{typeMeta{apiVersion=1, kind=2}=1, raw=2, contentEncoding=3, contentType=4}` whose `raw` is the
object itself. Go writes every scalar field, empty or not, so empty strings and zero numbers are treated
as unset, matching the `omitempty` JSON the same client would have sent.

Every other kind is refused with 415 and a message telling the user how to send JSON instead; the
bytes being malformed is a 400.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from typing import Any

from kubeserve.api import errors

MEDIA_TYPE = "application/vnd.kubernetes.protobuf"
MAGIC = b"k8s\x00"

_VARINT = 0
_FIXED64 = 1
_LEN = 2
_FIXED32 = 5

_SUPPORTED_MESSAGE = (
    "protobuf request bodies are only supported for Namespace, Secret, ConfigMap and SelfSubjectAccessReview"
)


def is_protobuf(content_type: str | None) -> bool:
    """Whether a request's Content-Type names the Kubernetes protobuf encoding (parameters ignored)."""
    if not content_type:
        return False
    return content_type.split(";", 1)[0].strip().lower() == MEDIA_TYPE


def _bad(message: str) -> errors.BadRequest:
    return errors.BadRequest(f"malformed protobuf body: {message}")


def _fields(data: bytes, where: str) -> Iterator[tuple[int, int, int | bytes]]:
    """Yield `(field number, wire type, value)`: int for varint/fixed fields, bytes for length-delimited."""
    pos = 0
    end = len(data)

    def varint() -> int:
        nonlocal pos
        result = 0
        for shift in range(0, 70, 7):
            if pos >= end:
                raise _bad(f"truncated varint in {where}")
            byte = data[pos]
            pos += 1
            if shift == 63 and byte > 1:
                raise _bad(f"varint overflows 64 bits in {where}")
            result |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return result
        raise _bad(f"varint longer than 10 bytes in {where}")

    while pos < end:
        key = varint()
        number, wire = key >> 3, key & 7
        if number == 0:
            raise _bad(f"field number 0 in {where}")
        if wire == _VARINT:
            yield number, wire, varint()
        elif wire == _LEN:
            length = varint()
            if length > end - pos:
                raise _bad(f"field {number} of {where} runs past the end of the data")
            yield number, wire, data[pos : pos + length]
            pos += length
        elif wire in (_FIXED64, _FIXED32):
            size = 8 if wire == _FIXED64 else 4
            if size > end - pos:
                raise _bad(f"truncated fixed-width field {number} in {where}")
            yield number, wire, int.from_bytes(data[pos : pos + size], "little")
            pos += size
        else:
            raise _bad(f"unsupported wire type {wire} for field {number} in {where}")


def _bytes(wire: int, value: int | bytes, where: str) -> bytes:
    if wire != _LEN or not isinstance(value, bytes):
        raise _bad(f"{where} should be length-delimited, got wire type {wire}")
    return value


def _int(wire: int, value: int | bytes, where: str) -> int:
    if wire != _VARINT or not isinstance(value, int):
        raise _bad(f"{where} should be a varint, got wire type {wire}")
    return value


def _string(wire: int, value: int | bytes, where: str) -> str:
    raw = _bytes(wire, value, where)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _bad(f"{where} is not valid UTF-8") from exc


def _int64(wire: int, value: int | bytes, where: str) -> int:
    number = _int(wire, value, where)
    return number - (1 << 64) if number >= 1 << 63 else number


def _set_scalar(out: dict[str, Any], key: str, value: str | int) -> None:
    # Go writes empty strings and zeros explicitly; JSON would have omitted them, and so do we.
    if value:
        out[key] = value
    else:
        out.pop(key, None)


def _map_entry(data: bytes, where: str, *, binary: bool) -> tuple[str, str]:
    """One `map<string, string|bytes>` entry (key=1, value=2); bytes values come back base64, as in JSON."""
    key = ""
    value: str = ""
    for number, wire, raw in _fields(data, where):
        if number == 1:
            key = _string(wire, raw, f"{where} key")
        elif number == 2:
            if binary:
                value = base64.b64encode(_bytes(wire, raw, f"{where} value")).decode("ascii")
            else:
                value = _string(wire, raw, f"{where} value")
    return key, value


def _add_map_entry(out: dict[str, Any], key: str, data: bytes, where: str, *, binary: bool = False) -> None:
    entry_key, entry_value = _map_entry(data, where, binary=binary)
    out.setdefault(key, {})[entry_key] = entry_value


def _object_meta(data: bytes, out: dict[str, Any]) -> None:
    strings = {1: "name", 2: "generateName", 3: "namespace", 5: "uid", 6: "resourceVersion"}
    for number, wire, value in _fields(data, "metadata"):
        if number in strings:
            field = strings[number]
            _set_scalar(out, field, _string(wire, value, f"metadata.{field}"))
        elif number == 7:
            _set_scalar(out, "generation", _int64(wire, value, "metadata.generation"))
        elif number == 11:
            _add_map_entry(out, "labels", _bytes(wire, value, "metadata.labels"), "metadata.labels")
        elif number == 12:
            entry = _bytes(wire, value, "metadata.annotations")
            _add_map_entry(out, "annotations", entry, "metadata.annotations")
        elif number == 14:
            out.setdefault("finalizers", []).append(_string(wire, value, "metadata.finalizers"))
        # selfLink=4, creationTimestamp=8, deletion*=9/10, ownerReferences=13, managedFields=17: ignored


def _metadata(out: dict[str, Any], wire: int, value: int | bytes) -> None:
    _object_meta(_bytes(wire, value, "metadata"), out.setdefault("metadata", {}))


def _namespace(data: bytes, out: dict[str, Any]) -> None:
    for number, wire, value in _fields(data, "Namespace"):
        if number == 1:
            _metadata(out, wire, value)
        elif number == 2:
            spec = out.setdefault("spec", {})
            for n, w, v in _fields(_bytes(wire, value, "spec"), "spec"):
                if n == 1:
                    spec.setdefault("finalizers", []).append(_string(w, v, "spec.finalizers"))
        elif number == 3:
            status = out.setdefault("status", {})
            for n, w, v in _fields(_bytes(wire, value, "status"), "status"):
                if n == 1:
                    _set_scalar(status, "phase", _string(w, v, "status.phase"))
                # conditions=2: a status the server owns; ignored


def _secret(data: bytes, out: dict[str, Any]) -> None:
    for number, wire, value in _fields(data, "Secret"):
        if number == 1:
            _metadata(out, wire, value)
        elif number == 2:
            _add_map_entry(out, "data", _bytes(wire, value, "data"), "data", binary=True)
        elif number == 3:
            _set_scalar(out, "type", _string(wire, value, "type"))
        elif number == 4:
            _add_map_entry(out, "stringData", _bytes(wire, value, "stringData"), "stringData")
        elif number == 5:
            out["immutable"] = _int(wire, value, "immutable") != 0


def _config_map(data: bytes, out: dict[str, Any]) -> None:
    for number, wire, value in _fields(data, "ConfigMap"):
        if number == 1:
            _metadata(out, wire, value)
        elif number == 2:
            _add_map_entry(out, "data", _bytes(wire, value, "data"), "data")
        elif number == 3:
            entry = _bytes(wire, value, "binaryData")
            _add_map_entry(out, "binaryData", entry, "binaryData", binary=True)
        elif number == 4:
            out["immutable"] = _int(wire, value, "immutable") != 0


def _ignore_body(data: bytes, out: dict[str, Any]) -> None:
    """SelfSubjectAccessReview: the server answers `allowed` without reading the request."""


_DECODERS: dict[tuple[str, str], Callable[[bytes, dict[str, Any]], None]] = {
    ("v1", "Namespace"): _namespace,
    ("v1", "Secret"): _secret,
    ("v1", "ConfigMap"): _config_map,
    ("authorization.k8s.io/v1", "SelfSubjectAccessReview"): _ignore_body,
}

_WITH_METADATA = {"Namespace", "Secret", "ConfigMap"}


def decode(body: bytes) -> dict[str, Any]:
    """Decode a `k8s\\x00`-enveloped protobuf body into the JSON-shaped object it stands for.

    Raises `errors.UnsupportedMediaType` for kinds this module has no table for and
    `errors.BadRequest` for bytes that are not a well-formed envelope or object.
    """
    if not body.startswith(MAGIC):
        raise _bad("missing the k8s\\x00 envelope prefix")
    api_version = kind = content_encoding = content_type = ""
    raw = b""
    for number, wire, value in _fields(body[len(MAGIC) :], "envelope"):
        if number == 1:
            for n, w, v in _fields(_bytes(wire, value, "typeMeta"), "typeMeta"):
                if n == 1:
                    api_version = _string(w, v, "typeMeta.apiVersion")
                elif n == 2:
                    kind = _string(w, v, "typeMeta.kind")
        elif number == 2:
            raw = _bytes(wire, value, "raw")
        elif number == 3:
            content_encoding = _string(wire, value, "contentEncoding")
        elif number == 4:
            content_type = _string(wire, value, "contentType")
    if not kind or not api_version:
        raise _bad("the envelope has no apiVersion or kind")
    if content_encoding:
        raise errors.UnsupportedMediaType(f"protobuf content encoding {content_encoding!r} is not supported")
    if content_type and not is_protobuf(content_type):
        raise errors.UnsupportedMediaType(f"protobuf envelope content type {content_type!r} is not supported")
    decoder = _DECODERS.get((api_version, kind))
    if decoder is None:
        group = api_version.rpartition("/")[0]
        raise errors.UnsupportedMediaType(
            f"{_SUPPORTED_MESSAGE}, not {api_version} {kind}; send JSON instead, for example "
            "`kubectl create ... --dry-run=client -o yaml | kubectl apply -f -`",
            kind=kind,
            group=group,
        )
    out: dict[str, Any] = {"apiVersion": api_version, "kind": kind}
    if kind in _WITH_METADATA:
        out["metadata"] = {}
    decoder(raw, out)
    return out
