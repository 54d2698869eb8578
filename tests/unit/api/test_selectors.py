"""Label and field selectors: parsing, canonical rendering, matching and the 400s for bad syntax."""

from __future__ import annotations

from typing import Any

import pytest

from kubeserve.api.errors import BadRequest
from kubeserve.api.selectors import FieldSelector, LabelSelector

LABELS = {"app": "web", "tier": "frontend", "env": "prod", "empty": "", "replicas": "5"}


@pytest.mark.parametrize(
    ("text", "rendered", "matches"),
    [
        ("", "", True),
        ("   ", "", True),
        ("app=web", "app=web", True),
        ("app==web", "app==web", True),
        ("app!=web", "app!=web", False),
        ("app=db", "app=db", False),
        ("missing!=x", "missing!=x", True),
        ("app", "app", True),
        ("!app", "!app", False),
        ("!missing", "!missing", True),
        ("missing", "missing", False),
        ("tier in (frontend,backend)", "tier in (backend,frontend)", True),
        ("tier in (backend)", "tier in (backend)", False),
        ("missing in (a)", "missing in (a)", False),
        ("tier notin (backend)", "tier notin (backend)", True),
        ("tier notin (frontend)", "tier notin (frontend)", False),
        ("missing notin (a)", "missing notin (a)", True),
        ("empty=", "empty=", True),
        ("empty in (,x)", "empty in (,x)", True),
        ("replicas>3", "replicas>3", True),
        ("replicas<3", "replicas<3", False),
        ("app>3", "app>3", False),
        ("app=web,tier=frontend", "app=web,tier=frontend", True),
        ("tier=frontend,app=web", "app=web,tier=frontend", True),  # sorted by key
        ("app=web,tier=backend", "app=web,tier=backend", False),
        (" app = web ,  !gone , env in ( prod , dev ) ", "app=web,env in (dev,prod),!gone", True),
        ("example.com/role=x", "example.com/role=x", False),
        ("in=notin", "in=notin", False),  # keywords are identifiers outside the operator position
    ],
)
def test_label_selector(text: str, rendered: str, matches: bool) -> None:
    selector = LabelSelector.parse(text)
    assert str(selector) == rendered
    assert selector.matches(LABELS) is matches
    assert str(LabelSelector.parse(str(selector))) == rendered  # the rendering parses back


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a b", "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt"),
        ("a in b", "unable to parse requirement: found 'b' expected: '('"),
        ("a in (b", "unable to parse requirement: found '', expected: ',' or ')'"),
        ("a in (b c)", "unable to parse requirement: found 'c', expected: ',' or ')'"),
        ("a=b,", "found '', expected: identifier after ','"),
        ("a,,b", "found ',', expected: identifier after ','"),
        ("=a", "found '=', expected: !, identifier, or 'end of string'"),
        ("a=b c", "found 'c', expected: ',' or 'end of string'"),
        ("!a=b", "found '=', expected: ',' or 'end of string'"),
        ("a=(b)", "unable to parse requirement: found '(', expected: identifier"),
        ("a>b", "for 'Gt', 'Lt' operators, the value must be an integer"),
        ("a=b_", 'values[0]: Invalid value: "b_": a valid label must be an empty string'),
        ("-a=b", 'key: Invalid value: "-a": name part must consist of alphanumeric characters'),
        ("Bad_Prefix/a=b", "prefix part must be a lowercase RFC 1123 subdomain"),
        (f"a={'x' * 64}", "must be no more than 63 characters"),
    ],
)
def test_label_selector_errors_are_bad_requests(text: str, message: str) -> None:
    with pytest.raises(BadRequest) as info:
        LabelSelector.parse(text)
    assert message in info.value.message
    assert info.value.code == 400


