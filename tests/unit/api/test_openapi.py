"""OpenAPI v3 documents: the root index, per-group-version documents, PATCH operations kubectl looks for."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

import pytest

from kubeserve.api.kinds import KINDS, Registry, ResourceKind
from kubeserve.api.openapi import group_version_bytes, group_version_document, root_document

REGISTRY = Registry()
PATCH_TYPES = {"application/json-patch+json", "application/merge-patch+json", "application/apply-patch+yaml"}
SMP = "application/strategic-merge-patch+json"


def gv_key(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def doc_for(kind: ResourceKind) -> dict[str, Any]:
    doc = group_version_document(REGISTRY, kind.group, kind.version)
    assert doc is not None
    return doc


def item_path(kind: ResourceKind) -> str:
    prefix = f"/apis/{kind.group}/{kind.version}" if kind.group else f"/api/{kind.version}"
    scope = "/namespaces/{namespace}" if kind.namespaced else ""
    return f"{prefix}{scope}/{kind.plural}/{{name}}"


def test_root_lists_every_served_group_version() -> None:
    root = root_document(REGISTRY)
    expected = {gv_key(k.group, k.version) for k in KINDS}
    assert set(root["paths"]) == expected
    assert "api/v1" in root["paths"]
    assert "apis/serving.kserve.io/v1beta1" in root["paths"]
    assert "apis/serving.kserve.io/v1alpha1" in root["paths"]
    for key, entry in root["paths"].items():
        url = entry["serverRelativeURL"]
        assert url.startswith(f"/openapi/v3/{key}?hash=")
        digest = url.split("hash=")[1]
        assert all(c in "0123456789ABCDEF" for c in digest) and len(digest) == 128
        group, version = (key.split("/")[1], key.split("/")[2]) if key.startswith("apis/") else ("", "v1")
        data = group_version_bytes(REGISTRY, group, version)
        assert data is not None
        assert hashlib.sha512(data).hexdigest().upper() == digest
        assert json.loads(data) == group_version_document(REGISTRY, group, version)


def test_hash_is_stable_across_registries() -> None:
    assert root_document(Registry()) == root_document(REGISTRY)


def test_unknown_group_version_is_none() -> None:
    assert group_version_document(REGISTRY, "nope.example.com", "v1") is None
    assert group_version_document(REGISTRY, "", "v2") is None
    assert group_version_bytes(REGISTRY, "apps", "v2") is None


def patchable() -> list[ResourceKind]:
    return [k for k in KINDS if "patch" in k.verbs]


@pytest.mark.parametrize("kind", patchable(), ids=lambda k: k.qualified_kind)
def test_patch_operation_carries_gvk_and_field_validation(kind: ResourceKind) -> None:
    doc = doc_for(kind)
    assert doc["openapi"] == "3.0.0"
    patch = doc["paths"][item_path(kind)]["patch"]
    assert patch["x-kubernetes-group-version-kind"] == {
        "group": kind.group,
        "version": kind.version,
        "kind": kind.kind,
    }
    assert patch["x-kubernetes-action"] == "patch"
    assert "fieldValidation" in {p["name"] for p in patch["parameters"] if p["in"] == "query"}
    content = set(patch["requestBody"]["content"])
    assert content == (PATCH_TYPES | {SMP} if kind.builtin else PATCH_TYPES)
    # What kubectl's query-param verifier does: the first PATCH op with this GVK decides.
    matches = [
        op
        for op in (path.get("patch") for path in doc["paths"].values())
        if op and op["x-kubernetes-group-version-kind"]["kind"] == kind.kind
    ]
    assert matches and all("fieldValidation" in {p["name"] for p in op["parameters"]} for op in matches)


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.qualified_kind)
def test_operations_follow_verbs(kind: ResourceKind) -> None:
    doc = doc_for(kind)
    paths = doc["paths"]
    collection = item_path(kind).rsplit("/", 1)[0]
    if "get" in kind.verbs:
        item = paths[item_path(kind)]
        expected = {"get"} | {op for verb, op in (("update", "put"), ("patch", "patch"), ("delete", "delete"))
                              if verb in kind.verbs}
        assert set(item) - {"parameters"} == expected
        assert {p["name"] for p in item["parameters"]} >= {"name"}
        assert ("namespace" in {p["name"] for p in item["parameters"]}) == kind.namespaced
    else:
        assert item_path(kind) not in paths
    ops = paths[collection]
    assert ("get" in ops) == ("list" in kind.verbs)
    assert ("post" in ops) == ("create" in kind.verbs)
    if "list" in kind.verbs:
        assert ops["get"]["x-kubernetes-action"] == "list"
        assert "watch" in {p["name"] for p in ops["get"]["parameters"]}
    if "create" in kind.verbs:
        assert ops["post"]["x-kubernetes-action"] == "post"
    if kind.has_status:
        assert (
            paths[item_path(kind) + "/status"]["patch"]["x-kubernetes-group-version-kind"]["kind"]
            == kind.kind
        )


def test_self_subject_access_review_has_only_create() -> None:
    ssar = REGISTRY.by_kind("authorization.k8s.io", "v1", "SelfSubjectAccessReview")
    assert ssar is not None
    paths = doc_for(ssar)["paths"]
    assert list(paths) == ["/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"]
    assert set(paths["/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"]) == {"parameters", "post"}


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


@pytest.mark.parametrize("key", sorted(root_document(REGISTRY)["paths"]))
def test_every_ref_resolves(key: str) -> None:
    parts = key.split("/")
    group, version = (parts[1], parts[2]) if parts[0] == "apis" else ("", parts[1])
    doc = group_version_document(REGISTRY, group, version)
    assert doc is not None
    schemas = doc["components"]["schemas"]
    refs = set(_refs(doc))
    assert refs
    for ref in refs:
        assert ref.startswith("#/components/schemas/")
        assert ref.removeprefix("#/components/schemas/") in schemas, ref


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.qualified_kind)
def test_components_carry_the_kind_schema(kind: ResourceKind) -> None:
    schemas = doc_for(kind)["components"]["schemas"]
    schema = schemas[kind.schema_name]
    assert {"group": kind.group, "version": kind.version, "kind": kind.kind} in schema[
        "x-kubernetes-group-version-kind"
    ]
    if "list" in kind.verbs:
        list_schema = schemas[kind.schema_name + "List"]
        assert list_schema["x-kubernetes-group-version-kind"][0]["kind"] == kind.list_kind


def test_explain_has_field_docs_for_the_predictor() -> None:
    isvc = REGISTRY.by_kind("serving.kserve.io", "v1beta1", "InferenceService")
    assert isvc is not None
    schema = doc_for(isvc)["components"]["schemas"]["io.kserve.serving.v1beta1.InferenceService"]
    predictor = schema["properties"]["spec"]["properties"]["predictor"]
    assert predictor["description"].startswith("PredictorSpec")
    props = predictor["properties"]
    for field in ("model", "minReplicas", "maxReplicas", "scaleMetric", "tolerations", "containers"):
        assert props[field]["description"], field
    assert props["model"]["properties"]["storageUri"]["type"] == "string"
    assert props["model"]["required"] == ["modelFormat"]


def test_documents_are_json_and_cached() -> None:
    first = group_version_document(REGISTRY, "serving.kserve.io", "v1beta1")
    assert first is group_version_document(REGISTRY, "serving.kserve.io", "v1beta1")
    assert json.loads(json.dumps(first)) == first
