"""Acceptance test 2a: the official `kubernetes` Python client against a real kubeserve over TLS + token.

The client is configured exactly as a user would (`config.load_kube_config(config_file=...)` with the
generated kubeconfig), into its own `Configuration` so that the process-wide default stays untouched.
"""

from __future__ import annotations

import base64
import copy
import queue
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

from harness import KubeServe

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def kubeserve(api_only_kubeserve: KubeServe) -> KubeServe:
    """These tests write InferenceService status themselves, as KServe's controller would, so they run
    against a kubeserve whose own serving controller is off."""
    return api_only_kubeserve


GUIDE = Path(__file__).resolve().parents[1] / "fixtures" / "guide"
GROUP, VERSION, PLURAL = "serving.kserve.io", "v1beta1", "inferenceservices"
MODEL = "granite-model"


@pytest.fixture(scope="module")
def api_client(kubeserve: KubeServe) -> Iterator[client.ApiClient]:
    configuration = client.Configuration()
    config.load_kube_config(config_file=str(kubeserve.kubeconfig), client_configuration=configuration)
    assert configuration.host == kubeserve.url
    assert configuration.api_key.get("BearerToken") == f"Bearer {kubeserve.token}"
    assert configuration.verify_ssl and configuration.ssl_ca_cert
    with client.ApiClient(configuration) as api:
        yield api


def guide_isvc() -> dict[str, Any]:
    return dict(yaml.safe_load((GUIDE / "granite-model-service.yaml").read_text()))


def as_dict(api: client.ApiClient, answer: Any) -> dict[str, Any]:
    return answer if isinstance(answer, dict) else dict(api.sanitize_for_serialization(answer))


def ready_condition(obj: dict[str, Any]) -> str | None:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return str(cond.get("status"))
    return None


def test_version_api(api_client: client.ApiClient) -> None:
    info = client.VersionApi(api_client).get_code()
    assert (info.major, info.minor) == ("1", "32")
    assert info.git_version.startswith("v1.32.")
    assert info.platform


