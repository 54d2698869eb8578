"""JSONPath as CRD printer columns use it: matches, misses and malformed paths."""

from __future__ import annotations

from typing import Any

import pytest

from kubeserve.api.jsonpath import compile_path, evaluate

ISVC: dict[str, Any] = {
    "metadata": {"name": "demo", "labels": {"app.kubernetes.io/name": "demo", "tier": "web"}},
    "spec": {
        "containers": [{"name": "a", "image": "img-a"}, {"name": "b", "image": "img-b"}],
        "disabled": False,
    },
    "status": {
        "url": "http://demo.default.example.com",
        "conditions": [
            {"type": "PredictorReady", "status": "True"},
            {"type": "Ready", "status": "False", "reason": "Boom"},
        ],
        "components": {
            "predictor": {
                "traffic": [
                    {"tag": "prev", "percent": 10, "revisionName": "demo-00001", "latestRevision": False},
                    {"percent": 90, "revisionName": "demo-00002", "latestRevision": True, "weight": 1.5},
                ]
            }
        },
    },
}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (".status.url", ["http://demo.default.example.com"]),
        (".spec.disabled", [False]),
        (".spec.containers[0].name", ["a"]),
        (".spec.containers[1].image", ["img-b"]),
        (".spec.containers[-1].name", ["b"]),
        (".spec.containers[*].name", ["a", "b"]),
        (".spec.containers[0:1].name", ["a"]),
        (".spec.containers[::-1].name", ["b", "a"]),
        (".status.conditions[?(@.type=='Ready')].status", ["False"]),
        ('.status.conditions[?(@.type=="Ready")].reason', ["Boom"]),
        (".status.conditions[?(@.type != 'Ready')].type", ["PredictorReady"]),
        (".status.conditions[?(@.reason)].type", ["Ready"]),
        (".status.components.predictor.traffic[?(@.latestRevision==true)].percent", [90]),
        (".status.components.predictor.traffic[?(@.latestRevision==false)].revisionName", ["demo-00001"]),
        (".status.components.predictor.traffic[?(@.tag=='prev')].percent", [10]),
        (".status.components.predictor.traffic[?(@.percent==90)].revisionName", ["demo-00002"]),
        (".status.components.predictor.traffic[?(@.percent>50)].revisionName", ["demo-00002"]),
        (".status.components.predictor.traffic[?(@.weight==1.5)].percent", [90]),
        (".status.components.predictor.traffic[?(@.percent==1)].percent", []),
        (".metadata.labels['app.kubernetes.io/name']", ["demo"]),
        (".metadata.labels.app\\.kubernetes\\.io/name", ["demo"]),
        (".metadata.labels.*", ["demo", "web"]),
        ("..revisionName", ["demo-00001", "demo-00002"]),
        ("{.metadata.name}", ["demo"]),
        ("$.metadata.name", ["demo"]),
        (".metadata", [ISVC["metadata"]]),
    ],
)
def test_matches(path: str, expected: list[Any]) -> None:
    assert evaluate(path, ISVC) == expected


@pytest.mark.parametrize(
    "path",
    [
        ".status.missing",
        ".status.url.deeper",
        ".spec.containers[5].name",
        ".spec.containers[-9].name",
        ".spec.containers.name",  # a field of a list is not a field of its items
        ".status.conditions[?(@.type=='Nope')].status",
        ".status.conditions[?(@.missing=='x')].status",
        ".status.conditions[?(@.type==true)].status",  # string against boolean never matches
        ".status.components.predictor.traffic[?(@.latestRevision==1)].percent",  # bool is not 1
        ".metadata.name[0]",
        ".status[*]",
    ],
)
def test_misses_are_empty(path: str) -> None:
    assert evaluate(path, ISVC) == []


@pytest.mark.parametrize(
    "path",
    [
        "",
        "status.url",
        ".",
        ".a[",
        ".a[?(@.x==)]",
        ".a[?(x)]",
        ".a]",
        ".a[1:2:3:4]",
        ".a[?(@.x=='y)]",
        ".a[?(@.x==1]",
        "{}",
        ".a b",
    ],
)
def test_bad_syntax_raises(path: str) -> None:
    with pytest.raises(ValueError, match="invalid JSONPath"):
        evaluate(path, ISVC)


def test_compiled_paths_are_cached_and_reusable() -> None:
    compiled = compile_path(".spec.containers[*].name")
    assert compiled is compile_path(".spec.containers[*].name")
    assert compiled.evaluate(ISVC) == ["a", "b"]
    assert compiled.evaluate({}) == []
    assert compiled.evaluate(None) == []
