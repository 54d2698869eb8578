"""The protobuf field tables hang together: every referenced message exists and every kind has one."""

from __future__ import annotations

import pytest

from kubeserve.apiserver import protoschema
from kubeserve.apiserver.protoschema import Field


def test_every_message_a_field_names_is_in_the_table() -> None:
    missing = {
        (message, field.name, field.type)
        for message, fields in protoschema.MESSAGES.items()
        for field in fields.values()
        if field.is_message and field.type not in protoschema.MESSAGES
    }
    assert missing == set()


def test_every_kind_names_a_message_with_metadata() -> None:
    for message in protoschema.KINDS.values():
        assert protoschema.MESSAGES[message][1] == Field("metadata", "ObjectMeta")


def test_inline_fields_are_messages() -> None:
    for fields in protoschema.MESSAGES.values():
        for field in fields.values():
            assert not field.inline or field.is_message


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("", {}),
        ("1 name", {1: Field("name", "string")}),
        ("3 command []string", {3: Field("command", "string", repeated=True)}),
        ("1 replicas int32?", {1: Field("replicas", "int32", keep_zero=True)}),
        ("2 ... VolumeSource", {2: Field("...", "VolumeSource")}),
        ("32 o map<Quantity>; 7 f FieldsV1", {32: Field("o", "map<Quantity>"), 7: Field("f", "FieldsV1")}),
    ],
)
def test_parse_message(spec: str, expected: dict[int, Field]) -> None:
    assert protoschema.parse_message(spec) == expected


@pytest.mark.parametrize("spec", ["name", "1", "1 name int32 extra", "1 a; 1 b", "x name"])
def test_parse_message_rejects_bad_specs(spec: str) -> None:
    with pytest.raises(ValueError):
        protoschema.parse_message(spec)
