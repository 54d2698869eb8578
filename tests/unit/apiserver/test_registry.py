"""The generic registry (`Objects`): Kubernetes write semantics over the real SQLite store, with a fake clock.

Create, update, patch, apply and delete, each checked for what a client reads back and what the store
holds afterwards (a dry run or a no-op write must leave the store's revision where it was).
"""

from __future__ import annotations

import base64
import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
from world import CM, DEPLOY, ISVC, NS, POD, PV, REGISTRY, SECRET, SR, T0, W, kind

from kubeserve.api import errors
from kubeserve.api.kinds import ResourceKind
from kubeserve.apiserver.registry import PATCH_APPLY, PATCH_JSON, PATCH_MERGE, PATCH_STRATEGIC, Objects
from kubeserve.apiserver.request import WriteOptions
from kubeserve.store import Event, SqliteStore

Obj = dict[str, Any]


DRY = WriteOptions(dry_run=True)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def objects(store: SqliteStore, clock: Clock) -> Objects:
    o = Objects(store, REGISTRY, clock)
    o.create(NS, "", {"metadata": {"name": "default"}}, W)
    return o


@pytest.fixture
def events(store: SqliteStore) -> list[Event]:
    seen: list[Event] = []
    store.subscribe(seen.append)
    return seen


def cm(name: str = "c", **extra: Any) -> Obj:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"k": "v"}, **extra}


def deployment(name: str = "d", image: str = "img:1", **extra: Any) -> Obj:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                         "spec": {"containers": [{"name": "main", "image": image}]}},
        },
        **extra,
    }


def isvc(name: str = "m", **model: Any) -> Obj:
    return {
        "apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService", "metadata": {"name": name},
        "spec": {"predictor": {"model": {"modelFormat": {"name": "vLLM"}, "storageUri": "oci://q/m:1", **model}}},
    }


def rv(obj: Obj) -> str:
    value = obj["metadata"]["resourceVersion"]
    assert isinstance(value, str)
    return value


# ---- create ----------------------------------------------------------------------------------------


def test_create_sets_server_metadata(objects: Objects, store: SqliteStore) -> None:
    body = cm()
    body["metadata"].update(uid="client-uid", resourceVersion="999", generation=7,
                            creationTimestamp="1999-01-01T00:00:00Z", deletionTimestamp="1999-01-01T00:00:00Z")
    created = objects.create(CM, "default", body, W)
    meta = created.object["metadata"]
    assert created.created
    assert uuid.UUID(meta["uid"]).version == 4
    assert meta["uid"] != "client-uid"
    assert meta["creationTimestamp"] == "2025-03-04T05:06:07Z"
    assert meta["generation"] == 1
    assert meta["resourceVersion"] == str(store.revision)
    assert "deletionTimestamp" not in meta
    assert meta["namespace"] == "default"
    assert objects.get(CM, "default", "c") == created.object
    other = objects.create(CM, "default", cm("c2"), W)
    assert other.object["metadata"]["uid"] != meta["uid"]


def test_create_does_not_mutate_the_callers_body(objects: Objects) -> None:
    body = cm()
    objects.create(CM, "default", body, W)
    assert body == cm()


def test_generate_name(objects: Objects) -> None:
    a = objects.create(CM, "default", {"metadata": {"generateName": "job-"}}, W).object
    b = objects.create(CM, "default", {"metadata": {"generateName": "job-"}}, W).object
    for obj in (a, b):
        name = obj["metadata"]["name"]
        assert name.startswith("job-") and len(name) == len("job-") + 5
        assert obj["metadata"]["generateName"] == "job-"
    assert a["metadata"]["name"] != b["metadata"]["name"]


def test_name_is_required(objects: Objects) -> None:
    with pytest.raises(errors.Invalid) as exc:
        objects.create(CM, "default", {"metadata": {}}, W)
    assert exc.value.code == 422
    assert [c.field for c in exc.value.causes] == ["metadata.name"]


def test_create_existing_name_is_already_exists(objects: Objects) -> None:
    objects.create(CM, "default", cm(), W)
    with pytest.raises(errors.AlreadyExists) as exc:
        objects.create(CM, "default", cm(), W)
    assert exc.value.code == 409
    assert 'configmaps "c" already exists' in exc.value.message


