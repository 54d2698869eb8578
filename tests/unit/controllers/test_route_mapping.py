"""Which InferenceServices a Route change wakes: its owner, the one named like it, the one whose predictor it
points at (the guide's Route file is not owned by the InferenceService, yet its admission is its IngressReady)."""

from __future__ import annotations

from typing import Any

import pytest

from kubeserve.controllers.inferenceservice import _route_isvcs

Obj = dict[str, Any]


def route(name: str, to: str = "web", owner: str | None = None) -> Obj:
    meta: Obj = {"name": name, "namespace": "demo"}
    if owner:
        meta["ownerReferences"] = [{"kind": "InferenceService", "name": owner, "uid": "u"}]
    return {"metadata": meta, "spec": {"to": {"kind": "Service", "name": to}}}


@pytest.mark.parametrize(("obj", "keys"), [
    (route("granite-model", "granite-model-predictor"), [("demo", "granite-model")]),
    (route("my-route", "granite-model-predictor"), [("demo", "granite-model"), ("demo", "my-route")]),
    (route("web"), [("demo", "web")]),
    (route("granite-model", "granite-model-predictor", owner="granite-model"), [("demo", "granite-model")]),
    (route("other", "x-predictor", owner="y"), [("demo", "other"), ("demo", "x"), ("demo", "y")]),
])
def test_route_isvcs(obj: Obj, keys: list[tuple[str, str]]) -> None:
    assert list(_route_isvcs(obj)) == keys
