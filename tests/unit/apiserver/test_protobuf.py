"""The hand-written protobuf reader against bodies recorded from the real kubectl 1.32, plus crafted ones.

The recorded fixtures (see fixtures/protobuf/README.md) pin what kubectl actually sends; the crafted
bodies cover fields kubectl's `create` subcommands never set (labels, finalizers, immutable, ...) and
the malformed inputs a hostile or broken client could send.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from kubeserve.api import errors
from kubeserve.apiserver import protobuf

FIXTURES = Path(__file__).parent / "fixtures" / "protobuf"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def json_fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def without_client_only(obj: Any) -> Any:
    """The dry-run JSON less what the decoder leaves out: `creationTimestamp: null` and the status."""
    if isinstance(obj, dict):
        return {
            k: without_client_only(v)
            for k, v in obj.items()
            if not (k == "creationTimestamp" and v is None) and k != "status"
        }
    if isinstance(obj, list):
        return [without_client_only(v) for v in obj]
    return obj


# --- a minimal encoder, only for crafting test bodies -------------------------------------------


def varint(n: int) -> bytes:
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def ld(number: int, payload: bytes | str) -> bytes:
    data = payload.encode() if isinstance(payload, str) else payload
    return varint(number << 3 | 2) + varint(len(data)) + data


def vi(number: int, value: int) -> bytes:
    return varint(number << 3) + varint(value)


def entry(number: int, key: str, value: bytes | str) -> bytes:
    return ld(number, ld(1, key) + ld(2, value))


def envelope(api_version: str, kind: str, raw: bytes, *, encoding: str = "", content_type: str = "") -> bytes:
    return (
        protobuf.MAGIC
        + ld(1, ld(1, api_version) + ld(2, kind))
        + ld(2, raw)
        + ld(3, encoding)
        + ld(4, content_type)
    )


# --- content type --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "expected"),
    [
        ("application/vnd.kubernetes.protobuf", True),
        ("Application/VND.Kubernetes.Protobuf; charset=binary", True),
        (" application/vnd.kubernetes.protobuf ", True),
        ("application/json", False),
        ("application/vnd.kubernetes.protobuf+json", False),
        ("application/apply-patch+yaml", False),
        ("", False),
        (None, False),
    ],
)
def test_is_protobuf(content_type: str | None, expected: bool) -> None:
    assert protobuf.is_protobuf(content_type) is expected


# --- recorded kubectl 1.32 bodies ----------------------------------------------------------------


def test_kubectl_create_namespace() -> None:
    assert protobuf.decode(fixture("namespace_demo_ns.bin")) == {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": "demo-ns"},
        "spec": {},
        "status": {},
    }


def test_kubectl_create_namespace_save_config() -> None:
    assert protobuf.decode(fixture("namespace_gen_save_config.bin")) == {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": "gen",
            "annotations": {
                LAST_APPLIED: '{"kind":"Namespace","apiVersion":"v1","metadata":{"name":"gen",'
                '"creationTimestamp":null},"spec":{},"status":{}}\n'
            },
        },
        "spec": {},
        "status": {},
    }


def test_kubectl_create_secret_generic() -> None:
    assert protobuf.decode(fixture("secret_s1.bin")) == {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "s1", "namespace": "default"},
        "data": {"AWS_ACCESS_KEY_ID": "YWJj", "k2": "djI="},
    }


def test_kubectl_create_secret_with_type() -> None:
    assert protobuf.decode(fixture("secret_s2_basic_auth.bin")) == {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "s2", "namespace": "default"},
        "data": {"password": "cA==", "username": "dQ=="},
        "type": "kubernetes.io/basic-auth",
    }


def test_kubectl_create_configmap() -> None:
    assert protobuf.decode(fixture("configmap_c1.bin")) == {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "c1", "namespace": "default"},
        "data": {"a": "b"},
    }


def test_kubectl_create_configmap_binary_data_and_save_config() -> None:
    assert protobuf.decode(fixture("configmap_c2_binary_save_config.bin")) == {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "c2",
            "namespace": "default",
            "annotations": {
                LAST_APPLIED: '{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"c2",'
                '"namespace":"default","creationTimestamp":null},"data":{"x":"y"},'
                '"binaryData":{"blob":"AAH//mJpbg=="}}\n'
            },
        },
        "data": {"x": "y"},
        "binaryData": {"blob": "AAH//mJpbg=="},
    }


def test_kubectl_auth_can_i() -> None:
    assert protobuf.decode(fixture("ssar_list_pods.bin")) == {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SelfSubjectAccessReview",
        "metadata": {},
        "spec": {"resourceAttributes": {"namespace": "default", "verb": "list", "resource": "pods"}},
        "status": {},
    }


@pytest.mark.parametrize(
    "name",
    [
        "deployment_hello",
        "deployment_sleeper_command",
        "deployment_multi_zero_replicas",
        "deployment_hello2_save_config",
        "deployment_web",
        "service_clusterip_x",
        "service_clusterip_headless",
        "service_nodeport_np",
        "service_nodeport_np2",
        "service_loadbalancer_lb",
        "service_externalname_en",
        "serviceaccount_sa",
        "serviceaccount_sa1",
        "secret_dr_docker_registry",
        "hpa_v1_hello",
    ],
)
def test_kubectl_create_decodes_to_its_dry_run_json(name: str) -> None:
    decoded = protobuf.decode(fixture(f"{name}.bin"))
    decoded.pop("status", None)
    assert decoded == without_client_only(json_fixture(f"{name}.json"))


def test_kubectl_create_deployment_keeps_zero_replicas() -> None:
    # replicas is a *int32: written only when set, so a 0 on the wire is a real 0, not "unset".
    assert protobuf.decode(fixture("deployment_multi_zero_replicas.bin"))["spec"]["replicas"] == 0


def test_kubectl_create_deployment_spec() -> None:
    assert protobuf.decode(fixture("deployment_hello.bin"))["spec"] == {
        "replicas": 2,
        "selector": {"matchLabels": {"app": "hello"}},
        "template": {
            "metadata": {"labels": {"app": "hello"}},
            "spec": {
                "containers": [
                    {
                        "name": "http-test-server",
                        "image": "kubeserve/http-test-server",
                        "ports": [{"containerPort": 8080}],
                        "resources": {},
                    }
                ]
            },
        },
        "strategy": {},
    }


def test_kubectl_create_service_target_port() -> None:
    spec = protobuf.decode(fixture("service_nodeport_np2.bin"))["spec"]
    assert spec["ports"] == [
        {"name": "80-8080", "protocol": "TCP", "port": 80, "targetPort": 8080, "nodePort": 30080},
        {"name": "443-8443", "protocol": "TCP", "port": 443, "targetPort": 8443, "nodePort": 30080},
    ]


def test_kubectl_autoscale_sends_autoscaling_v1() -> None:
    decoded = protobuf.decode(fixture("hpa_v1_hello.bin"))
    assert (decoded["apiVersion"], decoded["kind"]) == ("autoscaling/v1", "HorizontalPodAutoscaler")
    assert decoded["spec"] == {
        "scaleTargetRef": {"kind": "Deployment", "name": "hello", "apiVersion": "apps/v1"},
        "minReplicas": 1,
        "maxReplicas": 3,
        "targetCPUUtilizationPercentage": 80,
    }


def test_kubectl_debug_node_pod() -> None:
    assert protobuf.decode(fixture("pod_debug_node.bin")) == {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "node-debugger-vm-jgx9c"},
        "spec": {
            "volumes": [{"name": "host-root", "hostPath": {"path": "/"}}],
            "containers": [
                {
                    "name": "debugger",
                    "image": "busybox",
                    "command": ["true"],
                    "resources": {},
                    "volumeMounts": [{"name": "host-root", "mountPath": "/host"}],
                    "terminationMessagePolicy": "File",
                }
            ],
            "restartPolicy": "Never",
            "nodeName": "vm",
            "hostNetwork": True,
            "hostPID": True,
            "hostIPC": True,
            "tolerations": [{"operator": "Exists"}],
        },
        "status": {},
    }


def test_kubectl_debug_copy_pod() -> None:
    assert protobuf.decode(fixture("pod_debug_copy_p1.bin")) == {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p1-copy", "namespace": "default"},
        "spec": {
            "containers": [
                {
                    "name": "p1",
                    "image": "kubeserve/http-test-server",
                    "ports": [{"containerPort": 8080}],
                    "env": [{"name": "A", "value": "B"}],
                    "resources": {},
                },
                {
                    "name": "dbg",
                    "image": "busybox",
                    "command": ["sleep", "100"],
                    "resources": {},
                    "terminationMessagePolicy": "File",
                },
            ],
            "restartPolicy": "Always",
            "dnsPolicy": "ClusterFirst",
        },
        "status": {},
    }


def test_kubectl_debug_copy_of_a_rich_pod_round_trips_its_spec() -> None:
    """`kubectl debug --copy-to` re-encodes a stored pod's whole spec: probes, env sources, resources,
    volumes, security contexts, affinity, tolerations, topology spread. Decoded, it must be the spec the
    server handed kubectl, up to what Go's JSON would also have written differently."""
    stored = json_fixture("pod_rich_stored.json")
    expected = copy.deepcopy(stored["spec"])
    env = expected["containers"][0]["env"]
    assert env[1] == {"name": "EMPTY", "value": ""}
    env[1] = {"name": "EMPTY"}  # value is omitempty: Go writes "" and JSON would have left it out
    expected["initContainers"][0]["resources"] = {}  # a non-pointer struct: always written, `{}` in JSON
    expected["containers"].append(
        {
            "name": "dbg",
            "image": "busybox",
            "command": ["sleep", "100"],
            "resources": {},
            "terminationMessagePolicy": "File",
        }
    )
    decoded = protobuf.decode(fixture("pod_debug_copy_rich.bin"))
    assert decoded["spec"] == expected
    assert decoded["metadata"]["name"] == "rich-copy"
    assert decoded["metadata"]["annotations"] == stored["metadata"]["annotations"]
    # the pointer fields whose zero is real survived
    assert (expected["terminationGracePeriodSeconds"], expected["priority"]) == (0, 0)
    assert expected["tolerations"][0]["tolerationSeconds"] == 0
    assert expected["containers"][0]["securityContext"]["runAsUser"] == 0


