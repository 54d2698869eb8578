"""Server-side apply (field sets, merge, removal, conflicts, force) and managedFields of ordinary writes."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from kubeserve.api.apply import record_update, server_side_apply
from kubeserve.api.errors import BadRequest, Conflict
from kubeserve.api.fieldsets import from_fields_v1, path_string, to_fields_v1

APPS = "apps/v1"


def apply(
    live: dict[str, Any] | None,
    applied: dict[str, Any],
    manager: str = "kubectl",
    *,
    force: bool = False,
    now: str = "2025-01-01T00:00:00Z",
    keyed: bool = True,
    api_version: str = APPS,
) -> dict[str, Any]:
    before_live, before_applied = copy.deepcopy(live), copy.deepcopy(applied)
    result = server_side_apply(live, applied, manager=manager, force=force, api_version=api_version, now=now,
                               merge_lists_by_key=keyed)
    assert live == before_live, "live mutated"
    assert applied == before_applied, "applied mutated"
    return result


def deployment(**spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"apiVersion": APPS, "kind": "Deployment",
                            "metadata": {"name": "web", "namespace": "default"}}
    if spec:
        body["spec"] = spec
    return body


def template(*containers: dict[str, Any]) -> dict[str, Any]:
    return {"spec": {"containers": list(containers)}}


def entry(obj: dict[str, Any], manager: str, operation: str = "Apply") -> dict[str, Any]:
    found = [e for e in obj["metadata"]["managedFields"] if e["manager"] == manager and e["operation"] == operation]
    assert len(found) == 1, obj["metadata"]["managedFields"]
    result: dict[str, Any] = found[0]
    return result


def stored(obj: dict[str, Any], rv: str = "5") -> dict[str, Any]:
    """What the store would hold: server-owned metadata added to an apply result."""
    out = copy.deepcopy(obj)
    out["metadata"].update(uid="u-1", resourceVersion=rv, generation=1, creationTimestamp="2025-01-01T00:00:00Z")
    return out


# ---- create --------------------------------------------------------------------------------------------


def test_create_records_the_applied_field_set() -> None:
    body = deployment(replicas=2, selector={"matchLabels": {"app": "web"}},
                      template={"metadata": {"labels": {"app": "web"}},
                                "spec": {"containers": [{"name": "main", "image": "web:1", "args": ["a", "b"],
                                                         "ports": [{"containerPort": 80}]}]}})
    body["metadata"].update(labels={"app": "web"}, uid="client-uid", resourceVersion="9",
                            managedFields=[{"manager": "forged"}], finalizers=["x"])
    body["status"] = {"replicas": 5}
    result = apply(None, body)
    assert result["spec"] == body["spec"]
    assert result["status"] == {"replicas": 5}  # merged; the registry drops it for kinds with /status
    assert "uid" not in result["metadata"] and "resourceVersion" not in result["metadata"]
    assert result["metadata"]["managedFields"] == [{
        "manager": "kubectl", "operation": "Apply", "apiVersion": APPS, "time": "2025-01-01T00:00:00Z",
        "fieldsType": "FieldsV1",
        "fieldsV1": {
            "f:metadata": {"f:finalizers": {"v:\"x\"": {}}, "f:labels": {"f:app": {}}},
            "f:spec": {
                "f:replicas": {},
                "f:selector": {"f:matchLabels": {"f:app": {}}},
                "f:template": {
                    "f:metadata": {"f:labels": {"f:app": {}}},
                    "f:spec": {"f:containers": {"k:{\"name\":\"main\"}": {
                        ".": {}, "f:args": {}, "f:image": {}, "f:name": {},
                        "f:ports": {"k:{\"containerPort\":80}": {".": {}, "f:containerPort": {}}},
                    }}},
                },
            },
        },
    }]


@pytest.mark.parametrize(
    ("kind", "body", "keyed", "expected"),
    [
        ("Service", {"spec": {"ports": [{"port": 80, "targetPort": 8080}]}}, True,
         {"f:spec": {"f:ports": {"k:{\"port\":80}": {".": {}, "f:port": {}, "f:targetPort": {}}}}}),
        ("Pod", {"spec": {"volumes": [{"name": "v", "emptyDir": {}}], "tolerations": [{"key": "k"}]}}, True,
         {"f:spec": {"f:tolerations": {},
                     "f:volumes": {"k:{\"name\":\"v\"}": {".": {}, "f:emptyDir": {}, "f:name": {}}}}}),
        ("Pod", {"spec": {"containers": [{"name": "c", "env": [{"name": "A", "value": "1"}],
                                          "volumeMounts": [{"mountPath": "/m", "name": "v"}]}]}}, True,
         {"f:spec": {"f:containers": {"k:{\"name\":\"c\"}": {
             ".": {}, "f:name": {},
             "f:env": {"k:{\"name\":\"A\"}": {".": {}, "f:name": {}, "f:value": {}}},
             "f:volumeMounts": {"k:{\"mountPath\":\"/m\"}": {".": {}, "f:mountPath": {}, "f:name": {}}},
         }}}}),
        ("Pod", {"spec": {"containers": []}}, True, {"f:spec": {"f:containers": {}}}),
        ("ConfigMap", {"data": {"a": "1"}, "binaryData": {}}, True, {"f:binaryData": {}, "f:data": {"f:a": {}}}),
        # custom resources: lists are atomic, except the ObjectMeta ones
        ("ServingRuntime", {"metadata": {"finalizers": ["f"], "ownerReferences": [{"uid": "u", "name": "o"}]},
                            "spec": {"containers": [{"name": "c", "args": ["x"]}]}}, False,
         {"f:metadata": {"f:finalizers": {"v:\"f\"": {}},
                         "f:ownerReferences": {"k:{\"uid\":\"u\"}": {".": {}, "f:name": {}, "f:uid": {}}}},
          "f:spec": {"f:containers": {}}}),
        ("Pod", {"metadata": {"name": "p", "namespace": "n", "generation": 3, "creationTimestamp": "t",
                              "deletionTimestamp": "t", "selfLink": "/x"}, "status": {"phase": "Running"}}, True, {}),
    ],
)
def test_field_sets(kind: str, body: dict[str, Any], keyed: bool, expected: dict[str, Any]) -> None:
    applied = {"apiVersion": "v1", "kind": kind, **body}
    applied.setdefault("metadata", {})["name"] = "x"
    result = apply(None, applied, keyed=keyed)
    assert entry(result, "kubectl")["fieldsV1"] == expected


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ({"template": template({"image": "x"})}, 'omits key field "name"'),
        ({"template": template({"name": "a"}, {"name": "a"})}, "duplicate entries for key [name=\"a\"]"),
    ],
)
def test_malformed_keyed_lists_are_bad_requests(spec: dict[str, Any], fragment: str) -> None:
    with pytest.raises(BadRequest) as info:
        apply(None, deployment(**spec))
    assert fragment in info.value.message


# ---- update --------------------------------------------------------------------------------------------


def test_apply_merges_into_live_and_keeps_server_metadata() -> None:
    live = stored(apply(None, deployment(replicas=1, template=template({"name": "main", "image": "web:1"}))))
    live["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] = "IfNotPresent"  # a default
    live["spec"]["template"]["spec"]["containers"].append({"name": "injected", "image": "proxy"})
    live["spec"]["progressDeadlineSeconds"] = 600
    live["status"] = {"replicas": 1}
    body = deployment(replicas=3, template=template({"name": "main", "image": "web:2"}))
    body["metadata"].update(uid="other", resourceVersion="1", generation=9, creationTimestamp="x")
    result = apply(live, body, now="2025-01-02T00:00:00Z")
    assert result["spec"]["replicas"] == 3
    assert result["spec"]["progressDeadlineSeconds"] == 600
    assert result["spec"]["template"]["spec"]["containers"] == [
        {"name": "main", "image": "web:2", "imagePullPolicy": "IfNotPresent"},
        {"name": "injected", "image": "proxy"},
    ]
    assert result["status"] == {"replicas": 1}
    for key in ("uid", "resourceVersion", "generation", "creationTimestamp"):
        assert result["metadata"][key] == live["metadata"][key]
    assert entry(result, "kubectl")["time"] == "2025-01-02T00:00:00Z"
    assert len(result["metadata"]["managedFields"]) == 1


@pytest.mark.parametrize(
    ("live", "applied", "expected"),
    [
        (["a", "b", "c"], ["b", "d"], ["a", "b", "c", "d"]),
        (["a", "b", "c"], ["c", "a"], ["b", "c", "a"]),
        (["a", "b"], ["c"], ["a", "b", "c"]),
        ([], ["a", "b"], ["a", "b"]),
        (["a", "x", "b"], ["b", "a"], ["x", "b", "a"]),
    ],
)
def test_keyed_list_order(live: list[str], applied: list[str], expected: list[str]) -> None:
    obj = stored(deployment(template=template(*({"name": n} for n in live))))
    result = apply(obj, deployment(template=template(*({"name": n, "image": "i"} for n in applied))))
    assert [c["name"] for c in result["spec"]["template"]["spec"]["containers"]] == expected


def test_sets_merge_and_metadata_lists_merge_for_custom_resources() -> None:
    live = stored({"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
                   "metadata": {"name": "m", "finalizers": ["kopf.zalando.org/KopfFinalizerMarker"]},
                   "spec": {"predictor": {"args": ["a", "b"]}}})
    body = {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
            "metadata": {"name": "m", "finalizers": ["mine"]}, "spec": {"predictor": {"args": ["c"]}}}
    result = apply(live, body, keyed=False, api_version="serving.kserve.io/v1beta1")
    assert result["metadata"]["finalizers"] == ["kopf.zalando.org/KopfFinalizerMarker", "mine"]
    assert result["spec"]["predictor"]["args"] == ["c"]


def test_null_in_applied_removes_the_field() -> None:
    live = stored(deployment(replicas=2, paused=True))
    result = apply(live, deployment(replicas=2, paused=None))
    assert "paused" not in result["spec"]
    assert entry(result, "kubectl")["fieldsV1"] == {"f:spec": {"f:paused": {}, "f:replicas": {}}}


# ---- removal of fields no longer applied ---------------------------------------------------------------


def test_fields_dropped_from_the_apply_are_removed() -> None:
    first = deployment(replicas=2, paused=True, template={
        "metadata": {"labels": {"app": "web", "old": "x"}},
        "spec": {"containers": [{"name": "main", "image": "i", "args": ["a"], "env": [{"name": "A"}, {"name": "B"}]},
                                {"name": "sidecar", "image": "s"}]},
    })
    first["metadata"]["labels"] = {"gone": "1"}
    first["metadata"]["annotations"] = {"keep": "1"}
    live = stored(apply(None, first))
    live["spec"]["template"]["spec"]["containers"][1]["imagePullPolicy"] = "Always"  # defaulted, unowned
    live["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] = "Always"
    live["spec"]["revisionHistoryLimit"] = 10  # set by someone else (an Update), unowned
    second = deployment(replicas=2, template={
        "metadata": {"labels": {"app": "web"}},
        "spec": {"containers": [{"name": "main", "image": "i", "env": [{"name": "A"}]}]},
    })
    second["metadata"]["annotations"] = {"keep": "1"}
    result = apply(live, second)
    assert result["spec"] == {
        "replicas": 2, "revisionHistoryLimit": 10,
        "template": {"metadata": {"labels": {"app": "web"}},
                     "spec": {"containers": [{"name": "main", "image": "i", "env": [{"name": "A"}],
                                              "imagePullPolicy": "Always"}]}},
    }
    assert "labels" not in result["metadata"]  # emptied, and nobody else's
    assert result["metadata"]["annotations"] == {"keep": "1"}
    assert from_fields_v1(entry(result, "kubectl")["fieldsV1"]) == from_fields_v1(
        entry(apply(None, second), "kubectl")["fieldsV1"])


def test_fields_another_applier_owns_survive_removal() -> None:
    live = stored(apply(None, deployment(replicas=2, paused=True, minReadySeconds=5)))
    live = apply(live, deployment(paused=True, template=template({"name": "c", "image": "i"})), "other")
    result = apply(live, deployment(replicas=2))
    assert result["spec"]["paused"] is True  # co-owned by "other"
    assert "minReadySeconds" not in result["spec"]
    assert result["spec"]["template"]["spec"]["containers"] == [{"name": "c", "image": "i"}]


def test_element_partly_owned_by_another_applier_keeps_that_part() -> None:
    live = stored(apply(None, deployment(template=template({"name": "c", "image": "i", "args": ["x"]}))))
    live = apply(live, deployment(template=template({"name": "c", "resources": {"limits": {"cpu": "1"}}})),
                 "other")
    result = apply(live, deployment(replicas=1))
    assert result["spec"]["template"]["spec"]["containers"] == [{"name": "c", "resources": {"limits": {"cpu": "1"}}}]


def test_first_apply_over_an_unmanaged_object_removes_nothing() -> None:
    live = stored(deployment(replicas=1, paused=True))
    live["metadata"]["managedFields"] = [{"manager": "kubectl-create", "operation": "Update", "apiVersion": APPS,
                                          "time": "2024-01-01T00:00:00Z", "fieldsType": "FieldsV1", "fieldsV1": {}}]
    result = apply(live, deployment(replicas=3))
    assert result["spec"] == {"replicas": 3, "paused": True}
    assert [(e["manager"], e["operation"]) for e in result["metadata"]["managedFields"]] == [
        ("kubectl", "Apply"), ("kubectl-create", "Update"),
    ]


def test_last_applied_annotation_apply_by_a_second_manager() -> None:
    """kubectl's follow-up apply (fieldManager=kubectl-last-applied) owns only the annotation."""
    live = stored(apply(None, deployment(replicas=1)))
    body = deployment()
    body["metadata"]["annotations"] = {"kubectl.kubernetes.io/last-applied-configuration": "{}"}
    result = apply(live, body, "kubectl-last-applied")
    assert result["spec"] == {"replicas": 1}
    assert entry(result, "kubectl-last-applied")["fieldsV1"] == {
        "f:metadata": {"f:annotations": {"f:kubectl.kubernetes.io/last-applied-configuration": {}}}
    }


