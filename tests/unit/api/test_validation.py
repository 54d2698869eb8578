"""Schema validation and pruning: the guide's manifests pass, bad inputs give the apiserver's causes."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubeserve.api.errors import Cause, invalid
from kubeserve.api.kinds import KINDS, Registry, ResourceKind
from kubeserve.api.schemas import component_schemas, schema_for
from kubeserve.api.validation import prune, validate

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "guide"
GUIDE = Path("/work/shared/spec/serving-llms.md")
REGISTRY = Registry()

Obj = dict[str, Any]


def kind_of(obj: Obj) -> ResourceKind:
    kind = REGISTRY.by_api_version_kind(obj["apiVersion"], obj["kind"])
    assert kind is not None, (obj["apiVersion"], obj["kind"])
    return kind


def fixture(name: str) -> Obj:
    data = yaml.safe_load((FIXTURES / name).read_text())
    assert isinstance(data, dict)
    return data


# ---- the guide's manifests -------------------------------------------------------------------------


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.yaml")), ids=lambda p: p.name)
def test_guide_manifest_is_valid(path: Path) -> None:
    obj = yaml.safe_load(path.read_text())
    result = validate(kind_of(obj), obj)
    assert result.errors == ()
    assert result.unknown_fields == ()
    assert result.ok
    assert prune(kind_of(obj), obj) == obj


def test_fixtures_cover_the_guide() -> None:
    if not GUIDE.exists():
        pytest.skip("the guide is not available here")
    blocks = re.findall(r"^```yaml\n(.*?)^```", GUIDE.read_text(), flags=re.M | re.S)
    docs = [d for d in (yaml.safe_load(b) for b in blocks) if isinstance(d, dict) and "kind" in d]
    fixtures = [yaml.safe_load(p.read_text()) for p in FIXTURES.glob("*.yaml")]
    assert len(docs) == 23
    for doc in docs:
        assert doc in fixtures, doc["metadata"]["name"]


# ---- bad inputs ------------------------------------------------------------------------------------

ISVC = "granite-model-service.yaml"
RUNTIME = "granite-model-runtime.yaml"
ROUTE = "granite-model-route.yaml"
PROFILE = "migrated-gpu-acceleratorprofile.yaml"

TYPE, REQUIRED, INVALID, UNSUPPORTED = (
    "FieldValueTypeInvalid",
    "FieldValueRequired",
    "FieldValueInvalid",
    "FieldValueNotSupported",
)
SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and "
    "must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
    r"'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)


def _set(path: str, value: Any) -> Callable[[Obj], None]:
    def mutate(obj: Obj) -> None:
        *parents, last = path.split("/")
        node: Any = obj
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
        if value is _DELETE:
            del node[last]
        elif isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value

    return mutate


_DELETE = object()

CAUSE_CASES: list[tuple[str, str, Callable[[Obj], None], Cause]] = [
    (
        "wrong type",
        ISVC,
        _set("spec/predictor/minReplicas", "string"),
        Cause(
            TYPE,
            'Invalid value: "string": spec.predictor.minReplicas in body must be of type integer: "string"',
            "spec.predictor.minReplicas",
        ),
    ),
    (
        "boolean for integer",
        ISVC,
        _set("spec/predictor/maxReplicas", True),
        Cause(
            TYPE,
            'Invalid value: "boolean": spec.predictor.maxReplicas in body must be of type integer: "boolean"',
            "spec.predictor.maxReplicas",
        ),
    ),
    (
        "missing model format",
        ISVC,
        _set("spec/predictor/model/modelFormat", _DELETE),
        Cause(REQUIRED, "Required value", "spec.predictor.model.modelFormat"),
    ),
    (
        "missing predictor",
        ISVC,
        _set("spec/predictor", _DELETE),
        Cause(REQUIRED, "Required value", "spec.predictor"),
    ),
    (
        "bad scale metric",
        ISVC,
        _set("spec/predictor/scaleMetric", "gpu"),
        Cause(
            UNSUPPORTED,
            'Unsupported value: "gpu": supported values: "cpu", "memory", "concurrency", "rps"',
            "spec.predictor.scaleMetric",
        ),
    ),
    (
        "bad quantity",
        ISVC,
        _set("spec/predictor/model/resources/limits/memory", "24 Gi"),
        Cause(
            INVALID,
            'Invalid value: "24 Gi": spec.predictor.model.resources.limits.memory in body should match '
            "'^(\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\\+|-)?(([0-9]+"
            "(\\.[0-9]*)?)|(\\.[0-9]+))))?$'",
            "spec.predictor.model.resources.limits",
        ),
    ),
    (
        "bad enum",
        ROUTE,
        _set("spec/tls/termination", "x"),
        Cause(
            UNSUPPORTED,
            'Unsupported value: "x": supported values: "edge", "passthrough", "reencrypt"',
            "spec.tls.termination",
        ),
    ),
    (
        "bad enum with empty value",
        ROUTE,
        _set("spec/tls/insecureEdgeTerminationPolicy", "Deny"),
        Cause(
            UNSUPPORTED,
            'Unsupported value: "Deny": supported values: "Allow", "None", "Redirect", ""',
            "spec.tls.insecureEdgeTerminationPolicy",
        ),
    ),
    (
        "int-or-string",
        ROUTE,
        _set("spec/port/targetPort", True),
        Cause(
            TYPE,
            'Invalid value: "boolean": spec.port.targetPort in body must be of type integer,string: '
            '"boolean"',
            "spec.port.targetPort",
        ),
    ),
    (
        "maximum",
        ROUTE,
        _set("spec/to/weight", 300),
        Cause(
            INVALID,
            "Invalid value: 300: spec.to.weight in body should be less than or equal to 256",
            "spec.to.weight",
        ),
    ),
    (
        "max items",
        ROUTE,
        _set("spec/alternateBackends", [{"kind": "Service", "name": f"s{i}"} for i in range(4)]),
        Cause("FieldValueTooMany", "Too many: 4: must have at most 3 items", "spec.alternateBackends"),
    ),
    ("missing route target", ROUTE, _set("spec/to", _DELETE), Cause(REQUIRED, "Required value", "spec.to")),
    (
        "bad name",
        ISVC,
        _set("metadata/name", "Granite_Model"),
        Cause(INVALID, f'Invalid value: "Granite_Model": {SUBDOMAIN_MSG}', "metadata.name"),
    ),
    (
        "no name",
        RUNTIME,
        _set("metadata/name", _DELETE),
        Cause(REQUIRED, "Required value: name or generateName is required", "metadata.name"),
    ),
    (
        "unquoted boolean label",
        ISVC,
        _set("metadata/labels/opendatahub.io~1dashboard", True),
        Cause(
            TYPE,
            'Invalid value: "boolean": metadata.labels.opendatahub.io/dashboard in body must be of type '
            'string: "boolean"',
            "metadata.labels",
        ),
    ),
    (
        "numeric label",
        RUNTIME,
        _set("metadata/labels/replicas", 2),
        Cause(
            TYPE,
            'Invalid value: "integer": metadata.labels.replicas in body must be of type string: "integer"',
            "metadata.labels",
        ),
    ),
    (
        "numeric annotation",
        RUNTIME,
        _set("metadata/annotations/prometheus.io~1port", 8080),
        Cause(
            TYPE,
            'Invalid value: "integer": metadata.annotations.prometheus.io/port in body must be of type '
            'string: "integer"',
            "metadata.annotations",
        ),
    ),
    (
        "bad label value",
        ISVC,
        _set("metadata/labels/team", "a b"),
        Cause(
            INVALID,
            'Invalid value: "a b": a valid label must be an empty string or consist of alphanumeric '
            "characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. "
            "'MyValue',  or 'my_value',  or '12345', regex used for validation is "
            "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')",
            "metadata.labels",
        ),
    ),
    (
        "container without name",
        RUNTIME,
        _set("spec/containers/0/name", _DELETE),
        Cause(REQUIRED, "Required value", "spec.containers[0].name"),
    ),
    (
        "runtime without containers",
        RUNTIME,
        _set("spec/containers", _DELETE),
        Cause(REQUIRED, "Required value", "spec.containers"),
    ),
    (
        "volume mount without path",
        RUNTIME,
        _set("spec/containers/0/volumeMounts/0/mountPath", _DELETE),
        Cause(REQUIRED, "Required value", "spec.containers[0].volumeMounts[0].mountPath"),
    ),
    (
        "priority minimum",
        RUNTIME,
        _set("spec/supportedModelFormats/0/priority", 0),
        Cause(
            INVALID,
            "Invalid value: 0: spec.supportedModelFormats[0].priority in body should be greater than or "
            "equal to 1",
            "spec.supportedModelFormats[0].priority",
        ),
    ),
    (
        "profile without identifier",
        PROFILE,
        _set("spec/identifier", _DELETE),
        Cause(REQUIRED, "Required value", "spec.identifier"),
    ),
]


def _escape(obj: Obj) -> None:
    """Undo the `~1` escapes `_set` paths use for keys that contain a slash."""
    for meta_key in ("labels", "annotations"):
        mapping = obj.get("metadata", {}).get(meta_key)
        if isinstance(mapping, dict):
            for key in [k for k in mapping if "~1" in k]:
                mapping[key.replace("~1", "/")] = mapping.pop(key)


@pytest.mark.parametrize(
    ("base", "mutate", "cause"), [c[1:] for c in CAUSE_CASES], ids=[c[0] for c in CAUSE_CASES]
)
def test_bad_input_gives_cause(base: str, mutate: Callable[[Obj], None], cause: Cause) -> None:
    obj = fixture(base)
    mutate(obj)
    _escape(obj)
    result = validate(kind_of(obj), obj)
    assert result.errors == (cause,)
    assert not result.ok


UNKNOWN_CASES: list[tuple[str, Callable[[Obj], None], str]] = [
    (ISVC, _set("spec/predictor/foo", 1), "spec.predictor.foo"),
    (ISVC, _set("spec/predictor/model/storageURI", "x"), "spec.predictor.model.storageURI"),
    (RUNTIME, _set("spec/containers/0/imagee", "x"), "spec.containers[0].imagee"),
    (RUNTIME, _set("spec/volumes/0/emptyDir/size", "1Gi"), "spec.volumes[0].emptyDir.size"),
    (ROUTE, _set("spec/tls/foo", "x"), "spec.tls.foo"),
    (ROUTE, _set("metadata/labelz", {}), "metadata.labelz"),
    (PROFILE, _set("specs", {}), "specs"),
]


@pytest.mark.parametrize(("base", "mutate", "path"), UNKNOWN_CASES, ids=[c[2] for c in UNKNOWN_CASES])
def test_unknown_field_is_reported_and_pruned(base: str, mutate: Callable[[Obj], None], path: str) -> None:
    original = fixture(base)
    obj = copy.deepcopy(original)
    mutate(obj)
    result = validate(kind_of(obj), obj)
    assert result.errors == ()
    assert result.unknown_fields == (path,)
    assert prune(kind_of(obj), obj) == original


def test_preserved_fields_are_not_unknown() -> None:
    obj = fixture(ISVC)
    obj["spec"]["predictor"]["sklearn"] = {"storageUri": "s3://x", "anything": {"goes": 1}}
    obj["spec"]["predictor"]["autoScaling"] = {"metrics": [{"type": "Resource"}]}
    obj["spec"]["predictor"]["affinity"] = {"nodeAffinity": {"whatever": True}}
    obj["status"] = {"url": "http://x", "conditions": [{"type": "Ready", "status": "True"}], "extra": 1}
    result = validate(kind_of(obj), obj)
    assert result.errors == ()
    assert result.unknown_fields == ()
    assert prune(kind_of(obj), obj) == obj


def test_quantities_and_numbers() -> None:
    obj = fixture(ISVC)
    limits = obj["spec"]["predictor"]["model"]["resources"]["limits"]
    limits.update({"cpu": "500m", "memory": 17179869184, "nvidia.com/gpu": 1, "ephemeral-storage": 0.5})
    limits["example.com/foo"] = "1e3"
    obj["spec"]["predictor"]["minReplicas"] = 1.0  # integral JSON numbers are integers
    assert validate(kind_of(obj), obj).errors == ()
    limits["cpu"] = True
    (error,) = validate(kind_of(obj), obj).errors
    assert error.field == "spec.predictor.model.resources.limits"
    assert error.message.endswith('limits.cpu in body must be of type integer,string: "boolean"')


def test_route_target_kind_has_a_default() -> None:
    obj = fixture("multi-gpu-model-route.yaml")
    del obj["spec"]["to"]["kind"]
    assert validate(kind_of(obj), obj).errors == ()


def test_several_errors_are_all_reported() -> None:
    obj = fixture(ISVC)
    obj["spec"]["predictor"]["minReplicas"] = "1"
    obj["spec"]["predictor"]["scaleMetric"] = "gpu"
    obj["spec"]["predictor"]["model"]["modelFormat"] = {}
    fields = sorted(c.field for c in validate(kind_of(obj), obj).errors)
    assert fields == [
        "spec.predictor.minReplicas",
        "spec.predictor.model.modelFormat.name",
        "spec.predictor.scaleMetric",
    ]


def test_invalid_error_wording() -> None:
    obj = fixture(ISVC)
    obj["spec"]["predictor"]["minReplicas"] = "string"
    err = invalid(
        "InferenceService", "serving.kserve.io", "granite-model", list(validate(kind_of(obj), obj).errors)
    )
    assert err.code == 422
    assert err.message == (
        'InferenceService.serving.kserve.io "granite-model" is invalid: spec.predictor.minReplicas: Invalid '
        'value: "string": spec.predictor.minReplicas in body must be of type integer: "string"'
    )


# ---- built-in kinds: the fields the Python client requires ----------------------------------------


def _builtin(kind: str, body: Obj, api_version: str = "v1") -> Obj:
    return {
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {"name": "x", "namespace": "default"},
        **body,
    }


BUILTIN_CASES: list[tuple[Obj, list[str]]] = [
    (_builtin("Pod", {"spec": {}}), ["spec.containers"]),
    (_builtin("Pod", {"spec": {"containers": [{"image": "busybox"}]}}), ["spec.containers[0].name"]),
    (
        _builtin(
            "Pod",
            {"spec": {"containers": [{"name": "c", "ports": [{"name": "http"}], "env": [{"value": "1"}]}]}},
        ),
        ["spec.containers[0].env[0].name", "spec.containers[0].ports[0].containerPort"],
    ),
    (_builtin("Deployment", {"spec": {"replicas": 1}}, "apps/v1"), ["spec.selector", "spec.template"]),
    (_builtin("ReplicaSet", {"spec": {}}, "apps/v1"), ["spec.selector"]),
    (
        _builtin("HorizontalPodAutoscaler", {"spec": {"minReplicas": 1}}, "autoscaling/v2"),
        ["spec.maxReplicas", "spec.scaleTargetRef"],
    ),
    (_builtin("Event", {"reason": "Created"}), ["involvedObject"]),
    (_builtin("Service", {"spec": {"ports": [{"targetPort": 8080}]}}), ["spec.ports[0].port"]),
    (_builtin("PersistentVolumeClaim", {"spec": {}}), []),
    (_builtin("StorageClass", {}, "storage.k8s.io/v1"), ["provisioner"]),
    (
        _builtin("EndpointSlice", {"endpoints": [{}]}, "discovery.k8s.io/v1"),
        ["addressType", "endpoints[0].addresses"],
    ),
    (_builtin("SelfSubjectAccessReview", {}, "authorization.k8s.io/v1"), ["spec"]),
    (_builtin("Lease", {"spec": {"holderIdentity": "me"}}, "coordination.k8s.io/v1"), []),
    (_builtin("Secret", {"stringData": {"a": "b"}, "type": "Opaque"}), []),
    (_builtin("ConfigMap", {"data": {"a": "b"}}), []),
]


@pytest.mark.parametrize(
    ("obj", "required"), BUILTIN_CASES, ids=[f"{c[0]['kind']}-{i}" for i, c in enumerate(BUILTIN_CASES)]
)
def test_builtin_required_fields(obj: Obj, required: list[str]) -> None:
    result = validate(kind_of(obj), obj)
    assert sorted(c.field for c in result.errors) == required
    assert all(c.reason == REQUIRED and c.message == "Required value" for c in result.errors)


def test_name_rules_per_kind() -> None:
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a.b"}}
    assert validate(kind_of(ns), ns).errors == (
        Cause(INVALID, 'Invalid value: "a.b": must not contain dots', "metadata.name"),
    )
    svc = _builtin("Service", {"spec": {"ports": [{"port": 80}]}})
    svc["metadata"]["name"] = "1web"
    (error,) = validate(kind_of(svc), svc).errors
    assert error.message.startswith('Invalid value: "1web": a DNS-1035 label must consist of')
    cm = _builtin("ConfigMap", {})
    cm["metadata"] = {"generateName": "cm-"}
    assert validate(kind_of(cm), cm).errors == ()
    long = "a" * 254
    cm["metadata"] = {"name": long}
    assert validate(kind_of(cm), cm).errors[0] == Cause(
        INVALID, f'Invalid value: "{long}": must be no more than 253 characters', "metadata.name"
    )


def test_label_key_rules() -> None:
    cm = _builtin("ConfigMap", {})
    cm["metadata"]["labels"] = {"example.com/ok": "v", "bad key": "v", "UPPER.example.com/x": "v"}
    errors = validate(kind_of(cm), cm).errors
    assert [c.field for c in errors] == ["metadata.labels", "metadata.labels"]
    assert errors[0].message.startswith('Invalid value: "bad key": name part must consist of alphanumeric')
    assert "prefix part a lowercase RFC 1123 subdomain" in errors[1].message


def test_prune_drops_nulls_and_keeps_the_input() -> None:
    obj = fixture(ROUTE)
    obj["metadata"]["creationTimestamp"] = None
    obj["spec"]["host"] = None
    obj["spec"]["bogus"] = {"a": 1}
    before = copy.deepcopy(obj)
    pruned = prune(kind_of(obj), obj)
    assert obj == before
    assert pruned == fixture(ROUTE)
    assert validate(kind_of(obj), obj).errors == ()


def test_every_kind_has_a_schema() -> None:
    schemas = component_schemas()
    assert set(schemas) == {k.schema_name for k in KINDS}
    for kind in KINDS:
        schema = schema_for(kind)
        assert schema is schemas[kind.schema_name]
        assert schema["x-kubernetes-group-version-kind"] == [
            {"group": kind.group, "version": kind.version, "kind": kind.kind}
        ]
        props = schema["properties"]
        assert {"apiVersion", "kind", "metadata"} <= set(props)
        assert "labels" in props["metadata"]["properties"]
        assert schema_for(kind) is schema  # cached


@pytest.mark.parametrize(("kind_name", "group", "prefix"), [("Pod", "", "spec"),
                                                             ("Deployment", "apps", "spec.template.spec")])
def test_container_and_volume_names_must_be_dns_labels(kind_name: str, group: str, prefix: str) -> None:
    """They become file and directory names on the node: `../x` must never get that far."""
    kind = Registry().by_group_kind(group, kind_name)
    assert kind is not None
    pod_spec = {"containers": [{"name": "../../escape", "image": "busybox"}, {"name": "ok", "image": "busybox"}],
                "initContainers": [{"name": "Init", "image": "busybox"}],
                "volumes": [{"name": "a/b", "emptyDir": {}}]}
    obj: dict[str, Any] = {"metadata": {"name": "x"}, "spec": pod_spec}
    if kind_name == "Deployment":
        obj["spec"] = {"selector": {"matchLabels": {"a": "b"}},
                       "template": {"metadata": {"labels": {"a": "b"}}, "spec": pod_spec}}
    fields = {e.field for e in validate(kind, obj).errors}
    assert fields == {f"{prefix}.containers[0].name", f"{prefix}.initContainers[0].name", f"{prefix}.volumes[0].name"}