@pytest.mark.parametrize(
    ("api_version", "kind", "group"),
    [
        ("apps/v1", "ReplicaSet", "apps"),
        ("batch/v1", "Job", "batch"),
        ("v1", "PersistentVolumeClaim", ""),
        ("apps/v1", "Secret", "apps"),  # a kind is looked up with its group version
    ],
)
def test_other_kinds_are_unsupported_media_type(api_version: str, kind: str, group: str) -> None:
    with pytest.raises(errors.UnsupportedMediaType) as info:
        protobuf.decode(envelope(api_version, kind, b""))
    err = info.value
    assert err.code == 415
    assert (
        "only supported for Namespace, Secret, ConfigMap, ServiceAccount, Service, Pod, Deployment, "
        "HorizontalPodAutoscaler, SelfSubjectAccessReview, TokenRequest and TokenReview" in err.message
    )
    assert f"not {api_version} {kind}" in err.message
    assert "kubectl create ... --dry-run=client -o yaml | kubectl apply -f -" in err.message
    assert (err.group, err.kind) == (group, kind)


# --- crafted bodies: fields kubectl create never sets --------------------------------------------


def full_meta() -> bytes:
    return (
        ld(1, "n1")
        + ld(2, "gen-")
        + ld(3, "ns1")
        + ld(4, "/api/v1/self-link")
        + ld(5, "uid-1")
        + ld(6, "42")
        + vi(7, 3)
        + ld(8, vi(1, 1_700_000_000) + vi(2, 5))  # nanos: JSON's Time has whole seconds
        + entry(11, "app", "web")
        + entry(11, "tier", "front")
        + entry(12, "note", "hi")
        + ld(13, ld(1, "Deployment") + ld(3, "web") + ld(5, "apps/v1") + vi(6, 0) + vi(7, 1))
        + ld(14, "example.com/a")
        + ld(14, "example.com/b")
        + ld(17, ld(1, "kubectl") + ld(4, vi(1, 0)) + ld(7, ld(1, '{"f:data":{}}')))
    )


