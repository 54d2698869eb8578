"""Getting the model to /mnt/models: the storage-initializer init container, data connections, pvc mounts."""

from __future__ import annotations

import json
from typing import Any

import pytest

from kubeserve.controllers.render import RenderError, RenderSettings, render_predictor
from kubeserve.controllers.runtimes import RuntimeChoice

RUNTIME = {"metadata": {"name": "vllm"}, "spec": {
    "containers": [{"name": "kserve-container", "image": "quay.io/modh/vllm:rhoai-2.20-cpu",
                    "args": ["--port=8080", "--model=/mnt/models"]}],
    "supportedModelFormats": [{"name": "vLLM", "autoSelect": True}]}}
SECRET = {"name": "model-s3-storage", "data": {
    "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE", "AWS_SECRET_ACCESS_KEY": "s3cr3t-value",
    "AWS_S3_ENDPOINT": "http://127.0.0.1:9000", "AWS_S3_BUCKET": "models", "AWS_DEFAULT_REGION": "us-east-1"}}


def render(model: dict[str, Any], *, secret: dict[str, Any] | None = None, annotations: dict[str, str] | None = None,
           predictor: dict[str, Any] | None = None, settings: RenderSettings | None = None) -> dict[str, Any]:
    isvc = {"metadata": {"name": "m", "namespace": "team", "annotations": annotations or {}},
            "spec": {"predictor": {"model": {"modelFormat": {"name": "vLLM"}, **model}, **(predictor or {})}}}
    result = render_predictor(isvc, RuntimeChoice("ServingRuntime", "vllm", RUNTIME), settings or RenderSettings(),
                              storage_secret=secret)
    pod: dict[str, Any] = result.deployment["spec"]["template"]["spec"]
    pod["_storage_uri"] = result.storage_uri
    return pod


@pytest.mark.parametrize("uri", [
    "oci://registry.redhat.io/rhelai1/modelcar-granite-3-1-8b-instruct:1.5", "s3://bucket/models/llama/",
    "hf://ibm-granite/granite-3.0-2b-instruct", "https://example.com/m.tar.gz", "gs://bucket/m",
    "file:///srv/models/m", "/srv/models/m"])
