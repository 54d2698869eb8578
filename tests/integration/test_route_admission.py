"""Route admission end to end: a real kubeserve (`kubeserve up`), the guide's Route file applied with the
real kubectl, and the router's RouteAdmitter running here against it as the gateway runs it.

What the guide promises: `kubectl get route granite-model -o jsonpath='{.spec.host}'` prints a host right
after the apply; the troubleshooting command shows the Admitted condition; a Route to an InferenceService
without `networking.kserve.io/visibility: exposed` is refused with the label to add, and running that very
command admits it and gives the InferenceService its external URL; a second Route on a taken host is refused.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from harness import GUIDE, KubeServe, start_kubeserve
from kubeserve.client import ApiClient, ClientConfig, Informer
from kubeserve.gateway.admission import AdmissionSettings
from kubeserve.gateway.routestatus import RouteAdmitter

pytestmark = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
HOST = "granite-model-demo.apps.localhost"
ADMITTED = '{.status.ingress[0].conditions[?(@.type=="Admitted")]}'  # the guide's troubleshooting jsonpath
SETTINGS = AdmissionSettings(https_port=8443, http_port=8080)  # an unprivileged router's ports


@pytest.fixture(scope="module")
def kubeserve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeServe]:
    # The gateway process would admit Routes too: this test runs its own admitter, the only writer here.
    ks = start_kubeserve(tmp_path_factory.mktemp("route-admission") / "home", env={"KUBESERVE_GATEWAY": "0"})
    try:
        ks.kubectl("create", "namespace", "demo")
        ks.kubectl("create", "namespace", "other")
        yield ks
    finally:
        ks.stop()


@pytest.fixture
async def admitter(kubeserve: KubeServe) -> AsyncIterator[RouteAdmitter]:
    client = await ApiClient.open(ClientConfig.from_kubeconfig(str(kubeserve.kubeconfig)))
    informers = [Informer(client, client.kind("route.openshift.io/v1", "Route")),
                 Informer(client, client.kind("v1", "Service")),
                 Informer(client, client.kind("serving.kserve.io/v1beta1", "InferenceService"))]
    router = RouteAdmitter(client, *informers, SETTINGS)
    await router.start()
    try:
        yield router
    finally:
        await router.stop()
        for informer in informers:
            await informer.stop()
        await client.close()


async def kubectl(ks: KubeServe, *args: str, input: str | None = None) -> str:
    return (await asyncio.to_thread(ks.kubectl, *args, input=input)).stdout


async def eventually(check: Any, timeout: float = 30.0) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    last = None
    while asyncio.get_running_loop().time() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(0.2)
    raise AssertionError(f"condition not met within {timeout}s (last value: {last!r})")


async def admitted(ks: KubeServe, name: str, namespace: str = "demo") -> dict[str, Any] | None:
    out = await kubectl(ks, "get", "route", name, "-n", namespace, "-o", f"jsonpath={ADMITTED}")
    return json.loads(out) if out.strip() else None


def test_spec_host_is_generated_at_creation(kubeserve: KubeServe) -> None:
    kubeserve.kubectl("apply", "-f", str(GUIDE / "granite-model-route.yaml"), "-n", "demo")
    host = kubeserve.kubectl("get", "route", "granite-model", "-n", "demo", "-o", "jsonpath={.spec.host}").stdout
    assert host == HOST
    # A host the user wrote is kept.
    explicit = {"apiVersion": "route.openshift.io/v1", "kind": "Route", "metadata": {"name": "mine"},
                "spec": {"host": "mine.example.com", "to": {"kind": "Service", "name": "web"}}}
    kubeserve.kubectl("apply", "-n", "demo", "-f", "-", input=json.dumps(explicit))
    assert kubeserve.kubectl("get", "route", "mine", "-n", "demo", "-o", "jsonpath={.spec.host}").stdout == \
        "mine.example.com"


async def test_the_guides_route_through_admission(kubeserve: KubeServe, admitter: RouteAdmitter) -> None:
    ks = kubeserve
    await kubectl(ks, "apply", "-f", str(GUIDE / "granite-model-route.yaml"), "-n", "demo")

    # No InferenceService yet: the Route is admitted, on the router's port.
    async def is_admitted() -> dict[str, Any] | None:
        condition = await admitted(ks, "granite-model")
        return condition if condition and condition["status"] == "True" else None

    await eventually(is_admitted)
    table = await kubectl(ks, "get", "route", "granite-model", "-n", "demo")
    assert f"{HOST}:8443" in table

    # The guide's InferenceService without the exposed label: the Route is refused, saying what to run.
    service = (GUIDE / "granite-model-service.yaml").read_text().replace(
        "networking.kserve.io/visibility: exposed", "opendatahub.io/unused: 'x'")
    await kubectl(ks, "apply", "-n", "demo", "-f", str(GUIDE / "granite-model-runtime.yaml"))
    await kubectl(ks, "apply", "-n", "demo", "-f", "-", input=service)

    async def refused() -> dict[str, Any] | None:
        condition = await admitted(ks, "granite-model")
        return condition if condition and condition["status"] == "False" else None

    condition = await eventually(refused)
    assert condition["reason"] == "InferenceServiceNotExposed"
    fix = "kubectl label inferenceservice granite-model networking.kserve.io/visibility=exposed -n demo"
    assert condition["message"].endswith(fix)
    events = await kubectl(ks, "get", "events", "-n", "demo", "--field-selector",
                           "involvedObject.kind=Route,involvedObject.name=granite-model", "-o", "json")
    assert any(e["reason"] == "InferenceServiceNotExposed" for e in json.loads(events)["items"])

    # The InferenceService stays served inside the cluster, and its Events say which label to add.
    async def isvc_warned() -> bool:
        out = await kubectl(ks, "get", "events", "-n", "demo", "--field-selector",
                            "involvedObject.kind=InferenceService,involvedObject.name=granite-model", "-o", "json")
        return any(e["reason"] == "RouteNotAdmitted" and fix in e["message"] for e in json.loads(out)["items"])

    await eventually(isvc_warned)
    isvc = json.loads(await kubectl(ks, "get", "inferenceservice", "granite-model", "-n", "demo", "-o", "json"))
    ingress = next(c for c in isvc["status"]["conditions"] if c["type"] == "IngressReady")
    assert ingress["status"] == "True"
    assert isvc["status"]["url"] == "http://granite-model-predictor.demo.svc.cluster.local"

    # Running the command from the message admits the Route, and the InferenceService gets its URL.
    await kubectl(ks, *fix.split()[1:])
    await eventually(is_admitted)

    async def external_url() -> str | None:
        out = await kubectl(ks, "get", "inferenceservice", "granite-model", "-n", "demo", "-o",
                            "jsonpath={.status.url}")
        return out if out.startswith("https://") else None

    assert await eventually(external_url) == f"https://{HOST}:8443"

    # Another namespace asking for the same host is refused; the older Route keeps it.
    other = {"apiVersion": "route.openshift.io/v1", "kind": "Route", "metadata": {"name": "copycat"},
             "spec": {"host": HOST, "to": {"kind": "Service", "name": "web"}, "tls": {"termination": "edge"}}}
    await kubectl(ks, "apply", "-n", "other", "-f", "-", input=json.dumps(other))

    async def claimed() -> dict[str, Any] | None:
        condition = await admitted(ks, "copycat", "other")
        return condition if condition and condition["status"] == "False" else None

    condition = await eventually(claimed)
    assert condition["reason"] == "HostAlreadyClaimed"
    assert (await admitted(ks, "granite-model"))["status"] == "True"  # type: ignore[index]
    rejected = await kubectl(ks, "get", "route", "copycat", "-n", "other")
    assert "HostAlreadyClaimed" in rejected


@pytest.mark.skipif(os.environ.get("KUBESERVE_APPS_DOMAIN") is not None, reason="the environment sets a domain")
def test_the_default_domain_is_under_localhost() -> None:
    from kubeserve.main import load_settings

    assert load_settings(home=str(Path("/nonexistent-kubeserve-home"))).api.route_domain == "apps.localhost"