FULL_META: dict[str, Any] = {
    "name": "n1",
    "generateName": "gen-",
    "namespace": "ns1",
    "selfLink": "/api/v1/self-link",
    "uid": "uid-1",
    "resourceVersion": "42",
    "generation": 3,
    "creationTimestamp": "2023-11-14T22:13:20Z",
    "ownerReferences": [
        {"kind": "Deployment", "name": "web", "apiVersion": "apps/v1", "controller": False, "blockOwnerDeletion": True}
    ],
    "managedFields": [{"manager": "kubectl", "fieldsV1": {"f:data": {}}}],  # a zero Time is null: left out
    "labels": {"app": "web", "tier": "front"},
    "annotations": {"note": "hi"},
    "finalizers": ["example.com/a", "example.com/b"],
}


def test_namespace_all_fields() -> None:
    raw = ld(1, full_meta()) + ld(2, ld(1, "kubernetes") + ld(1, "x/y")) + ld(3, ld(1, "Active") + ld(2, b""))
    assert protobuf.decode(envelope("v1", "Namespace", raw)) == {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": FULL_META,
        "spec": {"finalizers": ["kubernetes", "x/y"]},
        "status": {"phase": "Active", "conditions": [{}]},
    }


def test_secret_all_fields() -> None:
    raw = (
        ld(1, full_meta())
        + entry(2, "bin", b"\x00\xff")
        + ld(3, "Opaque")
        + entry(4, "plain", "text")
        + vi(5, 1)
        + vi(99, 7)  # unknown varint field: skipped
        + ld(98, b"\x01\x02")  # unknown length-delimited field: skipped
        + (varint(97 << 3 | 5) + b"\x01\x02\x03\x04")  # unknown fixed32: skipped
        + (varint(96 << 3 | 1) + b"\x00" * 8)  # unknown fixed64: skipped
    )
    assert protobuf.decode(envelope("v1", "Secret", raw)) == {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": FULL_META,
        "data": {"bin": "AP8="},
        "type": "Opaque",
        "stringData": {"plain": "text"},
        "immutable": True,
    }


