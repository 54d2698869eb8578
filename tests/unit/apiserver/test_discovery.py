"""Discovery: legacy documents by default, aggregated ones only when the Accept header names them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from kubeserve.api.kinds import KINDS, Registry
from kubeserve.apiserver import discovery
from kubeserve.apiserver.app import ApiServerSettings, build_app
from kubeserve.store import SqliteStore

Obj = dict[str, Any]
REGISTRY = Registry()
AUTH = {"Authorization": "Bearer t"}
AGGREGATED = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
# what kubectl 1.32 sends
KUBECTL_ACCEPT = (
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
    "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json"
)


@pytest.mark.parametrize(
    ("accept", "aggregated"),
    [
        ("", False),
        ("*/*", False),  # kopf
        ("application/json", False),
        (AGGREGATED, True),
        (KUBECTL_ACCEPT, True),
        ("application/json;as=APIGroupDiscoveryList;v=v2;g=apidiscovery.k8s.io", True),  # any parameter order
        ("application/json; g=apidiscovery.k8s.io; v=v2; as=APIGroupDiscoveryList", True),
        ("application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList", False),
        ("application/json;g=apidiscovery.k8s.io;v=v2", False),
        ("application/json;as=Table;v=v1;g=meta.k8s.io", False),
    ],
)
def test_wants_aggregated(accept: str, aggregated: bool) -> None:
    assert discovery.wants_aggregated(accept) is aggregated


def test_version_is_1_32() -> None:
    info = discovery.version_info()
    assert (info["major"], info["minor"]) == ("1", "32")
    assert info["gitVersion"].startswith("v1.32.")


def _resources(doc: Obj | None) -> dict[str, Obj]:
    assert doc is not None
    return {r["name"]: r for r in doc["resources"]}


def test_legacy_core_resources_and_subresources() -> None:
    resources = _resources(discovery.api_resource_list(REGISTRY, "", "v1"))
    assert resources["pods"]["namespaced"] is True
    assert resources["pods"]["shortNames"] == ["po"]
    assert resources["namespaces"]["namespaced"] is False
    for sub in ("pods/status", "pods/log", "pods/exec", "namespaces/status", "namespaces/finalize"):
        assert sub in resources, sub
    assert resources["pods/exec"]["kind"] == "PodExecOptions"
    assert resources["namespaces/finalize"]["verbs"] == ["update"]
    assert resources["pods/status"]["verbs"] == ["get", "patch", "update"]


def test_legacy_scale_subresource_is_autoscaling_v1() -> None:
    resources = _resources(discovery.api_resource_list(REGISTRY, "apps", "v1"))
    scale = resources["deployments/scale"]
    assert (scale["group"], scale["version"], scale["kind"]) == ("autoscaling", "v1", "Scale")
    assert "group" not in resources["deployments/status"]
    assert resources["deployments/status"]["kind"] == "Deployment"


def test_legacy_lists_every_served_kind() -> None:
    for k in KINDS:
        doc = discovery.api_resource_list(REGISTRY, k.group, k.version)
        assert k.plural in _resources(doc), k.kind
        assert _resources(doc)[k.plural]["kind"] == k.kind


def test_unknown_group_version() -> None:
    assert discovery.api_resource_list(REGISTRY, "apps", "v2") is None
    assert discovery.api_group(REGISTRY, "nope.example.com") is None
    assert discovery.api_group(REGISTRY, "") is None


def test_group_list_prefers_kserve_v1beta1() -> None:
    groups = {g["name"]: g for g in discovery.api_group_list(REGISTRY)["groups"]}
    assert "" not in groups
    kserve = groups["serving.kserve.io"]
    assert [v["version"] for v in kserve["versions"]] == ["v1beta1", "v1alpha1"]
    assert kserve["preferredVersion"] == {"groupVersion": "serving.kserve.io/v1beta1", "version": "v1beta1"}


def test_aggregated_core_and_groups_are_split() -> None:
    core = discovery.aggregated(REGISTRY, core=True)
    named = discovery.aggregated(REGISTRY, core=False)
    assert core["kind"] == named["kind"] == "APIGroupDiscoveryList"
    assert core["apiVersion"] == "apidiscovery.k8s.io/v2"
    assert [i["metadata"]["name"] for i in core["items"]] == [""]
    names = [i["metadata"]["name"] for i in named["items"]]
    assert "" not in names
    assert {"apps", "serving.kserve.io", "route.openshift.io", "authorization.k8s.io"} <= set(names)


def _aggregated_resource(group: str, version: str, plural: str) -> Obj:
    doc = discovery.aggregated(REGISTRY, core=group == "")
    item = next(i for i in doc["items"] if i["metadata"]["name"] == group)
    ver = next(v for v in item["versions"] if v["version"] == version)
    resource: Obj = next(r for r in ver["resources"] if r["resource"] == plural)
    return resource


def test_aggregated_subresources() -> None:
    deploy = _aggregated_resource("apps", "v1", "deployments")
    subs = {s["subresource"]: s for s in deploy["subresources"]}
    assert set(subs) == {"status", "scale"}
    assert subs["scale"]["responseKind"] == {"group": "autoscaling", "version": "v1", "kind": "Scale"}
    assert subs["status"]["responseKind"] == {"group": "apps", "version": "v1", "kind": "Deployment"}
    isvc = _aggregated_resource("serving.kserve.io", "v1beta1", "inferenceservices")
    assert isvc["scope"] == "Namespaced"
    assert isvc["shortNames"] == ["isvc"]
    assert [s["subresource"] for s in isvc["subresources"]] == ["status"]
    pods = _aggregated_resource("", "v1", "pods")
    assert {s["subresource"] for s in pods["subresources"]} >= {"status", "log", "exec", "portforward"}
    ns = _aggregated_resource("", "v1", "namespaces")
    assert ns["scope"] == "Cluster"


def test_aggregated_kserve_versions_in_preference_order() -> None:
    doc = discovery.aggregated(REGISTRY, core=False)
    kserve = next(i for i in doc["items"] if i["metadata"]["name"] == "serving.kserve.io")
    assert [v["version"] for v in kserve["versions"]] == ["v1beta1", "v1alpha1"]
    v1alpha1 = {r["resource"] for r in kserve["versions"][1]["resources"]}
    assert v1alpha1 == {"servingruntimes", "clusterservingruntimes"}


# ---- over HTTP --------------------------------------------------------------------------------------


@pytest.fixture
async def client() -> AsyncIterator[TestClient[Any, Any]]:
    store = SqliteStore(":memory:")
    async with TestClient(TestServer(build_app(store, ApiServerSettings(tokens=("t",))))) as c:
        yield c
    store.close()


@pytest.mark.parametrize("path", ["/api", "/apis", "/api/", "/apis/"])
@pytest.mark.parametrize("accept", [None, "*/*", "application/json"])
async def test_http_legacy_discovery(client: TestClient[Any, Any], path: str, accept: str | None) -> None:
    headers = {**AUTH, **({"Accept": accept} if accept else {})}
    resp = await client.get(path, headers=headers)
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("application/json")
    assert "apidiscovery" not in resp.headers["Content-Type"]
    body = await resp.json()
    assert body["kind"] == ("APIVersions" if path.startswith("/api/") or path == "/api" else "APIGroupList")


@pytest.mark.parametrize(("path", "names"), [("/api", [""]), ("/apis", ["apps", "serving.kserve.io"])])
async def test_http_aggregated_discovery(client: TestClient[Any, Any], path: str, names: list[str]) -> None:
    resp = await client.get(path, headers={**AUTH, "Accept": KUBECTL_ACCEPT})
    assert resp.status == 200
    assert resp.headers["Content-Type"] == AGGREGATED
    body = await resp.json(content_type=None)
    assert body["kind"] == "APIGroupDiscoveryList"
    got = [i["metadata"]["name"] for i in body["items"]]
    assert all(n in got for n in names)


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("/api/v1", "APIResourceList"),
        ("/apis/apps", "APIGroup"),
        ("/apis/apps/v1", "APIResourceList"),
        ("/apis/serving.kserve.io/v1alpha1", "APIResourceList"),
    ],
)
async def test_http_group_documents(client: TestClient[Any, Any], path: str, kind: str) -> None:
    resp = await client.get(path, headers=AUTH)
    assert resp.status == 200
    assert (await resp.json())["kind"] == kind


@pytest.mark.parametrize("path", ["/apis/nope.example.com", "/apis/apps/v9", "/api/v2"])
async def test_http_unknown_group_is_404_status(client: TestClient[Any, Any], path: str) -> None:
    resp = await client.get(path, headers=AUTH)
    assert resp.status == 404
    body = await resp.json()
    assert (body["kind"], body["reason"], body["code"]) == ("Status", "NotFound", 404)


async def test_http_version_and_scale_discovery(client: TestClient[Any, Any]) -> None:
    resp = await client.get("/apis/apps/v1", headers=AUTH)
    scale = next(r for r in (await resp.json())["resources"] if r["name"] == "deployments/scale")
    assert (scale["group"], scale["version"], scale["kind"]) == ("autoscaling", "v1", "Scale")