@pytest.mark.parametrize(
    ("selector", "rendered", "matches"),
    [
        ({}, "", True),
        ({"matchLabels": {"app": "web"}}, "app=web", True),
        ({"matchLabels": {"tier": "frontend", "app": "web"}}, "app=web,tier=frontend", True),
        (
            {"matchExpressions": [{"key": "env", "operator": "In", "values": ["prod", "dev"]}]},
            "env in (dev,prod)",
            True,
        ),
        (
            {"matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["prod"]}]},
            "env notin (prod)",
            False,
        ),
        ({"matchExpressions": [{"key": "app", "operator": "Exists"}]}, "app", True),
        ({"matchExpressions": [{"key": "app", "operator": "DoesNotExist"}]}, "!app", False),
        (
            {"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "env", "operator": "Exists"}]},
            "app=web,env",
            True,
        ),
    ],
)
def test_label_selector_from_dict(selector: dict[str, Any], rendered: str, matches: bool) -> None:
    parsed = LabelSelector.from_dict(selector)
    assert str(parsed) == rendered
    assert parsed.matches(LABELS) is matches


def test_nil_selector_matches_nothing_and_empty_matches_everything() -> None:
    assert LabelSelector.from_dict(None).matches({}) is False
    assert LabelSelector.from_dict(None).empty is False
    assert LabelSelector.from_dict({}).matches({}) is True
    assert LabelSelector.parse("").empty is True
    assert LabelSelector.parse("app=web").matches(None) is False


@pytest.mark.parametrize(
    ("selector", "message"),
    [
        (
            {"matchExpressions": [{"key": "a", "operator": "Equals", "values": ["x"]}]},
            '"Equals" is not a valid label selector operator',
        ),
        ({"matchExpressions": [{"key": "a", "operator": "In", "values": []}]}, "values set can't be empty"),
        (
            {"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]},
            "values set must be empty",
        ),
        ({"matchLabels": {"a": "not valid"}}, 'Invalid value: "not valid"'),
    ],
)
def test_label_selector_from_dict_errors(selector: dict[str, Any], message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        LabelSelector.from_dict(selector)


POD: dict[str, Any] = {
    "kind": "Pod",
    "metadata": {"name": "web-1", "namespace": "default"},
    "spec": {"nodeName": "node-a", "restartPolicy": "Always", "hostNetwork": False},
    "status": {"phase": "Running", "podIP": "10.0.0.5"},
}
EVENT: dict[str, Any] = {
    "kind": "Event",
    "type": "Warning",
    "count": 3,
    "source": {"component": "kubelet", "host": "node-a"},
    "involvedObject": {"kind": "Pod", "name": "web-1", "namespace": "default", "uid": "u-1"},
}


@pytest.mark.parametrize(
    ("obj", "text", "rendered", "matches"),
    [
        (POD, "", "", True),
        (POD, "metadata.name=web-1", "metadata.name=web-1", True),
        (POD, "metadata.name==web-1", "metadata.name=web-1", True),
        (POD, "metadata.name!=web-1", "metadata.name!=web-1", False),
        (
            POD,
            "metadata.namespace=default,status.phase=Running",
            "metadata.namespace=default,status.phase=Running",
            True,
        ),
        (
            POD,
            "status.phase!=Running,metadata.name=web-1",
            "metadata.name=web-1,status.phase!=Running",
            False,
        ),
        (POD, "spec.nodeName=node-a", "spec.nodeName=node-a", True),
        (POD, "spec.nodeName=", "spec.nodeName=", False),
        (POD, "spec.schedulerName=", "spec.schedulerName=", True),  # missing compares as ""
        (POD, "spec.hostNetwork=false", "spec.hostNetwork=false", True),  # non-strings compare as strings
        (POD, "metadata=x", "metadata=x", False),
        (POD, " metadata.name = web-1 ", "metadata.name=web-1", True),
        (
            EVENT,
            "involvedObject.kind=Pod,involvedObject.name=web-1",
            "involvedObject.kind=Pod,involvedObject.name=web-1",
            True,
        ),
        (EVENT, "involvedObject.uid=u-1,type=Warning", "involvedObject.uid=u-1,type=Warning", True),
        (EVENT, "count=3", "count=3", True),
        (EVENT, "source=kubelet", "source=kubelet", True),
        ({"metadata": {"name": "a,b=c"}}, "metadata.name=a\\,b\\=c", "metadata.name=a\\,b\\=c", True),
        ({"metadata": {"name": "a\\b"}}, "metadata.name=a\\\\b", "metadata.name=a\\\\b", True),
    ],
)
def test_field_selector(obj: dict[str, Any], text: str, rendered: str, matches: bool) -> None:
    selector = FieldSelector.parse(text)
    assert str(selector) == rendered
    assert selector.matches(obj) is matches


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("metadata.name", "invalid selector: 'metadata.name'; can't understand 'metadata.name'"),
        ("=web", "invalid selector: '=web'; can't understand '=web'"),
        ("a=b,c", "can't understand 'c'"),
        ("a=b=c", "invalid field selector: unescaped character in value: ="),
        ("a=b\\x", "invalid field selector: invalid escape sequence: \\x"),
    ],
)
def test_field_selector_errors_are_bad_requests(text: str, message: str) -> None:
    with pytest.raises(BadRequest) as info:
        FieldSelector.parse(text)
    assert message in info.value.message


def test_field_selector_exact_value() -> None:
    selector = FieldSelector.parse("metadata.name=web-1,status.phase!=Failed")
    assert selector.exact("metadata.name") == "web-1"
    assert selector.exact("status.phase") is None
    assert selector.exact("metadata.namespace") is None
    assert FieldSelector.parse(None).empty
