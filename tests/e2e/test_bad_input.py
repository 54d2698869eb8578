"""Acceptance test 4: bad input gets the right 4xx `Status`, an actionable message, and changes nothing.

Each case is sent with the real kubectl where kubectl can send it, and as a raw HTTPS request otherwise
(or as well, to check the exact code and `Status` body). After each rejected write the object is read back
(or looked up and found absent) to show that nothing stored changed. The last test reads the server log:
no traceback and no 500 may have happened while serving any of it.
"""

from __future__ import annotations

import copy
import json
import re
import urllib.parse
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness import KubeServe

pytestmark = pytest.mark.e2e

ISVC_PATH = "/apis/serving.kserve.io/v1beta1/namespaces/{ns}/inferenceservices"
CM_PATH = "/api/v1/namespaces/{ns}/configmaps"
POD_PATH = "/api/v1/namespaces/{ns}/pods"

RUNTIME = {
    "apiVersion": "serving.kserve.io/v1alpha1",
    "kind": "ServingRuntime",
    "metadata": {"name": "demo"},
    "spec": {
        "containers": [{"name": "kserve-container", "image": "quay.io/modh/vllm:rhoai-2.20-cpu",
                        "args": ["--port=8080", "--model=/mnt/models"]}],
        "supportedModelFormats": [{"name": "vLLM", "autoSelect": True}],
    },
}


def isvc(name: str = "demo", **predictor_extra: Any) -> dict[str, Any]:
    return {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {"name": name},
        "spec": {"predictor": {
            "model": {
                "modelFormat": {"name": "vLLM"},
                "runtime": "demo",
                "storageUri": "oci://registry.redhat.io/rhelai1/modelcar-granite-3-1-8b-instruct:1.5",
            },
            **predictor_extra,
        }},
    }


def configmap(name: str, data: dict[str, str] | None = None) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data or {"k": "v"}}


def assert_status(status: int, body: Any, code: int, reason: str | None = None, *needles: str) -> str:
    """The response is a `Status` with HTTP code == body code, the reason, and a message naming `needles`."""
    assert status == code, f"expected HTTP {code}, got {status}: {body!r}"
    assert isinstance(body, dict), f"expected a Status body, got {body!r}"
    assert body.get("kind") == "Status", body
    assert body.get("apiVersion") == "v1", body
    assert body.get("status") == "Failure", body
    assert body.get("code") == code, body
    if reason is not None:
        assert body.get("reason") == reason, body
    message = body.get("message", "")
    assert isinstance(message, str) and len(message) > 10, f"message is not something a person can act on: {body!r}"
    for needle in needles:
        assert needle in message, f"{needle!r} not in the message {message!r}"
    return message


def get_obj(kubeserve: KubeServe, path: str) -> dict[str, Any]:
    status, body, _ = kubeserve.request("GET", path)
    assert status == 200, (status, body)
    assert isinstance(body, dict)
    return body


def user_fields(obj: dict[str, Any]) -> dict[str, Any]:
    """What a user wrote and the API server keeps, without what the InferenceService controller writes on
    its own schedule (status, its finalizer, and the resourceVersion/managedFields those writes bump)."""
    meta = obj["metadata"]
    return {"spec": obj.get("spec"), "uid": meta.get("uid"), "labels": meta.get("labels"),
            "annotations": meta.get("annotations"), "generation": meta.get("generation")}


def assert_absent(kubeserve: KubeServe, path: str) -> None:
    status, body, _ = kubeserve.request("GET", path)
    assert status == 404, f"{path} exists after a rejected create: {body!r}"
    assert body["kind"] == "Status" and body["reason"] == "NotFound"


def write_yaml(tmp_path: Path, name: str, obj: Any) -> str:
    path = tmp_path / name
    path.write_text(obj if isinstance(obj, str) else yaml.safe_dump(obj))
    return str(path)