@pytest.mark.parametrize(
    ("url_ns", "body_ns", "stored_ns"),
    [
        ("default", None, "default"),
        ("other", None, "other"),
        ("", None, "default"),  # neither says: the apiserver's default namespace
        ("", "other", "other"),
        ("other", "other", "other"),
    ],
)
def test_namespace_defaulting(objects: Objects, url_ns: str, body_ns: str | None, stored_ns: str) -> None:
    objects.create(NS, "", {"metadata": {"name": "other"}}, W)
    body = cm()
    if body_ns is not None:
        body["metadata"]["namespace"] = body_ns
    created = objects.create(CM, url_ns, body, W).object
    assert created["metadata"]["namespace"] == stored_ns
    assert objects.get(CM, stored_ns, "c")["metadata"]["uid"] == created["metadata"]["uid"]


def test_namespace_mismatch_is_bad_request(objects: Objects) -> None:
    body = cm()
    body["metadata"]["namespace"] = "other"
    with pytest.raises(errors.BadRequest) as exc:
        objects.create(CM, "default", body, W)
    assert "does not match the namespace" in exc.value.message


def test_cluster_scoped_kind_drops_namespace(objects: Objects) -> None:
    body = {"metadata": {"name": "pv1", "namespace": "default"},
            "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "hostPath": {"path": "/x"}}}
    created = objects.create(PV, "", body, W).object
    assert "namespace" not in created["metadata"]
    assert objects.get(PV, "", "pv1")["metadata"]["uid"] == created["metadata"]["uid"]


def test_missing_namespace_is_not_found(objects: Objects, store: SqliteStore) -> None:
    before = store.revision
    with pytest.raises(errors.NotFound) as exc:
        objects.create(CM, "nope", cm(), W)
    assert exc.value.code == 404
    assert exc.value.message == 'namespaces "nope" not found'
    assert store.revision == before


def test_terminating_namespace_is_forbidden(objects: Objects) -> None:
    objects.create(NS, "", {"metadata": {"name": "doomed"}}, W)
    marked = objects.delete(NS, "", "doomed")
    assert not marked.deleted
    assert marked.object["status"]["phase"] == "Terminating"
    with pytest.raises(errors.Forbidden) as exc:
        objects.create(CM, "doomed", cm(), W)
    assert exc.value.code == 403
    assert "being terminated" in exc.value.message


@pytest.mark.parametrize(
    ("k", "body", "expected_status"),
    [
        (DEPLOY, deployment(status={"replicas": 5, "readyReplicas": 5}), None),
        (ISVC, isvc(status={"url": "http://forged"}), None),
        (POD, {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "i"}]},
               "status": {"phase": "Running"}}, {"phase": "Pending", "qosClass": "BestEffort"}),
        (NS, {"metadata": {"name": "n2"}, "status": {"phase": "Terminating"}}, {"phase": "Active"}),
    ],
    ids=["deployment", "inferenceservice", "pod-initial-status", "namespace-initial-status"],
)
def test_create_drops_status_of_status_subresource_kinds(
    objects: Objects, k: ResourceKind, body: Obj, expected_status: Obj | None
) -> None:
    assert k.has_status
    created = objects.create(k, "default", body, W).object
    assert created.get("status") == expected_status


@pytest.mark.parametrize(
    ("body", "data"),
    [
        ({"stringData": {"user": "admin"}}, {"user": "YWRtaW4="}),
        ({"data": {"a": "eA=="}, "stringData": {"b": "y"}}, {"a": "eA==", "b": "eQ=="}),
        ({"data": {"a": "eA=="}, "stringData": {"a": "new"}}, {"a": base64.b64encode(b"new").decode()}),
    ],
    ids=["only-stringData", "merged-with-data", "stringData-wins"],
)
def test_secret_string_data_becomes_data(objects: Objects, body: Obj, data: Obj) -> None:
    created = objects.create(SECRET, "default", {"metadata": {"name": "s"}, **body}, W).object
    assert created["data"] == data
    assert "stringData" not in created
    assert created["type"] == "Opaque"
    assert "stringData" not in objects.get(SECRET, "default", "s")


@pytest.mark.parametrize(
    ("k", "body"),
    [
        (SECRET, {"metadata": {"name": "x"}, "data": None, "stringData": {"k": "v"}}),
        (NS, {"metadata": {"name": "x"}, "spec": None}),
        (DEPLOY, {**deployment("x"), "spec": None}),
        (kind("", "v1", "Service"), {"metadata": {"name": "x"}, "spec": None}),
        (kind("", "v1", "PersistentVolumeClaim"), {"metadata": {"name": "x"}, "spec": None}),
    ],
    ids=["secret-null-data", "namespace-null-spec", "deployment-null-spec", "service-null-spec", "pvc-null-spec"],
)
def test_nulls_are_unset_not_a_crash(objects: Objects, k: ResourceKind, body: Obj) -> None:
    try:
        created = objects.create(k, "default", body, W).object
    except errors.ApiError as exc:  # refusing is fine (a Status), crashing is not
        assert exc.code in (400, 422)
    else:
        assert created["metadata"]["name"] == "x"


