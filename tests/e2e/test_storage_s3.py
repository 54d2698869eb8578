"""The S3 provider against a real SeaweedFS on 127.0.0.1: trees and single objects byte for byte, data
connections and KServe storage configs, resumption, content keys, TLS, and every bad input of issue 4."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from kubeserve.storage.dataconnection import connection_env, storage_uri
from kubeserve.storage.errors import AccessDenied, IntegrityError, ModelNotFound, TransferError
from kubeserve.storage.ranged import JOURNAL_NAME, parse_journal
from kubeserve.storage.s3 import S3Provider
from kubeserve.storage.settings import StorageSettings
from kubeserve.storage.types import Context, Plan
from servers.s3 import ACCESS_KEY, SECRET_KEY, S3Server, free_ports

pytestmark = pytest.mark.e2e

PART = 256 * 1024
SETTINGS = StorageSettings(part_size=PART, concurrency=4)
BUCKET = "models-bucket"


class Counter:
    """A Progress that counts bytes; `fail_after` simulates the process dying mid-download."""

    def __init__(self, fail_after: int | None = None) -> None:
        self.lock = threading.Lock()
        self.done = 0
        self.total: int | None = None
        self.fail_after = fail_after

    def set_total(self, total: int | None) -> None:
        self.total = total

    def advance(self, done: int) -> None:
        with self.lock:
            self.done += done
            if self.fail_after is not None and self.done >= self.fail_after:
                raise KeyboardInterrupt("simulated interruption")


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory, s3: S3Server) -> Path:
    """A model tree at s3://models-bucket/models/tiny-llm/ (plus a sibling that must not leak in)."""
    root = tmp_path_factory.mktemp("model")
    (root / "tokenizer").mkdir()
    (root / "config.json").write_text(json.dumps({"model_type": "llama", "hidden_size": 256}))
    (root / "tokenizer" / "tokenizer.json").write_bytes(os.urandom(100_000))
    (root / "model.safetensors").write_bytes(os.urandom(5 * PART + 12_345))  # six parts, the last short
    (root / "empty.txt").write_bytes(b"")
    s3.upload_tree(root, BUCKET, "models/tiny-llm")
    s3.put(BUCKET, "models/tiny-llm/tokenizer/", b"")  # a console-made "folder" marker
    s3.put(BUCKET, "models/tiny-llm-v2/other.bin", b"not part of tiny-llm")
    return root


def context(env: dict[str, str], settings: StorageSettings = SETTINGS) -> Context:
    return Context(settings=settings, env=env)