@pytest.fixture
def seeded(kubeserve: KubeServe, namespace: str) -> dict[str, str]:
    """A namespace with a ServingRuntime, an InferenceService `demo` and a ConfigMap `cfg`; returns paths."""
    status, body, _ = kubeserve.request("POST", f"/apis/serving.kserve.io/v1alpha1/namespaces/{namespace}/"
                                        "servingruntimes", RUNTIME)
    assert status == 201, body
    status, body, _ = kubeserve.request("POST", ISVC_PATH.format(ns=namespace), isvc())
    assert status == 201, body
    status, body, _ = kubeserve.request("POST", CM_PATH.format(ns=namespace), configmap("cfg"))
    assert status == 201, body
    return {
        "isvc": ISVC_PATH.format(ns=namespace) + "/demo",
        "cm": CM_PATH.format(ns=namespace) + "/cfg",
        "isvcs": ISVC_PATH.format(ns=namespace),
        "cms": CM_PATH.format(ns=namespace),
        "pods": POD_PATH.format(ns=namespace),
    }


# ---- malformed bodies ---------------------------------------------------------------------------------


def test_malformed_yaml_is_refused_by_kubectl_and_nothing_is_created(
        kubeserve: KubeServe, namespace: str, tmp_path: Path) -> None:
    broken = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: broken\n data: [\n"
    result = kubeserve.kubectl("apply", "-n", namespace, "-f", write_yaml(tmp_path, "broken.yaml", broken),
                               check=False)
    assert result.returncode != 0
    assert "yaml" in result.stderr.lower() and "line" in result.stderr, result.stderr
    assert_absent(kubeserve, CM_PATH.format(ns=namespace) + "/broken")


@pytest.mark.parametrize("raw", [b'{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "broken"',
                                 b'{"metadata": {"name": "broken"}, "data": {"a": }}',
                                 b"\xff\xfe not json"])
def test_raw_post_of_broken_json_is_400(kubeserve: KubeServe, namespace: str, raw: bytes) -> None:
    before = kubeserve.kubectl_json("get", "configmaps", "-n", namespace)["items"]
    status, body, _ = kubeserve.request("POST", CM_PATH.format(ns=namespace), raw)
    assert_status(status, body, 400, "BadRequest", "JSON")
    assert_absent(kubeserve, CM_PATH.format(ns=namespace) + "/broken")
    assert kubeserve.kubectl_json("get", "configmaps", "-n", namespace)["items"] == before


def test_empty_body_is_400(kubeserve: KubeServe, seeded: dict[str, str]) -> None:
    before = get_obj(kubeserve, seeded["cm"])
    status, body, _ = kubeserve.request("PUT", seeded["cm"], b"")
    assert_status(status, body, 400, "BadRequest", "empty")
    assert get_obj(kubeserve, seeded["cm"]) == before


# ---- unknown fields --------------------------------------------------------------------------------------


def test_unknown_field_strict_is_refused_naming_the_field(
        kubeserve: KubeServe, seeded: dict[str, str], namespace: str, tmp_path: Path) -> None:
    path = write_yaml(tmp_path, "typo.yaml", isvc("typo", modell="granite"))
    result = kubeserve.kubectl("apply", "-n", namespace, "-f", path, check=False)
    assert result.returncode != 0
    assert 'unknown field "spec.predictor.modell"' in result.stderr, result.stderr
    assert_absent(kubeserve, seeded["isvcs"] + "/typo")

    # the same typo in an update of an existing object leaves it as it was
    before = get_obj(kubeserve, seeded["isvc"])
    path = write_yaml(tmp_path, "demo.yaml", isvc("demo", modell="granite"))
    result = kubeserve.kubectl("apply", "-n", namespace, "-f", path, check=False)
    assert result.returncode != 0
    assert 'unknown field "spec.predictor.modell"' in result.stderr, result.stderr
    assert user_fields(get_obj(kubeserve, seeded["isvc"])) == user_fields(before)

    # and raw: fieldValidation=Strict is a 400 BadRequest naming the field
    status, body, _ = kubeserve.request("POST", seeded["isvcs"] + "?fieldValidation=Strict",
                                        isvc("typo", modell="granite"))
    assert_status(status, body, 400, "BadRequest", 'unknown field "spec.predictor.modell"')
    assert_absent(kubeserve, seeded["isvcs"] + "/typo")


@pytest.mark.parametrize("validate", ["false", "warn"])
def test_unknown_field_without_strict_validation_is_dropped(
        kubeserve: KubeServe, seeded: dict[str, str], namespace: str, tmp_path: Path, validate: str) -> None:
    name = f"loose-{validate}"
    path = write_yaml(tmp_path, f"{name}.yaml", isvc(name, modell="granite"))
    result = kubeserve.kubectl("apply", "-n", namespace, "-f", path, f"--validate={validate}")
    assert f"inferenceservice.serving.kserve.io/{name} created" in result.stdout
    warning = 'Warning: unknown field "spec.predictor.modell"'
    if validate == "warn":
        assert warning in result.stderr, result.stderr
    else:
        assert warning not in result.stderr, result.stderr
    stored = get_obj(kubeserve, f"{seeded['isvcs']}/{name}")
    assert "modell" not in stored["spec"]["predictor"]
    assert stored["spec"]["predictor"]["model"]["modelFormat"] == {"name": "vLLM"}
    # dropping the field must not drop what the server owns
    meta = stored["metadata"]
    assert meta.get("uid") and meta.get("creationTimestamp") and meta.get("generation") == 1, meta


# ---- invalid values --------------------------------------------------------------------------------------


def test_wrong_type_is_422_naming_the_field(
        kubeserve: KubeServe, seeded: dict[str, str], namespace: str, tmp_path: Path) -> None:
    path = write_yaml(tmp_path, "two.yaml", isvc("two", minReplicas="two"))
    result = kubeserve.kubectl("apply", "-n", namespace, "-f", path, check=False)
    assert result.returncode != 0
    assert "is invalid" in result.stderr and "spec.predictor.minReplicas" in result.stderr, result.stderr
    assert_absent(kubeserve, seeded["isvcs"] + "/two")

    status, body, _ = kubeserve.request("POST", seeded["isvcs"], isvc("two", minReplicas="two"))
    assert_status(status, body, 422, "Invalid", "spec.predictor.minReplicas")
    assert "spec.predictor.minReplicas" in [c.get("field") for c in body["details"]["causes"]]
    assert_absent(kubeserve, seeded["isvcs"] + "/two")

    # a merge patch to the same effect on an existing object
    before = get_obj(kubeserve, seeded["isvc"])
    result = kubeserve.kubectl("patch", "isvc", "demo", "-n", namespace, "--type=merge",
                               "-p", '{"spec":{"predictor":{"minReplicas":"two"}}}', check=False)
    assert result.returncode != 0
    assert "spec.predictor.minReplicas" in result.stderr, result.stderr
    assert user_fields(get_obj(kubeserve, seeded["isvc"])) == user_fields(before)


@pytest.mark.parametrize(("case", "body", "field"), [
    ("no-predictor", {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
                      "metadata": {"name": "no-predictor"}, "spec": {}}, "spec.predictor"),
    ("no-format-name", None, "spec.predictor.model.modelFormat.name"),
])
def test_isvc_missing_required_fields_is_422(
        kubeserve: KubeServe, seeded: dict[str, str], namespace: str, tmp_path: Path,
        case: str, body: dict[str, Any] | None, field: str) -> None:
    if body is None:
        body = isvc(case)
        del body["spec"]["predictor"]["model"]["modelFormat"]["name"]
    result = kubeserve.kubectl("apply", "-n", namespace, "-f", write_yaml(tmp_path, f"{case}.yaml", body),
                               check=False)
    assert result.returncode != 0
    assert "is invalid" in result.stderr and field in result.stderr, result.stderr
    status, answer, _ = kubeserve.request("POST", seeded["isvcs"], body)
    assert_status(status, answer, 422, "Invalid", field)
    assert any(c.get("field", "").startswith(field) for c in answer["details"]["causes"]), answer
    assert_absent(kubeserve, f"{seeded['isvcs']}/{case}")


def test_pod_without_containers_is_422(kubeserve: KubeServe, seeded: dict[str, str], namespace: str,
                                       tmp_path: Path) -> None:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "empty"}, "spec": {"containers": []}}
    result = kubeserve.kubectl("apply", "-n", namespace, "-f", write_yaml(tmp_path, "pod.yaml", pod), check=False)
    assert result.returncode != 0
    assert "is invalid" in result.stderr and "spec.containers" in result.stderr, result.stderr
    status, body, _ = kubeserve.request("POST", seeded["pods"], {**pod, "spec": {}})
    assert_status(status, body, 422, "Invalid", "spec.containers")
    assert_absent(kubeserve, seeded["pods"] + "/empty")


