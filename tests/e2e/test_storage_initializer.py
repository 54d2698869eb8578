"""The storage initializer end to end: as a pod's init container on the embedded node (KServe's
storage-initializer image placing the model at /mnt/models through a registry mirror, hard-linked from the
model cache so a second replica copies no byte), and as the `kubeserve storage pull` / `modelcar build` /
`python -m kubeserve.storage` commands a user runs, with the failures they must explain."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from harness import KubeServe, eventually
from servers.registry import TAR_GZIP, Registry, digest, gz, member, mirror_conf, push_image, start_registry, tar_bytes
from servers.s3 import ACCESS_KEY, SECRET_KEY, S3Server

GUIDE_URI = "oci://registry.redhat.io/rhelai1/modelcar-granite-7b-starter:latest"
KUBESERVE = [sys.executable, "-m", "kubeserve"]
GUIDE = Path(__file__).parent.parent / "fixtures" / "guide"


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    reg = start_registry(tmp_path_factory.mktemp("registry"))
    yield reg
    reg.stop()


@pytest.fixture(scope="module")
def basic_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    reg = start_registry(tmp_path_factory.mktemp("registry-basic"), auth="htpasswd", users={"modeler": "s3cret"})
    yield reg
    reg.stop()


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("model")
    (root / "config.json").write_text(json.dumps({"architectures": ["LlamaForCausalLM"], "hidden_size": 256}))
    (root / "model.safetensors").write_bytes(os.urandom(3 << 20))
    (root / "tokenizer").mkdir()
    (root / "tokenizer" / "tokenizer.json").write_text('{"version": "1.0"}')
    return root


def run(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, env=env, timeout=timeout)


@pytest.fixture(scope="module")
def guide_model(kubeserve: KubeServe, registry: Registry, model_dir: Path) -> str:
    """The guide's modelcar URI, served unchanged by the local registry through kubeserve's mirror setting."""
    built = run(*KUBESERVE, "modelcar", "build", str(model_dir),
                f"{registry.host}/rhelai1/modelcar-granite-7b-starter:latest", "--push", "--progress", "none",
                env=kubeserve.env())
    assert built.returncode == 0, built.stderr
    assert "pushed: use storageUri: oci://" in built.stdout
    (kubeserve.home / "registries.conf").write_text(mirror_conf(registry.host))
    return GUIDE_URI


def model_pod(name: str, uri: str) -> str:
    return json.dumps({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
        "spec": {
            "restartPolicy": "Never",
            "initContainers": [{"name": "storage-initializer", "image": "kserve/storage-initializer:v0.15.0",
                                "args": [uri, "/mnt/models"],
                                "volumeMounts": [{"name": "kserve-provision-location", "mountPath": "/mnt/models"}]}],
            "containers": [{"name": "kserve-container", "image": "busybox",
                            "command": ["sh", "-c", "cat /mnt/models/config.json; echo; "
                                        "ls -i /mnt/models/model.safetensors; sleep 3600"],
                            "volumeMounts": [{"name": "kserve-provision-location", "mountPath": "/mnt/models",
                                              "readOnly": True}]}],
            "volumes": [{"name": "kserve-provision-location", "emptyDir": {}}],
        },
    })


def cached_inodes(kubeserve: KubeServe, name: str) -> set[int]:
    """The inodes of `name` in every cached OCI model (other tests share the session's cache)."""
    entries = list((kubeserve.home / "models" / "entries").glob("oci-sha256-*"))
    found = {os.stat(entry / "model" / name).st_ino for entry in entries if (entry / "model" / name).exists()}
    assert found, f"no cache entry holds {name}: {entries}"
    return found


def wait_phase(kubeserve: KubeServe, namespace: str, pod: str, phases: tuple[str, ...], timeout: float = 90) -> None:
    def phase() -> bool:
        return kubeserve.kubectl_json("get", "pod", pod, "-n", namespace)["status"].get("phase") in phases
    eventually(phase, timeout=timeout)


def test_init_container_places_the_guide_modelcar_by_hard_links(kubeserve: KubeServe, namespace: str,
                                                                guide_model: str, model_dir: Path) -> None:
    for pod in ("replica-1", "replica-2"):
        kubeserve.kubectl("apply", "-n", namespace, "-f", "-", input=model_pod(pod, guide_model))
    for pod in ("replica-1", "replica-2"):
        wait_phase(kubeserve, namespace, pod, ("Running",))
        eventually(lambda pod=pod: "model.safetensors" in kubeserve.kubectl("logs", pod, "-n", namespace).stdout,
                   timeout=30)
    inodes = cached_inodes(kubeserve, "model.safetensors")
    logs = {}
    for pod in ("replica-1", "replica-2"):
        out = kubeserve.kubectl("logs", pod, "-n", namespace).stdout
        assert json.loads(out.splitlines()[0]) == json.loads((model_dir / "config.json").read_text())
        # The container sees the cache's own inode: the model's bytes exist once on disk.
        assert int(out.split()[-2]) in inodes, out
        logs[pod] = kubeserve.kubectl("logs", pod, "-n", namespace, "-c", "storage-initializer").stdout
    # Both replicas started together: exactly one downloaded, the other waited and took it from the cache.
    assert sorted("from the cache" in log for log in logs.values()) == [False, True], logs
    assert any("registry.redhat.io" in log or "rhelai1/modelcar-granite-7b-starter@sha256:" in log
               for log in logs.values())


def test_init_container_failure_explains_itself(kubeserve: KubeServe, namespace: str, guide_model: str) -> None:
    missing = guide_model.replace(":latest", ":no-such-tag")
    kubeserve.kubectl("apply", "-n", namespace, "-f", "-", input=model_pod("broken", missing))

    def failed_init() -> bool:
        statuses = kubeserve.kubectl_json("get", "pod", "broken", "-n", namespace)["status"].get(
            "initContainerStatuses") or []
        return bool(statuses) and (statuses[0]["state"].get("terminated") or {}).get("exitCode") == 1
    eventually(failed_init, timeout=60)
    log = kubeserve.kubectl("logs", "broken", "-n", namespace, "-c", "storage-initializer").stdout
    assert "error: ModelNotFound:" in kubeserve.kubectl("logs", "broken", "-n", namespace, "-c",
                                                        "storage-initializer").stderr + log
    assert kubeserve.kubectl_json("get", "pod", "broken", "-n", namespace)["status"]["phase"] == "Failed"


def test_pull_command_reports_progress_then_hits_the_cache(kubeserve: KubeServe, guide_model: str,
                                                           tmp_path: Path, model_dir: Path) -> None:
    env = {**kubeserve.env(), "KUBESERVE_HOME": str(kubeserve.home)}
    first = run(*KUBESERVE, "storage", "pull", guide_model, str(tmp_path / "a"), "--progress", "log", env=env)
    assert first.returncode == 0, first.stderr
    second = run(sys.executable, "-m", "kubeserve.storage", guide_model, str(tmp_path / "b"), env=env)
    assert second.returncode == 0, second.stderr
    assert "from the cache" in second.stdout
    for name in ("config.json", "model.safetensors", "tokenizer/tokenizer.json"):
        assert (tmp_path / "b" / name).read_bytes() == (model_dir / name).read_bytes()
    assert os.stat(tmp_path / "a/model.safetensors").st_ino == os.stat(tmp_path / "b/model.safetensors").st_ino


def test_pull_secret_from_the_cluster(kubeserve: KubeServe, namespace: str, basic_registry: Registry,
                                      model_dir: Path, tmp_path: Path) -> None:
    kubeserve.kubectl("create", "secret", "docker-registry", "modelcar-pull", "-n", namespace,
                      f"--docker-server={basic_registry.host}", "--docker-username=modeler",
                      "--docker-password=s3cret")
    kubeserve.kubectl("create", "secret", "docker-registry", "wrong-pull", "-n", namespace,
                      f"--docker-server={basic_registry.host}", "--docker-username=modeler",
                      "--docker-password=nope")
    image = f"{basic_registry.host}/team/granite:1.0"
    env = {**kubeserve.env(), "KUBESERVE_HOME": str(kubeserve.home)}
    no_creds = run(*KUBESERVE, "modelcar", "build", str(model_dir), image, "--push", env=env)
    assert no_creds.returncode == 1 and "error: AccessDenied:" in no_creds.stderr, no_creds.stderr
    built = run(*KUBESERVE, "modelcar", "build", str(model_dir), image, "--push", "--pull-secret", "modelcar-pull",
                "-n", namespace, "--output", str(tmp_path / "granite.oci"), env=env)
    assert built.returncode == 0, built.stderr
    assert (tmp_path / "granite.oci" / "index.json").exists()
    wrong = run(*KUBESERVE, "storage", "pull", f"oci://{image}", str(tmp_path / "w"), "--pull-secret", "wrong-pull",
                "-n", namespace, env=env)
    assert wrong.returncode == 1 and "error: AccessDenied:" in wrong.stderr and "401" in wrong.stderr
    assert not (tmp_path / "w").exists()
    missing = run(*KUBESERVE, "storage", "pull", f"oci://{image}", str(tmp_path / "m"), "--pull-secret", "absent",
                  "-n", namespace, env=env)
    assert missing.returncode == 1 and "secret 'absent' not found in namespace" in missing.stderr
    ok = run(*KUBESERVE, "storage", "pull", f"oci://{image}", str(tmp_path / "ok"), "--pull-secret", "modelcar-pull",
             "-n", namespace, env=env)
    assert ok.returncode == 0, ok.stderr
    assert (tmp_path / "ok/config.json").read_bytes() == (model_dir / "config.json").read_bytes()
    inspected = run("skopeo", "inspect", "--tls-verify=false", "--creds", "modeler:s3cret", f"docker://{image}")
    assert inspected.returncode == 0, inspected.stderr


def test_unknown_scheme_and_bad_arguments(tmp_path: Path) -> None:
    unknown = run(sys.executable, "-m", "kubeserve.storage", "gs://bucket/model", str(tmp_path / "d"))
    assert unknown.returncode == 1
    assert "unsupported storage URI scheme 'gs'" in unknown.stderr and "oci://, s3://" in unknown.stderr
    assert "Traceback" not in unknown.stderr
    odd = run(sys.executable, "-m", "kubeserve.storage", "oci://x/y:1")
    assert odd.returncode == 2 and "URI DEST pairs" in odd.stderr


def unshare_available() -> bool:
    return run("unshare", "--user", "--map-root-user", "--mount", "true").returncode == 0


@pytest.mark.skipif(not unshare_available(), reason="needs unprivileged mount namespaces for a small tmpfs")
@pytest.mark.parametrize("case", ["before", "during"])
def test_disk_full_leaves_nothing_behind(registry: Registry, tmp_path: Path, case: str) -> None:
    """A real ENOSPC: the cache and destination on a 2 MiB tmpfs. `before`: the layers alone exceed the
    free space (refused up front); `during`: an 8 MiB file of zeros compresses to a few KiB, so the
    download starts and the disk fills while extracting."""
    data = os.urandom(3 << 20) if case == "before" else bytes(8 << 20)
    layer = gz(tar_bytes([member("models/", None, kind=b"5"), member("models/weights.bin", data)]))
    push_image(registry, f"full/{case}", "1", [(layer, "application/vnd.oci.image.layer.v1.tar+gzip")])
    script = textwrap.dedent(f"""\
        set -e
        mount -t tmpfs -o size=2m tmpfs {tmp_path}
        mkdir {tmp_path}/cache
        set +e
        KUBESERVE_MODEL_CACHE={tmp_path}/cache {sys.executable} -m kubeserve.storage \\
            oci://{registry.host}/full/{case}:1 {tmp_path}/dest
        echo "rc=$?"
        find {tmp_path} -type f
        """)
    result = run("unshare", "--user", "--map-root-user", "--mount", "sh", "-c", script)
    assert "rc=1" in result.stdout, result.stdout + result.stderr
    assert "error: DiskFull:" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    leftovers = [line for line in result.stdout.splitlines() if line.startswith(str(tmp_path))
                 and not line.endswith(".lock")]
    assert leftovers == [], leftovers


# -- S3 data connections (the guide's Secret, pointed at the test's S3 endpoint) -----------------------------

def data_connection(name: str, s3: S3Server, **overrides: str | None) -> str:
    """The guide's s3-model-secret.yaml with its placeholders filled in (a None override drops the key)."""
    doc = yaml.safe_load((GUIDE / "s3-model-secret.yaml").read_text())
    doc["metadata"]["name"] = name
    values = {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY, "AWS_S3_ENDPOINT": s3.url,
              "AWS_S3_BUCKET": "dc-models", **overrides}
    doc["stringData"] = {key: value for key, value in {**doc["stringData"], **values}.items() if value is not None}
    return yaml.safe_dump(doc)


@pytest.fixture(scope="module")
def s3_model(s3: S3Server, model_dir: Path) -> str:
    s3.create_bucket("dc-models")
    s3.upload_tree(model_dir, "dc-models", "models/llama-3.1-8b-instruct/")
    return "models/llama-3.1-8b-instruct/"


def test_storage_key_and_path_read_the_data_connection(kubeserve: KubeServe, namespace: str, s3: S3Server,
                                                       s3_model: str, model_dir: Path, tmp_path: Path) -> None:
    kubeserve.kubectl("apply", "-n", namespace, "-f", "-", input=data_connection("model-s3-storage", s3))
    env = {**kubeserve.env(), "KUBESERVE_HOME": str(kubeserve.home)}
    pulled = run(*KUBESERVE, "storage", "pull", "-", str(tmp_path / "m"), "--storage-key", "model-s3-storage",
                 "--storage-path", s3_model, "-n", namespace, "--progress", "none", env=env)
    assert pulled.returncode == 0, pulled.stderr
    assert "s3://dc-models/models/llama-3.1-8b-instruct/" in pulled.stdout
    for name in ("config.json", "model.safetensors", "tokenizer/tokenizer.json"):
        assert (tmp_path / "m" / name).read_bytes() == (model_dir / name).read_bytes()
    again = run(sys.executable, "-m", "kubeserve.storage", str(tmp_path / "m2"), "--storage-key", "model-s3-storage",
                "--storage-path", s3_model, "-n", namespace, env=env)
    assert again.returncode == 0 and "from the cache" in again.stdout, again.stderr


@pytest.mark.parametrize(("case", "overrides", "reason", "words"), [
    ("missing-key", {"AWS_SECRET_ACCESS_KEY": None}, "CredentialsError", "AWS_SECRET_ACCESS_KEY"),
    ("wrong-secret", {"AWS_SECRET_ACCESS_KEY": "not-the-secret"}, "AccessDenied", ACCESS_KEY),
    ("missing-bucket", {"AWS_S3_BUCKET": "no-such-bucket"}, "ModelNotFound", "no-such-bucket"),
])
def test_bad_data_connections_explain_themselves(kubeserve: KubeServe, namespace: str, s3: S3Server, s3_model: str,
                                                 tmp_path: Path, case: str, overrides: dict[str, str | None],
                                                 reason: str, words: str) -> None:
    kubeserve.kubectl("apply", "-n", namespace, "-f", "-", input=data_connection(case, s3, **overrides))
    env = {**kubeserve.env(), "KUBESERVE_HOME": str(kubeserve.home)}
    result = run(*KUBESERVE, "storage", "pull", "-", str(tmp_path / "m"), "--storage-key", case,
                 "--storage-path", s3_model, "-n", namespace, env=env)
    assert result.returncode == 1 and f"error: {reason}:" in result.stderr and words in result.stderr, result.stderr
    assert SECRET_KEY not in result.stderr and "not-the-secret" not in result.stderr
    assert not (tmp_path / "m").exists()


def test_empty_prefix_is_not_a_model(kubeserve: KubeServe, namespace: str, s3: S3Server, s3_model: str,
                                     tmp_path: Path) -> None:
    kubeserve.kubectl("apply", "-n", namespace, "-f", "-", input=data_connection("model-s3-storage", s3))
    env = {**kubeserve.env(), "KUBESERVE_HOME": str(kubeserve.home)}
    result = run(*KUBESERVE, "storage", "pull", "-", str(tmp_path / "e"), "--storage-key", "model-s3-storage",
                 "--storage-path", "models/nothing-here/", "-n", namespace, env=env)
    assert result.returncode == 1 and "error: ModelNotFound:" in result.stderr, result.stderr
    assert "s3://dc-models/models/nothing-here" in result.stderr
    assert not (tmp_path / "e").exists()


def test_init_container_with_the_data_connection_in_its_environment(kubeserve: KubeServe, namespace: str,
                                                                    s3: S3Server, s3_model: str) -> None:
    """As the InferenceService controller will render it: the Secret's keys as the init container's env."""
    kubeserve.kubectl("apply", "-n", namespace, "-f", "-", input=data_connection("model-s3-storage", s3))
    pod = json.loads(model_pod("s3-model", f"s3://dc-models/{s3_model}"))
    pod["spec"]["initContainers"][0]["envFrom"] = [{"secretRef": {"name": "model-s3-storage"}}]
    kubeserve.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(pod))
    wait_phase(kubeserve, namespace, "s3-model", ("Running",))
    eventually(lambda: "model.safetensors" in kubeserve.kubectl("logs", "s3-model", "-n", namespace).stdout,
               timeout=30)
    out = kubeserve.kubectl("logs", "s3-model", "-n", namespace).stdout
    assert json.loads(out.splitlines()[0])["hidden_size"] == 256
    entries = list((kubeserve.home / "models" / "entries").glob("s3-*"))
    assert any(int(out.split()[-2]) == os.stat(e / "model" / "model.safetensors").st_ino for e in entries)