def test_secret_string_data_on_update(objects: Objects) -> None:
    objects.create(SECRET, "default", {"metadata": {"name": "s"}, "data": {"a": "eA=="}}, W)
    patched = objects.patch(SECRET, "default", "s", PATCH_MERGE, {"stringData": {"b": "y"}}, W).object
    assert patched["data"] == {"a": "eA==", "b": "eQ=="}
    assert "stringData" not in patched


def test_dry_run_create_stores_nothing(objects: Objects, store: SqliteStore, events: list[Event]) -> None:
    before = store.revision
    result = objects.create(CM, "default", cm(), DRY)
    assert result.created
    assert result.object["metadata"]["uid"]
    assert result.object["data"] == {"k": "v"}
    assert store.revision == before
    assert events == []
    assert objects.find(CM, "default", "c") is None


# ---- update ----------------------------------------------------------------------------------------


def test_update_with_stale_resource_version_conflicts(objects: Objects) -> None:
    first = objects.create(CM, "default", cm(), W).object
    objects.update(CM, "default", "c", {**first, "data": {"k": "v2"}}, W)
    with pytest.raises(errors.Conflict) as exc:
        objects.update(CM, "default", "c", {**first, "data": {"k": "v3"}}, W)
    assert exc.value.code == 409
    assert "the object has been modified" in exc.value.message
    assert objects.get(CM, "default", "c")["data"] == {"k": "v2"}


def test_update_without_resource_version_is_unconditional(objects: Objects) -> None:
    objects.create(CM, "default", cm(), W)
    objects.patch(CM, "default", "c", PATCH_MERGE, {"data": {"k": "v2"}}, W)
    updated = objects.update(CM, "default", "c", cm(data={"k": "v3"}), W).object
    assert updated["data"] == {"k": "v3"}


def test_update_keeps_server_owned_metadata(objects: Objects, clock: Clock) -> None:
    first = objects.create(CM, "default", cm(), W).object
    clock.advance(60)
    body = cm(data={"k": "v2"})
    body["metadata"].update(uid="forged", creationTimestamp="1999-01-01T00:00:00Z", generation=42)
    updated = objects.update(CM, "default", "c", body, W).object
    for key in ("uid", "creationTimestamp"):
        assert updated["metadata"][key] == first["metadata"][key]
    assert updated["metadata"]["generation"] == 2


def test_update_name_mismatch_is_bad_request(objects: Objects) -> None:
    objects.create(CM, "default", cm(), W)
    with pytest.raises(errors.BadRequest):
        objects.update(CM, "default", "c", cm("other"), W)


def test_update_missing_object_is_not_found(objects: Objects) -> None:
    with pytest.raises(errors.NotFound) as exc:
        objects.update(CM, "default", "ghost", cm("ghost"), W)
    assert exc.value.message == 'configmaps "ghost" not found'


def test_main_resource_update_preserves_status(objects: Objects) -> None:
    objects.create(DEPLOY, "default", deployment(), W)
    objects.patch(DEPLOY, "default", "d", PATCH_MERGE, {"status": {"replicas": 3}}, W, "status")
    current = objects.get(DEPLOY, "default", "d")
    body = {**current, "spec": {**current["spec"], "replicas": 4}, "status": {"replicas": 99}}
    updated = objects.update(DEPLOY, "default", "d", body, W).object
    assert updated["spec"]["replicas"] == 4
    assert updated["status"] == {"replicas": 3}
    body = {k: v for k, v in objects.get(DEPLOY, "default", "d").items() if k != "status"}
    assert objects.update(DEPLOY, "default", "d", body, W).object["status"] == {"replicas": 3}


def test_status_update_only_changes_status(objects: Objects) -> None:
    created = objects.create(DEPLOY, "default", deployment(), W).object
    body = {**created, "spec": {**created["spec"], "replicas": 7},
            "metadata": {**created["metadata"], "labels": {"x": "y"}}, "status": {"replicas": 2}}
    updated = objects.update(DEPLOY, "default", "d", body, W, "status").object
    assert updated["status"] == {"replicas": 2}
    assert updated["spec"] == created["spec"]
    assert "labels" not in updated["metadata"]
    assert updated["metadata"]["generation"] == 1
    assert int(rv(updated)) > int(rv(created))


