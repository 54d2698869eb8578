"""Acceptance test 3: the Kubernetes MCP server (v0.0.67 binary from npm, `make tools`) against kubeserve.

The MCP server runs over stdio with `--kubeconfig <kubeserve's kubeconfig>` (HTTPS + bearer token) and is
driven by the MCP Python SDK. The resources are the guide's "Using with Kubernetes MCP Server" JSON
(ServingRuntime `mcp-model-runtime`, InferenceService `mcp-model`) plus the guide's Route; the only change
is `metadata.namespace`, which is the test's own namespace instead of `default` so tests stay isolated.

The pod and node tools (pods_*, nodes_*, events_list) run against real pods of the embedded node, created with
the real kubectl (busybox is the host's shell, kubeserve/http-test-server a small HTTP server; docs/node.md).
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from mcp import StdioServerParameters
from mcp.client.session import ClientSession
from mcp.client.stdio import stdio_client

from harness import KubeServe, eventually

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def kubeserve(api_only_kubeserve: KubeServe) -> KubeServe:
    """These tests write InferenceService status themselves, as KServe's controller would, so they run
    against a kubeserve whose own serving controller is off."""
    return api_only_kubeserve


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


# -- pod and node tools against running pods ------------------------------------------------------------------


async def call_failing(session: ClientSession, tool: str, **arguments: Any) -> str:
    """Calls a tool that must fail; returns its error text."""
    result = await session.call_tool(tool, arguments, read_timeout_seconds=60)
    text = "".join(getattr(c, "text", "") for c in result.content)
    assert result.is_error, f"{tool}({arguments}) did not fail: {text}"
    return text


async def eventually_text(produce: Callable[[], Awaitable[str]], accept: Callable[[str], bool],
                          timeout: float = 30, interval: float = 0.5) -> str:
    """Polls an MCP call until its text is accepted (metrics appear a little after a container starts)."""
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        text = await produce()
        if accept(text):
            return text
        await asyncio.sleep(interval)
    raise AssertionError(f"not accepted within {timeout}s; last text:\n{text}")


def table_rows(text: str, columns: int) -> list[list[str]]:
    """The first `columns` cells of each data row of a printed table (cells after those may contain spaces)."""
    return [line.split()[:columns] for line in text.splitlines()[1:] if line.strip()]


def pod_phase(kubeserve: KubeServe, namespace: str, name: str) -> str | None:
    pod = kubectl_get(kubeserve, namespace, "pod", name)
    return None if pod is None else str(pod["status"].get("phase"))


def node_name(kubeserve: KubeServe) -> str:
    return str(kubeserve.kubectl_json("get", "nodes")["items"][0]["metadata"]["name"])


@pytest.fixture
def talker(kubeserve: KubeServe, namespace: str) -> Iterator[str]:
    """A running busybox pod `talker` that printed one line; yields its namespace."""
    kubeserve.kubectl("run", "talker", "-n", namespace, "--image=busybox", "--",
                      "sh", "-c", "echo hello from $HOSTNAME; exec sleep 3600")
    eventually(lambda: pod_phase(kubeserve, namespace, "talker") == "Running", timeout=60, interval=0.2)
    eventually(lambda: "hello from talker" in kubeserve.kubectl("logs", "talker", "-n", namespace).stdout,
               timeout=10, interval=0.2)
    yield namespace


async def test_mcp_pod_and_node_tools_are_offered(kubeserve: KubeServe, mcp_binary: Path, tmp_path: Path) -> None:
    async with mcp_session(mcp_binary, kubeserve, tmp_path / "mcp.log") as session:
        tools = {t.name: t for t in (await session.list_tools()).tools}
    for name in ("pods_list", "pods_list_in_namespace", "pods_get", "pods_log", "pods_exec", "pods_top", "pods_run",
                 "pods_delete", "nodes_top", "nodes_log", "nodes_stats_summary", "events_list"):
        assert name in tools, sorted(tools)
    assert "previous" in tools["pods_log"].input_schema["properties"]
    assert tools["pods_exec"].input_schema["required"] == ["name", "command"]
    assert tools["pods_run"].input_schema["required"] == ["image"]


async def test_mcp_pods_list_get_log_and_exec(kubeserve: KubeServe, talker: str, mcp_binary: Path,
                                             tmp_path: Path) -> None:
    namespace = talker
    pod = kubectl_get(kubeserve, namespace, "pod", "talker")
    assert pod is not None
    async with mcp_session(mcp_binary, kubeserve, tmp_path / "mcp.log") as session:
        # pods_list: all namespaces (the SSAR is allowed), so our pod is among the other tests' pods
        listed = await call(session, "pods_list")
        assert listed.split("\n")[0].split()[:6] == ["NAMESPACE", "APIVERSION", "KIND", "NAME", "READY", "STATUS"]
        assert [namespace, "v1", "Pod", "talker", "1/1", "Running"] in table_rows(listed, 6), listed
        assert "run=talker" in listed

        # pods_list_in_namespace: only this namespace; label and field selectors go through
        in_namespace = await call(session, "pods_list_in_namespace", namespace=namespace)
        assert table_rows(in_namespace, 6) == [[namespace, "v1", "Pod", "talker", "1/1", "Running"]], in_namespace
        assert pod["status"]["podIP"] in in_namespace
        by_label = await call(session, "pods_list_in_namespace", namespace=namespace, labelSelector="run=talker")
        assert [row[3] for row in table_rows(by_label, 4)] == ["talker"]
        no_match = await call(session, "pods_list_in_namespace", namespace=namespace, labelSelector="run=nobody")
        assert "talker" not in no_match
        by_field = await call(session, "pods_list_in_namespace", namespace=namespace,
                              fieldSelector="status.phase=Running")
        assert [row[3] for row in table_rows(by_field, 4)] == ["talker"]
        none_pending = await call(session, "pods_list_in_namespace", namespace=namespace,
                                  fieldSelector="status.phase=Pending")
        assert "talker" not in none_pending

        # pods_get: the Pod as YAML, with the kubelet's status
        got = yaml.safe_load(await call(session, "pods_get", namespace=namespace, name="talker"))
        assert got["kind"] == "Pod" and got["metadata"]["name"] == "talker"
        assert got["metadata"]["namespace"] == namespace and got["metadata"]["uid"] == pod["metadata"]["uid"]
        assert got["spec"]["containers"][0]["image"] == "busybox"
        assert got["spec"]["nodeName"] == node_name(kubeserve)
        assert got["status"]["phase"] == "Running" and got["status"]["podIP"] == pod["status"]["podIP"]
        assert got["status"]["containerStatuses"][0]["ready"] is True
        assert "not found" in await call_failing(session, "pods_get", namespace=namespace, name="no-such-pod")

        # pods_log: the container's output (default container, a named one, a tail)
        assert "hello from talker" in await call(session, "pods_log", namespace=namespace, name="talker")
        assert "hello from talker" in await call(session, "pods_log", namespace=namespace, name="talker",
                                                 container="talker", tail=1)
        # never restarted: no previous container, worded like the kubelet
        no_previous = await call_failing(session, "pods_log", namespace=namespace, name="talker", previous=True)
        assert 'previous terminated container "talker" in pod "talker" not found' in no_previous

        # pods_exec: stdout of a command in the pod's container (its environment: HOSTNAME is the pod's name)
        executed = await call(session, "pods_exec", namespace=namespace, name="talker",
                              command=["sh", "-c", "echo exec says $HOSTNAME; echo $((6 * 7))"])
        assert "exec says talker" in executed and "42" in executed
        executed = await call(session, "pods_exec", namespace=namespace, name="talker", container="talker",
                              command=["echo", "one", "two"])
        assert executed.strip() == "one two"
        failed = await call_failing(session, "pods_exec", namespace=namespace, name="talker",
                                    command=["sh", "-c", "exit 3"])
        assert "exit code 3" in failed


async def test_mcp_pods_log_previous(kubeserve: KubeServe, namespace: str, mcp_binary: Path, tmp_path: Path) -> None:
    kubeserve.kubectl("run", "crasher", "-n", namespace, "--image=busybox", "--",
                      "sh", "-c", "echo last words of $HOSTNAME; exit 3")

    def restarted() -> bool:
        pod = kubectl_get(kubeserve, namespace, "pod", "crasher")
        statuses = (pod or {}).get("status", {}).get("containerStatuses") or [{}]
        return bool(statuses[0].get("restartCount", 0) >= 1
                    and statuses[0].get("lastState", {}).get("terminated", {}).get("exitCode") == 3)

    eventually(restarted, timeout=60, interval=0.2)
    async with mcp_session(mcp_binary, kubeserve, tmp_path / "mcp.log") as session:
        previous = await call(session, "pods_log", namespace=namespace, name="crasher", previous=True)
        assert "last words of crasher" in previous
        listed = await call(session, "pods_list_in_namespace", namespace=namespace)
        row = table_rows(listed, 7)
        assert row[0][3] == "crasher" and int(row[0][6]) >= 1, listed  # RESTARTS


async def test_mcp_pods_top_and_nodes_top(kubeserve: KubeServe, talker: str, mcp_binary: Path,
                                          tmp_path: Path) -> None:
    namespace, node = talker, node_name(kubeserve)
    async with mcp_session(mcp_binary, kubeserve, tmp_path / "mcp.log") as session:
        def has_talker(text: str) -> bool:
            return any(row[:3] == [namespace, "talker", "talker"] for row in table_rows(text, 5))

        # one namespace, then one pod by name, then all namespaces
        top = await eventually_text(lambda: call(session, "pods_top", namespace=namespace, all_namespaces=False),
                                    has_talker)
        assert top.split("\n")[0].split()[:5] == ["NAMESPACE", "POD", "NAME", "CPU(cores)", "MEMORY(bytes)"], top
        row = next(r for r in table_rows(top, 5) if r[1] == "talker")
        assert row[3].endswith("m") and row[4].endswith(("Mi", "Ki", "Gi")), row
        assert has_talker(await call(session, "pods_top", namespace=namespace, name="talker", all_namespaces=False))
        assert has_talker(await call(session, "pods_top", all_namespaces=True))
        labelled = await call(session, "pods_top", namespace=namespace, all_namespaces=False,
                              label_selector="run=talker")
        assert has_talker(labelled)

        # nodes_top: the one node, all nodes and by name
        for arguments in ({}, {"name": node}):
            nodes = await call(session, "nodes_top", **arguments)
            assert nodes.split("\n")[0].split()[:5] == ["NAME", "CPU(cores)", "CPU(%)", "MEMORY(bytes)", "MEMORY(%)"]
            rows = table_rows(nodes, 5)
            assert [r[0] for r in rows] == [node], nodes
            assert rows[0][2].endswith("%") and rows[0][3].endswith("Mi") and rows[0][4].endswith("%"), rows


async def test_mcp_events_list(kubeserve: KubeServe, talker: str, mcp_binary: Path, tmp_path: Path) -> None:
    namespace, node = talker, node_name(kubeserve)
    async with mcp_session(mcp_binary, kubeserve, tmp_path / "mcp.log") as session:
        text = await call(session, "events_list", namespace=namespace)
        assert text.startswith("# The following events (YAML format) were found:"), text
        events = yaml.safe_load(text)
        seen = {(e["InvolvedObject"]["Kind"], e["InvolvedObject"]["Name"], e["Reason"]): e for e in events}
        for reason in ("Scheduled", "Pulled", "Created", "Started"):
            assert ("Pod", "talker", reason) in seen, sorted(seen)
        assert seen["Pod", "talker", "Scheduled"]["Message"] == f"Successfully assigned {namespace}/talker to {node}"
        assert seen["Pod", "talker", "Started"]["Message"] == "Started container talker"
        assert {e["Namespace"] for e in events} == {namespace}

        # a field selector narrows them; all namespaces includes ours
        started = yaml.safe_load(await call(session, "events_list", namespace=namespace,
                                            fieldSelector="involvedObject.name=talker,reason=Started"))
        assert [(e["InvolvedObject"]["Name"], e["Reason"]) for e in started] == [("talker", "Started")]
        everywhere = yaml.safe_load(await call(session, "events_list"))
        assert any(e["Namespace"] == namespace and e["InvolvedObject"]["Name"] == "talker" for e in everywhere)


def http_get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


async def test_mcp_pods_run_and_delete(kubeserve: KubeServe, namespace: str, mcp_binary: Path,
                                       tmp_path: Path) -> None:
    async with mcp_session(mcp_binary, kubeserve, tmp_path / "mcp.log") as session:
        text = await call(session, "pods_run", namespace=namespace, name="runner",
                          image="kubeserve/http-test-server", port=8080)
        assert text.startswith("# The following resources (YAML) have been created or updated successfully"), text
        created = {o["kind"]: o for o in yaml.safe_load(text)}
        # a Pod, a Service for the port, and (route.openshift.io is served) an edge-TLS Route
        assert sorted(created) == ["Pod", "Route", "Service"], sorted(created)
        assert created["Pod"]["spec"]["containers"][0]["image"] == "kubeserve/http-test-server"
        assert created["Pod"]["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "kubernetes-mcp-server"

        eventually(lambda: pod_phase(kubeserve, namespace, "runner") == "Running", timeout=60, interval=0.2)
        service = kubectl_get(kubeserve, namespace, "service", "runner")
        assert service and service["spec"]["ports"][0]["port"] == 8080
        route = kubectl_get(kubeserve, namespace, "route", "runner")
        assert route and route["spec"]["to"]["name"] == "runner" and route["spec"]["tls"]["termination"] == "edge"

        # the pod serves, through its Service's ClusterIP
        url = f"http://{service['spec']['clusterIP']}:8080/"

        def served() -> Any:
            try:
                return http_get_json(url)
            except OSError:
                return None

        assert eventually(served, timeout=30, interval=0.2)["hostname"] == "runner"
        log = await call(session, "pods_log", namespace=namespace, name="runner")
        assert "listening on http://" in log and '"GET /" 200' in log, log
        listed = await call(session, "pods_list_in_namespace", namespace=namespace,
                            labelSelector="app.kubernetes.io/managed-by=kubernetes-mcp-server")
        assert [row[3] for row in table_rows(listed, 4)] == ["runner"], listed

        # pods_delete: the Pod goes (after its grace period) and so does the managed Route
        assert "Pod deleted successfully" in await call(session, "pods_delete", namespace=namespace, name="runner")
        assert kubectl_get(kubeserve, namespace, "route", "runner") is None
        eventually(lambda: kubectl_get(kubeserve, namespace, "pod", "runner") is None, timeout=30, interval=0.2)
        assert "not found" in await call_failing(session, "pods_delete", namespace=namespace, name="runner")


async def test_mcp_pods_delete_also_deletes_the_managed_service(kubeserve: KubeServe, namespace: str,
                                                                mcp_binary: Path, tmp_path: Path) -> None:
    async with mcp_session(mcp_binary, kubeserve, tmp_path / "mcp.log") as session:
        await call(session, "pods_run", namespace=namespace, name="runner", image="kubeserve/http-test-server",
                   port=8080)
        assert kubectl_get(kubeserve, namespace, "service", "runner") is not None
        assert "Pod deleted successfully" in await call(session, "pods_delete", namespace=namespace, name="runner")
    assert kubectl_get(kubeserve, namespace, "service", "runner") is None


async def test_mcp_nodes_stats_summary(kubeserve: KubeServe, talker: str, mcp_binary: Path, tmp_path: Path) -> None:
    node = node_name(kubeserve)
    async with mcp_session(mcp_binary, kubeserve, tmp_path / "mcp.log") as session:
        summary = await call(session, "nodes_stats_summary", name=node)
    assert node in summary and "talker" in summary


async def test_mcp_nodes_log(kubeserve: KubeServe, mcp_binary: Path, tmp_path: Path) -> None:
    async with mcp_session(mcp_binary, kubeserve, tmp_path / "mcp.log") as session:
        log = await call(session, "nodes_log", name=node_name(kubeserve), query="kubelet")
    assert "kubeserve API server listening on" in log  # the node log is kubeserve's own log