# -- bad OCI input through the command: a specific reason, and nothing left in the cache or at DEST ----------

def _bad_image(registry: Registry, basic_registry: Registry, case: str) -> str:
    good = gz(tar_bytes([member("models/", None, kind=b"5"), member("models/weights.bin", os.urandom(1 << 20))]))
    if case == "missing-tag":
        push_image(registry, "bad/missing", "v1", [(good, TAR_GZIP)])
        return f"oci://{registry.host}/bad/missing:v2"
    if case == "no-credentials":
        return f"oci://{basic_registry.host}/team/granite:1.0"
    if case == "tampered-layer":
        second = gz(tar_bytes([member("models/more.bin", os.urandom(1 << 20))]))
        push_image(registry, "bad/tampered", "v1", [(good, TAR_GZIP), (second, TAR_GZIP)])
        blob = registry.blob_path(digest(second))
        data = bytearray(blob.read_bytes())
        data[len(data) // 2] ^= 0xFF
        blob.write_bytes(bytes(data))
        return f"oci://{registry.host}/bad/tampered:v1"
    evil = {"dotdot": [member("models/../../escaped", b"x")],
            "symlink-out": [member("models/link", kind=tarfile.SYMTYPE, link="../../../../etc/passwd")]}[case]
    push_image(registry, f"bad/{case}", "v1", [(good, TAR_GZIP), (gz(tar_bytes(evil)), TAR_GZIP)])
    return f"oci://{registry.host}/bad/{case}:v1"


@pytest.mark.parametrize(("case", "reason", "words"), [
    ("missing-tag", "ModelNotFound", "not found on registry"),
    ("no-credentials", "AccessDenied", "requires credentials"),
    ("tampered-layer", "DigestMismatch", "layer sha256:"),
    ("dotdot", "UnsafeArchive", "models/../../escaped"),
    ("symlink-out", "UnsafeArchive", "models/link"),
])
def test_bad_oci_input_leaves_nothing_behind(registry: Registry, basic_registry: Registry, tmp_path: Path,
                                             case: str, reason: str, words: str) -> None:
    uri = _bad_image(registry, basic_registry, case)
    env = {**os.environ, "KUBESERVE_MODEL_CACHE": str(tmp_path / "cache"), "DOCKER_CONFIG": str(tmp_path / "none"),
           "REGISTRY_AUTH_FILE": ""}
    result = run(sys.executable, "-m", "kubeserve.storage", uri, str(tmp_path / "dest"), env=env)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"error: {reason}:" in result.stderr and words in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "dest").exists()
    files = [p for p in (tmp_path / "cache").rglob("*") if p.is_file() and p.suffix != ".lock"]
    assert files == [], files
    assert not (tmp_path / "escaped").exists() and not (tmp_path.parent / "escaped").exists()
