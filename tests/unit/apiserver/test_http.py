"""The API server over HTTP, in process (aiohttp's test server): authentication, the URL space, Status
bodies, warnings, body limits, the scale subresource, delete replies and SelfSubjectAccessReview."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from kubeserve.apiserver.app import OBJECTS, ApiServerSettings, build_app
from kubeserve.apiserver.request import WriteOptions
from kubeserve.store import SqliteStore

Obj = dict[str, Any]
Client = TestClient[Any, Any]
T0 = datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)
AUTH = {"Authorization": "Bearer t"}
JSON = {**AUTH, "Content-Type": "application/json"}
MERGE = {**AUTH, "Content-Type": "application/merge-patch+json"}
MAX_BODY = 64 * 1024
CM_URL = "/api/v1/namespaces/default/configmaps"
DEPLOY_URL = "/apis/apps/v1/namespaces/default/deployments"
ISVC_URL = "/apis/serving.kserve.io/v1beta1/namespaces/default/inferenceservices"
SR_URL = "/apis/serving.kserve.io/v1alpha1/namespaces/default/servingruntimes"


@pytest.fixture
async def client() -> AsyncIterator[Client]:
    store = SqliteStore(":memory:")
    app = build_app(store, ApiServerSettings(tokens=("t",), max_body_bytes=MAX_BODY), clock=lambda: T0)
    async with TestClient(TestServer(app)) as c:
        resp = await c.post("/api/v1/namespaces", json={"metadata": {"name": "default"}}, headers=AUTH)
        assert resp.status == 201
        yield c
    store.close()


def deployment(name: str = "d", replicas: int = 2) -> Obj:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [{"name": "main", "image": "img:1"}]}}},
    }


def isvc(name: str = "granite", **model: Any) -> Obj:
    return {
        "apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService", "metadata": {"name": name},
        "spec": {"predictor": {"model": {"modelFormat": {"name": "vLLM"}, "runtime": name,
                                         "storageUri": "oci://quay.io/x/m:1", **model}}},
    }


def runtime(name: str = "granite", formats: tuple[str, ...] = ("vLLM",)) -> Obj:
    return {
        "apiVersion": "serving.kserve.io/v1alpha1", "kind": "ServingRuntime", "metadata": {"name": name},
        "spec": {"supportedModelFormats": [{"name": f, "autoSelect": True} for f in formats],
                 "containers": [{"name": "kserve-container", "image": "quay.io/modh/vllm:cpu",
                                 "args": ["--port=8080"]}]},
    }


async def status_of(resp: Any, code: int) -> Obj:
    assert resp.status == code, await resp.text()
    body: Obj = await resp.json()
    assert body["kind"] == "Status"
    assert body["apiVersion"] == "v1"
    assert body["status"] == "Failure"
    assert body["code"] == code
    return body


# ---- authentication and the URL space ------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic dDp0"}, {"Authorization": "t"},
     {"Authorization": "Bearer "}],
    ids=["none", "wrong-token", "basic", "no-scheme", "empty"],
)
@pytest.mark.parametrize("path", ["/api", "/apis", "/api/v1/namespaces", "/openapi/v3", "/nonsense"])
async def test_requests_without_the_token_are_401(client: Client, headers: dict[str, str], path: str) -> None:
    body = await status_of(await client.get(path, headers=headers), 401)
    assert body["reason"] == "Unauthorized"


async def test_bearer_scheme_is_case_insensitive(client: Client) -> None:
    resp = await client.get("/api/v1/namespaces", headers={"Authorization": "bearer t"})
    assert resp.status == 200


@pytest.mark.parametrize("path", ["/version", "/version/", "/healthz", "/livez", "/readyz"])
async def test_anonymous_paths(client: Client, path: str) -> None:
    resp = await client.get(path)
    assert resp.status == 200
    if path.startswith("/version"):
        body = await resp.json()
        assert (body["major"], body["minor"]) == ("1", "32")
    else:
        assert await resp.text() == "ok"


@pytest.mark.parametrize("path", ["/nonsense", "/metrics/x", "/openapi/v2", "/ui/"])
async def test_non_api_paths_are_plain_404(client: Client, path: str) -> None:
    resp = await client.get(path, headers=AUTH)
    assert resp.status == 404
    assert resp.content_type == "text/plain"
    assert await resp.text() == "404 page not found\n"


@pytest.mark.parametrize(
    "path",
    ["/api/v1/widgets", "/apis/apps/v1/namespaces/default/pods", "/api/v1/namespaces/default/configmaps/c/scale",
     "/openapi/v3/apis/nope/v1"],
)
async def test_unknown_api_paths_are_404_status(client: Client, path: str) -> None:
    body = await status_of(await client.get(path, headers=AUTH), 404)
    assert body["reason"] == "NotFound"
    assert body["message"] == "the server could not find the requested resource"


async def test_openapi_v3(client: Client) -> None:
    root = await client.get("/openapi/v3", headers=AUTH)
    assert root.status == 200
    assert "apis/apps/v1" in (await root.json())["paths"]
    doc = await client.get("/openapi/v3/apis/apps/v1", headers=AUTH)
    assert doc.status == 200
    assert "components" in await doc.json()


# ---- CRUD and Status bodies -----------------------------------------------------------------------------


async def test_crud_round_trip(client: Client) -> None:
    created = await client.post(CM_URL, json={"metadata": {"name": "c"}, "data": {"k": "v"}}, headers=AUTH)
    assert created.status == 201
    obj = await created.json()
    assert obj["metadata"]["creationTimestamp"] == "2025-03-04T05:06:07Z"
    got = await client.get(f"{CM_URL}/c", headers=AUTH)
    assert await got.json() == obj
    listed = await (await client.get(CM_URL, headers=AUTH)).json()
    assert listed["kind"] == "ConfigMapList"
    assert [i["metadata"]["name"] for i in listed["items"]] == ["c"]
    assert listed["items"][0]["kind"] == "ConfigMap"
    obj["data"] = {"k": "v2"}
    put = await client.put(f"{CM_URL}/c", json=obj, headers=AUTH)
    assert put.status == 200
    assert (await put.json())["data"] == {"k": "v2"}
    stale = await client.put(f"{CM_URL}/c", json=obj, headers=AUTH)
    body = await status_of(stale, 409)
    assert body["reason"] == "Conflict"
    assert body["details"] == {"name": "c", "kind": "configmaps"}


async def test_yaml_body(client: Client) -> None:
    resp = await client.post(CM_URL, data=b"metadata:\n  name: y\ndata:\n  k: v\n",
                             headers={**AUTH, "Content-Type": "application/yaml"})
    assert resp.status == 201
    assert (await resp.json())["data"] == {"k": "v"}


@pytest.mark.parametrize(
    ("method", "url", "data", "content_type", "code", "reason"),
    [
        ("GET", f"{CM_URL}/ghost", None, None, 404, "NotFound"),
        ("POST", CM_URL, b"{not json", "application/json", 400, "BadRequest"),
        ("POST", CM_URL, b"", "application/json", 400, "BadRequest"),
        ("POST", CM_URL, b"[1, 2]", "application/json", 400, "BadRequest"),
        ("POST", CM_URL, b"null", "application/json", 400, "BadRequest"),
        ("POST", CM_URL, b"a: [", "application/yaml", 400, "BadRequest"),
        ("POST", CM_URL, b"{}", "text/html", 415, "UnsupportedMediaType"),
        ("POST", CM_URL, b'{"metadata": {}}', "application/json", 422, "Invalid"),
        ("POST", CM_URL, b'{"kind": "Secret", "metadata": {"name": "x"}}', "application/json", 400, "BadRequest"),
        ("POST", "/api/v1/namespaces/nope/configmaps", b'{"metadata": {"name": "x"}}', "application/json", 404,
         "NotFound"),
        ("POST", f"{CM_URL}/c", b"{}", "application/json", 405, "MethodNotAllowed"),
        ("PATCH", f"{CM_URL}/c", b"{}", "text/plain", 415, "UnsupportedMediaType"),
        ("GET", f"{CM_URL}?labelSelector=a%20in%20(", None, None, 400, "BadRequest"),
        ("GET", f"{CM_URL}?fieldSelector=nonsense", None, None, 400, "BadRequest"),
        ("GET", f"{CM_URL}?timeoutSeconds=x", None, None, 400, "BadRequest"),
        ("DELETE", f"{CM_URL}/ghost", None, None, 404, "NotFound"),
        ("DELETE", f"{CM_URL}?gracePeriodSeconds=soon", None, None, 400, "BadRequest"),
        ("POST", "/api/v1/namespaces/default/pods/p/exec", None, None, 400, "BadRequest"),
    ],
)
async def test_errors_are_status_bodies(
    client: Client, method: str, url: str, data: bytes | None, content_type: str | None, code: int, reason: str
) -> None:
    headers = {**AUTH, **({"Content-Type": content_type} if content_type else {})}
    body = await status_of(await client.request(method, url, data=data, headers=headers), code)
    assert body["reason"] == reason
    assert body["message"]


@pytest.mark.parametrize(
    ("method", "url", "data", "content_type", "code"),
    [
        ("POST", CM_URL, {"apiVersion": 5, "metadata": {"name": "x"}}, "application/json", 400),
        ("PUT", f"{CM_URL}/z", {"metadata": "x"}, "application/json", 400),
        ("PUT", f"{CM_URL}/z", {"apiVersion": 5, "metadata": {"name": "z"}}, "application/json", 400),
        ("PATCH", f"{CM_URL}/z", {"metadata": "x"}, "application/merge-patch+json", 400),
        ("PATCH", f"{CM_URL}/z", {"metadata": {"namespace": "other"}}, "application/merge-patch+json", 400),
        ("PATCH", f"{CM_URL}/z", [{"op": "add", "path": "/metadata/namespace", "value": "other"}],
         "application/json-patch+json", 400),
        ("PATCH", f"{CM_URL}/z?fieldManager=m", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": "x"},
         "application/apply-patch+yaml", 400),
        ("PATCH", f"{CM_URL}/z?fieldManager=m", {"apiVersion": 5, "kind": "ConfigMap"},
         "application/apply-patch+yaml", 400),
        ("DELETE", f"{CM_URL}/z", {"preconditions": "x"}, "application/json", 400),
        ("PATCH", f"{DEPLOY_URL}/d/scale", {"spec": "x"}, "application/merge-patch+json", 422),
    ],
)
async def test_bad_input_is_never_a_500(
    client: Client, method: str, url: str, data: Any, content_type: str, code: int
) -> None:
    assert (await client.post(CM_URL, json={"metadata": {"name": "z"}}, headers=AUTH)).status == 201
    assert (await client.post(DEPLOY_URL, json=deployment(), headers=AUTH)).status == 201
    resp = await client.request(method, url, data=json.dumps(data), headers={**AUTH, "Content-Type": content_type})
    await status_of(resp, code)
    # and nothing moved: the object is still where it was, saying so
    obj = await (await client.get(f"{CM_URL}/z", headers=AUTH)).json()
    assert obj["metadata"]["namespace"] == "default"


async def test_invalid_names_the_field(client: Client) -> None:
    resp = await client.post(CM_URL, json={"metadata": {}}, headers=AUTH)
    body = await status_of(resp, 422)
    assert body["details"]["causes"][0]["field"] == "metadata.name"


async def test_not_found_details(client: Client) -> None:
    body = await status_of(await client.get(f"{ISVC_URL}/ghost", headers=AUTH), 404)
    assert body["message"] == 'inferenceservices.serving.kserve.io "ghost" not found'
    assert body["details"] == {"name": "ghost", "group": "serving.kserve.io", "kind": "inferenceservices"}


async def test_dry_run_over_http(client: Client) -> None:
    resp = await client.post(f"{CM_URL}?dryRun=All", json={"metadata": {"name": "dry"}}, headers=AUTH)
    assert resp.status == 201
    await status_of(await client.get(f"{CM_URL}/dry", headers=AUTH), 404)
    bad = await client.post(f"{CM_URL}?dryRun=true", json={"metadata": {"name": "dry"}}, headers=AUTH)
    await status_of(bad, 400)


@pytest.mark.parametrize(("validation", "code"), [("Strict", 400), ("Warn", 201), ("Ignore", 201)])
async def test_unknown_fields(client: Client, validation: str, code: int) -> None:
    resp = await client.post(f"{CM_URL}?fieldValidation={validation}",
                             json={"metadata": {"name": "c"}, "data": {}, "bogus": 1}, headers=AUTH)
    assert resp.status == code
    if code == 201:
        assert "bogus" not in await resp.json()
        warnings = resp.headers.getall("Warning", [])
        assert warnings == (['299 - "unknown field \\"bogus\\""'] if validation == "Warn" else [])
    else:
        assert 'unknown field "bogus"' in (await resp.json())["message"]


# ---- admission warnings ---------------------------------------------------------------------------------


async def test_admission_warnings_become_warning_headers(client: Client) -> None:
    resp = await client.post(ISVC_URL, json=isvc("granite", runtime="vllm-runtime"), headers=AUTH)
    assert resp.status == 201
    warnings = resp.headers.getall("Warning")
    assert len(warnings) == 2
    assert all(w.startswith('299 - "') and w.endswith('"') for w in warnings)
    assert any("spec.predictor.model.runtime" in w and "different names" in w for w in warnings)
    assert any("does not exist" in w for w in warnings)


async def test_no_warnings_for_a_matching_pair(client: Client) -> None:
    assert (await client.post(SR_URL, json=runtime(), headers=AUTH)).status == 201
    resp = await client.post(ISVC_URL, json=isvc(), headers=AUTH)
    assert resp.status == 201
    assert resp.headers.getall("Warning", []) == []


async def test_admission_error_is_422_with_field(client: Client) -> None:
    resp = await client.post(ISVC_URL, json=isvc(storageUri="ftp://host/model"), headers=AUTH)
    body = await status_of(resp, 422)
    assert body["details"]["causes"][0]["field"] == "spec.predictor.model.storageUri"
    assert "spec.predictor.model.storageUri" in body["message"]


async def test_patch_warnings(client: Client) -> None:
    assert (await client.post(SR_URL, json=runtime(), headers=AUTH)).status == 201
    assert (await client.post(ISVC_URL, json=isvc(), headers=AUTH)).status == 201
    resp = await client.patch(f"{ISVC_URL}/granite", headers=MERGE,
                              data=json.dumps({"spec": {"predictor": {"model": {"modelFormat": {"name": "onnx"}}}}}))
    assert resp.status == 200
    assert any("modelFormat" in w for w in resp.headers.getall("Warning"))


# ---- body limits ----------------------------------------------------------------------------------------


async def test_big_body_is_413(client: Client) -> None:
    big = json.dumps({"metadata": {"name": "big"}, "data": {"k": "x" * MAX_BODY}})
    body = await status_of(await client.post(CM_URL, data=big, headers=JSON), 413)
    assert body["reason"] == "RequestEntityTooLarge"
    await status_of(await client.get(f"{CM_URL}/big", headers=AUTH), 404)


async def test_big_chunked_body_is_413(client: Client) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"metadata": {"name": "big"}, "data": {"k": "'
        for _ in range(MAX_BODY // 1024 + 1):
            yield b"x" * 1024
        yield b'"}}'

    body = await status_of(await client.post(CM_URL, data=chunks(), headers=JSON), 413)
    assert body["reason"] == "RequestEntityTooLarge"


async def test_body_just_under_the_limit_is_fine(client: Client) -> None:
    obj = {"metadata": {"name": "ok"}, "data": {"k": ""}}
    obj["data"]["k"] = "x" * (MAX_BODY - len(json.dumps(obj)) - 10)
    assert (await client.post(CM_URL, data=json.dumps(obj), headers=JSON)).status == 201


# ---- patch, apply -----------------------------------------------------------------------------------------


async def test_strategic_patch_on_custom_kind_is_415(client: Client) -> None:
    assert (await client.post(SR_URL, json=runtime(), headers=AUTH)).status == 201
    resp = await client.patch(f"{SR_URL}/granite", data=b'{"spec": {}}',
                              headers={**AUTH, "Content-Type": "application/strategic-merge-patch+json"})
    body = await status_of(resp, 415)
    assert "strategic" not in body["message"]


async def test_apply_creates_with_201_then_updates_with_200(client: Client) -> None:
    headers = {**AUTH, "Content-Type": "application/apply-patch+yaml"}
    url = f"{CM_URL}/applied?fieldManager=kubectl"
    doc = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: applied\ndata:\n  k: v\n"
    first = await client.patch(url, data=doc, headers=headers)
    assert first.status == 201
    second = await client.patch(url, data=doc.replace(b"k: v", b"k: v2"), headers=headers)
    assert second.status == 200
    assert (await second.json())["data"] == {"k": "v2"}
    missing_manager = await client.patch(f"{CM_URL}/applied", data=doc, headers=headers)
    await status_of(missing_manager, 400)


# ---- scale ------------------------------------------------------------------------------------------------


async def test_scale_get_and_patch(client: Client) -> None:
    assert (await client.post(DEPLOY_URL, json=deployment(replicas=2), headers=AUTH)).status == 201
    resp = await client.get(f"{DEPLOY_URL}/d/scale", headers=AUTH)
    assert resp.status == 200
    scale = await resp.json()
    assert (scale["apiVersion"], scale["kind"]) == ("autoscaling/v1", "Scale")
    assert scale["spec"] == {"replicas": 2}
    assert scale["status"] == {"replicas": 0, "selector": "app=d"}
    assert scale["metadata"]["name"] == "d"
    assert scale["metadata"]["namespace"] == "default"

    patched = await client.patch(f"{DEPLOY_URL}/d/scale", data=b'{"spec": {"replicas": 5}}', headers=MERGE)
    assert patched.status == 200
    body = await patched.json()
    assert (body["apiVersion"], body["kind"], body["spec"]) == ("autoscaling/v1", "Scale", {"replicas": 5})
    deploy = await (await client.get(f"{DEPLOY_URL}/d", headers=AUTH)).json()
    assert deploy["spec"]["replicas"] == 5
    assert deploy["metadata"]["generation"] == 2
    assert body["metadata"]["resourceVersion"] == deploy["metadata"]["resourceVersion"]


async def test_scale_put_and_json_patch(client: Client) -> None:
    assert (await client.post(DEPLOY_URL, json=deployment(replicas=1), headers=AUTH)).status == 201
    scale = await (await client.get(f"{DEPLOY_URL}/d/scale", headers=AUTH)).json()
    scale["spec"]["replicas"] = 3
    put = await client.put(f"{DEPLOY_URL}/d/scale", json=scale, headers=AUTH)
    assert put.status == 200
    assert (await put.json())["spec"]["replicas"] == 3
    stale = await client.put(f"{DEPLOY_URL}/d/scale", json=scale, headers=AUTH)
    await status_of(stale, 409)
    ops = [{"op": "replace", "path": "/spec/replicas", "value": 0}]
    jp = await client.patch(f"{DEPLOY_URL}/d/scale", data=json.dumps(ops),
                            headers={**AUTH, "Content-Type": "application/json-patch+json"})
    assert jp.status == 200
    assert (await jp.json())["spec"]["replicas"] == 0


async def test_scale_resource_version_precondition(client: Client) -> None:
    created = await (await client.post(DEPLOY_URL, json=deployment(replicas=1), headers=AUTH)).json()
    stale = created["metadata"]["resourceVersion"]
    assert (await client.patch(f"{DEPLOY_URL}/d", data=b'{"metadata": {"labels": {"a": "b"}}}',
                               headers=MERGE)).status == 200
    patch = {"metadata": {"resourceVersion": stale}, "spec": {"replicas": 4}}
    await status_of(await client.patch(f"{DEPLOY_URL}/d/scale", data=json.dumps(patch), headers=MERGE), 409)
    put = {"apiVersion": "autoscaling/v1", "kind": "Scale", "metadata": {"name": "d", "resourceVersion": stale},
           "spec": {"replicas": 4}}
    await status_of(await client.put(f"{DEPLOY_URL}/d/scale", json=put, headers=AUTH), 409)
    deploy = await (await client.get(f"{DEPLOY_URL}/d", headers=AUTH)).json()
    assert deploy["spec"]["replicas"] == 1


async def test_scale_dry_run(client: Client) -> None:
    assert (await client.post(DEPLOY_URL, json=deployment(replicas=1), headers=AUTH)).status == 201
    resp = await client.patch(f"{DEPLOY_URL}/d/scale?dryRun=All", data=b'{"spec": {"replicas": 7}}', headers=MERGE)
    assert resp.status == 200
    assert (await resp.json())["spec"]["replicas"] == 7
    deploy = await (await client.get(f"{DEPLOY_URL}/d", headers=AUTH)).json()
    assert deploy["spec"]["replicas"] == 1


@pytest.mark.parametrize("replicas", [-1, "3", None, 1.5, True])
async def test_scale_rejects_bad_replicas(client: Client, replicas: Any) -> None:
    assert (await client.post(DEPLOY_URL, json=deployment(), headers=AUTH)).status == 201
    resp = await client.patch(f"{DEPLOY_URL}/d/scale", data=json.dumps({"spec": {"replicas": replicas}}),
                              headers=MERGE)
    body = await status_of(resp, 422)
    assert body["details"]["causes"][0]["field"] == "spec.replicas"


async def test_scale_of_missing_object_is_404(client: Client) -> None:
    await status_of(await client.get(f"{DEPLOY_URL}/ghost/scale", headers=AUTH), 404)


# ---- delete -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "body", "kind"),
    [
        # kinds whose storage returns the deleted object (ReturnDeletedObject in the apiserver)
        ("/api/v1/namespaces/default/serviceaccounts", {"metadata": {"name": "x"}}, "ServiceAccount"),
        ("/api/v1/namespaces/default/pods",
         {"metadata": {"name": "x"}, "spec": {"containers": [{"name": "c", "image": "i"}]}}, "Pod"),
        ("/apis/storage.k8s.io/v1/storageclasses", {"metadata": {"name": "x"}, "provisioner": "p"}, "StorageClass"),
        # the rest answer with a Success Status
        (CM_URL, {"metadata": {"name": "x"}}, "Status"),
        ("/api/v1/namespaces/default/secrets", {"metadata": {"name": "x"}}, "Status"),
        (SR_URL, runtime("x"), "Status"),
    ],
)
async def test_delete_reply(client: Client, url: str, body: Obj, kind: str) -> None:
    created = await client.post(url, json=body, headers=AUTH)
    assert created.status == 201, await created.text()
    uid = (await created.json())["metadata"]["uid"]
    resp = await client.delete(f"{url}/x", headers=AUTH)
    assert resp.status == 200
    reply = await resp.json()
    assert reply["kind"] == kind
    if kind == "Status":
        assert reply["status"] == "Success"
        assert reply["details"]["name"] == "x"
        assert reply["details"]["uid"] == uid
    else:
        assert reply["metadata"]["uid"] == uid
    await status_of(await client.get(f"{url}/x", headers=AUTH), 404)


async def test_delete_custom_kind_status_details(client: Client) -> None:
    created = await (await client.post(SR_URL, json=runtime(), headers=AUTH)).json()
    resp = await client.delete(f"{SR_URL}/granite", headers=AUTH)
    assert resp.status == 200
    body = await resp.json()
    assert (body["kind"], body["status"]) == ("Status", "Success")
    assert body["details"] == {"name": "granite", "group": "serving.kserve.io", "kind": "servingruntimes",
                               "uid": created["metadata"]["uid"]}


async def test_delete_with_finalizers_returns_the_object(client: Client) -> None:
    rt = runtime()
    rt["metadata"]["finalizers"] = ["example.com/hold"]
    assert (await client.post(SR_URL, json=rt, headers=AUTH)).status == 201
    resp = await client.delete(f"{SR_URL}/granite", headers=AUTH)
    assert resp.status == 200
    body = await resp.json()
    assert body["kind"] == "ServingRuntime"
    assert body["metadata"]["deletionTimestamp"] == "2025-03-04T05:06:07Z"
    # removing the finalizer removes it, and the reply is still the object
    resp = await client.patch(f"{SR_URL}/granite", data=b'{"metadata": {"finalizers": null}}', headers=MERGE)
    assert resp.status == 200
    assert (await resp.json())["kind"] == "ServingRuntime"
    await status_of(await client.get(f"{SR_URL}/granite", headers=AUTH), 404)


@pytest.mark.parametrize(
    ("query", "body", "finalizers"),
    [
        ("?propagationPolicy=Foreground", None, ["foregroundDeletion"]),
        ("", {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Orphan"}, ["orphan"]),
        ("?orphanDependents=true", None, ["orphan"]),
        ("", {"orphanDependents": True}, ["orphan"]),
    ],
)
async def test_delete_options(client: Client, query: str, body: Obj | None, finalizers: list[str]) -> None:
    assert (await client.post(CM_URL, json={"metadata": {"name": "c"}}, headers=AUTH)).status == 201
    resp = await client.delete(f"{CM_URL}/c{query}", json=body, headers=AUTH)
    assert resp.status == 200
    assert (await resp.json())["metadata"]["finalizers"] == finalizers


async def test_delete_precondition_and_dry_run(client: Client) -> None:
    assert (await client.post(CM_URL, json={"metadata": {"name": "c"}}, headers=AUTH)).status == 201
    bad = await client.delete(f"{CM_URL}/c", json={"preconditions": {"uid": "nope"}}, headers=AUTH)
    await status_of(bad, 409)
    dry = await client.delete(f"{CM_URL}/c?dryRun=All", headers=AUTH)
    assert dry.status == 200
    assert (await client.get(f"{CM_URL}/c", headers=AUTH)).status == 200


async def test_delete_collection(client: Client) -> None:
    for name, app in (("a", "x"), ("b", "x"), ("c", "y")):
        meta = {"name": name, "labels": {"app": app}}
        assert (await client.post(CM_URL, json={"metadata": meta}, headers=AUTH)).status == 201
    resp = await client.delete(f"{CM_URL}?labelSelector=app%3Dx", headers=AUTH)
    assert resp.status == 200
    assert sorted(i["metadata"]["name"] for i in (await resp.json())["items"]) == ["a", "b"]
    left = await (await client.get(CM_URL, headers=AUTH)).json()
    assert [i["metadata"]["name"] for i in left["items"]] == ["c"]


async def test_delete_collection_orphan_dependents(client: Client) -> None:
    assert (await client.post(CM_URL, json={"metadata": {"name": "a"}}, headers=AUTH)).status == 201
    resp = await client.delete(f"{CM_URL}?orphanDependents=true", headers=AUTH)
    assert resp.status == 200
    assert [i["metadata"]["finalizers"] for i in (await resp.json())["items"]] == [["orphan"]]


# ---- status subresource, namespaces, tables ------------------------------------------------------------------


async def test_status_subresource(client: Client) -> None:
    assert (await client.post(DEPLOY_URL, json=deployment(), headers=AUTH)).status == 201
    resp = await client.patch(f"{DEPLOY_URL}/d/status", data=b'{"status": {"replicas": 2}, "spec": {"replicas": 9}}',
                              headers=MERGE)
    assert resp.status == 200
    body = await resp.json()
    assert body["status"] == {"replicas": 2}
    assert body["spec"]["replicas"] == 2
    got = await (await client.get(f"{DEPLOY_URL}/d/status", headers=AUTH)).json()
    assert got["status"] == {"replicas": 2}


async def test_namespace_status_path(client: Client) -> None:
    resp = await client.get("/api/v1/namespaces/default/status", headers=AUTH)
    assert resp.status == 200
    body = await resp.json()
    assert (body["kind"], body["metadata"]["name"], body["status"]) == ("Namespace", "default", {"phase": "Active"})


async def test_table_list(client: Client) -> None:
    assert (await client.post(CM_URL, json={"metadata": {"name": "c"}, "data": {"a": "1"}}, headers=AUTH)).status == 201
    resp = await client.get(CM_URL, headers={**AUTH, "Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"})
    assert resp.status == 200
    table = await resp.json()
    assert table["kind"] == "Table"
    assert table["columnDefinitions"][0]["name"] == "Name"
    assert table["rows"][0]["cells"][:2] == ["c", 1]
    assert table["rows"][0]["object"]["kind"] == "PartialObjectMetadata"


async def test_log_of_a_missing_pod_is_not_found(client: Client) -> None:
    body = await status_of(await client.get("/api/v1/namespaces/default/pods/p/log", headers=AUTH), 404)
    assert body["message"] == 'pods "p" not found'


# ---- SelfSubjectAccessReview ------------------------------------------------------------------------------


async def test_self_subject_access_review_is_allowed(client: Client) -> None:
    review = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
              "spec": {"resourceAttributes": {"verb": "create", "resource": "inferenceservices",
                                              "group": "serving.kserve.io", "namespace": "default"}}}
    resp = await client.post("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", json=review, headers=AUTH)
    assert resp.status == 201
    body = await resp.json()
    assert body["kind"] == "SelfSubjectAccessReview"
    assert body["status"]["allowed"] is True
    assert body["spec"] == review["spec"]


async def test_self_subject_access_review_is_create_only(client: Client) -> None:
    resp = await client.get("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", headers=AUTH)
    await status_of(resp, 405)


async def test_objects_key_is_exposed(client: Client) -> None:
    objects = client.app[OBJECTS]  # type: ignore[index]
    objects.create(objects.registry.by_kind("", "v1", "ConfigMap"), "default", {"metadata": {"name": "direct"}},
                   WriteOptions())
    assert (await client.get(f"{CM_URL}/direct", headers=AUTH)).status == 200