# ---- conflicts -----------------------------------------------------------------------------------------


def owned_by_other(**spec: Any) -> dict[str, Any]:
    return stored(apply(None, deployment(**spec), "other-manager"))


def test_conflict_on_a_field_another_applier_owns() -> None:
    live = owned_by_other(replicas=2)
    with pytest.raises(Conflict) as info:
        apply(live, deployment(replicas=3))
    error = info.value
    assert error.code == 409
    assert error.message == 'Apply failed with 1 conflict: conflict with "other-manager": .spec.replicas'
    assert [(c.reason, c.message, c.field) for c in error.causes] == [
        ("FieldManagerConflict", 'conflict with "other-manager"', ".spec.replicas")
    ]
    assert error.to_status()["details"]["causes"][0]["field"] == ".spec.replicas"


def test_many_conflicts_are_grouped_by_manager() -> None:
    live = owned_by_other(replicas=2, template=template({"name": "main", "image": "a"}))
    live = apply(live, deployment(paused=True), "b-manager")
    with pytest.raises(Conflict) as info:
        apply(live, deployment(replicas=3, paused=False, template=template({"name": "main", "image": "b"})))
    assert info.value.message == (
        'Apply failed with 3 conflicts: conflicts with "b-manager":\n- .spec.paused\n'
        'conflicts with "other-manager":\n- .spec.replicas\n- .spec.template.spec.containers[name="main"].image'
    )
    assert len(info.value.causes) == 3


