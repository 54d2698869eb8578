"""URL parsing into RequestInfo and the query options of list, watch and write requests."""

from __future__ import annotations

import pytest
from multidict import MultiDict

from kubeserve.api import errors
from kubeserve.api.kinds import Registry
from kubeserve.apiserver.request import ListOptions, WriteOptions, parse_bool, parse_resource_path

REGISTRY = Registry()


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/api/v1/namespaces", ("Namespace", "", "", "")),
        ("/api/v1/namespaces/x", ("Namespace", "", "x", "")),
        # the gotcha: `namespaces/x/status` is the Namespace's status, not a resource "status" in namespace x
        ("/api/v1/namespaces/x/status", ("Namespace", "", "x", "status")),
        ("/api/v1/namespaces/x/finalize", ("Namespace", "", "x", "finalize")),
        ("/api/v1/namespaces/x/pods", ("Pod", "x", "", "")),
        ("/api/v1/namespaces/x/pods/p", ("Pod", "x", "p", "")),
        ("/api/v1/namespaces/x/pods/p/status", ("Pod", "x", "p", "status")),
        ("/api/v1/namespaces/x/pods/p/log", ("Pod", "x", "p", "log")),
        ("/api/v1/namespaces/status/pods", ("Pod", "status", "", "")),  # a namespace may be named "status"
        ("/api/v1/pods", ("Pod", "", "", "")),  # all namespaces
        ("/api/v1/persistentvolumes/pv1", ("PersistentVolume", "", "pv1", "")),
        ("/api/v1/nodes/n/status", ("Node", "", "n", "status")),
        ("/apis/apps/v1/namespaces/x/deployments/d/scale", ("Deployment", "x", "d", "scale")),
        ("/apis/apps/v1/deployments", ("Deployment", "", "", "")),
        ("/apis/serving.kserve.io/v1beta1/namespaces/x/inferenceservices/m/status",
         ("InferenceService", "x", "m", "status")),
        ("/apis/serving.kserve.io/v1alpha1/clusterservingruntimes/r", ("ClusterServingRuntime", "", "r", "")),
        ("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", ("SelfSubjectAccessReview", "", "", "")),
        ("/api/v1/namespaces/x/configmaps/c/", ("ConfigMap", "x", "c", "")),  # trailing slash
    ],
)
def test_parse_resource_path(path: str, expected: tuple[str, str, str, str]) -> None:
    info = parse_resource_path(REGISTRY, path)
    assert (info.kind.kind, info.namespace, info.name, info.subresource) == expected
    assert info.is_collection == (expected[2] == "")


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/api",
        "/api/v1",
        "/apis/apps",
        "/apis/apps/v1",
        "/api/v2/pods",
        "/api/v1/widgets",
        "/apis/apps/v1/pods",  # the right plural in the wrong group
        "/apis/serving.kserve.io/v1alpha1/inferenceservices",  # the right group at the wrong version
        "/api/v1/namespaces/x/persistentvolumes",  # cluster-scoped kind under a namespace
        "/api/v1/namespaces/x/pods/p/scale",  # a subresource the kind does not have
        "/api/v1/namespaces/x/configmaps/c/status",
        "/api/v1/namespaces/x/pods/p/log/extra",
        "/api/v1/pods/p",  # a namespaced object needs its namespace
        "/healthz",
    ],
)
def test_unknown_paths_are_not_found(path: str) -> None:
    with pytest.raises(errors.NotFound) as exc:
        parse_resource_path(REGISTRY, path)
    assert exc.value.code == 404
    assert exc.value.message == "the server could not find the requested resource"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, False), ("", False),
        ("1", True), ("t", True), ("T", True), ("true", True), ("True", True), ("TRUE", True),
        ("0", False), ("f", False), ("F", False), ("false", False), ("False", False), ("FALSE", False),
    ],
)
def test_parse_bool(value: str | None, expected: bool) -> None:
    assert parse_bool(value) is expected


@pytest.mark.parametrize("value", ["yes", "no", "tRuE", "2", " true", "on"])
def test_parse_bool_rejects_other_spellings(value: str) -> None:
    with pytest.raises(errors.BadRequest) as exc:
        parse_bool(value)
    assert repr(value) in exc.value.message


def test_list_options_defaults() -> None:
    assert ListOptions.from_query({}) == ListOptions()
    assert ListOptions.from_query({}).send_initial_events is None


def test_list_options_from_query() -> None:
    opts = ListOptions.from_query({
        "labelSelector": "a=b", "fieldSelector": "metadata.name=x", "watch": "1", "resourceVersion": "7",
        "resourceVersionMatch": "NotOlderThan", "timeoutSeconds": "30", "allowWatchBookmarks": "true",
        "sendInitialEvents": "false", "limit": "500",
    })
    assert opts == ListOptions("a=b", "metadata.name=x", True, "7", "NotOlderThan", 30, True, False, 500)


@pytest.mark.parametrize("query", [{"timeoutSeconds": "soon"}, {"limit": "many"}, {"watch": "yes"}])
def test_list_options_bad_values(query: dict[str, str]) -> None:
    with pytest.raises(errors.BadRequest):
        ListOptions.from_query(query)


@pytest.mark.parametrize(
    ("query", "dry_run"),
    [
        (MultiDict(), False),
        (MultiDict(dryRun="All"), True),
        (MultiDict([("dryRun", "All"), ("dryRun", "All")]), True),
        ({"dryRun": "All"}, True),  # a plain mapping works too
    ],
)
def test_dry_run_values(query: MultiDict[str] | dict[str, str], dry_run: bool) -> None:
    assert WriteOptions.from_query(query).dry_run is dry_run


@pytest.mark.parametrize(
    "query",
    [MultiDict(dryRun="all"), MultiDict(dryRun=""), MultiDict(dryRun="true"),
     MultiDict([("dryRun", "All"), ("dryRun", "x")])],
)
def test_unsupported_dry_run_values(query: MultiDict[str]) -> None:
    with pytest.raises(errors.BadRequest) as exc:
        WriteOptions.from_query(query)
    assert '"All"' in exc.value.message


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, WriteOptions(False, "", "Warn", False)),
        ({"fieldManager": "kubectl", "fieldValidation": "Strict", "force": "true"},
         WriteOptions(False, "kubectl", "Strict", True)),
        ({"fieldValidation": "Ignore"}, WriteOptions(field_validation="Ignore")),
        ({"fieldValidation": ""}, WriteOptions(field_validation="Warn")),
    ],
)
def test_write_options(query: dict[str, str], expected: WriteOptions) -> None:
    assert WriteOptions.from_query(query) == expected


def test_bad_field_validation() -> None:
    with pytest.raises(errors.BadRequest):
        WriteOptions.from_query({"fieldValidation": "strict"})