@pytest.mark.parametrize("name", ["Invalid_Name", "UPPER", "-leading-dash", "a" * 254])
def test_bad_names_are_422(kubeserve: KubeServe, seeded: dict[str, str], namespace: str, name: str) -> None:
    if len(name) < 100 and not name.startswith("-"):  # kubectl would read a leading dash as a flag
        result = kubeserve.kubectl("create", "configmap", name, "-n", namespace, "--from-literal=k=v", check=False)
        assert result.returncode != 0
        assert "is invalid" in result.stderr and "metadata.name" in result.stderr, result.stderr
        assert "RFC 1123" in result.stderr, result.stderr
    status, body, _ = kubeserve.request("POST", seeded["cms"], configmap(name))
    assert_status(status, body, 422, "Invalid", "metadata.name")
    assert body["details"]["causes"][0]["field"] == "metadata.name"
    assert name not in [i["metadata"]["name"] for i in kubeserve.kubectl_json("get", "cm", "-n", namespace)["items"]]


# ---- optimistic concurrency ---------------------------------------------------------------------------


def test_stale_resource_version_on_put_is_409(
        kubeserve: KubeServe, seeded: dict[str, str], namespace: str, tmp_path: Path) -> None:
    stale = get_obj(kubeserve, seeded["isvc"])
    status, fresh, _ = kubeserve.request("PATCH", seeded["isvc"], {"metadata": {"labels": {"step": "one"}}},
                                         "application/merge-patch+json")
    assert status == 200, fresh
    assert fresh["metadata"]["resourceVersion"] != stale["metadata"]["resourceVersion"]

    # kubectl replace sends the file's resourceVersion: the stale one
    edited = copy.deepcopy(stale)
    edited["spec"]["predictor"]["minReplicas"] = 3
    path = write_yaml(tmp_path, "stale.yaml", edited)
    result = kubeserve.kubectl("replace", "-n", namespace, "-f", path, check=False)
    assert result.returncode != 0
    assert "Conflict" in result.stderr and "the object has been modified" in result.stderr, result.stderr
    assert user_fields(get_obj(kubeserve, seeded["isvc"])) == user_fields(fresh)

    status, body, _ = kubeserve.request("PUT", seeded["isvc"], edited)
    message = assert_status(status, body, 409, "Conflict", 'inferenceservices.serving.kserve.io "demo"')
    assert "latest version" in message
    assert body["details"]["name"] == "demo" and body["details"]["kind"] == "inferenceservices"
    assert user_fields(get_obj(kubeserve, seeded["isvc"])) == user_fields(fresh)