@pytest.mark.parametrize(
    "body",
    [
        deployment(replicas=2),  # same value: shared ownership
        deployment(paused=True),  # a field nobody else owns
        deployment(template=template({"name": "other", "image": "x"})),  # another element of a keyed list
    ],
)
def test_no_conflict(body: dict[str, Any]) -> None:
    live = owned_by_other(replicas=2, template=template({"name": "main", "image": "a"}))
    result = apply(live, body)
    assert entry(result, "other-manager")["fieldsV1"] == entry(live, "other-manager")["fieldsV1"]


def test_stale_ownership_and_removals_are_not_conflicts() -> None:
    live = owned_by_other(replicas=2, paused=True)
    del live["spec"]["replicas"]  # removed by an Update, which does not track ownership
    result = apply(live, deployment(replicas=3, paused=None))
    assert result["spec"] == {"replicas": 3}


def test_shared_set_elements_do_not_conflict() -> None:
    live = stored(apply(None, {**deployment(), "metadata": {"name": "web", "finalizers": ["a"]}}, "other"))
    result = apply(live, {**deployment(), "metadata": {"name": "web", "finalizers": ["a", "b"]}})
    assert result["metadata"]["finalizers"] == ["a", "b"]
    dropped = apply(stored(result), deployment(replicas=1))
    assert dropped["metadata"]["finalizers"] == ["a"]  # "b" was only ours; "a" is still "other"'s