@pytest.mark.parametrize(
    ("k", "body", "patch", "subresource", "generation"),
    [
        (DEPLOY, deployment(), {"spec": {"replicas": 3}}, "", 2),
        (DEPLOY, deployment(), {"metadata": {"labels": {"a": "b"}}}, "", 1),
        (DEPLOY, deployment(), {"metadata": {"annotations": {"a": "b"}}}, "", 1),
        (DEPLOY, deployment(), {"status": {"replicas": 1}}, "status", 1),
        (ISVC, isvc(), {"spec": {"predictor": {"model": {"storageUri": "oci://q/m:2"}}}}, "", 2),
        (ISVC, isvc(), {"metadata": {"labels": {"a": "b"}}}, "", 1),
        (ISVC, isvc(), {"status": {"url": "http://m"}}, "status", 1),
    ],
    ids=["deploy-spec", "deploy-labels", "deploy-annotations", "deploy-status", "isvc-spec", "isvc-labels",
         "isvc-status"],
)
def test_generation_moves_only_on_spec_change(
    objects: Objects, k: ResourceKind, body: Obj, patch: Obj, subresource: str, generation: int
) -> None:
    objects.create(k, "default", body, W)
    name = body["metadata"]["name"]
    result = objects.patch(k, "default", name, PATCH_MERGE, patch, W, subresource).object
    assert result["metadata"]["generation"] == generation
    # and once more with the same patch: a no-op, so nothing moves
    again = objects.patch(k, "default", name, PATCH_MERGE, patch, W, subresource).object
    assert again["metadata"]["generation"] == generation
    assert rv(again) == rv(result)


def test_noop_update_keeps_resource_version(objects: Objects, store: SqliteStore, events: list[Event]) -> None:
    created = objects.create(CM, "default", cm(), W).object
    seen = len(events)
    before = store.revision
    same = objects.update(CM, "default", "c", created, W).object
    assert rv(same) == rv(created)
    assert objects.patch(CM, "default", "c", PATCH_MERGE, {"data": {"k": "v"}}, W).object == created
    assert store.revision == before
    assert len(events) == seen


def test_noop_detection_ignores_managed_field_timestamps(objects: Objects, clock: Clock, store: SqliteStore) -> None:
    manager = WriteOptions(field_manager="kubectl-edit")
    objects.create(CM, "default", cm(), W)
    changed = objects.patch(CM, "default", "c", PATCH_MERGE, {"data": {"k": "v2"}}, manager).object
    assert [e["manager"] for e in changed["metadata"]["managedFields"]] == ["kubectl-edit"]
    clock.advance(3600)
    before = store.revision
    again = objects.patch(CM, "default", "c", PATCH_MERGE, {"data": {"k": "v2"}}, manager).object
    assert store.revision == before
    assert rv(again) == rv(changed)


def test_dry_run_update_stores_nothing(objects: Objects, store: SqliteStore) -> None:
    created = objects.create(CM, "default", cm(), W).object
    before = store.revision
    result = objects.update(CM, "default", "c", {**created, "data": {"k": "dry"}}, DRY).object
    assert result["data"] == {"k": "dry"}
    assert store.revision == before
    assert objects.get(CM, "default", "c")["data"] == {"k": "v"}


# ---- patch -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "patch", "expected"),
    [
        (PATCH_MERGE, {"data": {"k": None, "n": "1"}}, {"n": "1"}),
        (PATCH_MERGE, {"data": None}, None),
        (PATCH_JSON, [{"op": "replace", "path": "/data/k", "value": "w"}], {"k": "w"}),
        (PATCH_JSON, [{"op": "test", "path": "/data/k", "value": "v"}, {"op": "add", "path": "/data/x", "value": "1"}],
         {"k": "v", "x": "1"}),
        (PATCH_STRATEGIC, {"data": {"n": "1"}}, {"k": "v", "n": "1"}),
    ],
    ids=["merge", "merge-remove-map", "json-replace", "json-test-ok", "strategic"],
)
def test_patch_types(objects: Objects, content_type: str, patch: Any, expected: Obj | None) -> None:
    objects.create(CM, "default", cm(), W)
    patched = objects.patch(CM, "default", "c", content_type, patch, W).object
    assert patched.get("data") == expected
    assert objects.get(CM, "default", "c").get("data") == expected


