"""Pod sandbox: sandbox.json, volumes (secret/configMap/emptyDir/PVC/downwardAPI), the hosts file."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from kubeserve.node.kubelet import sandbox as sandbox_module
from kubeserve.node.kubelet.sandbox import (
    Lookups,
    SandboxError,
    detect_isolation,
    hosts_content,
    prepare_sandbox,
    write_hosts,
)

Obj = dict[str, Any]


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


SERVICES = [
    {"metadata": {"name": "web", "namespace": "default"}, "spec": {"clusterIP": "127.96.0.10"}},
    {"metadata": {"name": "db", "namespace": "data"}, "spec": {"clusterIP": "127.96.0.11"}},
    {"metadata": {"name": "headless", "namespace": "default"}, "spec": {"clusterIP": "None"}},
    {"metadata": {"name": "ext", "namespace": "default"}, "spec": {"type": "ExternalName"}},
]


def lookups(tmp_path: Path, services: list[Obj] | None = None) -> Lookups:
    secrets = {"default/creds": {"data": {"user": b64("bob"), "pass": b64("s3cr3t")}}}
    config_maps = {"default/cfg": {"data": {"a.yaml": "a: 1\n"}, "binaryData": {"b.bin": b64("\x00\x01")}}}
    pvcs = {"default/models": tmp_path / "pvc"}
    return Lookups(secret=lambda ns, n: secrets.get(f"{ns}/{n}"),
                   config_map=lambda ns, n: config_maps.get(f"{ns}/{n}"),
                   pvc_path=lambda ns, n: pvcs.get(f"{ns}/{n}"),
                   services=lambda: list(SERVICES if services is None else services))


def pod(volumes: list[Obj], **spec: Any) -> Obj:
    return {"metadata": {"name": "web-1", "namespace": "default", "uid": "uid-1", "labels": {"app": "web"}},
            "spec": {"containers": [{"name": "c"}], "volumes": volumes, **spec}}


def test_hosts_content_lists_pod_and_services() -> None:
    text = hosts_content(pod([], hostAliases=[{"ip": "10.0.0.1", "hostnames": ["foo", "bar"]}]), "127.10.0.2",
                         SERVICES)
    lines = text.splitlines()
    assert "127.0.0.1\tlocalhost" in lines
    assert "127.10.0.2\tweb-1" in lines
    assert "10.0.0.1\tfoo\tbar" in lines
    assert "127.96.0.10\tweb.default.svc.cluster.local web.default.svc web.default web" in lines
    assert "127.96.0.11\tdb.data.svc.cluster.local db.data.svc db.data" in lines
    assert "headless" not in text and "ext." not in text


def test_hosts_with_subdomain_uses_the_fqdn() -> None:
    text = hosts_content(pod([], hostname="h0", subdomain="grp"), "127.10.0.3", [])
    assert "127.10.0.3\th0.grp.default.svc.cluster.local\th0" in text.splitlines()


def test_prepare_is_idempotent_and_write_hosts_keeps_the_inode(tmp_path: Path) -> None:
    pod_dir = tmp_path / "pods" / "uid-1"
    sb = prepare_sandbox(pod([]), pod_dir, "127.10.0.2", lookups(tmp_path), "path-rewrite")
    assert json.loads((pod_dir / "sandbox.json").read_text()) == {
        "namespace": "default", "name": "web-1", "uid": "uid-1", "ip": "127.10.0.2", "isolation": "path-rewrite"}
    inode = sb.hosts_path.stat().st_ino
    prepare_sandbox(pod([]), pod_dir, "127.10.0.2", lookups(tmp_path), "path-rewrite")
    new = {"metadata": {"name": "api", "namespace": "default"}, "spec": {"clusterIP": "127.96.0.30"}}
    write_hosts(sb, pod([]), [new])
    assert sb.hosts_path.stat().st_ino == inode
    text = sb.hosts_path.read_text()
    assert "api.default.svc.cluster.local" in text and "web.default" not in text


def test_volumes_materialize(tmp_path: Path) -> None:
    volumes = [
        {"name": "scratch", "emptyDir": {}},
        {"name": "creds", "secret": {"secretName": "creds", "defaultMode": 0o400,
                                     "items": [{"key": "pass", "path": "nested/password", "mode": 0o600}]}},
        {"name": "allcreds", "secret": {"secretName": "creds"}},
        {"name": "cfg", "configMap": {"name": "cfg"}},
        {"name": "models", "persistentVolumeClaim": {"claimName": "models"}},
        {"name": "info", "downwardAPI": {"items": [{"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
                                                   {"path": "name", "fieldRef": {"fieldPath": "metadata.name"}}]}},
        {"name": "opt", "secret": {"secretName": "missing", "optional": True}},
    ]
    sb = prepare_sandbox(pod(volumes), tmp_path / "pod", "127.10.0.2", lookups(tmp_path), "path-rewrite")
    assert sb.volumes["scratch"].is_dir()
    password = sb.volumes["creds"] / "nested" / "password"
    assert password.read_text() == "s3cr3t"
    assert stat.S_IMODE(password.stat().st_mode) == 0o600
    assert not (sb.volumes["creds"] / "user").exists()
    assert (sb.volumes["allcreds"] / "user").read_text() == "bob"
    assert stat.S_IMODE((sb.volumes["allcreds"] / "user").stat().st_mode) == 0o644
    assert (sb.volumes["cfg"] / "a.yaml").read_text() == "a: 1\n"
    assert (sb.volumes["cfg"] / "b.bin").read_bytes() == b"\x00\x01"
    assert sb.volumes["models"] == tmp_path / "pvc"
    assert (sb.volumes["info"] / "labels").read_text() == 'app="web"\n'
    assert (sb.volumes["info"] / "name").read_text() == "web-1"
    assert list(sb.volumes["opt"].iterdir()) == []


def test_memory_empty_dir_goes_to_shm_when_writable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shm = tmp_path / "shm"
    shm.mkdir()
    monkeypatch.setattr(sandbox_module, "SHM_ROOT", shm)
    sb = prepare_sandbox(pod([{"name": "dshm", "emptyDir": {"medium": "Memory"}}]), tmp_path / "pod", "127.10.0.2",
                         lookups(tmp_path), "path-rewrite")
    assert sb.volumes["dshm"] == shm / "kubeserve-uid-1" / "dshm"
    sandbox_module.remove_sandbox(tmp_path / "pod", "uid-1")
    assert not (shm / "kubeserve-uid-1").exists() and not (tmp_path / "pod").exists()


@pytest.mark.parametrize(("volume", "message"), [
    ({"name": "creds", "secret": {"secretName": "nope"}},
     'MountVolume.SetUp failed for volume "creds" : secret "nope" not found'),
    ({"name": "cfg", "configMap": {"name": "nope"}},
     'MountVolume.SetUp failed for volume "cfg" : configmap "nope" not found'),
    ({"name": "cfg", "configMap": {"name": "cfg", "items": [{"key": "zz", "path": "zz"}]}},
     'MountVolume.SetUp failed for volume "cfg" : configmap references non-existent config key: zz'),
    ({"name": "m", "persistentVolumeClaim": {"claimName": "unbound"}},
     'MountVolume.SetUp failed for volume "m" : persistentvolumeclaim "unbound" is not bound'),
    ({"name": "x", "nfs": {"server": "a"}}, "does not support the nfs volume type"),
])
def test_volume_failures_name_the_volume(tmp_path: Path, volume: Obj, message: str) -> None:
    with pytest.raises(SandboxError) as info:
        prepare_sandbox(pod([volume]), tmp_path / "pod", "127.10.0.2", lookups(tmp_path), "path-rewrite")
    assert message in info.value.message
    assert info.value.reason == "FailedMount"


def test_detect_isolation_settings() -> None:
    assert detect_isolation("path-rewrite") == "path-rewrite"
    assert detect_isolation("mount-namespace") == "mount-namespace"
    assert detect_isolation("auto") in ("mount-namespace", "path-rewrite")
    with pytest.raises(ValueError, match="isolation must be"):
        detect_isolation("chroot")


def test_stale_secret_keys_disappear(tmp_path: Path) -> None:
    secrets: dict[str, Obj] = {"default/s": {"data": {"a": b64("1"), "b": b64("2")}}}
    found = Lookups(secret=lambda ns, n: secrets.get(f"{ns}/{n}"), config_map=lambda ns, n: None,
                    pvc_path=lambda ns, n: None, services=list)
    volumes = [{"name": "s", "secret": {"secretName": "s"}}]
    sb = prepare_sandbox(pod(volumes), tmp_path / "pod", "127.10.0.2", found, "path-rewrite")
    assert sorted(os.listdir(sb.volumes["s"])) == ["a", "b"]
    secrets["default/s"] = {"data": {"a": b64("3")}}
    prepare_sandbox(pod(volumes), tmp_path / "pod", "127.10.0.2", found, "path-rewrite")
    assert os.listdir(sb.volumes["s"]) == ["a"]
    assert (sb.volumes["s"] / "a").read_text() == "3"


def test_memory_empty_dirs_and_volumes_are_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shm = tmp_path / "shm"
    shm.mkdir()
    monkeypatch.setattr(sandbox_module, "SHM_ROOT", shm)
    (shm / "kubeserve-uid-1").mkdir(mode=0o755)  # as an older kubeserve left it
    os.chmod(shm / "kubeserve-uid-1", 0o755)
    volumes = [{"name": "dshm", "emptyDir": {"medium": "Memory"}}, {"name": "creds", "secret": {"secretName": "creds"}}]
    sb = prepare_sandbox(pod(volumes), tmp_path / "pod", "127.10.0.2", lookups(tmp_path), "path-rewrite")
    # other local users cannot reach the pod's files in /dev/shm, nor its secret volumes
    assert stat.S_IMODE((shm / "kubeserve-uid-1").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "pod" / "volumes").stat().st_mode) == 0o700
    assert sb.volumes["dshm"].parent == shm / "kubeserve-uid-1"


@pytest.mark.parametrize("name", ["../../escape", "a/b", "Caps", "x" * 64, ""])
def test_volume_names_that_are_not_labels_are_refused_before_any_mkdir(tmp_path: Path, name: str) -> None:
    volumes = [{"name": "ok", "emptyDir": {}}, {"name": name, "emptyDir": {}}]
    with pytest.raises(SandboxError) as info:
        prepare_sandbox(pod(volumes), tmp_path / "pods" / "uid-1", "127.10.0.2", lookups(tmp_path), "path-rewrite")
    assert f'spec.volumes[1].name: Invalid value: "{name}"' in info.value.message
    assert info.value.reason == "FailedMount"
    assert not (tmp_path / "pods").exists() and not (tmp_path / "escape").exists()
