"""Acceptance test 3: the Kubernetes MCP server (v0.0.67 binary from npm, `make tools`) against kubeserve.

The MCP server runs over stdio with `--kubeconfig <kubeserve's kubeconfig>` (HTTPS + bearer token) and is
driven by the MCP Python SDK. The resources are the guide's "Using with Kubernetes MCP Server" JSON
(ServingRuntime `mcp-model-runtime`, InferenceService `mcp-model`) plus the guide's Route; the only change
is `metadata.namespace`, which is the test's own namespace instead of `default` so tests stay isolated.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from mcp import StdioServerParameters
from mcp.client.session import ClientSession
from mcp.client.stdio import stdio_client

from harness import KubeServe

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
GUIDE = REPO / "tests" / "fixtures" / "guide"
MCP_PACKAGE = REPO / ".tools" / "mcp" / "node_modules" / "kubernetes-mcp-server-linux-amd64"
MCP_BINARY = MCP_PACKAGE / "bin" / "kubernetes-mcp-server-linux-amd64"

ISVC_API, RUNTIME_API, ROUTE_API = "serving.kserve.io/v1beta1", "serving.kserve.io/v1alpha1", "route.openshift.io/v1"
OCI_15 = "oci://registry.redhat.io/rhelai1/modelcar-granite-3-1-8b-instruct:1.5"


def guide_runtime(namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": RUNTIME_API, "kind": "ServingRuntime",
        "metadata": {"name": "mcp-model-runtime", "namespace": namespace},
        "spec": {
            "containers": [{"name": "kserve-container", "image": "quay.io/modh/vllm:rhoai-2.20-cuda",
                            "args": ["--port=8080", "--model=/mnt/models"]}],
            "supportedModelFormats": [{"name": "vLLM", "autoSelect": True}]}}


def guide_isvc(namespace: str, storage_uri: str = OCI_15) -> dict[str, Any]:
    return {
        "apiVersion": ISVC_API, "kind": "InferenceService",
        "metadata": {"name": "mcp-model", "namespace": namespace},
        "spec": {"predictor": {"model": {"modelFormat": {"name": "vLLM"}, "runtime": "mcp-model-runtime",
                                         "storageUri": storage_uri}}}}


def guide_route_yaml(namespace: str) -> str:
    route = yaml.safe_load((GUIDE / "granite-model-route.yaml").read_text())
    route["metadata"]["namespace"] = namespace
    return str(yaml.safe_dump(route))


@pytest.fixture(scope="module")
def mcp_binary() -> Path:
    if not MCP_BINARY.exists():
        pytest.fail(f"{MCP_BINARY} is missing: run `make tools` (npm installs "
                    "kubernetes-mcp-server-linux-amd64@0.0.67 into .tools/mcp)")
    version = json.loads((MCP_PACKAGE / "package.json").read_text())["version"]
    assert version == "0.0.67", version
    return MCP_BINARY


@asynccontextmanager
async def mcp_session(binary: Path, kubeserve: KubeServe, log_file: Path) -> AsyncIterator[ClientSession]:
    params = StdioServerParameters(
        command=str(binary),
        args=["--kubeconfig", str(kubeserve.kubeconfig), "--log-file", str(log_file), "--log-level", "5"],
        env={"HOME": str(kubeserve.home)}, cwd=str(kubeserve.home))
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        init = await session.initialize()
        assert init.server_info.name == "kubernetes-mcp-server"
        assert init.server_info.version == "v0.0.67"
        yield session


async def call(session: ClientSession, tool: str, **arguments: Any) -> str:
    """Calls a tool that must succeed; returns its text content."""
    result = await session.call_tool(tool, arguments, read_timeout_seconds=60)
    text = "".join(getattr(c, "text", "") for c in result.content)
    assert not result.is_error, f"{tool}({arguments}) failed: {text}"
    return text


def kubectl_get(kubeserve: KubeServe, namespace: str, resource: str, name: str) -> dict[str, Any] | None:
    result = kubeserve.kubectl("get", resource, name, "-n", namespace, "-o", "json", check=False)
    if result.returncode != 0:
        assert "NotFound" in result.stderr, result.stderr
        return None
    return dict(json.loads(result.stdout))


async def test_mcp_guide_resources(kubeserve: KubeServe, namespace: str, mcp_binary: Path, tmp_path: Path) -> None:
    async with mcp_session(mcp_binary, kubeserve, tmp_path / "mcp.log") as session:
        tools = {t.name: t for t in (await session.list_tools()).tools}
        for name in ("resources_create_or_update", "resources_list", "resources_get", "resources_delete",
                     "resources_scale", "namespaces_list", "pods_list", "pods_list_in_namespace", "pods_log",
                     "pods_exec", "events_list", "configuration_view"):
            assert name in tools, sorted(tools)
        assert tools["resources_create_or_update"].input_schema["required"] == ["resource"]

        # create: the guide's ServingRuntime and InferenceService JSON, then the guide's Route (as YAML)
        created = await call(session, "resources_create_or_update", resource=json.dumps(guide_runtime(namespace)))
        assert "created or updated successfully" in created and "name: mcp-model-runtime" in created
        created = await call(session, "resources_create_or_update", resource=json.dumps(guide_isvc(namespace)))
        assert "name: mcp-model" in created and "manager: kubernetes-mcp-server" in created
        created = await call(session, "resources_create_or_update", resource=guide_route_yaml(namespace))
        assert "kind: Route" in created and "name: granite-model" in created

        runtime = kubectl_get(kubeserve, namespace, "servingruntime", "mcp-model-runtime")
        assert runtime and runtime["spec"]["supportedModelFormats"] == [{"name": "vLLM", "autoSelect": True}]
        isvc = kubectl_get(kubeserve, namespace, "inferenceservice", "mcp-model")
        assert isvc and isvc["spec"]["predictor"]["model"]["storageUri"] == OCI_15
        assert isvc["metadata"]["generation"] == 1
        route = kubectl_get(kubeserve, namespace, "route", "granite-model")
        assert route and route["spec"]["tls"]["termination"] == "edge"
        assert route["spec"]["to"]["name"] == "granite-model-predictor"

        # list: a Table per kind, with the namespace's objects only
        listed = await session.call_tool("resources_list", {"apiVersion": ISVC_API, "kind": "InferenceService",
                                                            "namespace": namespace})
        assert not listed.is_error
        text = "".join(getattr(c, "text", "") for c in listed.content)
        assert text.split("\n")[0].split()[:4] == ["NAMESPACE", "APIVERSION", "KIND", "NAME"], text
        assert "mcp-model" in text and {"URL", "READY", "LATEST"} <= set(text.split("\n")[0].split()), text
        assert listed.structured_content is not None
        items = listed.structured_content["items"]
        assert [(i["Namespace"], i["kind"], i["Name"]) for i in items] == [(namespace, "InferenceService", "mcp-model")]
        runtimes = await call(session, "resources_list", apiVersion=RUNTIME_API, kind="ServingRuntime",
                              namespace=namespace)
        assert "mcp-model-runtime" in runtimes and "vLLM" in runtimes and "kserve-container" in runtimes
        routes = await call(session, "resources_list", apiVersion=ROUTE_API, kind="Route", namespace=namespace)
        assert "granite-model" in routes and "granite-model-predictor" in routes

        # get: YAML of the object
        got = yaml.safe_load(await call(session, "resources_get", apiVersion=ISVC_API, kind="InferenceService",
                                        name="mcp-model", namespace=namespace))
        assert got["metadata"]["name"] == "mcp-model" and got["metadata"]["namespace"] == namespace
        assert got["spec"]["predictor"]["model"]["runtime"] == "mcp-model-runtime"
        missing = await session.call_tool("resources_get", {"apiVersion": ISVC_API, "kind": "InferenceService",
                                                            "name": "no-such-model", "namespace": namespace})
        assert missing.is_error
        assert "not found" in "".join(getattr(c, "text", "") for c in missing.content)

        # update: create_or_update with the full desired state (server-side apply, force)
        await call(session, "resources_create_or_update",
                   resource=json.dumps(guide_isvc(namespace, OCI_15.replace(":1.5", ":1.6"))))
        isvc = kubectl_get(kubeserve, namespace, "inferenceservice", "mcp-model")
        assert isvc and isvc["spec"]["predictor"]["model"]["storageUri"].endswith(":1.6")
        assert isvc["metadata"]["generation"] == 2

        # delete: each one is gone afterwards
        for api_version, kind, name, resource in (
                (ISVC_API, "InferenceService", "mcp-model", "inferenceservice"),
                (RUNTIME_API, "ServingRuntime", "mcp-model-runtime", "servingruntime"),
                (ROUTE_API, "Route", "granite-model", "route")):
            deleted = await call(session, "resources_delete", apiVersion=api_version, kind=kind, name=name,
                                 namespace=namespace)
            assert "deleted successfully" in deleted
            assert kubectl_get(kubeserve, namespace, resource, name) is None
        after = await call(session, "resources_list", apiVersion=ISVC_API, kind="InferenceService",
                           namespace=namespace)
        assert "mcp-model" not in after


async def test_mcp_lists_all_namespaces(kubeserve: KubeServe, namespace: str, mcp_binary: Path,
                                        tmp_path: Path) -> None:
    """Without a namespace, the MCP server lists cluster-wide only if its SelfSubjectAccessReview is allowed;
    otherwise it falls back to the kubeconfig's namespace (`default`), where this object is not."""
    log_file = tmp_path / "mcp.log"
    async with mcp_session(mcp_binary, kubeserve, log_file) as session:
        await call(session, "resources_create_or_update", resource=json.dumps(guide_isvc(namespace)))
        listed = await session.call_tool("resources_list", {"apiVersion": ISVC_API, "kind": "InferenceService"})
        assert not listed.is_error, listed.content
        assert listed.structured_content is not None
        rows = {(i["Namespace"], i["Name"]) for i in listed.structured_content["items"]}
        assert (namespace, "mcp-model") in rows, rows

        namespaces = await call(session, "namespaces_list")
        assert namespace in namespaces and "redhat-ods-applications" in namespaces
        pods = await session.call_tool("pods_list", {})
        assert not pods.is_error, pods.content
        await call(session, "resources_delete", apiVersion=ISVC_API, kind="InferenceService", name="mcp-model",
                   namespace=namespace)
    log = log_file.read_text()
    assert "RBAC check allowed" in log and 'kubernetes.api.resource="inferenceservices"' in log, log[-3000:]