def test_downloaded_sources_get_the_storage_initializer(uri: str) -> None:
    pod = render({"storageUri": uri}, settings=RenderSettings(storage_initializer_image="kubeserve/si:1"))
    assert pod["initContainers"] == [{
        "name": "storage-initializer", "image": "kubeserve/si:1", "args": [uri, "/mnt/models"],
        "resources": {"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "100m", "memory": "100Mi"}},
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "volumeMounts": [{"name": "kserve-provision-location", "mountPath": "/mnt/models"}]}]
    assert pod["volumes"] == [{"name": "kserve-provision-location", "emptyDir": {}}]
    assert pod["containers"][0]["volumeMounts"] == [
        {"name": "kserve-provision-location", "mountPath": "/mnt/models", "readOnly": True}]
    assert pod["_storage_uri"] == uri


def test_pvc_is_mounted_directly_with_its_sub_path() -> None:
    pod = render({"storageUri": "pvc://model-pvc/llama-3.1-8b-instruct"})
    assert "initContainers" not in pod
    assert pod["volumes"] == [{"name": "kserve-pvc-source",
                               "persistentVolumeClaim": {"claimName": "model-pvc", "readOnly": True}}]
    assert pod["containers"][0]["volumeMounts"] == [
        {"name": "kserve-pvc-source", "mountPath": "/mnt/models", "readOnly": True,
         "subPath": "llama-3.1-8b-instruct"}]


def test_pvc_root_has_no_sub_path() -> None:
    pod = render({"storageUri": "pvc://model-pvc"})
    assert "subPath" not in pod["containers"][0]["volumeMounts"][0]


def test_readonly_annotation_false_mounts_read_write() -> None:
    pod = render({"storageUri": "pvc://model-pvc/m"}, annotations={"storage.kserve.io/readonly": "false"})
    assert pod["containers"][0]["volumeMounts"][0]["readOnly"] is False
    pod = render({"storageUri": "s3://b/m"}, annotations={"storage.kserve.io/readonly": "false"})
    assert pod["containers"][0]["volumeMounts"][0]["readOnly"] is False


def test_data_connection_becomes_an_s3_uri_and_secret_refs() -> None:
    pod = render({"storage": {"key": "model-s3-storage", "path": "models/llama-3.1-8b-instruct/"}}, secret=SECRET)
    initializer = pod["initContainers"][0]
    assert initializer["args"] == ["s3://models/models/llama-3.1-8b-instruct/", "/mnt/models"]
    refs = {env["name"]: env["valueFrom"]["secretKeyRef"] for env in initializer["env"]}
    assert refs == {
        "AWS_ACCESS_KEY_ID": {"name": "model-s3-storage", "key": "AWS_ACCESS_KEY_ID"},
        "AWS_SECRET_ACCESS_KEY": {"name": "model-s3-storage", "key": "AWS_SECRET_ACCESS_KEY"},
        "AWS_S3_ENDPOINT": {"name": "model-s3-storage", "key": "AWS_S3_ENDPOINT"},
        "AWS_S3_BUCKET": {"name": "model-s3-storage", "key": "AWS_S3_BUCKET", "optional": True},
        "AWS_DEFAULT_REGION": {"name": "model-s3-storage", "key": "AWS_DEFAULT_REGION", "optional": True}}
    text = json.dumps(pod)
    for value in ("AKIAEXAMPLE", "s3cr3t-value", "127.0.0.1:9000"):
        assert value not in text  # secret values stay in the Secret


def test_data_connection_bucket_parameter_and_leading_slash() -> None:
    pod = render({"storage": {"key": "model-s3-storage", "path": "/m", "parameters": {"bucket": "other"}}},
                 secret=SECRET)
    assert pod["initContainers"][0]["args"][0] == "s3://other/m"


def test_oci_pull_secret_is_mounted_for_the_initializer() -> None:
    pod = render({"storageUri": "oci://quay.example.com/team/model:1"},
                 predictor={"imagePullSecrets": [{"name": "pull"}, {"name": "other"}]})
    initializer = pod["initContainers"][0]
    assert {"name": "kserve-registry-auth", "secret": {"secretName": "pull"}} in pod["volumes"]
    assert {"name": "kserve-registry-auth", "mountPath": "/var/run/secrets/kserve.io/registry-auth",
            "readOnly": True} in initializer["volumeMounts"]
    assert initializer["env"] == [{"name": "REGISTRY_AUTH_FILE",
                                   "value": "/var/run/secrets/kserve.io/registry-auth/.dockerconfigjson"}]
    assert pod["imagePullSecrets"] == [{"name": "pull"}, {"name": "other"}]


def test_pull_secrets_are_not_mounted_for_other_sources() -> None:
    pod = render({"storageUri": "s3://b/m"}, predictor={"imagePullSecrets": [{"name": "pull"}]})
    assert all(volume["name"] != "kserve-registry-auth" for volume in pod["volumes"])


def test_a_predictor_without_storage_has_no_initializer() -> None:
    pod = render({})
    assert "initContainers" not in pod
    assert "volumeMounts" not in pod["containers"][0]
    assert pod["_storage_uri"] is None


def test_a_predictor_bringing_its_own_initializer_keeps_it() -> None:
    own = {"name": "storage-initializer", "image": "mine"}
    pod = render({"storageUri": "s3://b/m"}, predictor={"initContainers": [own]})
    assert pod["initContainers"] == [own]


@pytest.mark.parametrize(("model", "secret", "words"), [
    ({"storageUri": "ftp://host/m"}, None, ["ftp://host/m", "not supported"]),
    ({"storageUri": "pvc://"}, None, ["names no claim"]),
    ({"storageUri": "pvc://claim//etc"}, None, ["relative"]),
    ({"storageUri": "pvc://claim/a/../../b"}, None, ["'..'"]),
    ({"storageUri": "s3://b/m", "storage": {"key": "k", "path": "p"}}, SECRET, ["only one"]),
    ({"storage": {"path": "p"}}, None, ["no key"]),
    ({"storage": {"key": "model-s3-storage", "path": "p"}}, None, ["'model-s3-storage'", "not found"]),
    ({"storage": {"key": "k", "path": "p"}}, {"name": "k", "data": {"AWS_ACCESS_KEY_ID": "x"}}, ["AWS_S3_BUCKET"]),
])
def test_storage_problems(model: dict[str, Any], secret: dict[str, Any] | None, words: list[str]) -> None:
    with pytest.raises(RenderError) as caught:
        render(model, secret=secret)
    assert caught.value.reason == "InvalidPredictorSpec"
    for word in words:
        assert word in caught.value.message