def test_update_entries_never_conflict() -> None:
    live = stored(deployment(replicas=2))
    live["metadata"]["managedFields"] = [{"manager": "kubectl-edit", "operation": "Update", "apiVersion": APPS,
                                          "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:replicas": {}}}}]
    assert apply(live, deployment(replicas=5))["spec"]["replicas"] == 5


def test_force_takes_ownership() -> None:
    live = owned_by_other(replicas=2, paused=True)
    result = apply(live, deployment(replicas=3), force=True)
    assert result["spec"] == {"replicas": 3, "paused": True}
    assert entry(result, "other-manager")["fieldsV1"] == {"f:spec": {"f:paused": {}}}
    assert entry(result, "kubectl")["fieldsV1"] == {"f:spec": {"f:replicas": {}}}
    # the former owner no longer keeps replicas alive when the new owner drops it
    after = apply(stored(result), deployment(minReadySeconds=1))
    assert after["spec"] == {"paused": True, "minReadySeconds": 1}


def test_force_drops_an_applier_left_owning_nothing() -> None:
    live = owned_by_other(replicas=2)
    result = apply(live, deployment(replicas=3), "kubernetes-mcp-server", force=True)
    assert [e["manager"] for e in result["metadata"]["managedFields"]] == ["kubernetes-mcp-server"]