def test_strategic_patch_merges_containers_by_name(objects: Objects) -> None:
    body = deployment()
    body["spec"]["template"]["spec"]["containers"].append({"name": "side", "image": "side:1"})
    objects.create(DEPLOY, "default", body, W)
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "main", "image": "img:2"}]}}}}
    patched = objects.patch(DEPLOY, "default", "d", PATCH_STRATEGIC, patch, W).object
    containers = patched["spec"]["template"]["spec"]["containers"]
    assert [(c["name"], c["image"]) for c in containers] == [("main", "img:2"), ("side", "side:1")]
    # a merge patch replaces the list instead
    merged = objects.patch(DEPLOY, "default", "d", PATCH_MERGE, patch, W).object
    assert [c["name"] for c in merged["spec"]["template"]["spec"]["containers"]] == ["main"]


@pytest.mark.parametrize("k", [ISVC, SR], ids=["inferenceservice", "servingruntime"])
def test_strategic_patch_on_custom_kind_is_415(objects: Objects, k: ResourceKind) -> None:
    with pytest.raises(errors.UnsupportedMediaType) as exc:
        objects.patch(k, "default", "anything", PATCH_STRATEGIC, {"spec": {}}, W)
    assert exc.value.code == 415
    assert PATCH_STRATEGIC not in exc.value.message
    assert PATCH_MERGE in exc.value.message


def test_json_patch_test_failure_is_422(objects: Objects, store: SqliteStore) -> None:
    objects.create(CM, "default", cm(), W)
    before = store.revision
    with pytest.raises(errors.Invalid) as exc:
        objects.patch(CM, "default", "c", PATCH_JSON,
                      [{"op": "test", "path": "/data/k", "value": "other"},
                       {"op": "replace", "path": "/data/k", "value": "w"}], W)
    assert exc.value.code == 422
    assert store.revision == before
    assert objects.get(CM, "default", "c")["data"] == {"k": "v"}


def test_malformed_json_patch_is_400(objects: Objects) -> None:
    objects.create(CM, "default", cm(), W)
    with pytest.raises(errors.BadRequest):
        objects.patch(CM, "default", "c", PATCH_JSON, [{"op": "frobnicate", "path": "/data"}], W)
    with pytest.raises(errors.BadRequest):
        objects.patch(CM, "default", "c", PATCH_MERGE, ["not", "an", "object"], W)


@pytest.mark.parametrize("content_type", [PATCH_MERGE, PATCH_STRATEGIC])
def test_resource_version_precondition_in_patch(objects: Objects, content_type: str) -> None:
    created = objects.create(CM, "default", cm(), W).object
    ok = objects.patch(CM, "default", "c", content_type,
                       {"metadata": {"resourceVersion": rv(created)}, "data": {"k": "v2"}}, W).object
    assert ok["data"] == {"k": "v2"}
    with pytest.raises(errors.Conflict):
        objects.patch(CM, "default", "c", content_type,
                      {"metadata": {"resourceVersion": rv(created)}, "data": {"k": "v3"}}, W)
    assert objects.get(CM, "default", "c")["data"] == {"k": "v2"}


def test_resource_version_precondition_in_json_patch(objects: Objects) -> None:
    created = objects.create(CM, "default", cm(), W).object
    objects.patch(CM, "default", "c", PATCH_MERGE, {"data": {"k": "v2"}}, W)
    with pytest.raises(errors.Conflict):
        objects.patch(CM, "default", "c", PATCH_JSON,
                      [{"op": "replace", "path": "/metadata/resourceVersion", "value": rv(created)}], W)


def test_patch_missing_object_is_not_found(objects: Objects) -> None:
    with pytest.raises(errors.NotFound):
        objects.patch(CM, "default", "ghost", PATCH_MERGE, {"data": {}}, W)


def test_patch_cannot_rename(objects: Objects) -> None:
    objects.create(CM, "default", cm(), W)
    patched = objects.patch(CM, "default", "c", PATCH_MERGE, {"metadata": {"name": "other"}}, W).object
    assert patched["metadata"]["name"] == "c"
    assert objects.find(CM, "default", "other") is None


@pytest.mark.parametrize(
    ("content_type", "patch"),
    [
        (PATCH_MERGE, {"metadata": {"namespace": "other"}}),
        (PATCH_STRATEGIC, {"metadata": {"namespace": "other"}}),
        (PATCH_JSON, [{"op": "replace", "path": "/metadata/namespace", "value": "other"}]),
    ],
)
def test_patch_cannot_move_to_another_namespace(objects: Objects, content_type: str, patch: Any) -> None:
    objects.create(NS, "", {"metadata": {"name": "other"}}, W)
    objects.create(CM, "default", cm(), W)
    with pytest.raises(errors.BadRequest):
        objects.patch(CM, "default", "c", content_type, patch, W)
    assert objects.get(CM, "default", "c")["metadata"]["namespace"] == "default"
    assert objects.find(CM, "other", "c") is None


