"""file:// and plain local paths: parsed as KServe does, planned in place (no download, no cache)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubeserve.storage.errors import InvalidStorageUri, ModelNotFound
from kubeserve.storage.local import LocalProvider, local_path
from kubeserve.storage.settings import StorageSettings
from kubeserve.storage.types import Context


@pytest.mark.parametrize(("uri", "path"), [
    ("file:///models/granite", "/models/granite"),
    ("FILE:///models/granite", "/models/granite"),
    ("/models/granite", "/models/granite"),
])
def test_local_path(uri: str, path: str) -> None:
    assert local_path(uri) == Path(path)


def test_relative_paths_are_against_the_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert local_path("models/x") == tmp_path / "models" / "x"
    assert local_path("file://models/x") == tmp_path / "models" / "x"


@pytest.mark.parametrize("uri", ["file://", "file://a\x00b"])
def test_unusable_paths(uri: str) -> None:
    with pytest.raises(InvalidStorageUri):
        local_path(uri)


def test_plan_points_at_the_model_in_place(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    plan = LocalProvider().plan(f"file://{tmp_path}", Context(StorageSettings()))
    assert plan.local_path == tmp_path
    assert plan.key is None and plan.download is None


def test_missing_path_names_it(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(ModelNotFound, match=str(missing)):
        LocalProvider().plan(str(missing), Context(StorageSettings()))