# ---- managedFields bookkeeping -------------------------------------------------------------------------


def test_managed_fields_are_sorted_like_the_apiserver_sorts_them() -> None:
    live = stored(deployment(replicas=1))
    live["metadata"]["managedFields"] = [
        {"manager": "z", "operation": "Update", "apiVersion": APPS, "time": "2024-01-01T00:00:00Z",
         "fieldsType": "FieldsV1", "fieldsV1": {}},
        {"manager": "a", "operation": "Update", "apiVersion": APPS, "time": "2024-06-01T00:00:00Z",
         "fieldsType": "FieldsV1", "fieldsV1": {}, "subresource": "status"},
    ]
    result = apply(live, deployment(replicas=1), "m")
    assert [(e["manager"], e["operation"]) for e in result["metadata"]["managedFields"]] == [
        ("m", "Apply"), ("z", "Update"), ("a", "Update"),
    ]


def test_fields_v1_round_trip() -> None:
    paths = {("f:spec", "f:replicas"), ("f:spec", "f:c", 'k:{"name":"a"}'), ("f:spec", "f:c", 'k:{"name":"a"}', "f:x"),
             ("f:metadata", "f:finalizers", 'v:"x"')}
    tree = to_fields_v1(paths)
    assert tree == {"f:metadata": {"f:finalizers": {'v:"x"': {}}},
                    "f:spec": {"f:c": {'k:{"name":"a"}': {".": {}, "f:x": {}}}, "f:replicas": {}}}
    assert from_fields_v1(tree) == paths
    assert from_fields_v1("junk") == set()
    assert json.loads(json.dumps(tree)) == tree


