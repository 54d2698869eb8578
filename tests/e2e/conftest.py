"""End-to-end fixtures: a real kubeserve process on 127.0.0.1 and the real kubectl pointed at it.

One server is shared by the whole session (`kubeserve`); tests isolate themselves by namespace
(`namespace` fixture). Tests that kill or restart a server start their own with `harness.start_kubeserve`.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator

import pytest

from harness import KubeServe, start_kubeserve
from servers.registry import Registry, mirror_conf, start_registry
from servers.s3 import S3Server, start_s3_server

GUIDE_MODELCAR = "rhelai1/modelcar-granite-3-1-8b-instruct:1.5"


@pytest.fixture(scope="session")
def kubeserve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeServe]:
    if shutil.which("kubectl") is None:
        pytest.fail("kubectl is not installed; `make tools` says how to get it")
    # A fake two-GPU inventory (the node tests schedule onto it) and a short crash-loop back-off base.
    # Its gateway takes 443/80 where it may (CI runs as root), so the guide's `curl https://$ROUTE_URL` works as
    # written; elsewhere free ports (the tests read them from router-ports).
    server = start_kubeserve(tmp_path_factory.mktemp("kubeserve-home"),
                             env={"KUBESERVE_GPUS": "nvidia.com/gpu=0,1", "KUBESERVE_BACKOFF_SECONDS": "1",
                                  "KUBESERVE_ROUTER_HTTPS_PORT": "443,0", "KUBESERVE_ROUTER_HTTP_PORT": "80,0"})
    yield server
    server.stop()


@pytest.fixture(scope="session")
def api_only_kubeserve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeServe]:
    """A kubeserve whose own InferenceService controller is off (KUBESERVE_SERVING_CONTROLLERS=0), for tests
    that play KServe's controller themselves: they write InferenceService status by hand to check what
    kubectl, the Python client, KServeClient and the MCP server do with it."""
    server = start_kubeserve(tmp_path_factory.mktemp("kubeserve-api-only"),
                             env={"KUBESERVE_SERVING_CONTROLLERS": "0", "KUBESERVE_BACKOFF_SECONDS": "1"})
    yield server
    server.stop()


@pytest.fixture
def namespace(kubeserve: KubeServe) -> Iterator[str]:
    name = f"e2e-{uuid.uuid4().hex[:8]}"
    kubeserve.kubectl("create", "namespace", name)
    yield name
    kubeserve.kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture(scope="session")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """One SeaweedFS (the S3 endpoint, ~1 GB RSS) for the session, serving both http and https."""
    server = start_s3_server(tmp_path_factory.mktemp("seaweedfs"), tls=True)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def guide_registry(kubeserve: KubeServe, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """A local registry holding the demo model under the repository name of the guide's examples."""
    registry = start_registry(tmp_path_factory.mktemp("guide-registry"))
    model = tmp_path_factory.mktemp("demo-model") / "model"
    kubeserve_cli = [sys.executable, "-m", "kubeserve"]
    built = subprocess.run([*kubeserve_cli, "demo-model", str(model)], capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr
    pushed = subprocess.run([*kubeserve_cli, "modelcar", "build", str(model), f"{registry.host}/{GUIDE_MODELCAR}",
                             "--push", "--progress", "none"], capture_output=True, text=True, timeout=300,
                            env=kubeserve.env())
    assert pushed.returncode == 0, pushed.stderr
    yield registry
    registry.stop()


@pytest.fixture
def guide_modelcar(kubeserve: KubeServe, guide_registry: Registry) -> str:
    """The guide's `oci://registry.redhat.io/...` modelcar URI, served by the local registry through kubeserve's
    registry-mirror setting (rewritten for each test: other modules point the mirror at their own registry)."""
    (kubeserve.home / "registries.conf").write_text(mirror_conf(guide_registry.host))
    return f"oci://registry.redhat.io/{GUIDE_MODELCAR}"