def test_inference_service_lifecycle(kubeserve: KubeServe, namespace: str, api_client: client.ApiClient) -> None:
    api = client.CustomObjectsApi(api_client)
    body = guide_isvc()

    # create
    created = api.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)
    meta = created["metadata"]
    assert (created["kind"], created["apiVersion"]) == ("InferenceService", f"{GROUP}/{VERSION}")
    assert meta["name"] == MODEL and meta["namespace"] == namespace
    assert meta["uid"] and meta["resourceVersion"] and meta["creationTimestamp"]
    assert meta["generation"] == 1
    assert meta["annotations"]["openshift.io/display-name"] == "Granite 3.1 8B Instruct"
    assert created["spec"]["predictor"]["model"]["storageUri"] == body["spec"]["predictor"]["model"]["storageUri"]

    # a second create of the same name is a conflict
    with pytest.raises(ApiException) as dup:
        api.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)
    assert dup.value.status == 409

    # get
    got = api.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, MODEL)
    assert got["metadata"]["uid"] == meta["uid"]
    assert got["spec"]["predictor"]["model"]["resources"]["limits"]["nvidia.com/gpu"] == "1"

    # list: plain, by label (also the empty selector the client sends as `labelSelector=`), by a missing label
    listed = api.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)
    assert listed["kind"] == "InferenceServiceList"
    assert [i["metadata"]["name"] for i in listed["items"]] == [MODEL]
    assert listed["metadata"]["resourceVersion"]
    by_label = api.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL,
                                                 label_selector="opendatahub.io/dashboard=true")
    assert [i["metadata"]["name"] for i in by_label["items"]] == [MODEL]
    assert len(api.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, label_selector="")["items"]) == 1
    assert api.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL,
                                             label_selector="opendatahub.io/dashboard=false")["items"] == []
    everywhere = api.list_cluster_custom_object(GROUP, VERSION, PLURAL)
    assert (namespace, MODEL) in {(i["metadata"]["namespace"], i["metadata"]["name"]) for i in everywhere["items"]}

    # patch (merge patch: maps merge, everything not named stays)
    patched = api.patch_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, MODEL,
        {"metadata": {"labels": {"team": "llm"}}, "spec": {"predictor": {"minReplicas": 2, "maxReplicas": 5}}})
    assert patched["spec"]["predictor"]["minReplicas"] == 2
    assert patched["spec"]["predictor"]["maxReplicas"] == 5
    assert patched["spec"]["predictor"]["model"]["runtime"] == "granite-model"
    assert patched["spec"]["predictor"]["tolerations"][0]["key"] == "nvidia.com/gpu"
    assert patched["metadata"]["labels"] == {"opendatahub.io/dashboard": "true",
                                             "networking.kserve.io/visibility": "exposed", "team": "llm"}
    assert patched["metadata"]["generation"] == 2
    assert int(patched["metadata"]["resourceVersion"]) > int(meta["resourceVersion"])

    # wait for readiness with a watch while the status subresource sets Ready
    events: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue()
    w = watch.Watch()

    def watch_until_ready() -> None:
        try:
            for event in w.stream(api.list_namespaced_custom_object, GROUP, VERSION, namespace, PLURAL,
                                  field_selector=f"metadata.name={MODEL}", timeout_seconds=30):
                events.put((event["type"], event["object"]))
                if ready_condition(event["object"]) == "True":
                    w.stop()
        except Exception as err:  # surfaced to the test through the queue
            events.put(("ERROR", {"exception": repr(err)}))
        finally:
            events.put(("END", {}))

    watcher = threading.Thread(target=watch_until_ready, daemon=True)
    watcher.start()
    kind, first = events.get(timeout=15)
    assert kind == "ADDED", first  # the list half of list+watch, no resourceVersion given
    assert first["metadata"]["name"] == MODEL and ready_condition(first) is None

    status_body = {"status": {
        "observedGeneration": 2,
        "url": f"https://{MODEL}-{namespace}.apps.example.com",
        "conditions": [{"type": "PredictorReady", "status": "True", "lastTransitionTime": "2025-01-01T00:00:00Z"},
                       {"type": "Ready", "status": "True", "lastTransitionTime": "2025-01-01T00:00:00Z"}]},
        # the status subresource ignores everything but status
        "spec": {"predictor": {"minReplicas": 9}}}
    after_status = api.patch_namespaced_custom_object_status(GROUP, VERSION, namespace, PLURAL, MODEL, status_body)
    assert ready_condition(after_status) == "True"
    assert after_status["status"]["observedGeneration"] == 2
    assert after_status["spec"]["predictor"]["minReplicas"] == 2
    assert after_status["metadata"]["generation"] == 2  # status writes do not bump generation

    seen: list[tuple[str, dict[str, Any]]] = []
    while True:
        kind, obj = events.get(timeout=20)
        if kind == "END":
            break
        assert kind != "ERROR", obj
        seen.append((kind, obj))
    watcher.join(5)
    assert seen and seen[-1][0] == "MODIFIED" and ready_condition(seen[-1][1]) == "True"
    assert seen[-1][1]["status"]["url"] == status_body["status"]["url"]

    got = api.get_namespaced_custom_object_status(GROUP, VERSION, namespace, PLURAL, MODEL)
    assert ready_condition(got) == "True"

    # replace (PUT): spec changes, status is owned by the subresource and kept
    current = api.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, MODEL)
    stale = copy.deepcopy(current)
    new = copy.deepcopy(current)
    new["spec"]["predictor"]["model"]["storageUri"] = (
        "oci://registry.redhat.io/rhelai1/modelcar-granite-3-1-8b-instruct:1.6")
    new["status"] = {"conditions": [{"type": "Ready", "status": "False"}]}
    replaced = api.replace_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, MODEL, new)
    assert replaced["spec"]["predictor"]["model"]["storageUri"].endswith(":1.6")
    assert replaced["metadata"]["generation"] == 3
    assert replaced["metadata"]["uid"] == meta["uid"]
    assert ready_condition(replaced) == "True"

    # replace with the resourceVersion read before the last write: 409 Conflict
    stale["spec"]["predictor"]["minReplicas"] = 3
    with pytest.raises(ApiException) as conflict:
        api.replace_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, MODEL, stale)
    assert conflict.value.status == 409
    assert "Conflict" in (conflict.value.body or "")
    still = api.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, MODEL)
    assert still["spec"]["predictor"]["minReplicas"] == 2

    # delete returns a Status; afterwards the object is gone (404)
    deleted = api.delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, MODEL)
    assert deleted["kind"] == "Status" and deleted["status"] == "Success", deleted
    assert deleted["details"]["name"] == MODEL and deleted["details"]["uid"] == meta["uid"]
    with pytest.raises(ApiException) as gone:
        api.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, MODEL)
    assert gone.value.status == 404
    assert gone.value.reason == "Not Found"
    assert '"reason":"NotFound"' in (gone.value.body or "").replace(" ", "")
    assert api.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)["items"] == []


def test_not_found_errors(namespace: str, api_client: client.ApiClient) -> None:
    core = client.CoreV1Api(api_client)
    with pytest.raises(ApiException) as missing_secret:
        core.read_namespaced_secret("no-such-secret", namespace)
    assert missing_secret.value.status == 404
    with pytest.raises(ApiException) as missing_isvc:
        client.CustomObjectsApi(api_client).delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "nope")
    assert missing_isvc.value.status == 404