def test_configmap_all_fields() -> None:
    raw = ld(1, full_meta()) + entry(2, "k", "v") + entry(3, "b", b"\x01") + vi(4, 0)
    assert protobuf.decode(envelope("v1", "ConfigMap", raw)) == {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": FULL_META,
        "data": {"k": "v"},
        "binaryData": {"b": "AQ=="},
        "immutable": False,
    }


def test_empty_object_and_empty_map_values() -> None:
    assert protobuf.decode(envelope("v1", "ConfigMap", b"")) == {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {},
    }
    raw = entry(2, "empty", "") + ld(2, b"")  # an entry with neither key nor value is key ""
    assert protobuf.decode(envelope("v1", "ConfigMap", raw))["data"] == {"empty": "", "": ""}


def test_repeated_message_fields_merge_and_map_keys_last_wins() -> None:
    raw = ld(1, ld(1, "a") + entry(11, "x", "1")) + ld(1, entry(11, "x", "2") + entry(11, "y", "3"))
    assert protobuf.decode(envelope("v1", "Secret", raw))["metadata"] == {
        "name": "a",
        "labels": {"x": "2", "y": "3"},
    }


def test_negative_generation_is_twos_complement() -> None:
    raw = ld(1, vi(7, -1))
    assert protobuf.decode(envelope("v1", "Namespace", raw))["metadata"] == {"generation": -1}


