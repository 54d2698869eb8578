"""Table output: human durations, CRD printer columns, built-in printers and the Table envelope."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kubeserve.api.errors import BadRequest
from kubeserve.api.kinds import PrinterColumn, Registry, ResourceKind
from kubeserve.api.printers import PRINTERS
from kubeserve.api.tables import column_definitions, human_duration, row_cells, table

NOW = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
REGISTRY = Registry()


def ago(seconds: float) -> str:
    return (NOW - timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def kind(group: str, name: str) -> ResourceKind:
    found = REGISTRY.by_group_kind(group, name)
    assert found is not None, name
    return found


def meta(name: str = "x", age: float = 600, **extra: Any) -> dict[str, Any]:
    return {"name": name, "namespace": "default", "creationTimestamp": ago(age), **extra}


# --------------------------------------------------------------------------------------------------
# human_duration (apimachinery duration.HumanDuration)


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (-5, "<invalid>"),
        (-2, "<invalid>"),
        (-1.9, "0s"),
        (-1, "0s"),
        (-0.5, "0s"),
        (0, "0s"),
        (0.9, "0s"),
        (59, "59s"),
        (119.99, "119s"),
        (120, "2m"),
        (150, "2m30s"),
        (599, "9m59s"),
        (600, "10m"),
        (601, "10m"),
        (10799, "179m"),
        (10800, "3h"),
        (3 * 3600 + 1800, "3h30m"),
        (8 * 3600 - 1, "7h59m"),
        (8 * 3600, "8h"),
        (47 * 3600 + 3599, "47h"),
        (48 * 3600, "2d"),
        (50 * 3600, "2d2h"),
        (8 * 86400 - 1, "7d23h"),
        (8 * 86400, "8d"),
        (729 * 86400, "729d"),
        (730 * 86400, "2y"),
        (731 * 86400, "2y1d"),
        (8 * 365 * 86400 - 1, "7y364d"),
        (8 * 365 * 86400, "8y"),
        (20 * 365 * 86400, "20y"),
    ],
)
def test_human_duration(seconds: float, expected: str) -> None:
    assert human_duration(seconds) == expected


# --------------------------------------------------------------------------------------------------
# Custom resources (apiextensions TableConvertor)

ISVC: dict[str, Any] = {
    "apiVersion": "serving.kserve.io/v1beta1",
    "kind": "InferenceService",
    "metadata": meta("demo", 312, uid="u-1", labels={"app": "demo"}, managedFields=[{"manager": "kubectl"}]),
    "status": {
        "url": "http://demo.default.example.com",
        "conditions": [{"type": "Ready", "status": "True"}],
        "components": {
            "predictor": {
                "traffic": [{"latestRevision": True, "percent": 100, "revisionName": "demo-predictor-00001"}]
            }
        },
    },
}


def test_inference_service_table() -> None:
    t = table(kind("serving.kserve.io", "InferenceService"), [ISVC], now=NOW, resource_version="1234")
    assert [(c["name"], c["type"], c["priority"]) for c in t["columnDefinitions"]] == [
        ("Name", "string", 0),
        ("URL", "string", 0),
        ("Ready", "string", 0),
        ("Prev", "integer", 0),
        ("Latest", "integer", 0),
        ("PrevRolledoutRevision", "string", 0),
        ("LatestReadyRevision", "string", 0),
        ("Age", "date", 0),
    ]
    assert t["columnDefinitions"][0]["format"] == "name"
    assert t["columnDefinitions"][0]["description"].startswith("Name must be unique within a namespace.")
    assert (
        t["columnDefinitions"][1]["description"]
        == "Custom resource definition column (in JSONPath format): .status.url"
    )
    assert t["rows"] == [
        {
            "cells": [
                "demo",
                "http://demo.default.example.com",
                "True",
                None,
                100,
                None,
                "demo-predictor-00001",
                "5m12s",
            ],
            "object": {
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": {k: v for k, v in ISVC["metadata"].items() if k != "managedFields"},
            },
        }
    ]
    assert t["kind"] == "Table" and t["apiVersion"] == "meta.k8s.io/v1"
    assert t["metadata"] == {"resourceVersion": "1234"}


def test_canary_traffic_columns() -> None:
    obj = {
        "metadata": meta("demo"),
        "status": {
            "components": {
                "predictor": {
                    "traffic": [
                        {"tag": "prev", "percent": 80, "revisionName": "demo-00001", "latestRevision": False},
                        {
                            "tag": "latest",
                            "percent": 20,
                            "revisionName": "demo-00002",
                            "latestRevision": True,
                        },
                    ]
                }
            }
        },
    }
    cells = row_cells(kind("serving.kserve.io", "InferenceService"), obj, NOW)
    assert cells == ["demo", None, None, 80, 20, "demo-00001", "demo-00002", "10m"]


def test_string_columns_take_the_first_match_only() -> None:
    # apiextensions prints results[0][0]: `[*]` columns show the first element, not a joined list.
    obj = {
        "metadata": meta("rt"),
        "spec": {
            "disabled": False,
            "supportedModelFormats": [{"name": "sklearn"}, {"name": "xgboost"}],
            "containers": [{"name": "kserve-container"}, {"name": "side"}],
        },
    }
    assert row_cells(kind("serving.kserve.io", "ServingRuntime"), obj, NOW) == [
        "rt",
        False,
        "sklearn",
        "kserve-container",
        "10m",
    ]


def test_accelerator_profile_uses_its_printer_columns() -> None:
    k = kind("dashboard.opendatahub.io", "AcceleratorProfile")
    cols = column_definitions(k)
    assert [(c["name"], c["priority"]) for c in cols] == [
        ("Name", 0),
        ("Display Name", 0),
        ("Enabled", 0),
        ("Identifier", 0),
        ("Tolerations", 1),
        ("Age", 0),
    ]
    obj = {
        "metadata": meta("gpu"),
        "spec": {
            "displayName": "NVIDIA GPU",
            "enabled": True,
            "identifier": "nvidia.com/gpu",
            "tolerations": [{"key": "gpu"}],
        },
    }
    assert row_cells(k, obj, NOW) == ["gpu", "NVIDIA GPU", True, "nvidia.com/gpu", "gpu", "10m"]


TYPED = ResourceKind(
    "example.com",
    "v1",
    "Widget",
    "widgets",
    "widget",
    True,
    builtin=False,
    printer_columns=(
        PrinterColumn("Int", "integer", ".v.int"),
        PrinterColumn("Num", "number", ".v.num"),
        PrinterColumn("Bool", "boolean", ".v.bool"),
        PrinterColumn("When", "date", ".v.when"),
        PrinterColumn("Text", "string", ".v.text"),
        PrinterColumn("Bad", "string", ".v[?(@.x==)]"),
    ),
)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({}, [None, None, None, None, None, None]),
        (
            {"int": 3, "num": 2.5, "bool": True, "when": ago(90), "text": "hi"},
            [3, 2.5, True, "90s", "hi", None],
        ),
        (
            {"int": 2.7, "num": 3, "bool": False, "when": ago(3 * 86400), "text": 5},
            [2, 3.0, False, "3d", "5", None],
        ),
        (
            {"int": "3", "num": "2.5", "bool": "true", "when": "yesterday", "text": 1.0},
            [None, None, None, "<invalid>", "1", None],
        ),
        (
            {"int": True, "num": False, "bool": 1, "when": "", "text": True},
            [None, None, None, "<unknown>", "true", None],
        ),
        (
            {"int": None, "when": 5, "text": {"b": 1, "a": [1, 2]}},
            [None, None, None, None, '{"a":[1,2],"b":1}', None],
        ),
        ({"text": [1, "two"]}, [None, None, None, None, '[1,"two"]', None]),
        ({"text": 0.5}, [None, None, None, None, "0.5", None]),
    ],
)
def test_crd_cell_types(values: dict[str, Any], expected: list[Any]) -> None:
    assert row_cells(TYPED, {"metadata": meta("w"), "v": values}, NOW) == ["w", *expected]


def test_crd_without_printer_columns_prints_name_and_age() -> None:
    plain = ResourceKind("example.com", "v1", "Gadget", "gadgets", "gadget", True, builtin=False)
    cols = column_definitions(plain)
    assert [(c["name"], c["type"]) for c in cols] == [("Name", "string"), ("Age", "date")]
    assert cols[1]["description"].startswith("CreationTimestamp is a timestamp")
    assert row_cells(plain, {"metadata": meta("g", 7200)}, NOW) == ["g", "120m"]
    assert row_cells(plain, {"metadata": {"name": "g"}}, NOW) == ["g", None]


def test_builtin_kind_without_printer_uses_default_columns() -> None:
    ssar = kind("authorization.k8s.io", "SelfSubjectAccessReview")
    assert [(c["name"], c["type"]) for c in column_definitions(ssar)] == [
        ("Name", "string"),
        ("Created At", "date"),
    ]
    assert row_cells(ssar, {"metadata": {"name": "a", "creationTimestamp": "2024-05-01T00:00:00Z"}}, NOW) == [
        "a",
        "2024-05-01T00:00:00Z",
    ]


# --------------------------------------------------------------------------------------------------
# The Table envelope


@pytest.mark.parametrize(
    ("include", "expected"),
    [
        (None, "partial"),
        ("", "partial"),
        ("PartialObjectMetadata", "partial"),
        ("Object", "full"),
        ("None", "absent"),
    ],
)
def test_include_object(include: str | None, expected: str) -> None:
    t = table(
        kind("serving.kserve.io", "InferenceService"),
        [ISVC],
        now=NOW,
        resource_version="1",
        include_object=include,
    )
    row = t["rows"][0]
    if expected == "absent":
        assert "object" not in row
    elif expected == "full":
        assert row["object"] == ISVC
    else:
        assert row["object"]["kind"] == "PartialObjectMetadata"
        assert "managedFields" not in row["object"]["metadata"]
        assert row["object"]["metadata"]["labels"] == {"app": "demo"}


def test_bad_include_object_is_a_bad_request() -> None:
    with pytest.raises(BadRequest, match='unrecognized includeObject value: "Everything"'):
        table(kind("", "Pod"), [], now=NOW, resource_version="1", include_object="Everything")


def test_headers_can_be_left_out_and_continue_is_passed_through() -> None:
    t = table(
        kind("", "ConfigMap"), [], now=NOW, resource_version="9", with_headers=False, continue_token="c1"
    )
    assert t == {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": "9", "continue": "c1"},
        "rows": [],
    }


# --------------------------------------------------------------------------------------------------
# Built-in printers: columns

S, N = "string", "integer"
BUILTIN_COLUMNS: list[tuple[str, str, list[tuple[str, str, int]]]] = [
    ("", "Namespace", [("Name", S, 0), ("Status", S, 0), ("Age", S, 0)]),
    (
        "",
        "Pod",
        [
            ("Name", S, 0),
            ("Ready", S, 0),
            ("Status", S, 0),
            ("Restarts", S, 0),
            ("Age", S, 0),
            ("IP", S, 1),
            ("Node", S, 1),
            ("Nominated Node", S, 1),
            ("Readiness Gates", S, 1),
        ],
    ),
    (
        "",
        "Service",
        [
            ("Name", S, 0),
            ("Type", S, 0),
            ("Cluster-IP", S, 0),
            ("External-IP", S, 0),
            ("Port(s)", S, 0),
            ("Age", S, 0),
            ("Selector", S, 1),
        ],
    ),
    ("", "Secret", [("Name", S, 0), ("Type", S, 0), ("Data", S, 0), ("Age", S, 0)]),
    ("", "ConfigMap", [("Name", S, 0), ("Data", S, 0), ("Age", S, 0)]),
    ("", "ServiceAccount", [("Name", S, 0), ("Secrets", S, 0), ("Age", S, 0)]),
    (
        "",
        "PersistentVolumeClaim",
        [
            ("Name", S, 0),
            ("Status", S, 0),
            ("Volume", S, 0),
            ("Capacity", S, 0),
            ("Access Modes", S, 0),
            ("StorageClass", S, 0),
            ("VolumeAttributesClass", S, 0),
            ("Age", S, 0),
            ("VolumeMode", S, 1),
        ],
    ),
    (
        "",
        "PersistentVolume",
        [
            ("Name", S, 0),
            ("Capacity", S, 0),
            ("Access Modes", S, 0),
            ("Reclaim Policy", S, 0),
            ("Status", S, 0),
            ("Claim", S, 0),
            ("StorageClass", S, 0),
            ("VolumeAttributesClass", S, 0),
            ("Reason", S, 0),
            ("Age", S, 0),
            ("VolumeMode", S, 1),
        ],
    ),
    ("", "Endpoints", [("Name", S, 0), ("Endpoints", S, 0), ("Age", S, 0)]),
    (
        "",
        "Event",
        [
            ("Last Seen", S, 0),
            ("Type", S, 0),
            ("Reason", S, 0),
            ("Object", S, 0),
            ("Subobject", S, 1),
            ("Source", S, 1),
            ("Message", S, 0),
            ("First Seen", S, 1),
            ("Count", S, 1),
            ("Name", S, 1),
        ],
    ),
    (
        "",
        "Node",
        [
            ("Name", S, 0),
            ("Status", S, 0),
            ("Roles", S, 0),
            ("Age", S, 0),
            ("Version", S, 0),
            ("Internal-IP", S, 1),
            ("External-IP", S, 1),
            ("OS-Image", S, 1),
            ("Kernel-Version", S, 1),
            ("Container-Runtime", S, 1),
        ],
    ),
    (
        "apps",
        "Deployment",
        [
            ("Name", S, 0),
            ("Ready", S, 0),
            ("Up-to-date", S, 0),
            ("Available", S, 0),
            ("Age", S, 0),
            ("Containers", S, 1),
            ("Images", S, 1),
            ("Selector", S, 1),
        ],
    ),
    (
        "apps",
        "ReplicaSet",
        [
            ("Name", S, 0),
            ("Desired", N, 0),
            ("Current", N, 0),
            ("Ready", N, 0),
            ("Age", S, 0),
            ("Containers", S, 1),
            ("Images", S, 1),
            ("Selector", S, 1),
        ],
    ),
    (
        "autoscaling",
        "HorizontalPodAutoscaler",
        [
            ("Name", S, 0),
            ("Reference", S, 0),
            ("Targets", S, 0),
            ("MinPods", S, 0),
            ("MaxPods", S, 0),
            ("Replicas", S, 0),
            ("Age", S, 0),
        ],
    ),
    (
        "storage.k8s.io",
        "StorageClass",
        [
            ("Name", S, 0),
            ("Provisioner", S, 0),
            ("ReclaimPolicy", S, 0),
            ("VolumeBindingMode", S, 0),
            ("AllowVolumeExpansion", S, 0),
            ("Age", S, 0),
        ],
    ),
    (
        "discovery.k8s.io",
        "EndpointSlice",
        [("Name", S, 0), ("AddressType", S, 0), ("Ports", S, 0), ("Endpoints", S, 0), ("Age", S, 0)],
    ),
    ("coordination.k8s.io", "Lease", [("Name", S, 0), ("Holder", S, 0), ("Age", S, 0)]),
    (
        "route.openshift.io",
        "Route",
        [
            ("Name", S, 0),
            ("Host/Port", S, 0),
            ("Path", S, 0),
            ("Services", S, 0),
            ("Port", S, 0),
            ("Termination", S, 0),
            ("Wildcard", S, 0),
        ],
    ),
]


@pytest.mark.parametrize(("group", "name", "expected"), BUILTIN_COLUMNS, ids=[c[1] for c in BUILTIN_COLUMNS])
def test_builtin_columns(group: str, name: str, expected: list[tuple[str, str, int]]) -> None:
    cols = column_definitions(kind(group, name))
    assert [(c["name"], c["type"], c["priority"]) for c in cols] == expected
    assert all(set(c) == {"name", "type", "format", "description", "priority"} for c in cols)
    assert [c["name"] for c in cols if c["format"] == "name"] == ["Name"]
    # A bare object prints without errors and fills every column.
    assert len(row_cells(kind(group, name), {"metadata": {"name": "bare"}}, NOW)) == len(expected)


def test_every_registered_printer_is_tested() -> None:
    assert {(g, k) for g, k, _ in BUILTIN_COLUMNS} == set(PRINTERS)


# --------------------------------------------------------------------------------------------------
# Built-in printers: cells


def running(
    name: str, ready: bool = True, restarts: int = 0, last_finished: float | None = None
) -> dict[str, Any]:
    status: dict[str, Any] = {
        "name": name,
        "ready": ready,
        "restartCount": restarts,
        "state": {"running": {}},
    }
    if last_finished is not None:
        status["lastState"] = {"terminated": {"exitCode": 1, "finishedAt": ago(last_finished)}}
    return status


def pod(
    statuses: list[dict[str, Any]],
    *,
    phase: str = "Running",
    containers: int | None = None,
    init: list[dict[str, Any]] | None = None,
    init_statuses: list[dict[str, Any]] | None = None,
    conditions: list[dict[str, Any]] | None = None,
    **meta_extra: Any,
) -> dict[str, Any]:
    count = len(statuses) if containers is None else containers
    return {
        "metadata": meta("web-1", **meta_extra),
        "spec": {
            "containers": [{"name": f"c{i}"} for i in range(count)],
            "initContainers": init or [],
            "nodeName": "node-a",
        },
        "status": {
            "phase": phase,
            "containerStatuses": statuses,
            "initContainerStatuses": init_statuses or [],
            "conditions": conditions or [],
            "podIP": "10.0.0.7",
        },
    }


WAITING = {
    "name": "c0",
    "ready": False,
    "restartCount": 0,
    "state": {"waiting": {"reason": "ContainerCreating"}},
}
CRASHING = {
    "name": "c0",
    "ready": False,
    "restartCount": 4,
    "state": {"waiting": {"reason": "CrashLoopBackOff"}},
    "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": ago(120)}},
}
COMPLETED = {
    "name": "c0",
    "ready": False,
    "restartCount": 0,
    "state": {"terminated": {"exitCode": 0, "reason": "Completed"}},
}
INIT_RUNNING = {"name": "init", "ready": False, "restartCount": 0, "state": {"running": {}}}
INIT_DONE = {"name": "init", "ready": False, "restartCount": 0, "state": {"terminated": {"exitCode": 0}}}
INIT_FAILED = {
    "name": "init",
    "ready": False,
    "restartCount": 2,
    "state": {"terminated": {"exitCode": 1, "reason": "Error"}},
}
INIT_SIGNAL = {
    "name": "init",
    "ready": False,
    "restartCount": 0,
    "state": {"terminated": {"exitCode": 137, "signal": 9}},
}
SIDECAR = {"name": "init", "ready": True, "started": True, "restartCount": 1, "state": {"running": {}}}
READY = {"type": "Ready", "status": "True"}


@pytest.mark.parametrize(
    ("obj", "ready", "status", "restarts"),
    [
        (pod([running("c0")]), "1/1", "Running", "0"),
        (pod([running("c0"), running("c1", ready=False)]), "1/2", "Running", "0"),
        (pod([WAITING], phase="Pending"), "0/1", "ContainerCreating", "0"),
        (pod([], phase="Pending", containers=1), "0/1", "Pending", "0"),
        (pod([CRASHING]), "0/1", "CrashLoopBackOff", "4 (2m ago)"),
        (pod([running("c0", restarts=3, last_finished=125)]), "1/1", "Running", "3 (2m5s ago)"),
        (pod([running("c0", restarts=2)]), "1/1", "Running", "2"),  # no lastState: no "(ago)"
        (pod([COMPLETED], phase="Succeeded"), "0/1", "Completed", "0"),
        (
            pod([{**COMPLETED, "state": {"terminated": {"exitCode": 2}}}], phase="Failed"),
            "0/1",
            "ExitCode:2",
            "0",
        ),
        (
            pod([{**COMPLETED, "state": {"terminated": {"exitCode": 137, "signal": 9}}}], phase="Failed"),
            "0/1",
            "Signal:9",
            "0",
        ),
        (pod([COMPLETED, running("c1")], conditions=[READY]), "1/2", "Running", "0"),
        (pod([COMPLETED, running("c1")]), "1/2", "NotReady", "0"),
        (
            pod([], phase="Pending", containers=1, init=[{"name": "init"}], init_statuses=[INIT_RUNNING]),
            "0/1",
            "Init:0/1",
            "0",
        ),
        (
            pod(
                [],
                phase="Pending",
                containers=1,
                init=[{"name": "i0"}, {"name": "init"}],
                init_statuses=[{**INIT_DONE, "name": "i0"}, INIT_RUNNING],
            ),
            "0/1",
            "Init:1/2",
            "0",
        ),
        (
            pod([], phase="Pending", containers=1, init=[{"name": "init"}], init_statuses=[INIT_FAILED]),
            "0/1",
            "Init:Error",
            "2",
        ),
        (
            pod([], phase="Pending", containers=1, init=[{"name": "init"}], init_statuses=[INIT_SIGNAL]),
            "0/1",
            "Init:Signal:9",
            "0",
        ),
        (
            pod(
                [],
                phase="Pending",
                containers=1,
                init=[{"name": "init"}],
                init_statuses=[{**INIT_RUNNING, "state": {"waiting": {"reason": "ImagePullBackOff"}}}],
            ),
            "0/1",
            "Init:ImagePullBackOff",
            "0",
        ),
        (
            pod([running("c0")], init=[{"name": "init", "restartPolicy": "Always"}], init_statuses=[SIDECAR]),
            "2/2",
            "Running",
            "1",
        ),
        (pod([running("c0")], deletionTimestamp=ago(5)), "1/1", "Terminating", "0"),
        (pod([COMPLETED], phase="Succeeded", deletionTimestamp=ago(5)), "0/1", "Completed", "0"),
        (
            {
                **pod([running("c0")], deletionTimestamp=ago(5)),
                "status": {"phase": "Running", "reason": "NodeLost"},
            },
            "0/1",
            "Unknown",
            "0",
        ),
        (
            pod(
                [],
                phase="Pending",
                containers=1,
                conditions=[{"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}],
            ),
            "0/1",
            "SchedulingGated",
            "0",
        ),
        (
            {**pod([], phase="Failed", containers=1), "status": {"phase": "Failed", "reason": "Evicted"}},
            "0/1",
            "Evicted",
            "0",
        ),
    ],
)
def test_pod_status(obj: dict[str, Any], ready: str, status: str, restarts: str) -> None:
    cells = row_cells(kind("", "Pod"), obj, NOW)
    assert cells[1:5] == [ready, status, restarts, "10m"]


def test_pod_wide_cells_and_row_conditions() -> None:
    obj = pod([running("c0")], conditions=[READY, {"type": "example.com/gate", "status": "True"}])
    obj["spec"]["readinessGates"] = [{"conditionType": "example.com/gate"}, {"conditionType": "other"}]
    obj["status"]["podIPs"] = [{"ip": "10.0.0.9"}]
    obj["status"]["nominatedNodeName"] = "node-b"
    assert row_cells(kind("", "Pod"), obj, NOW)[5:] == ["10.0.0.9", "node-a", "node-b", "1/2"]
    bare = row_cells(kind("", "Pod"), {"metadata": {"name": "p"}}, NOW)
    assert bare == ["p", "0/0", "", "0", "<unknown>", "<none>", "<none>", "<none>", "<none>"]
    done = table(
        kind("", "Pod"),
        [pod([COMPLETED], phase="Succeeded"), pod([running("c0")])],
        now=NOW,
        resource_version="1",
        include_object="None",
    )
    assert done["rows"][0]["conditions"] == [
        {
            "type": "Completed",
            "status": "True",
            "reason": "Succeeded",
            "message": "The pod has completed successfully.",
        }
    ]
    assert "conditions" not in done["rows"][1]


ROUTE_ADMITTED = {"host": "web.apps.example.com", "conditions": [{"type": "Admitted", "status": "True"}]}
ROUTE_REJECTED = {
    "host": "web.apps.example.com",
    "conditions": [{"type": "Admitted", "status": "False", "reason": "HostAlreadyClaimed"}],
}


def route(spec: dict[str, Any], ingress: list[Any] | None = None, **annotations: str) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "metadata": meta("web", annotations=annotations),
        "spec": {
            "host": "web.apps.example.com",
            "to": {"kind": "Service", "name": "web", "weight": 100},
            **spec,
        },
    }
    if ingress is not None:
        obj["status"] = {"ingress": ingress}
    return obj


CELLS: list[tuple[str, str, str, dict[str, Any], list[Any]]] = [
    (
        "ns",
        "",
        "Namespace",
        {"metadata": meta("team"), "status": {"phase": "Active"}},
        ["team", "Active", "10m"],
    ),
    (
        "ns-terminating",
        "",
        "Namespace",
        {"metadata": meta("team"), "status": {"phase": "Terminating"}},
        ["team", "Terminating", "10m"],
    ),
    (
        "svc-clusterip",
        "",
        "Service",
        {
            "metadata": meta("web"),
            "spec": {
                "type": "ClusterIP",
                "clusterIP": "10.96.0.10",
                "clusterIPs": ["10.96.0.10"],
                "ports": [{"port": 80, "protocol": "TCP"}],
                "selector": {"app": "web"},
            },
        },
        ["web", "ClusterIP", "10.96.0.10", "<none>", "80/TCP", "10m", "app=web"],
    ),
    (
        "svc-nodeport",
        "",
        "Service",
        {
            "metadata": meta("web"),
            "spec": {
                "type": "NodePort",
                "clusterIP": "10.96.0.11",
                "externalIPs": ["1.2.3.4"],
                "ports": [
                    {"port": 80, "nodePort": 30080, "protocol": "TCP"},
                    {"port": 53, "protocol": "UDP"},
                ],
                "selector": {"tier": "a", "app": "web"},
            },
        },
        ["web", "NodePort", "10.96.0.11", "1.2.3.4", "80:30080/TCP,53/UDP", "10m", "app=web,tier=a"],
    ),
    (
        "svc-lb-pending",
        "",
        "Service",
        {
            "metadata": meta("lb"),
            "spec": {"type": "LoadBalancer", "clusterIP": "10.96.0.12", "ports": [{"port": 443}]},
        },
        ["lb", "LoadBalancer", "10.96.0.12", "<pending>", "443/TCP", "10m", "<none>"],
    ),
    (
        "svc-lb",
        "",
        "Service",
        {
            "metadata": meta("lb"),
            "spec": {"type": "LoadBalancer", "clusterIP": "10.96.0.12", "ports": [{"port": 443}]},
            "status": {"loadBalancer": {"ingress": [{"ip": "5.6.7.8"}, {"hostname": "lb.example.com"}]}},
        },
        ["lb", "LoadBalancer", "10.96.0.12", "5.6.7.8,lb.example.com", "443/TCP", "10m", "<none>"],
    ),
    (
        "svc-headless-externalname",
        "",
        "Service",
        {
            "metadata": meta("ext"),
            "spec": {"type": "ExternalName", "externalName": "db.example.com", "clusterIP": "None"},
        },
        ["ext", "ExternalName", "None", "db.example.com", "<none>", "10m", "<none>"],
    ),
    (
        "secret",
        "",
        "Secret",
        {"metadata": meta("s"), "type": "kubernetes.io/tls", "data": {"tls.crt": "", "tls.key": ""}},
        ["s", "kubernetes.io/tls", 2, "10m"],
    ),
    ("secret-default", "", "Secret", {"metadata": meta("s")}, ["s", "Opaque", 0, "10m"]),
    (
        "configmap",
        "",
        "ConfigMap",
        {"metadata": meta("c"), "data": {"a": "1"}, "binaryData": {"b": ""}},
        ["c", 2, "10m"],
    ),
    (
        "serviceaccount",
        "",
        "ServiceAccount",
        {"metadata": meta("default"), "secrets": [{"name": "tok"}]},
        ["default", 1, "10m"],
    ),
    (
        "pvc-bound",
        "",
        "PersistentVolumeClaim",
        {
            "metadata": meta("data"),
            "spec": {
                "volumeName": "pv-1",
                "storageClassName": "standard",
                "volumeMode": "Filesystem",
                "resources": {"requests": {"storage": "1Gi"}},
            },
            "status": {
                "phase": "Bound",
                "capacity": {"storage": "2Gi"},
                "accessModes": ["ReadWriteMany", "ReadWriteOnce"],
            },
        },
        ["data", "Bound", "pv-1", "2Gi", "RWO,RWX", "standard", "<unset>", "10m", "Filesystem"],
    ),
    (
        "pvc-pending",
        "",
        "PersistentVolumeClaim",
        {
            "metadata": meta("data", annotations={"volume.beta.kubernetes.io/storage-class": "legacy"}),
            "spec": {
                "storageClassName": "standard",
                "volumeAttributesClassName": "fast",
                "volumeMode": "Block",
            },
            "status": {"phase": "Pending", "accessModes": ["ReadWriteOnce"]},
        },
        ["data", "Pending", "", "", "", "legacy", "fast", "10m", "Block"],
    ),
    (
        "pvc-terminating",
        "",
        "PersistentVolumeClaim",
        {"metadata": meta("data", deletionTimestamp=ago(1)), "status": {"phase": "Bound"}},
        ["data", "Terminating", "", "", "", "", "<unset>", "10m", "Filesystem"],
    ),
    (
        "pv",
        "",
        "PersistentVolume",
        {
            "metadata": meta("pv-1"),
            "spec": {
                "capacity": {"storage": "10Gi"},
                "accessModes": ["ReadWriteOnce"],
                "persistentVolumeReclaimPolicy": "Delete",
                "storageClassName": "standard",
                "claimRef": {"namespace": "default", "name": "data"},
            },
            "status": {"phase": "Bound"},
        },
        [
            "pv-1",
            "10Gi",
            "RWO",
            "Delete",
            "Bound",
            "default/data",
            "standard",
            "<unset>",
            "",
            "10m",
            "Filesystem",
        ],
    ),
    (
        "pv-released",
        "",
        "PersistentVolume",
        {
            "metadata": meta("pv-2"),
            "spec": {
                "capacity": {"storage": "1Gi"},
                "accessModes": ["ReadWriteOncePod"],
                "volumeMode": "Block",
            },
            "status": {"phase": "Failed", "reason": "RecyclerFailed"},
        },
        ["pv-2", "1Gi", "RWOP", "Retain", "Failed", "", "", "<unset>", "RecyclerFailed", "10m", "Block"],
    ),
    (
        "storageclass-default",
        "storage.k8s.io",
        "StorageClass",
        {
            "metadata": meta("standard", annotations={"storageclass.kubernetes.io/is-default-class": "true"}),
            "provisioner": "rancher.io/local-path",
            "volumeBindingMode": "WaitForFirstConsumer",
        },
        ["standard (default)", "rancher.io/local-path", "Delete", "WaitForFirstConsumer", False, "10m"],
    ),
    (
        "storageclass",
        "storage.k8s.io",
        "StorageClass",
        {
            "metadata": meta("fast"),
            "provisioner": "csi.example.com",
            "reclaimPolicy": "Retain",
            "allowVolumeExpansion": True,
        },
        ["fast", "csi.example.com", "Retain", "Immediate", True, "10m"],
    ),
    (
        "endpoints",
        "",
        "Endpoints",
        {
            "metadata": meta("web"),
            "subsets": [{"addresses": [{"ip": "127.0.0.5"}], "ports": [{"port": 8080}]}],
        },
        ["web", "127.0.0.5:8080", "10m"],
    ),
    (
        "endpoints-many",
        "",
        "Endpoints",
        {
            "metadata": meta("web"),
            "subsets": [
                {
                    "addresses": [{"ip": "10.0.0.1"}, {"ip": "fd00::2"}],
                    "ports": [{"port": 80}, {"port": 443}],
                },
                {"addresses": [{"ip": "10.0.0.3"}]},
            ],
        },
        ["web", "10.0.0.1:80,[fd00::2]:80,10.0.0.1:443 + 2 more...", "10m"],
    ),
    ("endpoints-none", "", "Endpoints", {"metadata": meta("web")}, ["web", "<none>", "10m"]),
    (
        "endpoints-not-ready",
        "",
        "Endpoints",
        {
            "metadata": meta("web"),
            "subsets": [{"notReadyAddresses": [{"ip": "10.0.0.1"}], "ports": [{"port": 80}]}],
        },
        ["web", "", "10m"],
    ),
    (
        "endpointslice",
        "discovery.k8s.io",
        "EndpointSlice",
        {
            "metadata": meta("web-abc"),
            "addressType": "IPv4",
            "ports": [{"port": 8080}, {"name": "metrics"}, {}],
            "endpoints": [{"addresses": ["10.0.0.1"]}, {"addresses": ["10.0.0.2", "10.0.0.3", "10.0.0.4"]}],
        },
        ["web-abc", "IPv4", "8080,metrics,*", "10.0.0.1,10.0.0.2,10.0.0.3 + 1 more...", "10m"],
    ),
    (
        "endpointslice-empty",
        "discovery.k8s.io",
        "EndpointSlice",
        {"metadata": meta("web-abc"), "addressType": "IPv4"},
        ["web-abc", "IPv4", "<unset>", "<unset>", "10m"],
    ),
    (
        "event",
        "",
        "Event",
        {
            "metadata": meta("web-1.17a"),
            "type": "Normal",
            "reason": "Started",
            "message": " Started container c0 \n",
            "involvedObject": {"kind": "Pod", "name": "web-1", "fieldPath": "spec.containers{c0}"},
            "source": {"component": "kubelet", "host": "node-a"},
            "firstTimestamp": ago(300),
            "lastTimestamp": ago(60),
            "count": 3,
        },
        [
            "60s",
            "Normal",
            "Started",
            "pod/web-1",
            "spec.containers{c0}",
            "kubelet, node-a",
            "Started container c0",
            "5m",
            3,
            "web-1.17a",
        ],
    ),
    (
        "event-new-api",
        "",
        "Event",
        {
            "metadata": meta("e"),
            "type": "Warning",
            "reason": "FailedScheduling",
            "eventTime": "2025-01-01T11:58:00.000000Z",
            "reportingController": "default-scheduler",
            "involvedObject": {"kind": "Pod"},
            "message": "0/1 nodes",
        },
        ["2m", "Warning", "FailedScheduling", "pod", "", "default-scheduler", "0/1 nodes", "2m", 1, "e"],
    ),
    (
        "event-series",
        "",
        "Event",
        {
            "metadata": meta("e"),
            "eventTime": ago(3600),
            "series": {"count": 7, "lastObservedTime": ago(30)},
            "involvedObject": {"kind": "Node", "name": "n"},
        },
        ["30s", "", "", "node/n", "", "", "", "60m", 7, "e"],
    ),
    (
        "node",
        "",
        "Node",
        {
            "metadata": meta(
                "node-a", labels={"node-role.kubernetes.io/control-plane": "", "kubernetes.io/role": "x"}
            ),
            "status": {
                "conditions": [
                    {"type": "MemoryPressure", "status": "False"},
                    {"type": "Ready", "status": "True"},
                ],
                "addresses": [
                    {"type": "InternalIP", "address": "192.168.1.5"},
                    {"type": "Hostname", "address": "a"},
                ],
                "nodeInfo": {
                    "kubeletVersion": "v1.32.4",
                    "osImage": "Ubuntu 24.04",
                    "kernelVersion": "6.8.0",
                    "containerRuntimeVersion": "kubeserve://0.1.0",
                },
            },
        },
        [
            "node-a",
            "Ready",
            "control-plane,x",
            "10m",
            "v1.32.4",
            "192.168.1.5",
            "<none>",
            "Ubuntu 24.04",
            "6.8.0",
            "kubeserve://0.1.0",
        ],
    ),
    (
        "node-cordoned",
        "",
        "Node",
        {
            "metadata": meta("node-a"),
            "spec": {"unschedulable": True},
            "status": {"conditions": [{"type": "Ready", "status": "Unknown"}]},
        },
        [
            "node-a",
            "NotReady,SchedulingDisabled",
            "<none>",
            "10m",
            "",
            "<none>",
            "<none>",
            "<unknown>",
            "<unknown>",
            "<unknown>",
        ],
    ),
    (
        "node-unknown",
        "",
        "Node",
        {"metadata": meta("node-a")},
        ["node-a", "Unknown", "<none>", "10m", "", "<none>", "<none>", "<unknown>", "<unknown>", "<unknown>"],
    ),
    (
        "deployment",
        "apps",
        "Deployment",
        {
            "metadata": meta("web"),
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "spec": {
                        "containers": [
                            {"name": "web", "image": "nginx:1"},
                            {"name": "side", "image": "busybox"},
                        ]
                    }
                },
            },
            "status": {"readyReplicas": 1, "updatedReplicas": 2, "availableReplicas": 1},
        },
        ["web", "1/2", 2, 1, "10m", "web,side", "nginx:1,busybox", "app=web"],
    ),
    (
        "deployment-defaults",
        "apps",
        "Deployment",
        {"metadata": meta("web"), "spec": {"selector": {}}},
        ["web", "0/1", 0, 0, "10m", "", "", ""],
    ),
    (
        "replicaset",
        "apps",
        "ReplicaSet",
        {
            "metadata": meta("web-5d4"),
            "spec": {
                "replicas": 3,
                "selector": {
                    "matchLabels": {"app": "web"},
                    "matchExpressions": [{"key": "pod-template-hash", "operator": "In", "values": ["5d4"]}],
                },
                "template": {"spec": {"containers": [{"name": "web", "image": "nginx:1"}]}},
            },
            "status": {"replicas": 3, "readyReplicas": 2},
        },
        ["web-5d4", 3, 3, 2, "10m", "web", "nginx:1", "app=web,pod-template-hash in (5d4)"],
    ),
    (
        "replicaset-no-selector",
        "apps",
        "ReplicaSet",
        {"metadata": meta("rs")},
        ["rs", 1, 0, 0, "10m", "", "", "<none>"],
    ),
    (
        "hpa",
        "autoscaling",
        "HorizontalPodAutoscaler",
        {
            "metadata": meta("web"),
            "spec": {
                "scaleTargetRef": {"kind": "Deployment", "name": "web"},
                "minReplicas": 2,
                "maxReplicas": 5,
                "metrics": [
                    {
                        "type": "Resource",
                        "resource": {
                            "name": "cpu",
                            "target": {"type": "Utilization", "averageUtilization": 80},
                        },
                    }
                ],
            },
            "status": {
                "currentReplicas": 2,
                "currentMetrics": [
                    {
                        "type": "Resource",
                        "resource": {
                            "name": "cpu",
                            "current": {"averageUtilization": 10, "averageValue": "50m"},
                        },
                    }
                ],
            },
        },
        ["web", "Deployment/web", "cpu: 10%/80%", "2", 5, 2, "10m"],
    ),
    (
        "hpa-defaults",
        "autoscaling",
        "HorizontalPodAutoscaler",
        {
            "metadata": meta("web"),
            "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "maxReplicas": 3},
        },
        ["web", "Deployment/web", "cpu: <unknown>/80%", "1", 3, 0, "10m"],
    ),
    (
        "hpa-many",
        "autoscaling",
        "HorizontalPodAutoscaler",
        {
            "metadata": meta("web"),
            "spec": {
                "scaleTargetRef": {"kind": "Deployment", "name": "web"},
                "maxReplicas": 3,
                "metrics": [
                    {
                        "type": "Resource",
                        "resource": {
                            "name": "memory",
                            "target": {"type": "AverageValue", "averageValue": "500Mi"},
                        },
                    },
                    {"type": "Pods", "pods": {"metric": {"name": "rps"}, "target": {"averageValue": "10"}}},
                    {"type": "External", "external": {"metric": {"name": "q"}, "target": {"value": "3"}}},
                ],
            },
            "status": {
                "currentMetrics": [
                    {"type": "Resource", "resource": {"name": "memory", "current": {"averageValue": "100Mi"}}}
                ]
            },
        },
        ["web", "Deployment/web", "memory: 100Mi/500Mi, <unknown>/10 + 1 more...", "1", 3, 0, "10m"],
    ),
    (
        "hpa-object-external",
        "autoscaling",
        "HorizontalPodAutoscaler",
        {
            "metadata": meta("web"),
            "spec": {
                "scaleTargetRef": {"kind": "Deployment", "name": "web"},
                "maxReplicas": 3,
                "metrics": [
                    {"type": "Object", "object": {"target": {"type": "AverageValue", "averageValue": "2"}}},
                    {"type": "External", "external": {"target": {"type": "Value", "value": "3"}}},
                ],
            },
            "status": {
                "currentMetrics": [
                    {"type": "Object", "object": {"current": {"averageValue": "1"}}},
                    {"type": "External", "external": {"current": {"value": "4"}}},
                ]
            },
        },
        ["web", "Deployment/web", "1/2 (avg), 4/3", "1", 3, 0, "10m"],
    ),
    (
        "hpa-empty-metrics",
        "autoscaling",
        "HorizontalPodAutoscaler",
        {
            "metadata": meta("web"),
            "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "metrics": []},
        },
        ["web", "Deployment/web", "<none>", "1", 0, 0, "10m"],
    ),
    (
        "lease",
        "coordination.k8s.io",
        "Lease",
        {"metadata": meta("kube-scheduler"), "spec": {"holderIdentity": "a_1"}},
        ["kube-scheduler", "a_1", "10m"],
    ),
    (
        "route-legacy",
        "route.openshift.io",
        "Route",
        route({"port": {"targetPort": 8080}}),
        ["web", "web.apps.example.com", "", "web", "8080", "", "None"],
    ),
    (
        "route-admitted-edge",
        "route.openshift.io",
        "Route",
        route(
            {
                "path": "/v1",
                "port": {"targetPort": "http"},
                "wildcardPolicy": "None",
                "tls": {"termination": "edge", "insecureEdgeTerminationPolicy": "Redirect"},
            },
            [ROUTE_ADMITTED],
        ),
        ["web", "web.apps.example.com", "/v1", "web", "http", "edge/Redirect", "None"],
    ),
    (
        "route-claimed",
        "route.openshift.io",
        "Route",
        route({"tls": {"termination": "passthrough"}}, [ROUTE_REJECTED]),
        ["web", "HostAlreadyClaimed", "", "web", "<all>", "passthrough", "None"],
    ),
    (
        "route-pending",
        "route.openshift.io",
        "Route",
        route({}, []),
        ["web", "Pending", "", "web", "<all>", "", "None"],
    ),
    (
        "route-mixed",
        "route.openshift.io",
        "Route",
        route({}, [ROUTE_ADMITTED, ROUTE_ADMITTED, ROUTE_REJECTED]),
        ["web", "web.apps.example.com ... 1 rejected", "", "web", "<all>", "", "None"],
    ),
    (
        "route-two-routers",
        "route.openshift.io",
        "Route",
        route({}, [ROUTE_ADMITTED, ROUTE_ADMITTED]),
        ["web", "web.apps.example.com ... 1 more", "", "web", "<all>", "", "None"],
    ),
    (
        "route-split",
        "route.openshift.io",
        "Route",
        route(
            {
                "alternateBackends": [{"kind": "Service", "name": "canary", "weight": 100}],
                "tls": {"termination": "reencrypt", "insecureEdgeTerminationPolicy": "Allow"},
                "wildcardPolicy": "Subdomain",
            },
            [ROUTE_ADMITTED],
        ),
        ["web", "web.apps.example.com", "", "web(50%),canary(50%)", "<all>", "reencrypt/Allow", "Subdomain"],
    ),
    (
        "route-weights",
        "route.openshift.io",
        "Route",
        route({"to": {"name": "a", "weight": 1}, "alternateBackends": [{"name": "b", "weight": 2}]}),
        ["web", "web.apps.example.com", "", "a(33%),b(66%)", "<all>", "", "None"],
    ),
    (
        "route-zero-weights",
        "route.openshift.io",
        "Route",
        route({"to": {"name": "a", "weight": 0}}),
        ["web", "web.apps.example.com", "", "a(0%)", "<all>", "", "None"],
    ),
    (
        "route-insecure-only",
        "route.openshift.io",
        "Route",
        route({"tls": {"insecureEdgeTerminationPolicy": "Redirect"}}),
        ["web", "web.apps.example.com", "", "web", "<all>", "default/Redirect", "None"],
    ),
    (
        "route-router-port",
        "route.openshift.io",
        "Route",
        route({}, [ROUTE_ADMITTED], **{"kubeserve.io/router-port": "8443"}),
        ["web", "web.apps.example.com:8443", "", "web", "<all>", "", "None"],
    ),
    (
        "route-router-port-443",
        "route.openshift.io",
        "Route",
        route({}, [ROUTE_ADMITTED], **{"kubeserve.io/router-port": "443"}),
        ["web", "web.apps.example.com", "", "web", "<all>", "", "None"],
    ),
    (
        "route-router-port-claimed",
        "route.openshift.io",
        "Route",
        route({}, [ROUTE_REJECTED], **{"kubeserve.io/router-port": "8443"}),
        ["web", "HostAlreadyClaimed", "", "web", "<all>", "", "None"],
    ),
]


@pytest.mark.parametrize(
    ("group", "name", "obj", "expected"), [c[1:] for c in CELLS], ids=[c[0] for c in CELLS]
)
def test_builtin_cells(group: str, name: str, obj: dict[str, Any], expected: list[Any]) -> None:
    assert row_cells(kind(group, name), obj, NOW) == expected


def test_naive_now_is_treated_as_utc() -> None:
    naive = NOW.replace(tzinfo=None)
    assert row_cells(kind("", "ConfigMap"), {"metadata": meta("c", 90)}, naive) == ["c", 0, "90s"]


def test_an_empty_terminated_state_still_counts_as_terminated() -> None:
    obj = pod(
        [{"name": "c0", "ready": False, "restartCount": 0, "state": {"terminated": {}}}], phase="Failed"
    )
    assert row_cells(kind("", "Pod"), obj, NOW)[1:3] == ["0/1", "ExitCode:0"]
