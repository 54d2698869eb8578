"""PATCH semantics: RFC 7386 merge patch, RFC 6902 JSON patch and strategic merge patch for built-ins."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kubeserve.api.errors import BadRequest, Invalid
from kubeserve.api.patch import json_patch, merge_patch, strategic_merge_patch

# ---- merge patch (RFC 7386) ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("original", "patch", "expected"),
    [
        # RFC 7386 appendix A
        ({"a": "b"}, {"a": "c"}, {"a": "c"}),
        ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
        ({"a": "b"}, {"a": None}, {}),
        ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
        ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
        ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
        ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
        ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
        (["a", "b"], ["c", "d"], ["c", "d"]),
        ({"a": "b"}, ["c"], ["c"]),
        ({"a": "foo"}, None, None),
        ({"a": "foo"}, "bar", "bar"),
        ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
        ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
        ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
        # what kubectl label / kopf / kubectl scale send
        ({"metadata": {"labels": {"a": "1"}}}, {"metadata": {"labels": {"b": "2", "a": None}}},
         {"metadata": {"labels": {"b": "2"}}}),
        ({"spec": {"replicas": 1, "x": [1, 2]}}, {"spec": {"replicas": 3, "x": [3]}},
         {"spec": {"replicas": 3, "x": [3]}}),
    ],
)
def test_merge_patch_rfc7386(original: Any, patch: Any, expected: Any) -> None:
    assert merge_patch(original, patch) == expected


def test_merge_patch_never_mutates_and_never_aliases() -> None:
    original = {"a": {"b": [1, 2]}, "keep": {"x": 1}}
    patch = {"a": {"c": {"d": [3]}}, "n": {"m": 1}}
    before_o, before_p = copy.deepcopy(original), copy.deepcopy(patch)
    result = merge_patch(original, patch)
    assert original == before_o and patch == before_p
    result["a"]["c"]["d"].append(4)
    result["keep"]["x"] = 2
    result["n"]["m"] = 2
    assert original == before_o and patch == before_p


# ---- JSON patch (RFC 6902) -----------------------------------------------------------------------------

DOC = {"metadata": {"name": "x", "resourceVersion": "103", "finalizers": ["a"]}, "spec": {"l": [1, 2]}}


@pytest.mark.parametrize(
    ("ops", "check"),
    [
        ([{"op": "add", "path": "/spec/n", "value": 1}], lambda d: d["spec"]["n"] == 1),
        ([{"op": "add", "path": "/spec/l/-", "value": 3}], lambda d: d["spec"]["l"] == [1, 2, 3]),
        ([{"op": "add", "path": "/spec/l/0", "value": 0}], lambda d: d["spec"]["l"] == [0, 1, 2]),
        ([{"op": "remove", "path": "/spec/l/0"}], lambda d: d["spec"]["l"] == [2]),
        ([{"op": "replace", "path": "/spec/l", "value": []}], lambda d: d["spec"]["l"] == []),
        ([{"op": "move", "from": "/spec/l", "path": "/spec/m"}], lambda d: d["spec"] == {"m": [1, 2]}),
        ([{"op": "copy", "from": "/spec/l", "path": "/spec/m"}], lambda d: d["spec"]["m"] == d["spec"]["l"]),
        ([{"op": "test", "path": "/metadata/name", "value": "x"}], lambda d: d == DOC),
        ([{"op": "add", "path": "/metadata/labels", "value": {"a~b/c": "1"}},
          {"op": "replace", "path": "/metadata/labels/a~0b~1c", "value": "2"}],
         lambda d: d["metadata"]["labels"] == {"a~b/c": "2"}),
        ([], lambda d: d == DOC),
        # kopf: add a finalizer, guarded by the resourceVersion
        ([{"op": "test", "path": "/metadata/resourceVersion", "value": "103"},
          {"op": "add", "path": "/metadata/finalizers", "value": ["kopf.zalando.org/KopfFinalizerMarker"]}],
         lambda d: d["metadata"]["finalizers"] == ["kopf.zalando.org/KopfFinalizerMarker"]),
        # kopf: release the object
        ([{"op": "test", "path": "/metadata/resourceVersion", "value": "103"},
          {"op": "remove", "path": "/metadata/finalizers"}], lambda d: "finalizers" not in d["metadata"]),
    ],
)
def test_json_patch_applies(ops: list[dict[str, Any]], check: Any) -> None:
    before = copy.deepcopy(DOC)
    result = json_patch(DOC, ops)
    assert check(result)
    assert before == DOC


def test_json_patch_does_not_mutate_on_failure() -> None:
    doc = copy.deepcopy(DOC)
    with pytest.raises(Invalid):
        json_patch(doc, [{"op": "add", "path": "/spec/n", "value": 1}, {"op": "remove", "path": "/nope"}])
    assert doc == DOC


@pytest.mark.parametrize(
    ("ops", "fragment"),
    [
        ({"op": "add"}, "list of operations"),
        ("nope", "list of operations"),
        (["add"], "expected an object"),
        ([{"path": "/a", "value": 1}], 'missing "op"'),
        ([{"op": "upsert", "path": "/a", "value": 1}], "unsupported op 'upsert'"),
        ([{"op": "add", "value": 1}], "missing 'path'"),
        ([{"op": "add", "path": "/a"}], "missing 'value'"),
        ([{"op": "test", "path": "/a"}], "missing 'value'"),
        ([{"op": "move", "path": "/a"}], "missing 'from'"),
        ([{"op": "add", "path": "a", "value": 1}], "not a JSON pointer"),
        ([{"op": "add", "path": "/a~2", "value": 1}], "not a JSON pointer"),
        ([{"op": "remove", "path": 5}], "not a JSON pointer"),
        ([{"op": "copy", "from": "x", "path": "/a"}], "not a JSON pointer"),
        ([{"op": "test", "path": "/metadata/name", "value": "x"}, {"op": "bogus", "path": "/a"}], "operation 1"),
    ],
)
def test_json_patch_malformed_is_bad_request(ops: Any, fragment: str) -> None:
    with pytest.raises(BadRequest) as info:
        json_patch(DOC, ops)
    assert fragment in info.value.message


@pytest.mark.parametrize(
    ("ops", "fragments"),
    [
        ([{"op": "test", "path": "/metadata/resourceVersion", "value": "102"}],
         ["test operation at '/metadata/resourceVersion'", "operation 0"]),
        ([{"op": "test", "path": "/metadata/missing", "value": "1"}], ["test operation at '/metadata/missing'"]),
        ([{"op": "remove", "path": "/spec/missing"}], ["remove operation at '/spec/missing'"]),
        ([{"op": "replace", "path": "/spec/missing", "value": 1}], ["replace operation at '/spec/missing'"]),
        ([{"op": "add", "path": "/nope/deeper", "value": 1}], ["add operation at '/nope/deeper'"]),
        ([{"op": "add", "path": "/spec/l/9", "value": 1}], ["add operation at '/spec/l/9'"]),
        ([{"op": "add", "path": "/spec/l/x", "value": 1}], ["add operation at '/spec/l/x'"]),
        ([{"op": "move", "from": "/spec/zz", "path": "/spec/m"}], ["move operation at '/spec/m' from '/spec/zz'"]),
        ([{"op": "add", "path": "/spec/n", "value": 1}, {"op": "remove", "path": "/metadata/finalizers/5"}],
         ["remove operation at '/metadata/finalizers/5'", "operation 1"]),
    ],
)
def test_json_patch_failed_operation_is_invalid(ops: list[dict[str, Any]], fragments: list[str]) -> None:
    with pytest.raises(Invalid) as info:
        json_patch(DOC, ops)
    assert info.value.code == 422
    for fragment in fragments:
        assert fragment in info.value.message
    assert info.value.causes and info.value.causes[0].reason == "UnexpectedServerResponse"


def test_json_patch_must_produce_an_object() -> None:
    with pytest.raises(BadRequest):
        json_patch(DOC, [{"op": "replace", "path": "", "value": [1]}])
    assert json_patch(DOC, [{"op": "replace", "path": "", "value": {"a": 1}}]) == {"a": 1}


# ---- strategic merge patch: maps and plain lists -------------------------------------------------------


def smp(original: dict[str, Any], patch: dict[str, Any], kind: str = "Pod") -> dict[str, Any]:
    before_o, before_p = copy.deepcopy(original), copy.deepcopy(patch)
    result = strategic_merge_patch(original, patch, kind)
    assert original == before_o, "original mutated"
    assert patch == before_p, "patch mutated"
    return result


def test_smp_maps_deep_merge_and_null_deletes() -> None:
    original = {"metadata": {"name": "p", "labels": {"a": "1", "b": "2"}}, "spec": {"nodeName": "n1"}}
    patch = {"metadata": {"labels": {"a": None, "c": "3"}}, "spec": {"nodeName": None, "hostname": "h"}}
    assert smp(original, patch) == {
        "metadata": {"name": "p", "labels": {"b": "2", "c": "3"}}, "spec": {"hostname": "h"},
    }


@pytest.mark.parametrize(
    ("kind", "original", "patch", "expected"),
    [
        ("Pod", {"spec": {"tolerations": [{"key": "a"}, {"key": "b"}]}}, {"spec": {"tolerations": [{"key": "c"}]}},
         {"spec": {"tolerations": [{"key": "c"}]}}),
        ("Pod", {"spec": {"containers": [{"name": "c", "args": ["a", "b"], "command": ["x"]}]}},
         {"spec": {"containers": [{"name": "c", "args": ["z"]}]}},
         {"spec": {"containers": [{"name": "c", "args": ["z"], "command": ["x"]}]}}),
        ("Endpoints", {"subsets": [{"addresses": [{"ip": "1.1.1.1"}]}]}, {"subsets": [{"addresses": []}]},
         {"subsets": [{"addresses": []}]}),
        ("Namespace", {"spec": {"finalizers": ["kubernetes"]}}, {"spec": {"finalizers": ["other"]}},
         {"spec": {"finalizers": ["other"]}}),
        ("ServiceAccount", {"imagePullSecrets": [{"name": "a"}]}, {"imagePullSecrets": [{"name": "b"}]},
         {"imagePullSecrets": [{"name": "b"}]}),
        ("HorizontalPodAutoscaler", {"spec": {"metrics": [{"type": "Resource"}]}}, {"spec": {"metrics": []}},
         {"spec": {"metrics": []}}),
        # a kind outside the table: only ObjectMeta lists merge
        ("Route", {"spec": {"conditions": [{"type": "a"}]}}, {"spec": {"conditions": [{"type": "b"}]}},
         {"spec": {"conditions": [{"type": "b"}]}}),
    ],
)
def test_smp_lists_without_merge_key_are_replaced(
    kind: str, original: dict[str, Any], patch: dict[str, Any], expected: dict[str, Any]
) -> None:
    assert smp(original, patch, kind) == expected


# ---- strategic merge patch: merge keys, path-aware -----------------------------------------------------

CONTAINER = ("spec", "containers", 0)
TEMPLATE_CONTAINER = ("spec", "template", "spec", "containers", 0)


def nest(path: tuple[str | int, ...], leaf: Any) -> Any:
    """Build `{"spec": {"containers": [{"name": "main", <leaf>}]}}`-style documents from a path."""
    if not path:
        return leaf
    head, rest = path[0], path[1:]
    if isinstance(head, int):
        return [{"name": "main", **nest(rest, leaf)}]
    return {head: nest(rest, leaf)}


MERGE_KEYS = [
    # (kind, path to the object holding the list, list field, merge key, two distinct key values)
    ("Pod", ("spec",), "containers", "name", ("a", "b")),
    ("Pod", ("spec",), "initContainers", "name", ("a", "b")),
    ("Pod", ("spec",), "ephemeralContainers", "name", ("a", "b")),
    ("Pod", CONTAINER, "env", "name", ("A", "B")),
    ("Pod", CONTAINER, "ports", "containerPort", (80, 443)),
    ("Pod", CONTAINER, "volumeMounts", "mountPath", ("/a", "/b")),
    ("Pod", CONTAINER, "volumeDevices", "devicePath", ("/dev/a", "/dev/b")),
    ("Pod", ("spec",), "volumes", "name", ("a", "b")),
    ("Pod", ("spec",), "imagePullSecrets", "name", ("a", "b")),
    ("Pod", ("spec",), "hostAliases", "ip", ("1.1.1.1", "2.2.2.2")),
    ("Pod", ("spec",), "topologySpreadConstraints", "topologyKey", ("zone", "host")),
    ("Pod", ("status",), "conditions", "type", ("Ready", "Initialized")),
    ("Pod", ("status",), "podIPs", "ip", ("10.0.0.1", "fd00::1")),
    ("Pod", ("metadata",), "ownerReferences", "uid", ("u1", "u2")),
    ("Deployment", ("spec", "template", "spec"), "initContainers", "name", ("a", "b")),
    ("Deployment", TEMPLATE_CONTAINER, "env", "name", ("A", "B")),
    ("Deployment", TEMPLATE_CONTAINER, "ports", "containerPort", (8080, 9090)),
    ("Deployment", ("status",), "conditions", "type", ("Available", "Progressing")),
    ("ReplicaSet", TEMPLATE_CONTAINER, "volumeMounts", "mountPath", ("/a", "/b")),
    ("ReplicaSet", ("status",), "conditions", "type", ("ReplicaFailure", "Other")),
    ("Service", ("spec",), "ports", "port", (80, 443)),
    ("Service", ("status",), "conditions", "type", ("A", "B")),
    ("Node", ("status",), "addresses", "type", ("InternalIP", "Hostname")),
    ("Node", ("status",), "conditions", "type", ("Ready", "MemoryPressure")),
    ("Namespace", ("status",), "conditions", "type", ("A", "B")),
    ("PersistentVolumeClaim", ("status",), "conditions", "type", ("Resizing", "Other")),
    ("HorizontalPodAutoscaler", ("status",), "conditions", "type", ("AbleToScale", "ScalingActive")),
    ("ServiceAccount", (), "secrets", "name", ("a", "b")),
    ("ConfigMap", ("metadata",), "ownerReferences", "uid", ("u1", "u2")),
]


@pytest.mark.parametrize(("kind", "where", "field", "key", "values"), MERGE_KEYS)
def test_smp_merges_lists_by_their_key(
    kind: str, where: tuple[str | int, ...], field: str, key: str, values: tuple[Any, Any]
) -> None:
    first, second = values
    original = nest(where, {field: [{key: first, "old": 1, "keep": True}]})
    patch = nest(where, {field: [{key: first, "old": 2}, {key: second, "new": 1}]})
    expected = nest(where, {field: [{key: first, "old": 2, "keep": True}, {key: second, "new": 1}]})
    assert smp(original, patch, kind) == expected
    deleting = nest(where, {field: [{"$patch": "delete", key: first}]})
    assert smp(original, deleting, kind) == nest(where, {field: []})


def test_smp_ports_are_path_aware() -> None:
    pod = {"spec": {"containers": [{"name": "c", "ports": [{"containerPort": 80, "name": "http"}]}]}}
    patch = {"spec": {"containers": [{"name": "c", "ports": [{"containerPort": 80, "protocol": "TCP"}]}]}}
    assert smp(pod, patch)["spec"]["containers"][0]["ports"] == [
        {"containerPort": 80, "name": "http", "protocol": "TCP"}
    ]
    svc = {"spec": {"ports": [{"port": 80, "targetPort": 8080, "name": "http"}]}}
    assert smp(svc, {"spec": {"ports": [{"port": 80, "targetPort": 9090}]}}, "Service")["spec"]["ports"] == [
        {"port": 80, "targetPort": 9090, "name": "http"}
    ]
    # Service ports are not keyed by containerPort: a patch without `port` is malformed
    with pytest.raises(BadRequest, match="merge key: port"):
        smp(svc, {"spec": {"ports": [{"containerPort": 80}]}}, "Service")


@pytest.mark.parametrize(
    ("original", "patch", "expected"),
    [
        (["a", "b"], ["b", "c"], ["a", "b", "c"]),
        (["a", "b"], ["c", "a"], ["c", "a", "b"]),
        ([], ["a", "a"], ["a"]),
        (["a"], [], ["a"]),
    ],
)
def test_smp_finalizers_merge_as_a_set(original: list[str], patch: list[str], expected: list[str]) -> None:
    result = smp({"metadata": {"finalizers": original}}, {"metadata": {"finalizers": patch}}, "ConfigMap")
    assert result == {"metadata": {"finalizers": expected}}


def test_smp_node_pod_cidrs_merge_as_a_set() -> None:
    result = smp({"spec": {"podCIDRs": ["10.0.0.0/24"]}}, {"spec": {"podCIDRs": ["fd00::/64"]}}, "Node")
    # apimachinery's order: a patch element the server list cannot place goes before server-only ones
    assert result["spec"]["podCIDRs"] == ["fd00::/64", "10.0.0.0/24"]


def test_smp_patch_order_wins_and_server_only_elements_keep_their_place() -> None:
    original = {"spec": {"containers": [{"name": "a"}, {"name": "b"}, {"name": "c"}]}}
    result = smp(original, {"spec": {"containers": [{"name": "d"}, {"name": "a", "image": "x"}]}})
    assert [c["name"] for c in result["spec"]["containers"]] == ["d", "a", "b", "c"]
    assert result["spec"]["containers"][1] == {"name": "a", "image": "x"}


# ---- strategic merge patch: directives -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("original", "patch", "expected"),
    [
        # $patch on maps
        ({"spec": {"nodeSelector": {"a": "1", "b": "2"}}}, {"spec": {"nodeSelector": {"$patch": "replace", "c": "3"}}},
         {"spec": {"nodeSelector": {"c": "3"}}}),
        ({"spec": {"nodeSelector": {"a": "1"}, "x": 1}}, {"spec": {"nodeSelector": {"$patch": "delete"}}},
         {"spec": {"x": 1}}),
        ({"spec": {"nodeSelector": {"a": "1"}}}, {"spec": {"nodeSelector": {"$patch": "merge", "b": "2"}}},
         {"spec": {"nodeSelector": {"a": "1", "b": "2"}}}),
        ({"a": 1, "spec": {"b": 2}}, {"$patch": "replace", "spec": {"c": 3}}, {"spec": {"c": 3}}),
        ({"a": 1}, {"$patch": "delete"}, {}),
        # $patch on list elements
        ({"spec": {"containers": [{"name": "a"}, {"name": "b"}]}},
         {"spec": {"containers": [{"name": "b", "$patch": "delete"}]}}, {"spec": {"containers": [{"name": "a"}]}}),
        ({"spec": {"containers": [{"name": "a", "image": "i"}, {"name": "b"}]}},
         {"spec": {"containers": [{"name": "c"}, {"$patch": "replace"}]}}, {"spec": {"containers": [{"name": "c"}]}}),
        ({"spec": {"containers": [{"name": "a", "image": "i"}]}},
         {"spec": {"containers": [{"name": "a", "$patch": "merge", "args": ["x"]}]}},
         {"spec": {"containers": [{"name": "a", "image": "i", "args": ["x"]}]}}),
        ({"spec": {"containers": [{"name": "a", "image": "i", "env": [{"name": "A"}]}]}},
         {"spec": {"containers": [{"name": "a", "env": [{"$patch": "replace"}, {"name": "B"}]}]}},
         {"spec": {"containers": [{"name": "a", "image": "i", "env": [{"name": "B"}]}]}}),
        ({"spec": {"containers": [{"name": "a", "resources": {"limits": {"cpu": "1"}, "requests": {"cpu": "1"}}}]}},
         {"spec": {"containers": [{"name": "a", "resources": {"$patch": "replace", "limits": {"cpu": "2"}}}]}},
         {"spec": {"containers": [{"name": "a", "resources": {"limits": {"cpu": "2"}}}]}}),
        # deleting from a missing list, or a missing element, is a no-op
        ({"spec": {}}, {"spec": {"containers": [{"name": "x", "$patch": "delete"}]}}, {"spec": {"containers": []}}),
        ({"spec": {"containers": [{"name": "a"}]}}, {"spec": {"containers": [{"name": "x", "$patch": "delete"}]}},
         {"spec": {"containers": [{"name": "a"}]}}),
        # $setElementOrder
        ({"spec": {"containers": [{"name": "a"}, {"name": "b"}]}},
         {"spec": {"$setElementOrder/containers": [{"name": "b"}, {"name": "a"}]}},
         {"spec": {"containers": [{"name": "b"}, {"name": "a"}]}}),
        ({"spec": {"containers": [{"name": "a"}, {"name": "side"}, {"name": "b"}]}},
         {"spec": {"$setElementOrder/containers": [{"name": "b"}, {"name": "a"}, {"name": "c"}],
                   "containers": [{"name": "c", "image": "i"}]}},
         # apimachinery interleaves the server-only "side" by its live position (before "b")
         {"spec": {"containers": [{"name": "side"}, {"name": "b"}, {"name": "a"}, {"name": "c", "image": "i"}]}}),
        ({"metadata": {"finalizers": ["a", "b", "c"]}},
         {"metadata": {"$setElementOrder/finalizers": ["c", "a"], "$deleteFromPrimitiveList/finalizers": ["b"]}},
         {"metadata": {"finalizers": ["c", "a"]}}),
        ({"spec": {"tolerations": [{"key": "a"}]}},
         {"spec": {"$setElementOrder/tolerations": [{"key": "b"}], "tolerations": [{"key": "b"}]}},
         {"spec": {"tolerations": [{"key": "b"}]}}),
        ({"spec": {}}, {"spec": {"$setElementOrder/containers": [{"name": "a"}]}}, {"spec": {}}),
        # $retainKeys (Deployment strategy, volumes)
        ({"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}}},
         {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate", "rollingUpdate": None}}},
         {"spec": {"strategy": {"type": "Recreate"}}}),
        ({"spec": {"volumes": [{"name": "v", "emptyDir": {}}]}},
         {"spec": {"volumes": [{"$retainKeys": ["configMap", "name"], "configMap": {"name": "cm"}, "name": "v"}]}},
         {"spec": {"volumes": [{"name": "v", "configMap": {"name": "cm"}}]}}),
        # $deleteFromPrimitiveList
        ({"metadata": {"finalizers": ["a", "b", "c"]}},
         {"metadata": {"$deleteFromPrimitiveList/finalizers": ["b", "z"]}}, {"metadata": {"finalizers": ["a", "c"]}}),
        ({"metadata": {}}, {"metadata": {"$deleteFromPrimitiveList/finalizers": ["b"]}}, {"metadata": {}}),
        ({"metadata": {"finalizers": ["a"]}},
         {"metadata": {"finalizers": ["b"], "$deleteFromPrimitiveList/finalizers": ["a"]}},
         {"metadata": {"finalizers": ["b"]}}),
    ],
)
def test_smp_directives(original: dict[str, Any], patch: dict[str, Any], expected: dict[str, Any]) -> None:
    kind = "Deployment" if "strategy" in str(patch) else "Pod"
    assert smp(original, patch, kind) == expected


def test_smp_strips_every_directive_from_new_values() -> None:
    patch = {
        "spec": {
            "containers": [{"name": "new", "$setElementOrder/env": [{"name": "A"}], "env": [{"name": "A"}],
                            "resources": {"$patch": "replace", "limits": {"cpu": "1"}}}],
            "volumes": [{"$retainKeys": ["name", "emptyDir"], "name": "v", "emptyDir": {}}],
            "tolerations": [{"$patch": "replace"}, {"key": "k", "nested": {"$patch": "merge", "a": 1}}],
        }
    }
    result = smp({}, patch)
    assert "$" not in str(result)
    assert result["spec"]["containers"] == [
        {"name": "new", "env": [{"name": "A"}], "resources": {"limits": {"cpu": "1"}}}
    ]
    assert result["spec"]["tolerations"] == [{"key": "k", "nested": {"a": 1}}]


@pytest.mark.parametrize(
    ("patch", "fragment"),
    [
        ({"spec": {"$foo": 1}}, "unknown strategic merge patch directive '$foo'"),
        ({"spec": {"$setElementOrder/": []}}, "unknown strategic merge patch directive"),
        ({"spec": {"nodeSelector": {"$patch": "bogus"}}}, "Unknown patch type: 'bogus'"),
        ({"spec": {"containers": [{"name": "a", "$patch": "bogus"}]}}, "Unknown patch type: 'bogus'"),
        ({"spec": {"containers": [{"image": "x"}]}}, "does not contain declared merge key: name"),
        ({"spec": {"containers": [{"$patch": "delete", "image": "x"}]}}, "does not contain declared merge key: name"),
        ({"spec": {"$setElementOrder/containers": "a"}}, "must be a list"),
        ({"spec": {"$setElementOrder/containers": [{"image": "a"}]}}, "needs the merge key name"),
        ({"metadata": {"$deleteFromPrimitiveList/finalizers": "a"}}, "must be a list"),
        ({"spec": {"$retainKeys": "a"}}, "invalid patch format of retainKeys"),
        ({"spec": {"$retainKeys": ["a"], "b": 1}}, "invalid patch format of retainKeys"),
        ({"metadata": {"finalizers": ["a", {"b": 1}]}}, "list element types are not identical"),
        ({"metadata": {"finalizers": [["a"]]}}, "lists of lists"),
    ],
)
def test_smp_malformed_patches_are_bad_requests(patch: dict[str, Any], fragment: str) -> None:
    original = {"metadata": {"finalizers": ["x"]}, "spec": {"containers": [{"name": "a"}]}}
    with pytest.raises(BadRequest) as info:
        smp(original, patch)
    assert fragment in info.value.message


def test_smp_objects_in_a_scalar_set_are_bad_requests() -> None:
    with pytest.raises(BadRequest, match="without a merge key"):
        smp({}, {"metadata": {"finalizers": [{"a": 1}]}})


def test_smp_rejects_a_non_object_patch() -> None:
    with pytest.raises(BadRequest):
        strategic_merge_patch({}, [{"op": "add"}], "Pod")  # type: ignore[arg-type]


# ---- strategic merge patch: what real clients send -----------------------------------------------------

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def deployment() -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "uid": "u-1", "resourceVersion": "7",
                     "annotations": {LAST_APPLIED: "{old}\n"}, "finalizers": ["example.com/a"]},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [
                        {"name": "main", "image": "web:1", "imagePullPolicy": "IfNotPresent",
                         "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "b"}],
                         "ports": [{"containerPort": 80, "protocol": "TCP"}]},
                        {"name": "sidecar", "image": "side:1"},
                    ],
                    "tolerations": [{"key": "k", "operator": "Exists"}],
                },
            },
        },
        "status": {"replicas": 1, "conditions": [{"type": "Available", "status": "True"}]},
    }


def test_smp_kubectl_client_side_apply_observed_patch() -> None:
    """The patch kubectl 1.32 sent for a Deployment (notes §5.5), on a Deployment with one container."""
    live = deployment()
    live["spec"]["template"]["spec"]["containers"] = [
        {"name": "main", "image": "web:1", "env": [{"name": "A", "value": "1"}]}
    ]
    patch = {
        "metadata": {"annotations": {LAST_APPLIED: "{new}\n"}},
        "spec": {"replicas": 2, "template": {"spec": {
            "$setElementOrder/containers": [{"name": "main"}],
            "containers": [{"$setElementOrder/env": [{"name": "A"}], "env": [{"name": "A", "value": "2"}],
                            "name": "main"}],
        }}},
    }
    result = smp(live, patch, "Deployment")
    expected = deployment()
    expected["metadata"]["annotations"][LAST_APPLIED] = "{new}\n"
    expected["spec"]["replicas"] = 2
    expected["spec"]["template"]["spec"]["containers"] = [
        {"name": "main", "image": "web:1", "env": [{"name": "A", "value": "2"}]}
    ]
    assert result == expected


def test_smp_kubectl_client_side_apply_removals() -> None:
    """What kubectl's three-way patch looks like when the file drops an env var, a container, a finalizer
    and switches the rollout strategy."""
    patch = {
        "metadata": {"annotations": {LAST_APPLIED: "{new}\n"},
                     "$deleteFromPrimitiveList/finalizers": ["example.com/a"],
                     "$setElementOrder/finalizers": ["example.com/b"], "finalizers": ["example.com/b"]},
        "spec": {
            "strategy": {"$retainKeys": ["type"], "rollingUpdate": None, "type": "Recreate"},
            "template": {"spec": {
                "$setElementOrder/containers": [{"name": "main"}],
                "containers": [
                    {"$setElementOrder/env": [{"name": "A"}], "env": [{"$patch": "delete", "name": "B"}],
                     "name": "main"},
                    {"$patch": "delete", "name": "sidecar"},
                ],
            }},
        },
    }
    result = smp(deployment(), patch, "Deployment")
    assert result["metadata"]["finalizers"] == ["example.com/b"]
    assert result["spec"]["strategy"] == {"type": "Recreate"}
    assert result["spec"]["template"]["spec"]["containers"] == [
        {"name": "main", "image": "web:1", "imagePullPolicy": "IfNotPresent", "env": [{"name": "A", "value": "1"}],
         "ports": [{"containerPort": 80, "protocol": "TCP"}]}
    ]
    assert result["spec"]["template"]["spec"]["tolerations"] == [{"key": "k", "operator": "Exists"}]
    assert result["status"] == deployment()["status"]
    assert result["metadata"]["uid"] == "u-1"


def test_smp_python_client_patch_namespaced_deployment_dict_body() -> None:
    """AppsV1Api.patch_namespaced_deployment(body=dict) sends the dict as a strategic merge patch."""
    body = {
        "metadata": {"labels": {"tier": "web"}},
        "spec": {"replicas": 3, "template": {"spec": {"containers": [
            {"name": "main", "image": "web:2", "env": [{"name": "C", "value": "c"}]},
        ]}}},
    }
    result = smp(deployment(), body, "Deployment")
    main, sidecar = result["spec"]["template"]["spec"]["containers"]
    assert result["metadata"]["labels"] == {"tier": "web"}
    assert result["spec"]["replicas"] == 3
    assert main["image"] == "web:2" and main["imagePullPolicy"] == "IfNotPresent"
    # as in apimachinery: with no $setElementOrder, elements only the patch names come first
    assert main["env"] == [{"name": "C", "value": "c"}, {"name": "A", "value": "1"}, {"name": "B", "value": "b"}]
    assert sidecar == {"name": "sidecar", "image": "side:1"}


def test_smp_python_client_status_condition_patch() -> None:
    body = {"status": {"conditions": [{"type": "Progressing", "status": "True"},
                                      {"type": "Available", "status": "False"}]}}
    result = smp(deployment(), body, "Deployment")
    assert result["status"]["conditions"] == [
        {"type": "Progressing", "status": "True"}, {"type": "Available", "status": "False"},
    ]


def test_smp_strips_dollar_keys_already_in_the_original() -> None:
    assert smp({"spec": {"$junk": 1, "a": [{"$x": 1, "b": 2}]}}, {"spec": {"c": 1}}, "ConfigMap") == {
        "spec": {"a": [{"b": 2}], "c": 1}
    }