def test_envelope_content_type_protobuf_is_accepted() -> None:
    body = envelope("v1", "ConfigMap", b"", content_type="application/vnd.kubernetes.protobuf")
    assert protobuf.decode(body)["kind"] == "ConfigMap"


def test_envelope_content_encoding_is_unsupported() -> None:
    with pytest.raises(errors.UnsupportedMediaType):
        protobuf.decode(envelope("v1", "ConfigMap", b"", encoding="gzip"))


def test_envelope_content_type_json_is_unsupported() -> None:
    with pytest.raises(errors.UnsupportedMediaType):
        protobuf.decode(envelope("v1", "ConfigMap", b"{}", content_type="application/json"))


def deployment(spec: bytes) -> dict[str, Any]:
    decoded: dict[str, Any] = protobuf.decode(envelope("apps/v1", "Deployment", ld(2, spec)))["spec"]
    return decoded


def int_or_string(value: int | str) -> bytes:
    return vi(1, 1) + ld(3, value) if isinstance(value, str) else vi(1, 0) + vi(2, value)


def test_int_or_string_and_pointer_zeros_in_a_deployment_strategy() -> None:
    strategy = ld(1, "RollingUpdate") + ld(2, ld(1, int_or_string("25%")) + ld(2, int_or_string(0)))
    spec = vi(1, 0) + vi(5, 0) + vi(6, 0) + vi(7, 0) + vi(9, 600) + ld(4, strategy)
    assert deployment(spec) == {
        "replicas": 0,  # *int32: present means set
        "revisionHistoryLimit": 0,  # *int32
        "progressDeadlineSeconds": 600,
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": 0}},
    }  # minReadySeconds (int32) and paused (bool) are plain: their zeros are omitempty's "unset"


def container_spec(container: bytes) -> dict[str, Any]:
    template = ld(2, ld(2, container))
    container_out: dict[str, Any] = deployment(ld(3, template))["template"]["spec"]["containers"][0]
    return container_out


def test_container_resources_probes_env_and_mounts() -> None:
    quantity = ld(1, "500m")
    resources = ld(1, ld(1, "cpu") + ld(2, quantity)) + ld(2, ld(1, "memory") + ld(2, ld(1, "64Mi")))
    probe = ld(1, ld(2, ld(1, "/healthz") + ld(2, int_or_string("http")))) + vi(2, 0) + vi(4, 10)
    secret_key = ld(1, ld(1, "s")) + ld(2, "k") + vi(3, 0)
    env = ld(1, "POD") + ld(2, "") + ld(3, ld(1, ld(2, "metadata.name")) + ld(4, secret_key))
    mount = ld(1, "data") + vi(2, 0) + ld(3, "/data")
    container = ld(1, "c") + ld(7, env) + ld(8, resources) + ld(9, mount) + ld(10, probe) + ld(3, "a") + ld(3, "b")
    assert container_spec(container) == {
        "name": "c",
        "command": ["a", "b"],
        "env": [
            {
                "name": "POD",
                "valueFrom": {
                    "fieldRef": {"fieldPath": "metadata.name"},
                    "secretKeyRef": {"name": "s", "key": "k", "optional": False},  # inlined LocalObjectReference
                },
            }
        ],
        "resources": {"limits": {"cpu": "500m"}, "requests": {"memory": "64Mi"}},
        "volumeMounts": [{"name": "data", "mountPath": "/data"}],
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 10},
    }


