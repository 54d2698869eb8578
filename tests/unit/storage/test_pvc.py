"""pvc:// parsing and the claim-path rules (Kubernetes' subPath rules), the predictor mount KServe renders,
planning against a claim directory, and the pure parts and file placement of `kubeserve pvc cp`."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from kubeserve.storage.claims import copy_destination, helper_pod, place, placements, volume_directory
from kubeserve.storage.errors import InvalidStorageUri, ModelNotFound
from kubeserve.storage.pvc import EscapingPath, PvcMount, PvcProvider, inside_path, parse_pvc_uri, pvc_mount
from kubeserve.storage.settings import StorageSettings
from kubeserve.storage.types import Context


class Recorder:
    def __init__(self) -> None:
        self.total: int | None = None
        self.done = 0
        self._lock = threading.Lock()

    def set_total(self, total: int | None) -> None:
        self.total = total

    def advance(self, done: int) -> None:
        with self._lock:
            self.done += done


@pytest.mark.parametrize(("uri", "claim", "path"), [
    ("pvc://model-pvc/models/granite", "model-pvc", "models/granite"),
    ("pvc://model-pvc", "model-pvc", ""),
    ("pvc://model-pvc/", "model-pvc", ""),
    ("pvc://model-pvc/models/granite/", "model-pvc", "models/granite"),
    ("pvc://model-pvc/./models//granite", "model-pvc", "models/granite"),
    ("pvc://claim.v2/m", "claim.v2", "m"),
])
def test_parse(uri: str, claim: str, path: str) -> None:
    assert parse_pvc_uri(uri) == (claim, path)


@pytest.mark.parametrize(("uri", "why"), [
    ("pvc://model-pvc/../other", "escape the claim"),
    ("pvc://model-pvc/models/../../etc", "escape the claim"),
    ("pvc://model-pvc/a/../b", "contains '..'"),  # Kubernetes refuses any '..' in a subPath
    ("pvc://model-pvc//etc/passwd", "is absolute"),
    ("pvc:///models", "no claim name"),
    ("pvc://Model_PVC/m", "not a valid PersistentVolumeClaim name"),
    ("pvc://model-pvc/m?x=1", "no query"),
    ("s3://b/k", "not a pvc://"),
])
def test_parse_rejects_naming_the_uri(uri: str, why: str) -> None:
    with pytest.raises(InvalidStorageUri, match=why) as err:
        parse_pvc_uri(uri)
    assert uri in str(err.value)


@pytest.mark.parametrize(("path", "normal"), [("", ""), (".", ""), ("a/b/", "a/b"), ("a//./b", "a/b")])
def test_inside_path(path: str, normal: str) -> None:
    assert inside_path(path) == normal


@pytest.mark.parametrize("path", ["..", "/a", "a/../..", "a\x00"])
def test_inside_path_refuses(path: str) -> None:
    with pytest.raises(EscapingPath):
        inside_path(path)


def test_pvc_mount_matches_kserve() -> None:
    assert pvc_mount("pvc://model-pvc/models/granite") == PvcMount(
        claim="model-pvc", sub_path="models/granite", mount_path="/mnt/models", read_only=True,
        volume_name="kserve-pvc-source")
    assert pvc_mount("pvc://model-pvc").sub_path == ""


def _context(root: Path) -> Context:
    def claims(name: str) -> Path:
        if name != "model-pvc":
            raise ModelNotFound(f"persistentvolumeclaim {name} not found")
        return root
    return Context(StorageSettings(), claims=claims)


def test_plan_uses_the_claim_in_place(tmp_path: Path) -> None:
    (tmp_path / "models" / "granite").mkdir(parents=True)
    plan = PvcProvider().plan("pvc://model-pvc/models/granite", _context(tmp_path))
    assert plan.local_path == tmp_path / "models" / "granite"
    assert plan.key is None and plan.download is None


def test_plan_missing_path_names_claim_and_path(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFound, match=r"'models/none'.*'model-pvc'"):
        PvcProvider().plan("pvc://model-pvc/models/none", _context(tmp_path))


def test_plan_refuses_a_symlink_out_of_the_claim(tmp_path: Path) -> None:
    claim, outside = tmp_path / "claim", tmp_path / "outside"
    claim.mkdir()
    outside.mkdir()
    (claim / "models").symlink_to(outside)
    with pytest.raises(InvalidStorageUri, match="symbolic link"):
        PvcProvider().plan("pvc://model-pvc/models", _context(claim))


def test_plan_without_cluster_says_how(tmp_path: Path) -> None:
    with pytest.raises(InvalidStorageUri, match="mounted directly by the InferenceService controller"):
        PvcProvider().plan("pvc://model-pvc/m", Context(StorageSettings()))


def test_volume_directory() -> None:
    assert volume_directory({"spec": {"hostPath": {"path": "/v/ns/c-1234"}}}) == "/v/ns/c-1234"
    assert volume_directory({"spec": {"local": {"path": "/disks/1"}}}) == "/disks/1"
    assert volume_directory({"spec": {"nfs": {"server": "n", "path": "/x"}}}) is None
    assert volume_directory({}) is None


@pytest.mark.parametrize(("name", "is_dir", "dest", "dest_is_dir", "where"), [
    ("granite", True, "models/granite", False, "models/granite"),
    ("granite", True, "models/granite", True, "models/granite"),  # a directory replaces, never nests
    ("granite", True, "", True, ""),
    ("model.bin", False, "", True, "model.bin"),
    ("model.bin", False, "models/", False, "models/model.bin"),
    ("model.bin", False, "models", True, "models/model.bin"),
    ("model.bin", False, "models/renamed.bin", False, "models/renamed.bin"),
])
def test_copy_destination(name: str, is_dir: bool, dest: str, dest_is_dir: bool, where: str) -> None:
    assert copy_destination(name, is_dir, dest, dest_is_dir) == where


def test_copy_destination_refuses_escape() -> None:
    with pytest.raises(EscapingPath):
        copy_destination("m", True, "../other-claim", False)


def test_helper_pod_mounts_the_claim() -> None:
    pod = helper_pod("model-pvc")
    assert pod["spec"]["restartPolicy"] == "Never"
    assert pod["spec"]["volumes"] == [{"name": "claim", "persistentVolumeClaim": {"claimName": "model-pvc"}}]
    container = pod["spec"]["containers"][0]
    assert container["image"] == "busybox" and container["command"] == ["sleep", "3600"]
    assert container["volumeMounts"] == [{"name": "claim", "mountPath": "/mnt/pvc"}]


def _model(root: Path, content: bytes = b"weights") -> Path:
    (root / "sub").mkdir(parents=True)
    (root / "config.json").write_text("{}")
    (root / "sub" / "w.bin").write_bytes(content)
    return root


def test_place_tree_then_replace_it(tmp_path: Path) -> None:
    claim = tmp_path / "claim"
    claim.mkdir()
    progress = Recorder()
    place(_model(tmp_path / "v1", b"one"), claim, "models/m", progress, "c:models/m")
    assert (claim / "models/m/sub/w.bin").read_bytes() == b"one"
    assert progress.done == 2 + 3
    (tmp_path / "v2").mkdir()
    (tmp_path / "v2" / "only.txt").write_text("new")
    place(tmp_path / "v2", claim, "models/m", Recorder(), "c:models/m")
    assert sorted(p.name for p in (claim / "models/m").iterdir()) == ["only.txt"]
    assert sorted(p.name for p in (claim / "models").iterdir()) == ["m"]  # no temporary or old copies left


def test_place_file_replaces_file(tmp_path: Path) -> None:
    claim = tmp_path / "claim"
    claim.mkdir()
    (claim / "model.bin").write_bytes(b"old")
    source = tmp_path / "model.bin"
    source.write_bytes(b"new content")
    place(source, claim, "model.bin", Recorder(), "c:model.bin")
    assert (claim / "model.bin").read_bytes() == b"new content"
    assert [p.name for p in claim.iterdir()] == ["model.bin"]


def test_place_refuses_a_symlink_out_of_the_claim(tmp_path: Path) -> None:
    claim, outside = tmp_path / "claim", tmp_path / "outside"
    claim.mkdir()
    outside.mkdir()
    (claim / "models").symlink_to(outside)
    source = tmp_path / "m.bin"
    source.write_bytes(b"x")
    with pytest.raises(InvalidStorageUri, match="symbolic link"):
        place(source, claim, "models/m.bin", Recorder(), "c:models/m.bin")
    assert list(outside.iterdir()) == []


def test_placements_of_a_directory_to_the_root(tmp_path: Path) -> None:
    model = _model(tmp_path / "m")
    assert placements(model, "") == [(model / "config.json", "config.json"), (model / "sub", "sub")]
    assert placements(model, "models/m") == [(model, "models/m")]
