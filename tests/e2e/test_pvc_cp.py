"""Putting a model onto a PersistentVolumeClaim and serving pvc:// from it, against a real kubeserve with the
real kubectl: the claim is made as the guide's users make it, `copy_to_claim` (what `kubeserve pvc cp`
runs) writes into the claim's provisioned directory directly or through a helper pod and `kubectl cp`, and
the storage initializer then finds the model on the claim in place."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest

from harness import KubeServe, eventually
from kubeserve.client.rest import ApiClient, ClientConfig
from kubeserve.storage.claims import HELPER_LABEL, claim_directory, copy_to_claim
from kubeserve.storage.cluster import ClusterAccess
from kubeserve.storage.errors import InvalidStorageUri, ModelNotFound
from kubeserve.storage.initializer import fetch
from kubeserve.storage.settings import StorageSettings
from kubeserve.storage.types import Context

pytestmark = pytest.mark.e2e

T = TypeVar("T")

PVC = """
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: {name}
spec:
  accessModes:
    - ReadWriteOnce
  resources:
    requests:
      storage: 20Gi
{extra}"""


class Recorder:
    def __init__(self) -> None:
        self.total: int | None = None
        self.done = 0

    def set_total(self, total: int | None) -> None:
        self.total = total

    def advance(self, done: int) -> None:
        self.done += done


def with_client(kubeserve: KubeServe, action: Callable[[ApiClient], Awaitable[T]]) -> T:
    async def main() -> T:
        client = await ApiClient.open(ClientConfig.from_kubeconfig(str(kubeserve.kubeconfig)))
        try:
            return await action(client)
        finally:
            await client.close()
    return asyncio.run(main())


def make_claim(kubeserve: KubeServe, namespace: str, name: str = "model-pvc", extra: str = "") -> None:
    kubeserve.kubectl("apply", "-n", namespace, "-f", "-", input=PVC.format(name=name, extra=extra))


def wait_bound(kubeserve: KubeServe, namespace: str, name: str = "model-pvc") -> None:
    kubeserve.kubectl("wait", "-n", namespace, "--for=jsonpath={.status.phase}=Bound", f"pvc/{name}",
                      "--timeout=30s")


def model_dir(root: Path) -> Path:
    (root / "sub").mkdir(parents=True)
    (root / "config.json").write_text('{"model_type": "llama"}')
    (root / "sub" / "model.safetensors").write_bytes(b"\x07" * 300_000)
    return root


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_copy_into_claim_then_serve_pvc_uri(kubeserve: KubeServe, namespace: str, tmp_path: Path) -> None:
    make_claim(kubeserve, namespace)
    wait_bound(kubeserve, namespace)
    model = model_dir(tmp_path / "llama")
    progress = Recorder()
    with_client(kubeserve, lambda c: copy_to_claim(c, namespace, "model-pvc", model, "llama-3.1-8b-instruct",
                                                   progress))
    directory = with_client(kubeserve, lambda c: claim_directory(c, namespace, "model-pvc"))
    # the embedded local-path provisioner's directory for this claim
    assert directory.parent == kubeserve.home / "volumes" / namespace and directory.name.startswith("model-pvc-")
    assert tree(directory / "llama-3.1-8b-instruct") == tree(model)
    assert progress.total == progress.done == 300_000 + len('{"model_type": "llama"}')
    assert [p.name for p in directory.iterdir()] == ["llama-3.1-8b-instruct"]  # no temporary names left

    # the guide's storageUri, standalone: the claim is found through the cluster and used in place
    access = ClusterAccess(str(kubeserve.kubeconfig), namespace)
    fetched = fetch("pvc://model-pvc/llama-3.1-8b-instruct", tmp_path / "dest",
                    Context(StorageSettings(cache_dir=tmp_path / "cache"), claims=access.claim_directory))
    assert fetched.downloaded == 0
    assert (tmp_path / "dest" / "config.json").read_text() == '{"model_type": "llama"}'
    with pytest.raises(ModelNotFound, match=r"'other'.*'model-pvc'"):
        fetch("pvc://model-pvc/other", tmp_path / "dest2",
              Context(StorageSettings(cache_dir=None), claims=access.claim_directory))


def test_single_file_keeps_its_name(kubeserve: KubeServe, namespace: str, tmp_path: Path) -> None:
    make_claim(kubeserve, namespace)
    wait_bound(kubeserve, namespace)
    source = tmp_path / "model.joblib"
    source.write_bytes(b"joblib")
    with_client(kubeserve, lambda c: copy_to_claim(c, namespace, "model-pvc", source, "sklearn/", Recorder()))
    directory = with_client(kubeserve, lambda c: claim_directory(c, namespace, "model-pvc"))
    assert (directory / "sklearn" / "model.joblib").read_bytes() == b"joblib"


def test_missing_claim_says_create_it(kubeserve: KubeServe, namespace: str, tmp_path: Path) -> None:
    message = f"persistentvolumeclaim nope not found in namespace {namespace}: create it"
    with pytest.raises(ModelNotFound, match=message):
        with_client(kubeserve, lambda c: claim_directory(c, namespace, "nope"))
    with pytest.raises(ModelNotFound, match=message):
        with_client(kubeserve, lambda c: copy_to_claim(c, namespace, "nope", model_dir(tmp_path / "m"), "m",
                                                       Recorder()))


def test_pending_claim_is_explained(kubeserve: KubeServe, namespace: str) -> None:
    make_claim(kubeserve, namespace, "elsewhere", extra="  storageClassName: gp3-not-here\n")
    with pytest.raises(ModelNotFound, match=r"elsewhere .* is Pending, not bound"):
        with_client(kubeserve, lambda c: claim_directory(c, namespace, "elsewhere"))


@pytest.mark.parametrize("dest", ["../escape", "models/../../escape", "/abs"])
def test_path_escaping_the_claim_is_refused(kubeserve: KubeServe, namespace: str, tmp_path: Path,
                                            dest: str) -> None:
    make_claim(kubeserve, namespace)
    wait_bound(kubeserve, namespace)
    source = tmp_path / "m.bin"
    source.write_bytes(b"x")
    with pytest.raises(InvalidStorageUri, match="escape the claim"):
        with_client(kubeserve, lambda c: copy_to_claim(c, namespace, "model-pvc", source, dest, Recorder()))
    directory = with_client(kubeserve, lambda c: claim_directory(c, namespace, "model-pvc"))
    assert list(directory.iterdir()) == []
    assert not (directory.parent / "escape").exists()


def test_copy_through_a_helper_pod(kubeserve: KubeServe, namespace: str, tmp_path: Path) -> None:
    make_claim(kubeserve, namespace)
    wait_bound(kubeserve, namespace)
    model = model_dir(tmp_path / "granite")
    env = kubeserve.env()
    with_client(kubeserve, lambda c: copy_to_claim(c, namespace, "model-pvc", model, "models/granite", Recorder(),
                                                   via_pod=True, kubeconfig=str(kubeserve.kubeconfig), env=env))
    directory = with_client(kubeserve, lambda c: claim_directory(c, namespace, "model-pvc"))
    assert tree(directory / "models" / "granite") == tree(model)
    assert [p.name for p in (directory / "models").iterdir()] == ["granite"]
    eventually(lambda: kubeserve.kubectl("get", "pods", "-n", namespace, "-l", HELPER_LABEL, "-o", "name")
               .stdout.strip() == "", timeout=30)