def test_volumes_inline_their_source() -> None:
    volume = ld(1, "cfg") + ld(2, ld(19, ld(1, ld(1, "cm")) + vi(3, 420)))
    pod = protobuf.decode(envelope("v1", "Pod", ld(2, ld(1, volume))))
    assert pod["spec"]["volumes"] == [{"name": "cfg", "configMap": {"name": "cm", "defaultMode": 420}}]


def test_packed_and_unpacked_repeated_int64_and_negative_numbers() -> None:
    packed = ld(4, varint(1) + varint(2) + varint(-3))
    security = packed + vi(4, 4) + vi(2, -1)
    pod = protobuf.decode(envelope("v1", "Pod", ld(2, ld(14, security) + vi(25, -5))))
    assert pod["spec"] == {"securityContext": {"supplementalGroups": [1, 2, -3, 4], "runAsUser": -1}, "priority": -5}


def test_hpa_v2_metrics_and_behavior() -> None:
    target = ld(1, "Utilization") + vi(4, 80)
    metric = ld(1, "Resource") + ld(4, ld(1, "cpu") + ld(2, target))
    behavior = ld(2, ld(1, "Max") + ld(2, ld(1, "Pods") + vi(2, 1) + vi(3, 60)) + vi(3, 0))
    spec = ld(1, ld(1, "Deployment") + ld(2, "web") + ld(3, "apps/v1")) + vi(2, 1) + vi(3, 3) + ld(4, metric)
    hpa = protobuf.decode(envelope("autoscaling/v2", "HorizontalPodAutoscaler", ld(2, spec + ld(5, behavior))))
    assert hpa["spec"] == {
        "scaleTargetRef": {"kind": "Deployment", "name": "web", "apiVersion": "apps/v1"},
        "minReplicas": 1,
        "maxReplicas": 3,
        "metrics": [
            {
                "type": "Resource",
                "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}},
            }
        ],
        "behavior": {
            "scaleDown": {
                "selectPolicy": "Max",
                "policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}],
                "stabilizationWindowSeconds": 0,
            }
        },
    }


def test_unknown_fields_are_skipped_at_every_depth() -> None:
    container = ld(1, "c") + ld(200, b"future") + vi(201, 1)
    assert container_spec(container) == {"name": "c"}


def test_status_is_not_decoded() -> None:
    pod = protobuf.decode(envelope("v1", "Pod", ld(3, ld(1, "Running") + ld(2, ld(1, "Ready")))))
    assert pod["status"] == {}