def test_stale_resource_version_in_merge_patch_is_409(kubeserve: KubeServe, seeded: dict[str, str]) -> None:
    stale_rv = get_obj(kubeserve, seeded["cm"])["metadata"]["resourceVersion"]
    status, fresh, _ = kubeserve.request("PATCH", seeded["cm"], {"data": {"k": "v2"}}, "application/merge-patch+json")
    assert status == 200, fresh
    patch = {"metadata": {"resourceVersion": stale_rv}, "data": {"k": "v3"}}
    for content_type in ("application/merge-patch+json", "application/strategic-merge-patch+json"):
        status, body, _ = kubeserve.request("PATCH", seeded["cm"], patch, content_type)
        assert_status(status, body, 409, "Conflict", 'configmaps "cfg"', "the object has been modified")
        assert get_obj(kubeserve, seeded["cm"]) == fresh
    # the current resourceVersion in the same patch goes through
    patch["metadata"]["resourceVersion"] = fresh["metadata"]["resourceVersion"]
    status, body, _ = kubeserve.request("PATCH", seeded["cm"], patch, "application/merge-patch+json")
    assert status == 200 and body["data"] == {"k": "v3"}, body


# ---- sizes and media types ------------------------------------------------------------------------------


def test_oversized_bodies_are_413(kubeserve: KubeServe, seeded: dict[str, str], namespace: str,
                                  tmp_path: Path) -> None:
    big = "x" * (3 * 1024 * 1024 + 1024)
    status, body, _ = kubeserve.request("POST", seeded["cms"], configmap("huge", {"blob": big}))
    assert_status(status, body, 413, "RequestEntityTooLarge", "MiB")
    assert_absent(kubeserve, seeded["cms"] + "/huge")

    before = get_obj(kubeserve, seeded["cm"])
    status, body, _ = kubeserve.request("PATCH", seeded["cm"], {"data": {"blob": big}}, "application/merge-patch+json")
    assert_status(status, body, 413, "RequestEntityTooLarge")
    status, body, _ = kubeserve.request("PUT", seeded["cm"], {**before, "data": {"blob": big}})
    assert_status(status, body, 413, "RequestEntityTooLarge")
    assert get_obj(kubeserve, seeded["cm"]) == before

    # kubectl sends it too (as protobuf for a ConfigMap) and reports the server's refusal
    path = tmp_path / "big.txt"
    path.write_text(big)
    result = kubeserve.kubectl("create", "configmap", "huge", "-n", namespace, f"--from-file=blob={path}",
                               check=False)
    assert result.returncode != 0
    assert "request body is larger than the 3 MiB" in result.stderr, result.stderr
    assert_absent(kubeserve, seeded["cms"] + "/huge")


