"""Decoding the protobuf request bodies that kubectl 1.32's typed clients send without being asked.

Since client-go 1.32 the generated typed clients send built-in kinds as
`application/vnd.kubernetes.protobuf`, and there is no client-side fallback to JSON. So `kubectl
create deployment|service|serviceaccount|namespace|secret|configmap`, `kubectl autoscale`, `kubectl
debug` (its pod copies) and `kubectl auth can-i` POST protobuf bodies to a server that otherwise
speaks only JSON. Rather than depend on a protobuf library and the generated Kubernetes code, this
module walks the wire format by hand with the field tables in `protoschema`, and returns the same
JSON-shaped dict the JSON body would have decoded to.

The body is an envelope: the 4 bytes `k8s\\x00`, then a `runtime.Unknown`
`{typeMeta{apiVersion=1, kind=2}=1, raw=2, contentEncoding=3, contentType=4}` whose `raw` is the
object itself. Go writes every non-pointer scalar, empty or not, so empty strings, zeros and `false`
are treated as unset (the `omitempty` JSON would not have had them) unless the table marks the field
as one whose zero is real. Field numbers the table does not know are skipped, as protobuf readers do.

Kinds with no table are refused with 415 and a message telling the user how to send JSON instead;
bytes that are not well-formed are a 400.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from kubeserve.api import errors
from kubeserve.apiserver import protoschema
from kubeserve.apiserver.protoschema import Field

MEDIA_TYPE = "application/vnd.kubernetes.protobuf"
MAGIC = b"k8s\x00"

_VARINT = 0
_FIXED64 = 1
_LEN = 2
_FIXED32 = 5

_NUMERIC = frozenset({"int32", "int64", "bool"})


def supported_kinds() -> list[str]:
    """The kinds with a table, for the 415 message, in table order and without repeats."""
    return list(dict.fromkeys(kind for _, kind in protoschema.KINDS))


def _supported_message() -> str:
    *rest, last = supported_kinds()
    return f"protobuf request bodies are only supported for {', '.join(rest)} and {last}"


def is_protobuf(content_type: str | None) -> bool:
    """Whether a request's Content-Type names the Kubernetes protobuf encoding (parameters ignored)."""
    if not content_type:
        return False
    return content_type.split(";", 1)[0].strip().lower() == MEDIA_TYPE


def _bad(message: str) -> errors.BadRequest:
    return errors.BadRequest(f"malformed protobuf body: {message}")


def _varint(data: bytes, pos: int, where: str) -> tuple[int, int]:
    """The varint at `pos` and the position after it."""
    result = 0
    for shift in range(0, 70, 7):
        if pos >= len(data):
            raise _bad(f"truncated varint in {where}")
        byte = data[pos]
        pos += 1
        if shift == 63 and byte > 1:
            raise _bad(f"varint overflows 64 bits in {where}")
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
    raise _bad(f"varint longer than 10 bytes in {where}")


def _varints(data: bytes, where: str) -> Iterator[int]:
    """The varints of a packed repeated field."""
    pos = 0
    while pos < len(data):
        value, pos = _varint(data, pos, where)
        yield value


def _fields(data: bytes, where: str) -> Iterator[tuple[int, int, int | bytes]]:
    """Yield `(field number, wire type, value)`: int for varint/fixed fields, bytes for length-delimited."""
    pos = 0
    end = len(data)
    while pos < end:
        key, pos = _varint(data, pos, where)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise _bad(f"field number 0 in {where}")
        if wire == _VARINT:
            value, pos = _varint(data, pos, where)
            yield number, wire, value
        elif wire == _LEN:
            length, pos = _varint(data, pos, where)
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


def _signed(number: int) -> int:
    # int32 and int64 are both sign-extended to 64 bits on the wire.
    return number - (1 << 64) if number >= 1 << 63 else number


def _number(type_: str, number: int) -> int | bool:
    if type_ == "bool":
        return number != 0
    value = _signed(number)
    if type_ == "int32":
        value = (value + (1 << 31)) % (1 << 32) - (1 << 31)  # Go truncates to 32 bits
    return value


def _scalar(type_: str, wire: int, value: int | bytes, where: str) -> str | int | bool:
    if type_ == "string":
        return _string(wire, value, where)
    if type_ == "bytes":
        return base64.b64encode(_bytes(wire, value, where)).decode("ascii")
    return _number(type_, _int(wire, value, where))


def _int_or_string(data: bytes, where: str) -> int | str:
    kind, int_val, str_val = 0, 0, ""
    for number, wire, value in _fields(data, where):
        if number == 1:
            kind = _signed(_int(wire, value, f"{where}.type"))
        elif number == 2:
            int_val = int(_number("int32", _int(wire, value, f"{where}.intVal")))
        elif number == 3:
            str_val = _string(wire, value, f"{where}.strVal")
    return str_val if kind == 1 else int_val