@pytest.mark.parametrize(
    ("call", "body"),
    [
        ("create", {"metadata": "x"}),
        ("create", {"apiVersion": 5, "metadata": {"name": "c"}}),
        ("create", {"kind": ["ConfigMap"], "metadata": {"name": "c"}}),
        ("update", {"metadata": "x"}),
        ("update", {"apiVersion": ["v1"], "metadata": {"name": "c"}}),
        ("merge", {"metadata": "x"}),
        ("apply", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": "x"}),
        ("apply", {"apiVersion": 1, "kind": "ConfigMap"}),
    ],
)
def test_malformed_type_and_object_meta_are_bad_requests(objects: Objects, call: str, body: Obj) -> None:
    objects.create(CM, "default", cm(), W)
    with pytest.raises(errors.BadRequest):
        if call == "create":
            objects.create(CM, "default", body, W)
        elif call == "update":
            objects.update(CM, "default", "c", body, W)
        elif call == "merge":
            objects.patch(CM, "default", "c", PATCH_MERGE, body, W)
        else:
            objects.patch(CM, "default", "c", PATCH_APPLY, body, WriteOptions(field_manager="m"))


# ---- apply -----------------------------------------------------------------------------------------


def test_apply_creates(objects: Objects, store: SqliteStore) -> None:
    applied = objects.patch(CM, "default", "c", PATCH_APPLY, cm(), WriteOptions(field_manager="kubectl"))
    assert applied.created
    obj = applied.object
    assert obj["data"] == {"k": "v"}
    assert obj["metadata"]["generation"] == 1
    assert obj["metadata"]["uid"]
    managers = [(e["manager"], e["operation"]) for e in obj["metadata"]["managedFields"]]
    assert managers == [("kubectl", "Apply")]
    assert objects.get(CM, "default", "c") == obj
    assert rv(obj) == str(store.revision)


def test_apply_create_is_one_write(objects: Objects, store: SqliteStore, events: list[Event]) -> None:
    before = store.revision
    obj = objects.patch(CM, "default", "c", PATCH_APPLY, cm(), WriteOptions(field_manager="kubectl")).object
    assert [e.type for e in events] == ["ADDED"]
    assert store.revision == before + 1
    assert events[0].object == obj


def test_apply_updates_and_keeps_fields_it_does_not_own(objects: Objects) -> None:
    apply = WriteOptions(field_manager="kubectl")
    first = objects.patch(CM, "default", "c", PATCH_APPLY, cm(), apply).object
    objects.patch(CM, "default", "c", PATCH_MERGE, {"metadata": {"labels": {"by": "other"}}},
                  WriteOptions(field_manager="other"))
    second = objects.patch(CM, "default", "c", PATCH_APPLY, cm(data={"k": "v2"}), apply)
    assert not second.created
    obj = second.object
    assert obj["data"] == {"k": "v2"}
    assert obj["metadata"]["labels"] == {"by": "other"}
    assert obj["metadata"]["uid"] == first["metadata"]["uid"]
    assert int(rv(obj)) > int(rv(first))
    # applying the same configuration again changes nothing
    again = objects.patch(CM, "default", "c", PATCH_APPLY, cm(data={"k": "v2"}), apply).object
    assert rv(again) == rv(obj)


def test_apply_dry_run_creates_nothing(objects: Objects, store: SqliteStore) -> None:
    before = store.revision
    result = objects.patch(CM, "default", "c", PATCH_APPLY, cm(), WriteOptions(dry_run=True, field_manager="k"))
    assert result.created
    assert store.revision == before
    assert objects.find(CM, "default", "c") is None


@pytest.mark.parametrize(
    ("body", "opts", "message"),
    [
        (cm(), W, "fieldManager is required"),
        ({"metadata": {"name": "c"}, "data": {}}, WriteOptions(field_manager="k"), "apiVersion and kind"),
        (cm("other"), WriteOptions(field_manager="k"), "does not match the name"),
        (["a list"], WriteOptions(field_manager="k"), "must be a YAML or JSON object"),
    ],
    ids=["no-field-manager", "no-type-meta", "name-mismatch", "not-an-object"],
)
def test_apply_bad_requests(objects: Objects, body: Any, opts: WriteOptions, message: str) -> None:
    with pytest.raises(errors.BadRequest) as exc:
        objects.patch(CM, "default", "c", PATCH_APPLY, body, opts)
    assert message in exc.value.message


# ---- delete ----------------------------------------------------------------------------------------


def test_delete_without_finalizers_removes(objects: Objects, store: SqliteStore) -> None:
    objects.create(CM, "default", cm(), W)
    result = objects.delete(CM, "default", "c")
    assert result.deleted
    assert result.object["metadata"]["name"] == "c"
    assert objects.find(CM, "default", "c") is None
    with pytest.raises(errors.NotFound):
        objects.delete(CM, "default", "c")


def test_finalizers_hold_deletion_until_removed(objects: Objects, clock: Clock) -> None:
    objects.create(CM, "default", cm(metadata={"name": "c", "finalizers": ["a.io/x", "b.io/y"]}), W)
    clock.advance(10)
    marked = objects.delete(CM, "default", "c")
    assert not marked.deleted
    meta = marked.object["metadata"]
    assert meta["deletionTimestamp"] == "2025-03-04T05:06:17Z"
    assert meta["deletionGracePeriodSeconds"] == 0
    assert meta["finalizers"] == ["a.io/x", "b.io/y"]
    assert objects.get(CM, "default", "c") == marked.object

    clock.advance(10)  # a second delete keeps the first deletionTimestamp
    again = objects.delete(CM, "default", "c")
    assert again.object["metadata"]["deletionTimestamp"] == "2025-03-04T05:06:17Z"
    assert rv(again.object) == rv(marked.object)

    one_left = objects.patch(CM, "default", "c", PATCH_MERGE, {"metadata": {"finalizers": ["b.io/y"]}}, W)
    assert not one_left.deleted
    assert objects.get(CM, "default", "c")["metadata"]["finalizers"] == ["b.io/y"]

    gone = objects.patch(CM, "default", "c", PATCH_JSON, [{"op": "remove", "path": "/metadata/finalizers"}], W)
    assert gone.deleted
    assert objects.find(CM, "default", "c") is None


def _pod(node: str = "", grace: int | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": "main", "image": "busybox"}]}
    if node:
        spec["nodeName"] = node
    if grace is not None:
        spec["terminationGracePeriodSeconds"] = grace
    return {"metadata": {"name": "p"}, "spec": spec}


def test_bound_pod_deletion_is_graceful_and_may_only_shorten(objects: Objects, clock: Clock) -> None:
    objects.create(POD, "default", _pod(node="n1", grace=20), W)
    marked = objects.delete(POD, "default", "p")
    assert not marked.deleted
    meta = marked.object["metadata"]
    assert (meta["deletionTimestamp"], meta["deletionGracePeriodSeconds"]) == ("2025-03-04T05:06:27Z", 20)

    assert objects.delete(POD, "default", "p", grace_period=60).object == marked.object  # never lengthened
    shorter = objects.delete(POD, "default", "p", grace_period=5).object["metadata"]
    assert (shorter["deletionTimestamp"], shorter["deletionGracePeriodSeconds"]) == ("2025-03-04T05:06:12Z", 5)

    assert objects.delete(POD, "default", "p", grace_period=0).deleted  # the kubelet's final delete
    assert objects.find(POD, "default", "p") is None


@pytest.mark.parametrize(("node", "phase"), [("", ""), ("n1", "Succeeded"), ("n1", "Failed")])
def test_pods_without_running_containers_are_deleted_at_once(objects: Objects, node: str, phase: str) -> None:
    objects.create(POD, "default", _pod(node=node), W)
    if phase:
        objects.patch(POD, "default", "p", PATCH_MERGE, {"status": {"phase": phase}}, W, subresource="status")
    assert objects.delete(POD, "default", "p").deleted


def test_update_removing_last_finalizer_deletes(objects: Objects) -> None:
    objects.create(CM, "default", cm(metadata={"name": "c", "finalizers": ["a.io/x"]}), W)
    objects.delete(CM, "default", "c")
    current = objects.get(CM, "default", "c")
    body = {**current, "metadata": {**current["metadata"], "finalizers": []}}
    assert objects.update(CM, "default", "c", body, W).deleted
    assert objects.find(CM, "default", "c") is None


def test_no_new_finalizers_while_deleting(objects: Objects) -> None:
    objects.create(CM, "default", cm(metadata={"name": "c", "finalizers": ["a.io/x"]}), W)
    objects.delete(CM, "default", "c")
    with pytest.raises(errors.Invalid) as exc:
        objects.patch(CM, "default", "c", PATCH_MERGE, {"metadata": {"finalizers": ["a.io/x", "b.io/new"]}}, W)
    assert [c.field for c in exc.value.causes] == ["metadata.finalizers"]
    assert "b.io/new" in exc.value.message
    assert objects.get(CM, "default", "c")["metadata"]["finalizers"] == ["a.io/x"]


def test_finalizers_may_be_added_before_deletion(objects: Objects) -> None:
    objects.create(CM, "default", cm(), W)
    patched = objects.patch(CM, "default", "c", PATCH_MERGE, {"metadata": {"finalizers": ["a.io/x"]}}, W).object
    assert patched["metadata"]["finalizers"] == ["a.io/x"]


@pytest.mark.parametrize(
    ("propagation", "finalizers"),
    [("Foreground", ["foregroundDeletion"]), ("Orphan", ["orphan"])],
)
def test_propagation_policies_add_gc_finalizers(objects: Objects, propagation: str, finalizers: list[str]) -> None:
    objects.create(CM, "default", cm(), W)
    result = objects.delete(CM, "default", "c", propagation=propagation)
    assert not result.deleted
    assert result.object["metadata"]["finalizers"] == finalizers
    assert result.object["metadata"]["deletionTimestamp"]
    stored = objects.get(CM, "default", "c")
    assert stored["metadata"]["finalizers"] == finalizers


def test_foreground_keeps_existing_finalizers(objects: Objects) -> None:
    objects.create(CM, "default", cm(metadata={"name": "c", "finalizers": ["a.io/x"]}), W)
    result = objects.delete(CM, "default", "c", propagation="Foreground")
    assert result.object["metadata"]["finalizers"] == ["a.io/x", "foregroundDeletion"]


def test_malformed_preconditions(objects: Objects) -> None:
    objects.create(CM, "default", cm(), W)
    with pytest.raises(errors.BadRequest):
        objects.delete(CM, "default", "c", preconditions="uid")  # type: ignore[arg-type]
    assert objects.find(CM, "default", "c") is not None


def test_bad_propagation_policy(objects: Objects) -> None:
    objects.create(CM, "default", cm(), W)
    with pytest.raises(errors.BadRequest):
        objects.delete(CM, "default", "c", propagation="Sideways")
    assert objects.find(CM, "default", "c") is not None


@pytest.mark.parametrize(
    ("preconditions", "ok"),
    [
        ({"uid": "wrong"}, False),
        ({"resourceVersion": "1"}, False),
        ({"uid": "<uid>"}, True),
        ({"resourceVersion": "<rv>"}, True),
        ({"uid": "<uid>", "resourceVersion": "<rv>"}, True),
        ({}, True),
    ],
)
def test_delete_preconditions(objects: Objects, preconditions: dict[str, str], ok: bool) -> None:
    created = objects.create(CM, "default", cm(), W).object
    real = {"<uid>": created["metadata"]["uid"], "<rv>": rv(created)}
    pre = {k: real.get(v, v) for k, v in preconditions.items()}
    if ok:
        assert objects.delete(CM, "default", "c", preconditions=pre).deleted
        assert objects.find(CM, "default", "c") is None
    else:
        with pytest.raises(errors.Conflict) as exc:
            objects.delete(CM, "default", "c", preconditions=pre)
        assert exc.value.code == 409
        assert objects.find(CM, "default", "c") is not None


@pytest.mark.parametrize("finalizers", [[], ["a.io/x"]])
def test_dry_run_delete_keeps_object(objects: Objects, store: SqliteStore, finalizers: list[str]) -> None:
    objects.create(CM, "default", cm(metadata={"name": "c", "finalizers": finalizers}), W)
    before = store.revision
    objects.delete(CM, "default", "c", dry_run=True)
    assert store.revision == before
    assert "deletionTimestamp" not in objects.get(CM, "default", "c")["metadata"]


def test_namespace_delete_marks_terminating(objects: Objects, clock: Clock) -> None:
    objects.create(NS, "", {"metadata": {"name": "team"}}, W)
    result = objects.delete(NS, "", "team")
    assert not result.deleted
    ns = objects.get(NS, "", "team")
    assert ns["status"]["phase"] == "Terminating"
    assert ns["metadata"]["deletionTimestamp"] == "2025-03-04T05:06:07Z"
    assert ns["spec"]["finalizers"] == ["kubernetes"]