def tree(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def download(plan: Plan, stage: Path, progress: Counter | None = None) -> Counter:
    progress = progress or Counter()
    stage.mkdir(parents=True, exist_ok=True)
    assert plan.download is not None
    plan.download(stage, progress)
    return progress


def test_tree_downloads_byte_identical(s3: S3Server, model: Path, tmp_path: Path) -> None:
    plan = S3Provider().plan(f"s3://{BUCKET}/models/tiny-llm", context(s3.env()))
    assert plan.resumable and plan.key is not None and plan.key.startswith("s3-")
    assert plan.total_bytes == sum(p.stat().st_size for p in model.rglob("*") if p.is_file())
    progress = download(plan, tmp_path / "stage")
    assert tree(tmp_path / "stage") == tree(model)
    assert progress.done == progress.total == plan.total_bytes
    assert not (tmp_path / "stage" / JOURNAL_NAME).exists()


def test_single_object_uri(s3: S3Server, model: Path, tmp_path: Path) -> None:
    plan = S3Provider().plan(f"s3://{BUCKET}/models/tiny-llm/model.safetensors", context(s3.env()))
    download(plan, tmp_path / "stage")
    assert tree(tmp_path / "stage") == {"model.safetensors": tree(model)["model.safetensors"]}


def test_data_connection_secret(s3: S3Server, model: Path, tmp_path: Path) -> None:
    data = {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY, "AWS_S3_ENDPOINT": s3.url,
            "AWS_S3_BUCKET": BUCKET, "AWS_DEFAULT_REGION": "us-east-1"}
    env = connection_env("model-s3-storage", data)
    uri = storage_uri("model-s3-storage", data, "models/tiny-llm/")
    assert uri == f"s3://{BUCKET}/models/tiny-llm/"
    download(S3Provider().plan(uri, context(env)), tmp_path / "stage")
    assert tree(tmp_path / "stage") == tree(model)


def test_storage_config_env_and_secret(s3: S3Server, model: Path, tmp_path: Path) -> None:
    entry = json.dumps({"type": "s3", "access_key_id": ACCESS_KEY, "secret_access_key": SECRET_KEY,
                        "endpoint_url": s3.url, "bucket": BUCKET, "region": "us-east-1"})
    plan = S3Provider().plan(f"s3://{BUCKET}/models/tiny-llm", context({"STORAGE_CONFIG": entry}))
    download(plan, tmp_path / "a")
    assert tree(tmp_path / "a") == tree(model)
    secret = {"localMinIO": entry, "other": json.dumps({"type": "s3", "anonymous": "true"})}
    env = connection_env("storage-config", secret, key="localMinIO")
    uri = storage_uri("storage-config", secret, "models/tiny-llm", key="localMinIO")
    download(S3Provider().plan(uri, context(env)), tmp_path / "b")
    assert tree(tmp_path / "b") == tree(model)


def test_interrupted_download_resumes_only_missing_parts(s3: S3Server, model: Path, tmp_path: Path) -> None:
    settings = StorageSettings(part_size=PART, concurrency=1)
    plan = S3Provider().plan(f"s3://{BUCKET}/models/tiny-llm", context(s3.env(), settings))
    assert plan.total_bytes is not None
    stage = tmp_path / "stage"
    with pytest.raises(KeyboardInterrupt):
        download(plan, stage, Counter(fail_after=3 * PART))
    journal = (stage / JOURNAL_NAME).read_text()
    finished = parse_journal(journal, journal.split("\n", 1)[0].split()[-1])
    assert len(finished) >= 2
    # The same key planned again (a fresh process) continues in the same stage.
    again = S3Provider().plan(f"s3://{BUCKET}/models/tiny-llm", context(s3.env(), settings))
    assert again.key == plan.key
    progress = download(again, stage)
    part_sizes = _part_sizes(model, PART)
    assert progress.done == plan.total_bytes - sum(part_sizes[i] for i in finished)
    assert progress.done < plan.total_bytes
    assert tree(stage) == tree(model)
    assert not (stage / JOURNAL_NAME).exists()


_KILLED_SCRIPT = """
import json, os, signal, sys
from pathlib import Path
from kubeserve.storage.s3 import S3Provider
from kubeserve.storage.settings import StorageSettings
from kubeserve.storage.types import Context

class KillMidway:
    done = 0
    def set_total(self, total): pass
    def advance(self, n):
        self.done += n
        if self.done >= 3 * 262144:
            os.kill(os.getpid(), signal.SIGKILL)

env, uri, stage = json.loads(sys.argv[1])
settings = StorageSettings(part_size=262144, concurrency=1)
S3Provider().plan(uri, Context(settings=settings, env=env)).download(Path(stage), KillMidway())
"""


def test_killed_process_resumes(s3: S3Server, model: Path, tmp_path: Path) -> None:
    """SIGKILL in the middle (the pod deleted), then a fresh run in the same stage finishes the job."""
    uri = f"s3://{BUCKET}/models/tiny-llm"
    stage = tmp_path / "stage"
    stage.mkdir()
    result = subprocess.run([sys.executable, "-c", _KILLED_SCRIPT, json.dumps([s3.env(), uri, str(stage)])],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == -9, result.stderr
    journal = (stage / JOURNAL_NAME).read_text()
    finished = parse_journal(journal, journal.split("\n", 1)[0].split()[-1])
    assert finished
    settings = StorageSettings(part_size=PART, concurrency=1)
    plan = S3Provider().plan(uri, context(s3.env(), settings))
    assert plan.total_bytes is not None
    progress = download(plan, stage)
    assert progress.done == plan.total_bytes - sum(_part_sizes(model, PART)[i] for i in finished)
    assert tree(stage) == tree(model)


def _part_sizes(model: Path, part: int) -> list[int]:
    """Part sizes in the provider's order: objects sorted by relative path, each split into `part` ranges."""
    sizes = []
    for rel in sorted(tree(model)):
        size = (model / rel).stat().st_size
        sizes += [min(part, size - start) for start in range(0, size, part)]
    return sizes


def test_changed_object_changes_key_and_fails_mid_download(s3: S3Server, tmp_path: Path) -> None:
    s3.put(BUCKET, "changing/weights.bin", os.urandom(3 * PART))
    uri = f"s3://{BUCKET}/changing/"
    first = S3Provider().plan(uri, context(s3.env()))
    s3.put(BUCKET, "changing/weights.bin", os.urandom(3 * PART))
    second = S3Provider().plan(uri, context(s3.env()))
    assert first.key != second.key
    with pytest.raises(IntegrityError, match=r"s3://models-bucket/changing/.*changed"):
        download(first, tmp_path / "stage")


def test_wrong_credentials(s3: S3Server, model: Path) -> None:
    env = s3.env(AWS_ACCESS_KEY_ID="wrong-key-id", AWS_SECRET_ACCESS_KEY="wrong-secret-value")
    with pytest.raises(AccessDenied) as caught:
        S3Provider().plan(f"s3://{BUCKET}/models/tiny-llm", context(env))
    message = caught.value.message
    assert "wrong-key-id" in message and s3.url in message and "data connection" in message
    assert "wrong-secret-value" not in message
    env = s3.env(AWS_SECRET_ACCESS_KEY="wrong-secret-value")
    with pytest.raises(AccessDenied, match=ACCESS_KEY):
        S3Provider().plan(f"s3://{BUCKET}/models/tiny-llm", context(env))


def test_anonymous_access_to_a_private_bucket(s3: S3Server, model: Path) -> None:
    with pytest.raises(AccessDenied, match="anonymous"):
        S3Provider().plan(f"s3://{BUCKET}/models/tiny-llm", context(s3.env(awsAnonymousCredential="true")))


def test_missing_bucket(s3: S3Server) -> None:
    with pytest.raises(ModelNotFound, match=rf"no-such-bucket.*{s3.url}"):
        S3Provider().plan("s3://no-such-bucket/models/x", context(s3.env()))


def test_empty_prefix(s3: S3Server, model: Path) -> None:
    with pytest.raises(ModelNotFound, match=rf"s3://{BUCKET}/models/nothing-here"):
        S3Provider().plan(f"s3://{BUCKET}/models/nothing-here", context(s3.env()))


def test_unreachable_endpoint(s3: S3Server) -> None:
    closed = f"http://127.0.0.1:{free_ports(1)[0]}"
    with pytest.raises(TransferError, match=rf"cannot reach the S3 endpoint {closed}"):
        S3Provider().plan(f"s3://{BUCKET}/models/tiny-llm", context(s3.env(AWS_ENDPOINT_URL=closed)))


def test_tls_needs_the_ca_bundle(s3: S3Server, model: Path, tmp_path: Path) -> None:
    uri = f"s3://{BUCKET}/models/tiny-llm"
    with pytest.raises(TransferError, match=r"TLS verification.*AWS_CA_BUNDLE.*S3_VERIFY_SSL=0"):
        S3Provider().plan(uri, context(s3.env(AWS_ENDPOINT_URL=s3.https_url)))
    trusted = s3.env(AWS_ENDPOINT_URL="", AWS_S3_ENDPOINT=s3.https_url, AWS_CA_BUNDLE=str(s3.ca_file))
    download(S3Provider().plan(uri, context(trusted)), tmp_path / "a")
    assert tree(tmp_path / "a") == tree(model)


# urllib3 warns about every unverified request, as it should: the user turned verification off on purpose.
@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_tls_verification_off(s3: S3Server, model: Path, tmp_path: Path) -> None:
    env = s3.env(AWS_ENDPOINT_URL="", S3_ENDPOINT=s3.https_url.removeprefix("https://"), S3_USE_HTTPS="1",
                 S3_VERIFY_SSL="0")
    download(S3Provider().plan(f"s3://{BUCKET}/models/tiny-llm", context(env)), tmp_path / "stage")
    assert tree(tmp_path / "stage") == tree(model)


_DISK_FULL_SCRIPT = """
import json, sys
from pathlib import Path
from kubeserve.storage.errors import StorageError
from kubeserve.storage.ranged import download_objects
from kubeserve.storage.s3 import S3Provider, list_objects, select_objects
from kubeserve.storage.s3client import make_client
from kubeserve.storage.s3config import s3_config
from kubeserve.storage.settings import StorageSettings
from kubeserve.storage.types import Context

class Quiet:
    def set_total(self, total): pass
    def advance(self, done): pass

env, uri, stage, preallocate = json.loads(sys.argv[1])
stage = Path(stage)
stage.mkdir()
settings = StorageSettings(part_size=262144, concurrency=2)
try:
    if preallocate:
        S3Provider().plan(uri, Context(settings=settings, env=env)).download(stage, Quiet())
    else:  # no fallocate: the ENOSPC comes from pwrite itself
        config = s3_config(env)
        client = make_client(config, settings)
        objects = select_objects("models/tiny-llm/", list_objects(client, "models-bucket", "models/tiny-llm/"))
        download_objects(client, "models-bucket", objects, stage, Quiet(), settings, preallocate=False)
    print(json.dumps({"error": None}))
except StorageError as err:
    print(json.dumps({"error": type(err).__name__, "message": err.message}))
"""


@pytest.mark.parametrize("preallocate", [True, False], ids=["fallocate", "pwrite"])
def test_disk_full(s3: S3Server, model: Path, tmp_path: Path, preallocate: bool) -> None:
    """A real ENOSPC: a 1 MiB tmpfs (in a user+mount namespace) under a model of 1.4 MiB."""
    small = tmp_path / "small-disk"
    small.mkdir()
    stage = small / "stage"
    arg = json.dumps([s3.env(), f"s3://{BUCKET}/models/tiny-llm/", str(stage), preallocate])
    command = 'mount -t tmpfs -o size=1m tmpfs "$1" && shift && exec "$@"'
    result = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", command, "sh",
                             str(small), sys.executable, "-c", _DISK_FULL_SCRIPT, arg],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome["error"] == "DiskFull", outcome
    assert str(stage) in outcome["message"] and "No space left on device" in outcome["message"]
    total = sum(p.stat().st_size for p in model.rglob("*") if p.is_file())
    assert str(total) in outcome["message"]
