"""Kubeconfig building, writing and merging, checked against the real kubectl where it is installed.

Merging must never cost a user their other clusters, so most of these tests are about what is kept.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubeserve.cli.kubeconfig import build_kubeconfig, merge_kubeconfig, write_kubeconfig

# Port 1 refuses at once, should the kubectl dispatcher probe the server while picking a version.
SERVER = "https://127.0.0.1:1"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def read(path: Path) -> dict[str, Any]:
    loaded = yaml.safe_load(path.read_text())
    assert isinstance(loaded, dict)
    return loaded


OTHER: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Config",
    "preferences": {"colors": True},
    "clusters": [
        {
            "name": "prod",
            "cluster": {"server": "https://prod.example:6443", "insecure-skip-tls-verify": True},
        },
        {"name": "kubeserve", "cluster": {"server": "http://127.0.0.1:9999", "x-unknown": 1}},
    ],
    "users": [{"name": "prod-admin", "user": {"username": "admin", "password": "pw"}}],
    "contexts": [{"name": "prod", "context": {"cluster": "prod", "user": "prod-admin", "namespace": "ops"}}],
    "current-context": "prod",
    "extensions": [{"name": "something", "extension": {"k": "v"}}],
    "x-custom-top-level": ["kept"],
}


def test_build_kubeconfig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = build_kubeconfig("https://127.0.0.1:6443", Path("pki/ca.crt"), "tok")
    assert config == {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [
            {
                "name": "kubeserve",
                "cluster": {
                    "server": "https://127.0.0.1:6443",
                    "certificate-authority": str(tmp_path / "pki" / "ca.crt"),
                },
            }
        ],
        "users": [{"name": "kubeserve", "user": {"token": "tok"}}],
        "contexts": [
            {
                "name": "kubeserve",
                "context": {"cluster": "kubeserve", "user": "kubeserve", "namespace": "default"},
            }
        ],
        "current-context": "kubeserve",
    }


def test_build_kubeconfig_name_and_namespace(tmp_path: Path) -> None:
    config = build_kubeconfig(SERVER, tmp_path / "x" / ".." / "ca.crt", "t", name="dev", namespace="models")
    assert config["clusters"][0]["cluster"]["certificate-authority"] == str(tmp_path / "ca.crt")
    assert config["contexts"] == [
        {"name": "dev", "context": {"cluster": "dev", "user": "dev", "namespace": "models"}}
    ]
    assert config["users"][0]["name"] == "dev"
    assert config["current-context"] == "dev"


def test_write_kubeconfig(tmp_path: Path) -> None:
    path = tmp_path / "home" / ".kube" / "config"
    config = build_kubeconfig(SERVER, tmp_path / "ca.crt", "secret-token")
    write_kubeconfig(path, config)
    assert mode(path) == 0o600
    assert read(path) == config
    assert list(path.parent.iterdir()) == [path]  # no temporary files left
    # overwriting a world-readable file tightens it
    path.chmod(0o644)
    write_kubeconfig(path, config)
    assert mode(path) == 0o600


def test_write_through_symlink(tmp_path: Path) -> None:
    real = tmp_path / "real-config"
    real.write_text("{}")
    link = tmp_path / "config"
    link.symlink_to(real)
    write_kubeconfig(link, {"kind": "Config"})
    assert link.is_symlink()
    assert read(real) == {"kind": "Config"}


def test_merge_creates_absent_file(tmp_path: Path) -> None:
    target = tmp_path / ".kube" / "config"
    config = build_kubeconfig(SERVER, tmp_path / "ca.crt", "tok")
    merge_kubeconfig(target, config)
    assert read(target) == config
    assert mode(target) == 0o600


def test_merge_into_empty_file(tmp_path: Path) -> None:
    target = tmp_path / "config"
    target.write_text("")
    config = build_kubeconfig(SERVER, tmp_path / "ca.crt", "tok")
    merge_kubeconfig(target, config)
    assert read(target) == config


def test_other_contexts_preserved(tmp_path: Path) -> None:
    target = tmp_path / "config"
    write_kubeconfig(target, OTHER)
    config = build_kubeconfig(SERVER, tmp_path / "ca.crt", "tok")
    merge_kubeconfig(target, config)
    merged = read(target)
    # the stale same-named cluster is replaced in place; everything else is untouched, in order
    assert merged["clusters"] == [OTHER["clusters"][0], config["clusters"][0]]
    assert merged["users"] == [OTHER["users"][0], config["users"][0]]
    assert merged["contexts"] == [OTHER["contexts"][0], config["contexts"][0]]
    assert merged["current-context"] == "kubeserve"
    for key in ("preferences", "extensions", "x-custom-top-level", "apiVersion", "kind"):
        assert merged[key] == OTHER[key]
    assert list(merged) == list(OTHER)


def test_merge_twice_is_idempotent(tmp_path: Path) -> None:
    target = tmp_path / "config"
    write_kubeconfig(target, OTHER)
    config = build_kubeconfig(SERVER, tmp_path / "ca.crt", "tok")
    merge_kubeconfig(target, config)
    once = target.read_bytes()
    merge_kubeconfig(target, config)
    assert target.read_bytes() == once


def test_merge_replaces_own_entries(tmp_path: Path) -> None:
    target = tmp_path / "config"
    merge_kubeconfig(target, build_kubeconfig(SERVER, tmp_path / "ca.crt", "old"))
    merge_kubeconfig(target, build_kubeconfig("https://127.0.0.1:2", tmp_path / "ca.crt", "new"))
    merged = read(target)
    assert merged["users"] == [{"name": "kubeserve", "user": {"token": "new"}}]
    assert [c["cluster"]["server"] for c in merged["clusters"]] == ["https://127.0.0.1:2"]
    assert len(merged["contexts"]) == 1


def test_merge_without_setting_current(tmp_path: Path) -> None:
    target = tmp_path / "config"
    write_kubeconfig(target, OTHER)
    merge_kubeconfig(target, build_kubeconfig(SERVER, tmp_path / "ca.crt", "tok"), set_current=False)
    merged = read(target)
    assert merged["current-context"] == "prod"
    assert [c["name"] for c in merged["contexts"]] == ["prod", "kubeserve"]


def test_merge_tolerates_null_sections(tmp_path: Path) -> None:
    target = tmp_path / "config"
    target.write_text(
        "apiVersion: v1\nkind: Config\nclusters: null\nusers:\ncontexts: []\ncurrent-context: ''\n"
    )
    config = build_kubeconfig(SERVER, tmp_path / "ca.crt", "tok")
    merge_kubeconfig(target, config)
    merged = read(target)
    for section in ("clusters", "users", "contexts"):
        assert merged[section] == config[section]
    assert merged["current-context"] == "kubeserve"


@pytest.mark.parametrize("content", ["clusters: [unclosed\n", "- just\n- a list\n", "clusters: {a: 1}\n"])
def test_merge_refuses_to_clobber_a_broken_file(tmp_path: Path, content: str) -> None:
    target = tmp_path / "config"
    target.write_text(content)
    with pytest.raises(ValueError):
        merge_kubeconfig(target, build_kubeconfig(SERVER, tmp_path / "ca.crt", "tok"))
    assert target.read_text() == content


KUBECTL = shutil.which("kubectl")


def kubectl(*args: str, home: Path) -> str:
    assert KUBECTL is not None
    env = {**os.environ, "HOME": str(home)}
    env.pop("KUBECONFIG", None)
    done = subprocess.run([KUBECTL, *args], capture_output=True, text=True, timeout=60, env=env, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")
def test_real_kubectl_reads_written_file(tmp_path: Path) -> None:
    path = tmp_path / "kubeconfig"
    ca = tmp_path / "ca.crt"
    write_kubeconfig(path, build_kubeconfig(SERVER, ca, "tok", namespace="models"))
    view = json.loads(kubectl("config", "view", "--kubeconfig", str(path), "-o", "json", home=tmp_path))
    assert view["current-context"] == "kubeserve"
    assert view["clusters"] == [
        {"name": "kubeserve", "cluster": {"server": SERVER, "certificate-authority": str(ca)}}
    ]
    assert view["contexts"] == [
        {"name": "kubeserve", "context": {"cluster": "kubeserve", "user": "kubeserve", "namespace": "models"}}
    ]
    assert view["users"] == [{"name": "kubeserve", "user": {"token": "REDACTED"}}]
    raw = json.loads(
        kubectl("config", "view", "--kubeconfig", str(path), "--raw", "--minify", "-o", "json", home=tmp_path)
    )
    assert raw["users"][0]["user"]["token"] == "tok"


@pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")
def test_real_kubectl_reads_merged_file(tmp_path: Path) -> None:
    path = tmp_path / "config"
    write_kubeconfig(path, OTHER)
    merge_kubeconfig(path, build_kubeconfig(SERVER, tmp_path / "ca.crt", "tok"))
    view = json.loads(kubectl("config", "view", "--kubeconfig", str(path), "-o", "json", home=tmp_path))
    assert view["current-context"] == "kubeserve"
    assert {c["name"] for c in view["contexts"]} == {"prod", "kubeserve"}
    assert {c["name"] for c in view["clusters"]} == {"prod", "kubeserve"}
    contexts = kubectl("config", "get-contexts", "-o", "name", "--kubeconfig", str(path), home=tmp_path)
    assert sorted(contexts.split()) == ["kubeserve", "prod"]