def _quantity(data: bytes, where: str) -> str:
    text = ""
    for number, wire, value in _fields(data, where):
        if number == 1:
            text = _string(wire, value, where)
    return text


def _time(data: bytes, where: str) -> str | None:
    """A `Timestamp{seconds=1, nanos=2}` as RFC 3339 to the second, as `metav1.Time` marshals; zero is null."""
    seconds = nanos = 0
    for number, wire, value in _fields(data, where):
        if number == 1:
            seconds = _signed(_int(wire, value, f"{where}.seconds"))
        elif number == 2:
            nanos = _int(wire, value, f"{where}.nanos")
    if not seconds and not nanos:
        return None
    try:
        return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, OSError, ValueError) as exc:
        raise _bad(f"{where} is out of range") from exc


def _fields_v1(data: bytes, where: str) -> Any:
    """`FieldsV1{Raw=1}` holds the JSON itself."""
    raw = b""
    for number, wire, value in _fields(data, where):
        if number == 1:
            raw = _bytes(wire, value, where)
    try:
        return json.loads(raw) if raw else None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise _bad(f"{where} is not JSON") from exc


def _special(type_: str, data: bytes, where: str) -> Any:
    if type_ == "IntOrString":
        return _int_or_string(data, where)
    if type_ == "Quantity":
        return _quantity(data, where)
    if type_ == "Time":
        return _time(data, where)
    return _fields_v1(data, where)


def _map_entry(field: Field, data: bytes, where: str) -> tuple[str, Any]:
    """One map entry (key=1, value=2): `map<bytes>` values come back base64 and `map<Quantity>` as strings."""
    key = ""
    value: Any = ""
    for number, wire, raw in _fields(data, where):
        if number == 1:
            key = _string(wire, raw, f"{where} key")
        elif number == 2:
            if field.type == "map<Quantity>":
                value = _quantity(_bytes(wire, raw, f"{where} value"), f"{where} value")
            else:
                value = _scalar("bytes" if field.type == "map<bytes>" else "string", wire, raw, f"{where} value")
    return key, value


def _merge(data: bytes, message: str, out: dict[str, Any], where: str) -> None:
    """Read `data` as `message` into `out`; a message field seen twice merges, as protobuf says."""
    schema: Mapping[int, Field] = protoschema.MESSAGES[message]
    for number, wire, value in _fields(data, where):
        field = schema.get(number)
        if field is None:
            continue  # a newer field, or one left out of the table on purpose
        name = field.name
        path = where if field.inline else f"{where}.{name}"
        if field.type in protoschema.MAPS:
            key, item = _map_entry(field, _bytes(wire, value, path), path)
            out.setdefault(name, {})[key] = item
        elif field.is_message:
            raw = _bytes(wire, value, path)
            if field.repeated:
                item_out: dict[str, Any] = {}
                _merge(raw, field.type, item_out, path)
                out.setdefault(name, []).append(item_out)
            else:
                _merge(raw, field.type, out if field.inline else out.setdefault(name, {}), path)
        elif field.type in protoschema.SPECIAL:
            item = _special(field.type, _bytes(wire, value, path), path)
            if field.repeated:
                out.setdefault(name, []).append(item)
            elif item is None:
                out.pop(name, None)
            else:
                out[name] = item
        elif field.repeated:
            items = out.setdefault(name, [])
            if wire == _LEN and field.type in _NUMERIC:  # packed
                items.extend(_number(field.type, n) for n in _varints(_bytes(wire, value, path), path))
            else:
                items.append(_scalar(field.type, wire, value, path))
        else:
            scalar = _scalar(field.type, wire, value, path)
            if scalar or field.keep_zero:
                out[name] = scalar
            else:
                out.pop(name, None)


def decode(body: bytes) -> dict[str, Any]:
    """Decode a `k8s\\x00`-enveloped protobuf body into the JSON-shaped object it stands for.

    Raises `errors.UnsupportedMediaType` for kinds `protoschema` has no table for and
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
    options = protoschema.OPTIONS_KINDS.get(kind)
    if options is not None:
        decoded: dict[str, Any] = {"apiVersion": api_version, "kind": kind}
        _merge(raw, options, decoded, kind)
        return decoded
    message = protoschema.KINDS.get((api_version, kind))
    if message is None:
        group = api_version.rpartition("/")[0]
        raise errors.UnsupportedMediaType(
            f"{_supported_message()}, not {api_version} {kind}; send JSON instead, for example "
            "`kubectl create ... --dry-run=client -o yaml | kubectl apply -f -`",
            kind=kind,
            group=group,
        )
    out: dict[str, Any] = {"apiVersion": api_version, "kind": kind, "metadata": {}}
    _merge(raw, message, out, kind)
    return out