@pytest.mark.parametrize(
    ("path", "text"),
    [
        (("f:spec", "f:replicas"), ".spec.replicas"),
        (("f:spec", "f:ports", 'k:{"port":80}', "f:name"), ".spec.ports[port=80].name"),
        (("f:metadata", "f:finalizers", 'v:"a"'), '.metadata.finalizers[="a"]'),
        (("f:spec", "f:l", "i:3"), ".spec.l[3]"),
    ],
)
def test_path_strings(path: tuple[str, ...], text: str) -> None:
    assert path_string(path) == text


# ---- record_update -------------------------------------------------------------------------------------


def update(old: dict[str, Any] | None, new: dict[str, Any], manager: str = "kubectl-edit", **kw: Any) -> dict[str, Any]:
    before_old, before_new = copy.deepcopy(old), copy.deepcopy(new)
    result = record_update(old, new, manager=manager, api_version="v1", now=kw.pop("now", "T2"), **kw)
    assert old == before_old and new == before_new
    return result


CM = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "resourceVersion": "3"}, "data": {"a": "1"}}


def with_data(obj: dict[str, Any], value: str) -> dict[str, Any]:
    out = copy.deepcopy(obj)
    out["data"] = {"a": value}
    return out


def test_record_update_on_create() -> None:
    result = update(None, CM, "kubectl-create", now="T1")
    assert result["metadata"]["managedFields"] == [{
        "manager": "kubectl-create", "operation": "Update", "apiVersion": "v1", "time": "T1",
        "fieldsType": "FieldsV1", "fieldsV1": {},
    }]


def test_record_update_refreshes_its_entry_and_keeps_the_others() -> None:
    old = update(None, CM, "kubectl-client-side-apply", now="T1")
    old = apply(old, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"b": "2"}},
                "ssa", now="T1", api_version="v1")
    new = update(old, with_data(old, "2"), "kubectl-client-side-apply", now="T2")
    assert [(e["manager"], e["operation"], e["time"]) for e in new["metadata"]["managedFields"]] == [
        ("ssa", "Apply", "T1"), ("kubectl-client-side-apply", "Update", "T2"),
    ]
    assert entry(new, "kubectl-client-side-apply", "Update")["fieldsV1"] == {}
    assert entry(new, "ssa")["fieldsV1"] == entry(old, "ssa")["fieldsV1"]


def test_record_update_subresource_gets_its_own_entry() -> None:
    old = update(None, CM, "ctrl", now="T1")
    new = update(old, {**old, "status": {"ready": True}}, "ctrl", subresource="status")
    assert [(e["manager"], e.get("subresource")) for e in new["metadata"]["managedFields"]] == [
        ("ctrl", None), ("ctrl", "status"),
    ]


def test_record_update_without_a_manager_changes_nothing() -> None:
    old = update(None, CM, "a", now="T1")
    assert update(old, with_data(old, "2"), "") == with_data(old, "2")


def test_record_update_of_a_no_op_write_adds_no_entry() -> None:
    old = update(None, CM, "a", now="T1")
    new = copy.deepcopy(old)
    new["metadata"]["resourceVersion"] = "4"
    assert update(old, new, "b")["metadata"]["managedFields"] == old["metadata"]["managedFields"]


@pytest.mark.parametrize("sent", [None, []])
def test_record_update_keeps_stored_entries_when_the_body_has_none(sent: list[Any] | None) -> None:
    old = update(None, CM, "a", now="T1")
    body = with_data(old, "2")
    if sent is None:
        del body["metadata"]["managedFields"]
    else:
        body["metadata"]["managedFields"] = sent
    assert [e["manager"] for e in update(old, body, "b")["metadata"]["managedFields"]] == ["a", "b"]
    assert [e["manager"] for e in update(old, body, "")["metadata"]["managedFields"]] == ["a"]


def test_record_update_takes_managed_fields_the_client_sends() -> None:
    old = update(None, CM, "a", now="T1")
    body = with_data(old, "2")
    body["metadata"]["managedFields"] = [{"manager": "x", "operation": "Update", "time": "T0"}]
    assert [e["manager"] for e in update(old, body, "b")["metadata"]["managedFields"]] == ["x", "b"]