def test_wrong_content_types_are_415(kubeserve: KubeServe, seeded: dict[str, str], namespace: str) -> None:
    isvc_before = get_obj(kubeserve, seeded["isvc"])
    cm_before = get_obj(kubeserve, seeded["cm"])

    status, body, _ = kubeserve.request("PATCH", seeded["cm"], b'{"data": {"k": "plain"}}', "text/plain")
    assert_status(status, body, 415, "UnsupportedMediaType", "text/plain", "application/merge-patch+json")

    # strategic merge patch is for built-in kinds only, as on a cluster
    status, body, _ = kubeserve.request("PATCH", seeded["isvc"], {"spec": {"predictor": {"minReplicas": 2}}},
                                        "application/strategic-merge-patch+json")
    message = assert_status(status, body, 415, "UnsupportedMediaType", "application/merge-patch+json")
    assert "application/strategic-merge-patch+json" not in message.split("include")[-1]
    result = kubeserve.kubectl("patch", "isvc", "demo", "-n", namespace, "--type=strategic",
                               "-p", '{"spec":{"predictor":{"minReplicas":2}}}', check=False)
    assert result.returncode != 0
    assert "UnsupportedMediaType" in result.stderr or "unknown format" in result.stderr, result.stderr

    status, body, _ = kubeserve.request("POST", seeded["cms"], json.dumps(configmap("plain")).encode(), "text/plain")
    assert_status(status, body, 415, "UnsupportedMediaType", "text/plain", "application/json")
    assert_absent(kubeserve, seeded["cms"] + "/plain")

    assert user_fields(get_obj(kubeserve, seeded["isvc"])) == user_fields(isvc_before)
    assert get_obj(kubeserve, seeded["cm"]) == cm_before


# ---- addressing ------------------------------------------------------------------------------------------


def test_unknown_kinds(kubeserve: KubeServe) -> None:
    result = kubeserve.kubectl("get", "foos", check=False)
    assert result.returncode != 0
    assert 'the server doesn\'t have a resource type "foos"' in result.stderr, result.stderr
    for path in ("/apis/nope/v1/foos", "/apis/nope/v1/namespaces/default/foos/x", "/api/v1/foos",
                 "/apis/serving.kserve.io/v1beta1/namespaces/default/nopes"):
        status, body, _ = kubeserve.request("GET", path)
        assert_status(status, body, 404, "NotFound", "could not find the requested resource")
    status, body, _ = kubeserve.request("POST", "/apis/nope/v1/namespaces/default/foos", {"metadata": {"name": "a"}})
    assert_status(status, body, 404, "NotFound")


def test_create_into_missing_namespace_is_404(kubeserve: KubeServe, tmp_path: Path) -> None:
    missing = "no-such-namespace-x"
    result = kubeserve.kubectl("create", "configmap", "c", "-n", missing, "--from-literal=k=v", check=False)
    assert result.returncode != 0
    assert f'namespaces "{missing}" not found' in result.stderr, result.stderr
    result = kubeserve.kubectl("apply", "-n", missing, "-f", write_yaml(tmp_path, "i.yaml", isvc("i")), check=False)
    assert result.returncode != 0
    assert f'namespaces "{missing}" not found' in result.stderr, result.stderr

    status, body, _ = kubeserve.request("POST", ISVC_PATH.format(ns=missing), isvc("i"))
    assert_status(status, body, 404, "NotFound", f'namespaces "{missing}" not found')
    assert body["details"] == {"name": missing, "kind": "namespaces"}
    assert_absent(kubeserve, ISVC_PATH.format(ns=missing) + "/i")
    assert_absent(kubeserve, f"/api/v1/namespaces/{missing}")