def test_core_namespace_secret_pods(kubeserve: KubeServe, api_client: client.ApiClient) -> None:
    core = client.CoreV1Api(api_client)
    name = f"py-{uuid.uuid4().hex[:8]}"
    ns = core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name, labels={"e2e": "py"})))
    try:
        assert ns.metadata.name == name and ns.metadata.uid
        assert ns.status.phase == "Active"
        assert name in kubeserve.kubectl("get", "namespace", name, "-o", "name").stdout

        secret = core.create_namespaced_secret(name, client.V1Secret(
            metadata=client.V1ObjectMeta(name="aws-connection-models"), type="Opaque",
            string_data={"AWS_ACCESS_KEY_ID": "AKIAEXAMPLE", "AWS_DEFAULT_REGION": "us-east-1"}))
        assert secret.string_data is None
        assert secret.data == {"AWS_ACCESS_KEY_ID": base64.b64encode(b"AKIAEXAMPLE").decode(),
                               "AWS_DEFAULT_REGION": base64.b64encode(b"us-east-1").decode()}
        read = core.read_namespaced_secret("aws-connection-models", name)
        assert read.type == "Opaque"
        assert base64.b64decode(read.data["AWS_ACCESS_KEY_ID"]) == b"AKIAEXAMPLE"
        raw = kubeserve.kubectl_json("get", "secret", "aws-connection-models", "-n", name)
        assert "stringData" not in raw and raw["data"]["AWS_DEFAULT_REGION"] == "dXMtZWFzdC0x"

        # typed deletes: a Secret answers with a Status (V1Status), a Pod with the deleted Pod (as on a cluster)
        # (the 37 client types delete answers as `object`: a dict; older ones as V1Status)
        deleted = as_dict(api_client, core.delete_namespaced_secret("aws-connection-models", name))
        assert deleted["kind"] == "Status" and deleted["status"] == "Success", deleted
        assert deleted["details"]["name"] == "aws-connection-models" and deleted["details"]["kind"] == "secrets"

        pods = core.list_namespaced_pod(name)
        assert pods.items == []
        assert pods.metadata.resource_version
        core.create_namespaced_pod(name, client.V1Pod(
            metadata=client.V1ObjectMeta(name="p"),
            spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="busybox:1.36")])))
        assert [p.metadata.name for p in core.list_namespaced_pod(name).items] == ["p"]
        deleted_pod = as_dict(api_client, core.delete_namespaced_pod("p", name, grace_period_seconds=0))
        assert deleted_pod["kind"] == "Pod" and deleted_pod["metadata"]["name"] == "p", deleted_pod
    finally:
        core.delete_namespace(name)


def test_deployment_strategic_merge_and_scale(namespace: str, api_client: client.ApiClient) -> None:
    apps = client.AppsV1Api(api_client)
    labels = {"app": "web"}
    deployment = client.V1Deployment(
        metadata=client.V1ObjectMeta(name="web", labels=labels),
        spec=client.V1DeploymentSpec(
            replicas=1,
            selector=client.V1LabelSelector(match_labels=labels),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels=labels),
                spec=client.V1PodSpec(containers=[
                    client.V1Container(name="web", image="nginx:1.25",
                                       ports=[client.V1ContainerPort(container_port=80, name="http")]),
                    client.V1Container(name="sidecar", image="busybox:1.36", command=["sleep", "infinity"]),
                ]))))
    created = apps.create_namespaced_deployment(namespace, deployment)
    assert created.metadata.generation == 1

    # strategic merge patch: containers merge by name, so the sidecar and the web port survive
    patched = apps.patch_namespaced_deployment("web", namespace, {
        "metadata": {"annotations": {"note": "patched"}},
        "spec": {"template": {"spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}}}})
    containers = {c.name: c for c in patched.spec.template.spec.containers}
    assert set(containers) == {"web", "sidecar"}
    assert containers["web"].image == "nginx:1.27"
    assert containers["web"].ports[0].container_port == 80
    assert containers["sidecar"].command == ["sleep", "infinity"]
    assert patched.metadata.annotations["note"] == "patched"
    assert patched.metadata.generation == 2

    # $patch: delete directive removes one list element by its merge key
    trimmed = apps.patch_namespaced_deployment("web", namespace, {
        "spec": {"template": {"spec": {"containers": [{"name": "sidecar", "$patch": "delete"}]}}}})
    assert [c.name for c in trimmed.spec.template.spec.containers] == ["web"]

    # the scale subresource
    scale = apps.read_namespaced_deployment_scale("web", namespace)
    assert (scale.kind, scale.api_version) == ("Scale", "autoscaling/v1")
    assert scale.metadata.name == "web" and scale.spec.replicas == 1
    scaled = apps.patch_namespaced_deployment_scale("web", namespace, {"spec": {"replicas": 3}})
    assert scaled.spec.replicas == 3
    assert apps.read_namespaced_deployment("web", namespace).spec.replicas == 3
    assert apps.read_namespaced_deployment_scale("web", namespace).spec.replicas == 3

    deleted = as_dict(api_client, apps.delete_namespaced_deployment("web", namespace))
    assert deleted["kind"] == "Status" and deleted["status"] == "Success", deleted
    assert deleted["details"]["name"] == "web" and deleted["details"]["group"] == "apps"
    with pytest.raises(ApiException) as gone:
        apps.read_namespaced_deployment("web", namespace)
    assert gone.value.status == 404