# --- malformed bodies ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"k8s", id="short-magic"),
        pytest.param(b'{"kind":"Namespace"}', id="json"),
        pytest.param(b"k8s\x01" + fixture("configmap_c1.bin")[4:], id="wrong-magic"),
        pytest.param(protobuf.MAGIC, id="no-typemeta"),
        pytest.param(protobuf.MAGIC + ld(1, ld(1, "v1")), id="no-kind"),
        pytest.param(protobuf.MAGIC + ld(1, ld(2, "Namespace")), id="no-apiversion"),
        pytest.param(fixture("secret_s1.bin")[:-10], id="truncated"),
        pytest.param(protobuf.MAGIC + b"\x0a\xff", id="truncated-length-varint"),
        pytest.param(protobuf.MAGIC + b"\x0a\x7f\x0a", id="length-past-end"),
        pytest.param(protobuf.MAGIC + b"\x08" + b"\xff" * 10 + b"\x01", id="varint-too-long"),
        pytest.param(protobuf.MAGIC + b"\x08" + b"\xff" * 9 + b"\x02", id="varint-overflow"),
        pytest.param(protobuf.MAGIC + b"\x00\x00", id="field-zero"),
        pytest.param(protobuf.MAGIC + b"\x0b\x0c", id="group-wire-type"),
        pytest.param(protobuf.MAGIC + b"\x0e", id="wire-type-6"),
        pytest.param(protobuf.MAGIC + b"\x0d\x01\x02", id="truncated-fixed32"),
        pytest.param(protobuf.MAGIC + vi(1, 5), id="typemeta-as-varint"),
        pytest.param(protobuf.MAGIC + ld(1, ld(1, b"v\xff") + ld(2, "Namespace")), id="bad-utf8-apiversion"),
        pytest.param(envelope("v1", "Secret", ld(1, ld(1, b"\xc3"))), id="bad-utf8-name"),
        pytest.param(envelope("v1", "Secret", vi(1, 1)), id="metadata-as-varint"),
        pytest.param(envelope("v1", "Secret", ld(5, b"\x01")), id="immutable-as-bytes"),
        pytest.param(envelope("v1", "Namespace", ld(1, ld(7, b"x"))), id="generation-as-bytes"),
        pytest.param(envelope("v1", "ConfigMap", ld(2, b"\x0a\x05ab")), id="map-entry-truncated"),
        pytest.param(envelope("v1", "ConfigMap", ld(2, ld(1, "k") + vi(2, 1))), id="map-value-varint"),
        pytest.param(envelope("v1", "Namespace", ld(2, b"\x0a")), id="spec-truncated"),
        pytest.param(envelope("v1", "Namespace", ld(3, vi(1, 1))), id="status-phase-varint"),
        pytest.param(envelope("v1", "Namespace", ld(1, ld(8, vi(1, 1 << 62)))), id="time-out-of-range"),
        pytest.param(envelope("v1", "Namespace", ld(1, ld(8, ld(1, "x")))), id="time-seconds-as-bytes"),
        pytest.param(envelope("v1", "Namespace", ld(1, ld(17, ld(7, ld(1, "{"))))), id="fieldsv1-not-json"),
        pytest.param(envelope("v1", "Pod", ld(2, ld(14, ld(4, b"\x80")))), id="packed-truncated"),
        pytest.param(envelope("v1", "Pod", ld(2, vi(2, 1))), id="repeated-message-as-varint"),
        pytest.param(envelope("v1", "Pod", ld(2, ld(32, ld(1, "cpu") + ld(2, "1")))), id="quantity-as-string"),
        pytest.param(envelope("v1", "Service", ld(2, ld(1, vi(4, 1)))), id="intorstring-as-varint"),
        pytest.param(envelope("v1", "Service", ld(2, ld(1, ld(4, ld(3, b"\xff"))))), id="intorstring-bad-utf8"),
    ],
)
def test_malformed_bodies_are_bad_request(body: bytes) -> None:
    with pytest.raises(errors.BadRequest) as info:
        protobuf.decode(body)
    assert info.value.code == 400
    assert info.value.message.startswith("malformed protobuf body: ")


# --- DeleteOptions (the MCP server deletes with a protobuf body) ------------------------------------------


@pytest.mark.parametrize("api_version", ["v1", "apps/v1", "meta.k8s.io/v1"])
def test_delete_options_decode_in_any_group_version(api_version: str) -> None:
    raw = vi(1, 0) + ld(2, ld(1, "uid-1")) + ld(4, "Foreground") + ld(5, "All")
    decoded = protobuf.decode(envelope(api_version, "DeleteOptions", raw))
    assert decoded == {"apiVersion": api_version, "kind": "DeleteOptions", "gracePeriodSeconds": 0,
                       "preconditions": {"uid": "uid-1"}, "propagationPolicy": "Foreground", "dryRun": ["All"]}


def test_token_request_from_kubectl_create_token() -> None:
    # `kubectl create token SA --audience=gateway --duration=2h`: spec {audiences=1, expirationSeconds=4}
    spec = b"\x0a\x07gateway\x20\xa0\x38"
    body = protobuf.decode(envelope("authentication.k8s.io/v1", "TokenRequest", b"\x12" + bytes([len(spec)]) + spec))
    assert body["spec"] == {"audiences": ["gateway"], "expirationSeconds": 7200}
    assert (body["apiVersion"], body["kind"]) == ("authentication.k8s.io/v1", "TokenRequest")
