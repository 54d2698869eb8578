"""Refreshing secret, configMap and projected volumes: which volumes a change touches (table) and what
a refresh does to the files (real sandbox directories)."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from kubeserve.node.kubelet.sandbox import Lookups, prepare_sandbox
from kubeserve.node.kubelet.volumesync import refresh, volumes_referencing

Obj = dict[str, Any]

VOLUMES: list[Obj] = [
    {"name": "creds", "secret": {"secretName": "db"}},
    {"name": "conf", "configMap": {"name": "app"}},
    {"name": "both", "projected": {"sources": [{"secret": {"name": "db"}}, {"configMap": {"name": "extra"}},
                                               {"downwardAPI": {"items": []}}]}},
    {"name": "scratch", "emptyDir": {}},
]


def pod(volumes: list[Obj], namespace: str = "default") -> Obj:
    return {"metadata": {"name": "p", "namespace": namespace, "uid": "u1"},
            "spec": {"containers": [{"name": "main", "image": "busybox"}], "volumes": volumes}}


@pytest.mark.parametrize(("kind", "namespace", "name", "want"), [
    ("Secret", "default", "db", ["creds", "both"]),
    ("ConfigMap", "default", "app", ["conf"]),
    ("ConfigMap", "default", "extra", ["both"]),
    ("ConfigMap", "default", "db", []),  # same name, other kind
    ("Secret", "other", "db", []),  # same name, other namespace
    ("Secret", "default", "unused", []),
])
def test_volumes_referencing(kind: str, namespace: str, name: str, want: list[str]) -> None:
    assert volumes_referencing(pod(VOLUMES), kind, namespace, name) == want


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_refresh_rewrites_changed_files_only_and_keeps_files_of_a_deleted_secret(tmp_path: Path) -> None:
    secrets: dict[str, Obj] = {"db": {"data": {"user": b64("admin"), "password": b64("one")}}}
    lookups = Lookups(secret=lambda _ns, name: secrets.get(name), config_map=lambda _ns, _name: None,
                      pvc_path=lambda _ns, _claim: None, services=lambda: [])
    p = pod([{"name": "creds", "secret": {"secretName": "db"}}])
    sandbox = prepare_sandbox(p, tmp_path / "u1", "127.10.0.2", lookups, "path-rewrite")
    volume = sandbox.volumes["creds"]
    assert (volume / "password").read_text() == "one"
    user_inode = (volume / "user").stat().st_ino

    secrets["db"] = {"data": {"user": b64("admin"), "password": b64("two"), "host": b64("db.local")}}
    assert refresh(p, sandbox, lookups, ["creds"]) == []
    assert (volume / "password").read_text() == "two"
    assert (volume / "host").read_text() == "db.local"
    assert (volume / "user").stat().st_ino == user_inode  # unchanged: not replaced under its readers

    secrets["db"] = {"data": {"user": b64("admin")}}
    assert refresh(p, sandbox, lookups, ["creds"]) == []
    assert sorted(f.name for f in volume.iterdir()) == ["user"]  # keys that went away lose their files

    del secrets["db"]
    failed = refresh(p, sandbox, lookups, ["creds"])
    assert failed == [("creds", 'MountVolume.SetUp failed for volume "creds" : secret "db" not found')]
    assert (volume / "user").read_text() == "admin"  # the running pod keeps what it had


def test_refresh_touches_only_the_named_volumes(tmp_path: Path) -> None:
    maps: dict[str, Obj] = {"app": {"data": {"a": "1"}}, "other": {"data": {"b": "1"}}}
    lookups = Lookups(secret=lambda _ns, _name: None, config_map=lambda _ns, name: maps.get(name),
                      pvc_path=lambda _ns, _claim: None, services=lambda: [])
    p = pod([{"name": "conf", "configMap": {"name": "app"}}, {"name": "more", "configMap": {"name": "other"}}])
    sandbox = prepare_sandbox(p, tmp_path / "u1", "127.10.0.2", lookups, "path-rewrite")
    maps["app"] = {"data": {"a": "2"}}
    maps["other"] = {"data": {"b": "2"}}
    assert refresh(p, sandbox, lookups, ["conf"]) == []
    assert (sandbox.volumes["conf"] / "a").read_text() == "2"
    assert (sandbox.volumes["more"] / "b").read_text() == "1"