@pytest.mark.parametrize("selector", ["a in (b", "!!x", "a=b=c", "a in b", "key with space=1", "a=" + "v" * 64])
def test_bad_label_selector_is_400(kubeserve: KubeServe, namespace: str, selector: str) -> None:
    query = urllib.parse.urlencode({"labelSelector": selector})
    status, body, _ = kubeserve.request("GET", f"{CM_PATH.format(ns=namespace)}?{query}")
    assert_status(status, body, 400, "BadRequest")
    status, body, _ = kubeserve.request("GET", f"{CM_PATH.format(ns=namespace)}?watch=true&{query}")
    assert_status(status, body, 400, "BadRequest")


def test_bad_label_selector_with_kubectl(kubeserve: KubeServe, seeded: dict[str, str], namespace: str) -> None:
    result = kubeserve.kubectl("get", "configmaps", "-n", namespace, "-l", "a in (b", check=False)
    assert result.returncode != 0
    assert "BadRequest" in result.stderr or "selector" in result.stderr.lower(), result.stderr
    before = get_obj(kubeserve, seeded["cm"])
    result = kubeserve.kubectl("delete", "configmaps", "-n", namespace, "-l", "!!x", check=False)
    assert result.returncode != 0
    status, body, _ = kubeserve.request("DELETE", f"{seeded['cms']}?labelSelector=a%20in%20(b")
    assert_status(status, body, 400, "BadRequest")
    assert get_obj(kubeserve, seeded["cm"]) == before  # a delete by a bad selector deleted nothing


def test_body_kind_mismatching_the_url_is_400(kubeserve: KubeServe, seeded: dict[str, str]) -> None:
    secret_body = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "mixed"}, "stringData": {"a": "b"}}
    status, body, _ = kubeserve.request("POST", seeded["cms"], secret_body)
    assert_status(status, body, 400, "BadRequest", "Secret", "ConfigMap")
    assert_absent(kubeserve, seeded["cms"] + "/mixed")

    status, body, _ = kubeserve.request("POST", seeded["isvcs"], {**isvc("mixed"), "apiVersion": "apps/v1"})
    assert_status(status, body, 400, "BadRequest", "apps/v1")
    assert_absent(kubeserve, seeded["isvcs"] + "/mixed")

    before = get_obj(kubeserve, seeded["cm"])
    status, body, _ = kubeserve.request("PUT", seeded["cm"], {**before, "kind": "Secret"})
    assert_status(status, body, 400, "BadRequest", "Secret")
    status, body, _ = kubeserve.request("PUT", seeded["cm"], {**before, "metadata": {**before["metadata"],
                                                                                       "name": "other"}})
    assert_status(status, body, 400, "BadRequest", "other", "cfg")
    assert get_obj(kubeserve, seeded["cm"]) == before


def test_namespace_in_body_mismatching_the_url_is_400(
        kubeserve: KubeServe, seeded: dict[str, str], namespace: str, tmp_path: Path) -> None:
    body = isvc("elsewhere")
    body["metadata"]["namespace"] = "default"
    status, answer, _ = kubeserve.request("POST", seeded["isvcs"], body)
    assert_status(status, answer, 400, "BadRequest", "namespace")
    assert_absent(kubeserve, seeded["isvcs"] + "/elsewhere")
    assert_absent(kubeserve, ISVC_PATH.format(ns="default") + "/elsewhere")

    before = get_obj(kubeserve, seeded["cm"])
    status, answer, _ = kubeserve.request("PUT", seeded["cm"], {**before, "metadata": {**before["metadata"],
                                                                                         "namespace": "default"}})
    assert_status(status, answer, 400, "BadRequest", "namespace")
    assert get_obj(kubeserve, seeded["cm"]) == before

    # kubectl refuses it itself, naming both namespaces
    result = kubeserve.kubectl("apply", "-n", namespace, "-f", write_yaml(tmp_path, "e.yaml", body), check=False)
    assert result.returncode != 0
    assert "default" in result.stderr and namespace in result.stderr, result.stderr


def test_create_into_terminating_namespace_is_403(kubeserve: KubeServe, tmp_path: Path) -> None:
    ns = f"e2e-terminating-{uuid.uuid4().hex[:6]}"
    kubeserve.kubectl("create", "namespace", ns)
    held = configmap("held")
    held["metadata"]["finalizers"] = ["example.com/hold"]
    status, body, _ = kubeserve.request("POST", CM_PATH.format(ns=ns), held)
    assert status == 201, body
    try:
        kubeserve.kubectl("delete", "namespace", ns, "--wait=false")
        phase = kubeserve.kubectl_json("get", "namespace", ns)["status"]["phase"]
        assert phase == "Terminating"

        result = kubeserve.kubectl("create", "configmap", "late", "-n", ns, "--from-literal=k=v", check=False)
        assert result.returncode != 0
        assert f"unable to create new content in namespace {ns} because it is being terminated" in result.stderr, \
            result.stderr
        status, body, _ = kubeserve.request("POST", CM_PATH.format(ns=ns), configmap("late"))
        assert_status(status, body, 403, "Forbidden", f"namespace {ns}", "being terminated")
        assert_absent(kubeserve, CM_PATH.format(ns=ns) + "/late")
    finally:
        kubeserve.request("PATCH", CM_PATH.format(ns=ns) + "/held", {"metadata": {"finalizers": None}},
                          "application/merge-patch+json")


def test_failed_json_patch_test_is_422(kubeserve: KubeServe, seeded: dict[str, str], namespace: str) -> None:
    before = get_obj(kubeserve, seeded["isvc"])
    patch = [{"op": "test", "path": "/spec/predictor/model/runtime", "value": "other"},
             {"op": "replace", "path": "/spec/predictor/model/runtime", "value": "changed"}]
    status, body, _ = kubeserve.request("PATCH", seeded["isvc"], patch, "application/json-patch+json")
    assert_status(status, body, 422, "Invalid")
    result = kubeserve.kubectl("patch", "isvc", "demo", "-n", namespace, "--type=json", "-p", json.dumps(patch),
                               check=False)
    assert result.returncode != 0
    assert "invalid" in result.stderr.lower() or "rejected" in result.stderr, result.stderr

    # a patch addressing a path that is not there fails the same way
    status, body, _ = kubeserve.request("PATCH", seeded["isvc"], [{"op": "remove", "path": "/spec/nope"}],
                                        "application/json-patch+json")
    assert_status(status, body, 422, "Invalid")
    # and one that is not a JSON patch at all is a bad request
    status, body, _ = kubeserve.request("PATCH", seeded["isvc"], {"op": "remove"}, "application/json-patch+json")
    assert status in (400, 422), body
    assert_status(status, body, status)
    assert user_fields(get_obj(kubeserve, seeded["isvc"])) == user_fields(before)


# ---- authentication --------------------------------------------------------------------------------------


def test_requests_without_a_valid_token_are_401(kubeserve: KubeServe, seeded: dict[str, str]) -> None:
    before = get_obj(kubeserve, seeded["cm"])
    for token in (None, "wrong-token", kubeserve.token + "x"):
        status, body, _ = kubeserve.request("GET", seeded["cm"], token=token)
        assert_status(status, body, 401, "Unauthorized")
        status, body, _ = kubeserve.request("PATCH", seeded["cm"], {"data": {"k": "anon"}},
                                            "application/merge-patch+json", token=token)
        assert_status(status, body, 401, "Unauthorized")
        status, body, _ = kubeserve.request("POST", seeded["cms"], configmap("anon"), token=token)
        assert_status(status, body, 401, "Unauthorized")
    status, body, _ = kubeserve.request("GET", seeded["cm"], headers={"Authorization": "Basic dXNlcjpwdw=="},
                                        token=None)
    assert_status(status, body, 401, "Unauthorized")
    assert get_obj(kubeserve, seeded["cm"]) == before
    assert_absent(kubeserve, seeded["cms"] + "/anon")

    result = kubeserve.kubectl("get", "configmaps", "-A", "--token=wrong-token", check=False)
    assert result.returncode != 0
    assert "You must be logged in to the server" in result.stderr, result.stderr


# ---- the server survived all of it --------------------------------------------------------------------------


def test_zz_server_log_has_no_traceback_and_no_500(kubeserve: KubeServe) -> None:
    """Runs last in this module: everything above (and any earlier module) was served without a 500."""
    assert kubeserve.process.poll() is None, "the server died"
    assert kubeserve.ready()
    log = kubeserve.log_path.read_text(errors="replace")
    assert "Traceback" not in log, log[-5000:]
    assert not re.search(r"unhandled error", log), log[-5000:]
