"""Acceptance test 1: the guide's YAML and its API-level kubectl commands, run with the real kubectl.

Every test works in its own namespace (the `namespace` fixture); the only exception is the
AcceleratorProfile test, whose file pins `namespace: redhat-ods-applications`. The guide's commands are run
verbatim except for the namespace (`-n`) and the model/runtime names: the guide calls the runtime
`granite-runtime` in its day-2 commands, while its YAML names it `granite-model` (same-named pairs).
"""

from __future__ import annotations

import json
import re
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness import KubectlLines as Lines
from harness import KubeServe, eventually

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def kubeserve(api_only_kubeserve: KubeServe) -> KubeServe:
    """These tests write InferenceService status themselves, as KServe's controller would, so they run
    against a kubeserve whose own serving controller is off."""
    return api_only_kubeserve


GUIDE = Path(__file__).resolve().parents[1] / "fixtures" / "guide"

MODEL = "granite-model"
ISVC_LABEL = f"serving.kserve.io/inferenceservice={MODEL}"
ACCELERATOR_FILE = GUIDE / "migrated-gpu-acceleratorprofile.yaml"
NAMESPACED_FILES = sorted(p for p in GUIDE.glob("*.yaml") if p != ACCELERATOR_FILE)

# The guide's multi-line custom-columns command, with its backslash-newlines joined. (Pasted into bash
# unquoted, `[?(@.type=='Ready')]` is an extglob that strips the inner quotes, and kubectl then fails
# client-side with `unrecognized identifier Ready`; the argument below is what the guide means.)
CUSTOM_COLUMNS = ("custom-columns="
                  "NAME:.metadata.name,"
                  "RUNTIME:.spec.predictor.model.runtime,"
                  "MODEL:.spec.predictor.model.storageUri,"
                  "READY:.status.conditions[?(@.type=='Ready')].status,"
                  "URL:.status.url")

# The guide's patch bodies, byte for byte (`-p='...'`).
PATCH_STORAGE_URI = """[
  {"op": "replace", "path": "/spec/predictor/model/storageUri", 
   "value": "oci://registry.redhat.io/rhelai1/modelcar-granite-3-1-8b-instruct:1.6"}
]"""  # noqa: W291 (the guide's trailing space)
PATCH_REPLICAS = """
{
  "spec": {
    "predictor": {
      "minReplicas": 2,
      "maxReplicas": 5
    }
  }
}"""
PATCH_AUTOSCALING = """
{
  "spec": {
    "predictor": {
      "minReplicas": 1,
      "maxReplicas": 10,
      "scaleTarget": 80,
      "scaleMetric": "cpu"
    }
  }
}"""
PATCH_RESOURCES = """
{
  "spec": {
    "predictor": {
      "model": {
        "resources": {
          "requests": {
            "cpu": "4",
            "memory": "32Gi"
          },
          "limits": {
            "cpu": "8",
            "memory": "48Gi"
          }
        }
      }
    }
  }
}"""
PATCH_RUNTIME_ARGS = """[
  {"op": "replace", "path": "/spec/containers/0/args", 
   "value": ["--port=8080", "--model=/mnt/models", "--tensor-parallel-size=2", "--distributed-executor-backend=mp", "--max-model-len=8192"]}
]"""  # noqa: E501, W291
PATCH_RUNTIME_IMAGE = """
{
  "spec": {
    "containers": [{
      "name": "kserve-container",
      "image": "quay.io/modh/vllm:rhoai-2.21-cuda"
    }]
  }
}"""
PATCH_ROUTE_TLS = r"""
{
  "spec": {
    "tls": {
      "termination": "reencrypt",
      "certificate": "-----BEGIN CERTIFICATE-----\n<YOUR_CERTIFICATE_CONTENT>\n-----END CERTIFICATE-----",
      "key": "-----BEGIN PRIVATE KEY-----\n<YOUR_PRIVATE_KEY_CONTENT>\n-----END PRIVATE KEY-----"
    }
  }
}"""


# ---- helpers -----------------------------------------------------------------------------------------


def kubectl(ks: KubeServe, ns: str, *args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
    return ks.kubectl(*args, "-n", ns, **kw)


def apply(ks: KubeServe, ns: str, *files: str | Path) -> subprocess.CompletedProcess[str]:
    args: list[str] = []
    for f in files:
        args += ["-f", str(f if isinstance(f, Path) else GUIDE / f)]
    return kubectl(ks, ns, "apply", *args)


def get_json(ks: KubeServe, ns: str, *resource: str) -> Any:
    return json.loads(kubectl(ks, ns, "get", *resource, "-o", "json").stdout)


def jsonpath(ks: KubeServe, ns: str, resource: str, expr: str) -> str:
    return kubectl(ks, ns, "get", resource, "-o", f"jsonpath={expr}").stdout


def exists(ks: KubeServe, ns: str, resource: str) -> bool:
    result = kubectl(ks, ns, "get", resource, "-o", "name", check=False)
    if result.returncode != 0:
        assert "NotFound" in result.stderr, result.stderr
        return False
    return True


def table(stdout: str) -> tuple[list[str], list[list[str]]]:
    """kubectl's human-readable table as (header, rows), split on runs of 2+ spaces."""
    lines = [line for line in stdout.splitlines() if line.strip()]
    split = [re.split(r"\s{2,}", line.strip()) for line in lines]
    return (split[0], split[1:]) if split else ([], [])


def row(stdout: str, name: str) -> dict[str, str]:
    """The row of `name` keyed by column header (by character offsets, so blank cells stay blank)."""
    lines = [line for line in stdout.splitlines() if line.strip()]
    header = lines[0]
    starts = [m.start() for m in re.finditer(r"\S+(?: \S+)*", header)]  # headers like `DISPLAY NAME`
    for line in lines[1:]:
        cells = [line[s:e].strip() for s, e in zip(starts, [*starts[1:], None], strict=True)]
        if name in cells[:2] or cells[0].endswith("/" + name):
            keys = [header[s:e].strip() for s, e in zip(starts, [*starts[1:], None], strict=True)]
            return dict(zip(keys, cells, strict=True))
    raise AssertionError(f"no row for {name!r} in:\n{stdout}")


def set_ready(ks: KubeServe, ns: str, name: str, url: str | None = None) -> None:
    generation = int(jsonpath(ks, ns, f"inferenceservice/{name}", "{.metadata.generation}"))
    status: dict[str, Any] = {"observedGeneration": generation,
                              "conditions": [{"type": "Ready", "status": "True"}]}
    if url:
        status["url"] = url
    kubectl(ks, ns, "patch", "inferenceservice", name, "--subresource=status", "--type=merge",
            "-p", json.dumps({"status": status}))


def isvc_yaml(name: str, runtime: str, storage_uri: str = "oci://quay.io/e2e/model:1", model_format: str = "vLLM",
              gpus: str | None = None, extra_meta: str = "") -> str:
    resources = f"""
      resources:
        limits:
          nvidia.com/gpu: '{gpus}'""" if gpus else ""
    return f"""apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata:
  name: {name}{extra_meta}
spec:
  predictor:
    model:
      modelFormat:
        name: {model_format}
      runtime: {runtime}
      storageUri: '{storage_uri}'{resources}
"""


def runtime_yaml(name: str, args: list[str]) -> str:
    return f"""apiVersion: serving.kserve.io/v1alpha1
kind: ServingRuntime
metadata:
  name: {name}
spec:
  supportedModelFormats:
    - name: vLLM
      autoSelect: true
  containers:
    - name: kserve-container
      image: quay.io/modh/vllm:rhoai-2.20-cuda
      args: {json.dumps(args)}
"""


def configmap_yaml(name: str, owner: dict[str, Any], finalizers: list[str] | None = None,
                   labels: str = "") -> str:
    return f"""apiVersion: v1
kind: ConfigMap
metadata:
  name: {name}{labels}
  finalizers: {json.dumps(finalizers or [])}
  ownerReferences:
    - apiVersion: serving.kserve.io/v1beta1
      kind: InferenceService
      name: {owner["metadata"]["name"]}
      uid: {owner["metadata"]["uid"]}
      blockOwnerDeletion: true
data:
  owner: {owner["metadata"]["name"]}
"""


def deployment_yaml(name: str, labels: dict[str, str], replicas: int = 1) -> str:
    return yaml.safe_dump({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [{"name": "web", "image": "kubeserve.invalid/e2e:none"}]}}},
    })


@pytest.fixture
def granite(kubeserve: KubeServe, namespace: str) -> str:
    """The guide's complete working example (runtime, service, route) applied in the test's namespace."""
    apply(kubeserve, namespace, "granite-model-runtime.yaml", "granite-model-service.yaml", "granite-model-route.yaml")
    return namespace


# ---- 1. the guide's YAML applies, and re-applies unchanged -----------------------------------------------


def test_every_guide_file_applies_and_reapplies_unchanged(kubeserve: KubeServe, namespace: str) -> None:
    expected: dict[str, str] = {}
    for path in NAMESPACED_FILES:
        doc = yaml.safe_load(path.read_text())
        result = apply(kubeserve, namespace, path)
        assert "Warning:" not in result.stderr, f"{path.name}: {result.stderr}"
        line = result.stdout.strip()
        assert line.endswith(f"/{doc['metadata']['name']} created"), f"{path.name}: {line}"
        expected[path.name] = line.rsplit(" ", 1)[0]
    live = get_json(kubeserve, namespace, "servingruntimes,inferenceservices,routes,secrets")
    before = {(o["kind"], o["metadata"]["name"]): o["metadata"]["resourceVersion"] for o in live["items"]}
    assert len(before) == len(NAMESPACED_FILES)

    for path in NAMESPACED_FILES:
        doc = yaml.safe_load(path.read_text())
        line = apply(kubeserve, namespace, path).stdout.strip()
        if doc["kind"] == "Secret" and "stringData" in doc:
            # kubectl compares stringData with the stored data and always sends a patch, so a real cluster
            # also says `configured` here (kubernetes/kubernetes#87736); the write must still be a no-op.
            assert line in (f"{expected[path.name]} unchanged", f"{expected[path.name]} configured"), line
        else:
            assert line == f"{expected[path.name]} unchanged", f"{path.name}: {line}"
    live = get_json(kubeserve, namespace, "servingruntimes,inferenceservices,routes,secrets")
    after = {(o["kind"], o["metadata"]["name"]): o["metadata"]["resourceVersion"] for o in live["items"]}
    assert after == before, "re-applying the guide's files changed resourceVersions"

    secret = get_json(kubeserve, namespace, "secret", "model-s3-storage")
    assert "stringData" not in secret
    assert secret["data"]["AWS_S3_BUCKET"] == "eW91ci1tb2RlbC1idWNrZXQ="  # base64("your-model-bucket")


def test_acceleratorprofile_file_applies_in_its_namespace(kubeserve: KubeServe, namespace: str) -> None:
    ns = "redhat-ods-applications"
    kubectl(kubeserve, ns, "delete", "acceleratorprofile", "migrated-gpu", "--ignore-not-found")
    try:
        assert apply(kubeserve, ns, ACCELERATOR_FILE).stdout.strip() == \
            "acceleratorprofile.dashboard.opendatahub.io/migrated-gpu created"
        assert apply(kubeserve, ns, ACCELERATOR_FILE).stdout.strip() == \
            "acceleratorprofile.dashboard.opendatahub.io/migrated-gpu unchanged"
        # Without -n the file's own namespace is used; with a different -n kubectl refuses (client-side).
        assert kubeserve.kubectl("apply", "-f", str(ACCELERATOR_FILE)).stdout.strip().endswith("unchanged")
        other = kubectl(kubeserve, namespace, "apply", "-f", str(ACCELERATOR_FILE), check=False)
        assert other.returncode != 0 and "does not match the namespace" in other.stderr

        listing = kubectl(kubeserve, ns, "get", "acceleratorprofiles").stdout
        header, _ = table(listing)
        assert header[:4] == ["NAME", "DISPLAY NAME", "ENABLED", "IDENTIFIER"], listing
        r = row(listing, "migrated-gpu")
        assert (r["DISPLAY NAME"], r["ENABLED"], r["IDENTIFIER"]) == ("NVIDIA GPU", "true", "nvidia.com/gpu")
        wide = kubectl(kubeserve, ns, "get", "acceleratorprofile", "migrated-gpu", "-o", "wide").stdout
        assert row(wide, "migrated-gpu")["TOLERATIONS"] == "nvidia.com/gpu", wide

        as_yaml = yaml.safe_load(
            kubectl(kubeserve, ns, "get", "acceleratorprofile", "migrated-gpu", "-o", "yaml").stdout)
        assert as_yaml["spec"]["identifier"] == "nvidia.com/gpu"
        assert as_yaml["spec"]["tolerations"] == [{"effect": "NoSchedule", "key": "nvidia.com/gpu",
                                                   "operator": "Exists"}]
        described = kubectl(kubeserve, ns, "describe", "acceleratorprofile", "migrated-gpu").stdout
        for text in ("Name:         migrated-gpu", "Namespace:    redhat-ods-applications",
                     "Kind:         AcceleratorProfile", "Display Name:  NVIDIA GPU", "Identifier:    nvidia.com/gpu"):
            assert text in described, described
    finally:
        kubectl(kubeserve, ns, "delete", "acceleratorprofile", "migrated-gpu", "--ignore-not-found")


# ---- 2. the guide's kubectl commands ----------------------------------------------------------------------


def test_guide_get_commands(kubeserve: KubeServe, granite: str) -> None:
    ns = granite
    apply(kubeserve, ns, "s3-model-secret.yaml", "s3-model-runtime.yaml", "s3-model-service.yaml")
    set_ready(kubeserve, ns, MODEL, url=f"https://{MODEL}-{ns}.apps.example.com")

    plain = kubectl(kubeserve, ns, "get", "inferenceservices").stdout
    header, rows = table(plain)
    assert header == ["NAME", "URL", "READY", "PREV", "LATEST", "PREVROLLEDOUTREVISION", "LATESTREADYREVISION",
                      "AGE"], plain
    assert sorted(r[0] for r in rows) == [MODEL, "s3-model"]
    granite_row = row(plain, MODEL)
    assert granite_row["URL"] == f"https://{MODEL}-{ns}.apps.example.com" and granite_row["READY"] == "True"
    assert row(plain, "s3-model")["READY"] == ""
    assert kubectl(kubeserve, ns, "get", "inferenceservice", MODEL).stdout.splitlines()[0] == plain.splitlines()[0]
    wide = kubectl(kubeserve, ns, "get", "inferenceservices", "-o", "wide").stdout
    assert row(wide, MODEL)["READY"] == "True"

    everywhere = kubeserve.kubectl("get", "inferenceservices", "--all-namespaces").stdout
    assert everywhere.startswith("NAMESPACE")
    assert any(line.split()[:2] == [ns, MODEL] for line in everywhere.splitlines()), everywhere

    as_yaml = yaml.safe_load(kubectl(kubeserve, ns, "get", "inferenceservice", MODEL, "-o", "yaml").stdout)
    assert as_yaml["kind"] == "InferenceService" and as_yaml["metadata"]["namespace"] == ns
    assert as_yaml["spec"]["predictor"]["model"]["runtime"] == MODEL
    as_json = json.loads(kubectl(kubeserve, ns, "get", "inferenceservices", "-o", "json").stdout)
    assert as_json["kind"] == "List"
    # The guide's jq filters over `-o json`: by runtime, and GPU-enabled deployments.
    items = as_json["items"]
    assert [i["metadata"]["name"] for i in items if i["spec"]["predictor"]["model"]["runtime"] == MODEL] == [MODEL]
    gpu = [i["metadata"]["name"] for i in items
           if (i["spec"]["predictor"]["model"].get("resources", {}).get("requests") or {}).get("nvidia.com/gpu")]
    assert sorted(gpu) == [MODEL, "s3-model"]

    columns = kubectl(kubeserve, ns, "get", "inferenceservices", "-o", CUSTOM_COLUMNS).stdout
    assert table(columns)[0] == ["NAME", "RUNTIME", "MODEL", "READY", "URL"]
    assert row(columns, MODEL) == {
        "NAME": MODEL, "RUNTIME": MODEL, "READY": "True", "URL": f"https://{MODEL}-{ns}.apps.example.com",
        "MODEL": "oci://registry.redhat.io/rhelai1/modelcar-granite-3-1-8b-instruct:1.5"}
    assert row(columns, "s3-model")["READY"] == "<none>"

    # Both jsonpath spellings in the guide (status only, and the whole condition).
    assert jsonpath(kubeserve, ns, f"inferenceservice/{MODEL}",
                    '{.status.conditions[?(@.type=="Ready")].status}') == "True"
    condition = json.loads(jsonpath(kubeserve, ns, f"inferenceservice/{MODEL}",
                                    '{.status.conditions[?(@.type=="Ready")]}'))
    assert condition == {"type": "Ready", "status": "True"}
    assert jsonpath(kubeserve, ns, "inferenceservice/s3-model", '{.status.conditions[?(@.type=="Ready")].status}') == ""

    none = kubectl(kubeserve, ns, "get", "inferenceservices", "-l", "environment=production")
    assert none.stdout == "" and f"No resources found in {ns} namespace." in none.stderr
    kubectl(kubeserve, ns, "label", "inferenceservice", "s3-model", "environment=production")
    production = kubectl(kubeserve, ns, "get", "inferenceservices", "-l", "environment=production").stdout
    assert [r[0] for r in table(production)[1]] == ["s3-model"]

    runtimes = kubectl(kubeserve, ns, "get", "servingruntimes").stdout
    assert table(runtimes)[0] == ["NAME", "DISABLED", "MODELTYPE", "CONTAINERS", "AGE"]
    assert row(runtimes, MODEL)["MODELTYPE"] == "vLLM" and row(runtimes, MODEL)["CONTAINERS"] == "kserve-container"

    routes = kubectl(kubeserve, ns, "get", "routes", "-l", "inferenceservice-name").stdout
    route = row(routes, MODEL)
    assert route["SERVICES"] == f"{MODEL}-predictor" and route["TERMINATION"] == "edge/Redirect", routes

    # The controller labels what it creates; label the guide's objects the same way.
    kubectl(kubeserve, ns, "label", "servingruntime,inferenceservice,route", MODEL, ISVC_LABEL)
    model_name = MODEL
    everything = kubectl(kubeserve, ns, "get", "servingruntime,inferenceservice,route,service,deployment,pod",
                         "-l", f"serving.kserve.io/inferenceservice={model_name}").stdout
    for kind in ("servingruntime.serving.kserve.io", "inferenceservice.serving.kserve.io", "route.route.openshift.io"):
        assert f"{kind}/{MODEL}" in everything, everything
    assert "s3-model" not in everything

    nodes = kubeserve.kubectl("get", "nodes", "-o",
                              r"custom-columns=NAME:.metadata.name,GPUs:.status.capacity.nvidia\.com/gpu")
    assert nodes.returncode == 0 and "error" not in nodes.stderr.lower(), nodes.stderr
    if nodes.stdout:
        assert table(nodes.stdout)[0] == ["NAME", "GPUs"]

    host = jsonpath(kubeserve, ns, f"route/{MODEL}", "{.spec.host}")  # ROUTE_URL=$(...)
    assert host == f"{MODEL}-{ns}.apps.localhost"  # generated when the Route was created, as OpenShift does


def test_guide_describe_commands(kubeserve: KubeServe, granite: str) -> None:
    ns = granite
    isvc = kubectl(kubeserve, ns, "describe", "inferenceservice", MODEL).stdout
    for text in (f"Name:         {MODEL}", f"Namespace:    {ns}", "Kind:         InferenceService",
                 "API Version:  serving.kserve.io/v1beta1", "networking.kserve.io/visibility=exposed",
                 f"Runtime:             {MODEL}", "Storage Uri:", "modelcar-granite-3-1-8b-instruct:1.5",
                 "Events:"):
        assert text in isvc, isvc
    runtime = kubectl(kubeserve, ns, "describe", "servingruntime", MODEL).stdout
    for text in (f"Name:         {MODEL}", "Kind:         ServingRuntime",
                 "opendatahub.io/accelerator-name: migrated-gpu", "--max-model-len=4096",
                 "Image:  quay.io/modh/vllm:rhoai-2.20-cuda"):
        assert text in runtime, runtime


def test_guide_patch_commands(kubeserve: KubeServe, granite: str) -> None:
    ns = granite

    def patch(*args: str) -> None:
        result = kubectl(kubeserve, ns, "patch", *args)
        assert result.stdout.strip().endswith(" patched"), result.stdout
        assert "Warning:" not in result.stderr, result.stderr

    def isvc() -> dict[str, Any]:
        return get_json(kubeserve, ns, "inferenceservice", MODEL)  # type: ignore[no-any-return]

    generation = isvc()["metadata"]["generation"]
    patch("inferenceservice", MODEL, "--type=json", f"-p={PATCH_STORAGE_URI}")
    obj = isvc()
    assert obj["spec"]["predictor"]["model"]["storageUri"] == \
        "oci://registry.redhat.io/rhelai1/modelcar-granite-3-1-8b-instruct:1.6"
    assert obj["metadata"]["generation"] == generation + 1

    patch("inferenceservice", MODEL, "--type=merge", f"-p={PATCH_REPLICAS}")
    predictor = isvc()["spec"]["predictor"]
    assert (predictor["minReplicas"], predictor["maxReplicas"]) == (2, 5)

    patch("inferenceservice", MODEL, "--type=merge", f"-p={PATCH_AUTOSCALING}")
    predictor = isvc()["spec"]["predictor"]
    assert {k: predictor[k] for k in ("minReplicas", "maxReplicas", "scaleTarget", "scaleMetric")} == \
        {"minReplicas": 1, "maxReplicas": 10, "scaleTarget": 80, "scaleMetric": "cpu"}

    patch("inferenceservice", MODEL, "--type=merge", f"-p={PATCH_RESOURCES}")
    resources = isvc()["spec"]["predictor"]["model"]["resources"]
    # Merge patch merges maps: the GPU entries the patch does not mention stay.
    assert resources == {"requests": {"cpu": "4", "memory": "32Gi", "nvidia.com/gpu": "1"},
                         "limits": {"cpu": "8", "memory": "48Gi", "nvidia.com/gpu": "1"}}
    assert isvc()["metadata"]["generation"] == generation + 4

    # The default (strategic) patch type is refused for custom resources, as on a cluster.
    refused = kubectl(kubeserve, ns, "patch", "inferenceservice", MODEL, "-p", PATCH_REPLICAS, check=False)
    assert refused.returncode != 0 and "strategic-merge-patch" in refused.stderr, refused.stderr

    # tensor-parallel-size=2 comes with --distributed-executor-backend=mp: admitted.
    patch("servingruntime", MODEL, "--type=json", f"-p={PATCH_RUNTIME_ARGS}")
    assert get_json(kubeserve, ns, "servingruntime", MODEL)["spec"]["containers"][0]["args"] == [
        "--port=8080", "--model=/mnt/models", "--tensor-parallel-size=2", "--distributed-executor-backend=mp",
        "--max-model-len=8192"]
    patch("servingruntime", MODEL, "--type=merge", f"-p={PATCH_RUNTIME_IMAGE}")
    containers = get_json(kubeserve, ns, "servingruntime", MODEL)["spec"]["containers"]
    # A JSON merge patch replaces lists whole (RFC 7386): the container is now exactly the patch's.
    assert containers == [{"name": "kserve-container", "image": "quay.io/modh/vllm:rhoai-2.21-cuda"}]

    patch("route", MODEL, "--type=merge", f"-p={PATCH_ROUTE_TLS}")
    tls = get_json(kubeserve, ns, "route", MODEL)["spec"]["tls"]
    assert tls == {"termination": "reencrypt", "insecureEdgeTerminationPolicy": "Redirect",
                   "certificate": "-----BEGIN CERTIFICATE-----\n<YOUR_CERTIFICATE_CONTENT>\n-----END CERTIFICATE-----",
                   "key": "-----BEGIN PRIVATE KEY-----\n<YOUR_PRIVATE_KEY_CONTENT>\n-----END PRIVATE KEY-----"}
    assert row(kubectl(kubeserve, ns, "get", "route", MODEL).stdout, MODEL)["TERMINATION"] == "reencrypt/Redirect"


def test_label_annotate_and_delete_by_name(kubeserve: KubeServe, granite: str) -> None:
    ns = granite
    assert kubectl(kubeserve, ns, "label", "inferenceservice", MODEL, "environment=production").stdout.strip() == \
        f"inferenceservice.serving.kserve.io/{MODEL} labeled"
    assert kubectl(kubeserve, ns, "annotate", "inferenceservice", MODEL, "example.com/owner=team-a").stdout.strip() == \
        f"inferenceservice.serving.kserve.io/{MODEL} annotated"
    meta = get_json(kubeserve, ns, "inferenceservice", MODEL)["metadata"]
    assert meta["labels"]["environment"] == "production" and meta["annotations"]["example.com/owner"] == "team-a"
    kubectl(kubeserve, ns, "label", "inferenceservice", MODEL, "environment-")
    assert "environment" not in get_json(kubeserve, ns, "inferenceservice", MODEL)["metadata"]["labels"]

    # Delete in reverse order: Route, InferenceService, ServingRuntime.
    for resource, kind in (("route", "route.route.openshift.io"),
                           ("inferenceservice", "inferenceservice.serving.kserve.io"),
                           ("servingruntime", "servingruntime.serving.kserve.io")):
        assert kubectl(kubeserve, ns, "delete", resource, MODEL).stdout.strip() == f'{kind} "{MODEL}" deleted'
        assert not exists(kubeserve, ns, f"{resource}/{MODEL}")
    missing = kubectl(kubeserve, ns, "delete", "inferenceservice", MODEL, check=False)
    assert missing.returncode != 0 and "NotFound" in missing.stderr


def test_delete_everything_for_a_model_by_label(kubeserve: KubeServe, granite: str) -> None:
    ns = granite
    apply(kubeserve, ns, "s3-model-runtime.yaml", "s3-model-service.yaml")
    kubectl(kubeserve, ns, "label", "servingruntime,inferenceservice,route", MODEL, ISVC_LABEL)
    owner = get_json(kubeserve, ns, "inferenceservice", MODEL)
    # What the controller would create for the model: a labelled Deployment and Service owned by the
    # InferenceService, and a labelled PVC that outlives it.
    ref = {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService", "name": MODEL,
           "uid": owner["metadata"]["uid"], "blockOwnerDeletion": True, "controller": True}
    labels = {"serving.kserve.io/inferenceservice": MODEL}
    deployment = yaml.safe_load(deployment_yaml(f"{MODEL}-predictor", labels, replicas=0))
    deployment["metadata"]["ownerReferences"] = [ref]
    service = {"apiVersion": "v1", "kind": "Service",
               "metadata": {"name": f"{MODEL}-predictor", "labels": labels, "ownerReferences": [ref]},
               "spec": {"selector": {"app": f"{MODEL}-predictor"}, "ports": [{"name": "http", "port": 80,
                                                                              "targetPort": 8080}]}}
    pvc = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "model-cache", "labels": labels},
           "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}
    kubectl(kubeserve, ns, "apply", "-f", "-", input=yaml.safe_dump_all([deployment, service, pvc]))
    listed = kubectl(kubeserve, ns, "get", "all", "-l", ISVC_LABEL).stdout
    assert f"deployment.apps/{MODEL}-predictor" in listed and f"service/{MODEL}-predictor" in listed, listed
    listed = kubectl(kubeserve, ns, "get", "pods,services,deployments", "-l", ISVC_LABEL).stdout
    assert f"deployment.apps/{MODEL}-predictor" in listed and f"service/{MODEL}-predictor" in listed, listed

    model_name = MODEL
    deleted = kubectl(kubeserve, ns, "delete", "route,inferenceservice,servingruntime",
                      "-l", f"serving.kserve.io/inferenceservice={model_name}").stdout.splitlines()
    assert deleted == [f'route.route.openshift.io "{MODEL}" deleted',
                       f'inferenceservice.serving.kserve.io "{MODEL}" deleted',
                       f'servingruntime.serving.kserve.io "{MODEL}" deleted']
    assert exists(kubeserve, ns, "inferenceservice/s3-model") and exists(kubeserve, ns, "servingruntime/s3-model")

    # Cleanup verification: the owned Deployment and Service are garbage-collected; the PVC lingers.
    def nothing_left() -> bool:
        result = kubectl(kubeserve, ns, "get", "all", "-l", ISVC_LABEL)
        return result.stdout == "" and f"No resources found in {ns} namespace." in result.stderr
    eventually(nothing_left, timeout=10)
    pvcs = kubectl(kubeserve, ns, "get", "pvc", "-l", ISVC_LABEL).stdout
    assert row(pvcs, "model-cache")["NAME"] == "model-cache"
    kubectl(kubeserve, ns, "delete", "pvc", "model-cache")
    gone = kubectl(kubeserve, ns, "get", "pvc", "-l", ISVC_LABEL)
    assert gone.stdout == "" and "No resources found" in gone.stderr


def test_force_delete_and_the_finalizers_query(kubeserve: KubeServe, granite: str) -> None:
    ns = granite
    assert jsonpath(kubeserve, ns, f"inferenceservice/{MODEL}", "{.metadata.finalizers}") == ""
    kubectl(kubeserve, ns, "patch", "inferenceservice", MODEL, "--type=merge",
            "-p", '{"metadata":{"finalizers":["example.com/cleanup"]}}')
    # As on a cluster, --force --grace-period=0 does not bypass finalizers: kubectl waits for the object.
    forced = subprocess.Popen(
        ["kubectl", "delete", "inferenceservice", MODEL, "--force", "--grace-period=0", "-n", ns],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=kubeserve.env())
    try:
        eventually(lambda: jsonpath(kubeserve, ns, f"inferenceservice/{MODEL}", "{.metadata.deletionTimestamp}"))
        time.sleep(0.5)
        assert forced.poll() is None, "kubectl delete returned while a finalizer still held the object"
        # The guide's check for what holds it.
        assert json.loads(jsonpath(kubeserve, ns, f"inferenceservice/{MODEL}", "{.metadata.finalizers}")) == \
            ["example.com/cleanup"]
        kubectl(kubeserve, ns, "patch", "inferenceservice", MODEL, "--type=json",
                "-p", '[{"op":"remove","path":"/metadata/finalizers"}]')
        stdout, stderr = forced.communicate(timeout=15)
    finally:
        if forced.poll() is None:
            forced.kill()
            forced.communicate()
    assert forced.returncode == 0, stderr
    assert stdout.strip() == f'inferenceservice.serving.kserve.io "{MODEL}" force deleted'
    assert "Immediate deletion does not wait" in stderr
    assert not exists(kubeserve, ns, f"inferenceservice/{MODEL}")

    # Without a finalizer, the forced delete is immediate.
    apply(kubeserve, ns, "granite-model-service.yaml")
    started = time.monotonic()
    forced_now = kubectl(kubeserve, ns, "delete", "inferenceservice", MODEL, "--force", "--grace-period=0")
    assert time.monotonic() - started < 5
    assert forced_now.stdout.strip() == f'inferenceservice.serving.kserve.io "{MODEL}" force deleted'
    assert not exists(kubeserve, ns, f"inferenceservice/{MODEL}")


def test_explain_inferenceservice_predictor(kubeserve: KubeServe) -> None:
    out = kubeserve.kubectl("explain", "inferenceservice.spec.predictor").stdout
    assert "KIND:       InferenceService" in out and "VERSION:    v1beta1" in out, out
    assert "FIELD: predictor <Object>" in out and "DESCRIPTION:" in out and "FIELDS:" in out, out
    for field in ("model\t<Object>", "minReplicas\t<integer>", "maxReplicas\t<integer>", "tolerations\t<[]Object>"):
        assert f"  {field}" in out, out
    model = kubeserve.kubectl("explain", "inferenceservice.spec.predictor.model.storageUri").stdout
    assert "FIELD: storageUri <string>" in model, model


# ---- 3. get -w ----------------------------------------------------------------------------------------


def test_get_watch_streams_changes(kubeserve: KubeServe, granite: str) -> None:
    ns = granite
    watch = Lines(kubeserve, "get", "inferenceservice", "-w", "-n", ns)
    one = Lines(kubeserve, "get", "inferenceservice", MODEL, "-w", "-n", ns)  # `get inferenceservice <name> -w`
    try:
        one.until(lambda line: line.split()[:1] == [MODEL])
        header = watch.until(lambda line: line.startswith("NAME"))
        assert "URL" in header and "READY" in header
        watch.until(lambda line: line.split()[:1] == [MODEL])
        set_ready(kubeserve, ns, MODEL, url="https://watched.example.com")
        changed = watch.until(lambda line: "https://watched.example.com" in line)
        assert changed.split()[:3] == [MODEL, "https://watched.example.com", "True"]
        apply(kubeserve, ns, "s3-model-runtime.yaml", "s3-model-service.yaml")
        watch.until(lambda line: line.split()[:1] == ["s3-model"])
        kubectl(kubeserve, ns, "delete", "inferenceservice", MODEL)
        deleted = watch.until(lambda line: line.split()[:1] == [MODEL])  # the deleted object's last row
        assert deleted.split()[:3] == [MODEL, "https://watched.example.com", "True"]
        assert watch.process.poll() is None
        one.until(lambda line: "https://watched.example.com" in line)
        assert not any("s3-model" in line for line in one.seen), one.seen
    finally:
        watch.stop()
        one.stop()


def test_get_watch_output_watch_events(kubeserve: KubeServe, granite: str) -> None:
    ns = granite
    watch = Lines(kubeserve, "get", "isvc", "-w", "--output-watch-events", "-n", ns)
    try:
        assert watch.until(lambda line: bool(line.strip())).split()[:2] == ["EVENT", "NAME"]
        watch.until(lambda line: line.split()[:2] == ["ADDED", MODEL])
        kubectl(kubeserve, ns, "patch", "isvc", MODEL, "--type=json", f"-p={PATCH_STORAGE_URI}")
        watch.until(lambda line: line.split()[:2] == ["MODIFIED", MODEL])
        kubectl(kubeserve, ns, "delete", "isvc", MODEL)
        watch.until(lambda line: line.split()[:2] == ["DELETED", MODEL])
    finally:
        watch.stop()


# ---- 4. kubectl wait ----------------------------------------------------------------------------------


def test_wait_returns_when_ready_is_set(kubeserve: KubeServe, granite: str) -> None:
    ns = granite
    waiter = subprocess.Popen(
        ["kubectl", "wait", "--for=condition=Ready", f"inferenceservice/{MODEL}", "--timeout=60s", "-n", ns],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=kubeserve.env())
    try:
        time.sleep(1.0)
        assert waiter.poll() is None, "kubectl wait returned before the InferenceService was Ready"
        generation = int(jsonpath(kubeserve, ns, f"inferenceservice/{MODEL}", "{.metadata.generation}"))
        patched = time.monotonic()
        kubectl(kubeserve, ns, "patch", "isvc", MODEL, "--subresource=status", "--type=merge", "-p",
                json.dumps({"status": {"observedGeneration": generation,
                                       "conditions": [{"type": "Ready", "status": "True"}]}}))
        stdout, stderr = waiter.communicate(timeout=30)
        elapsed = time.monotonic() - patched
    finally:
        if waiter.poll() is None:
            waiter.kill()
            waiter.communicate()
    assert waiter.returncode == 0, stderr
    assert stdout.strip() == f"inferenceservice.serving.kserve.io/{MODEL} condition met"
    assert elapsed < 3, f"kubectl wait took {elapsed:.1f}s after Ready was set"
    # Ready already: wait returns at once.
    started = time.monotonic()
    kubectl(kubeserve, ns, "wait", "--for=condition=Ready", f"inferenceservice/{MODEL}", "--timeout=60s")
    assert time.monotonic() - started < 3


def test_wait_times_out_without_readiness(kubeserve: KubeServe, granite: str) -> None:
    ns = granite
    started = time.monotonic()
    result = kubectl(kubeserve, ns, "wait", "--for=condition=Ready", f"inferenceservice/{MODEL}", "--timeout=2s",
                     check=False)
    elapsed = time.monotonic() - started
    assert result.returncode != 0
    assert "timed out waiting for the condition" in result.stderr, result.stderr
    assert 1.5 < elapsed < 10


# ---- 5. finalizers ------------------------------------------------------------------------------------


def test_finalizer_holds_delete_until_removed(kubeserve: KubeServe, granite: str) -> None:
    ns = granite
    kubectl(kubeserve, ns, "patch", "inferenceservice", MODEL, "--type=json",
            "-p", '[{"op":"add","path":"/metadata/finalizers","value":["example.com/hold"]}]')
    deleted = kubectl(kubeserve, ns, "delete", "inferenceservice", MODEL, "--wait=false")
    assert deleted.stdout.strip() == f'inferenceservice.serving.kserve.io "{MODEL}" deleted'
    held = get_json(kubeserve, ns, "inferenceservice", MODEL)
    assert held["metadata"]["finalizers"] == ["example.com/hold"]
    assert held["metadata"]["deletionTimestamp"]
    # No new finalizers once deletion started.
    added = kubectl(kubeserve, ns, "patch", "inferenceservice", MODEL, "--type=json",
                    "-p", '[{"op":"add","path":"/metadata/finalizers/-","value":"example.com/more"}]', check=False)
    assert added.returncode != 0 and "finalizers" in added.stderr
    time.sleep(0.5)
    assert exists(kubeserve, ns, f"inferenceservice/{MODEL}")

    removed = kubectl(kubeserve, ns, "patch", "inferenceservice", MODEL, "--type=json",
                      "-p", '[{"op":"remove","path":"/metadata/finalizers"}]')
    assert removed.stdout.strip() == f"inferenceservice.serving.kserve.io/{MODEL} patched"
    assert not exists(kubeserve, ns, f"inferenceservice/{MODEL}")


# ---- 6. ownerReferences and cascading deletion -------------------------------------------------------


def test_background_cascade_garbage_collects_dependents(kubeserve: KubeServe, granite: str) -> None:
    ns = granite
    owner = get_json(kubeserve, ns, "inferenceservice", MODEL)
    kubectl(kubeserve, ns, "apply", "-f", "-", input=configmap_yaml("owned", owner))
    kubectl(kubeserve, ns, "delete", "inferenceservice", MODEL)
    eventually(lambda: not exists(kubeserve, ns, "configmap/owned"), timeout=10)
    assert exists(kubeserve, ns, f"servingruntime/{MODEL}")  # not owned: kept


def test_foreground_cascade_deletes_owner_after_dependent(kubeserve: KubeServe, granite: str) -> None:
    ns = granite
    owner = get_json(kubeserve, ns, "inferenceservice", MODEL)
    kubectl(kubeserve, ns, "apply", "-f", "-", input=configmap_yaml("owned", owner, finalizers=["example.com/hold"]))
    kubectl(kubeserve, ns, "delete", "inferenceservice", MODEL, "--cascade=foreground", "--wait=false")
    # The dependent is being deleted but held by its finalizer, so the owner waits, marked foregroundDeletion.
    dependent = eventually(lambda: get_json(kubeserve, ns, "configmap", "owned")["metadata"].get("deletionTimestamp"))
    assert dependent
    time.sleep(0.5)
    held = get_json(kubeserve, ns, "inferenceservice", MODEL)["metadata"]
    assert "foregroundDeletion" in held["finalizers"] and held["deletionTimestamp"]
    kubectl(kubeserve, ns, "patch", "configmap", "owned", "--type=json",
            "-p", '[{"op":"remove","path":"/metadata/finalizers"}]')
    eventually(lambda: not exists(kubeserve, ns, f"inferenceservice/{MODEL}"), timeout=10)
    assert not exists(kubeserve, ns, "configmap/owned")

    # And with kubectl's own wait: the owner only goes once its dependent has gone.
    apply(kubeserve, ns, "granite-model-service.yaml")
    owner = get_json(kubeserve, ns, "inferenceservice", MODEL)
    kubectl(kubeserve, ns, "apply", "-f", "-", input=configmap_yaml("owned-2", owner))
    kubectl(kubeserve, ns, "delete", "inferenceservice", MODEL, "--cascade=foreground", timeout=30)
    assert not exists(kubeserve, ns, f"inferenceservice/{MODEL}")
    assert not exists(kubeserve, ns, "configmap/owned-2")


def test_orphan_cascade_keeps_dependent_and_strips_reference(kubeserve: KubeServe, granite: str) -> None:
    ns = granite
    owner = get_json(kubeserve, ns, "inferenceservice", MODEL)
    kubectl(kubeserve, ns, "apply", "-f", "-", input=configmap_yaml("owned", owner))
    kubectl(kubeserve, ns, "delete", "inferenceservice", MODEL, "--cascade=orphan", timeout=30)
    assert not exists(kubeserve, ns, f"inferenceservice/{MODEL}")
    time.sleep(0.5)
    dependent = get_json(kubeserve, ns, "configmap", "owned")
    assert not dependent["metadata"].get("ownerReferences")
    assert dependent["data"] == {"owner": MODEL}


def test_namespace_deletion_removes_content_then_namespace(kubeserve: KubeServe) -> None:
    ns = f"e2e-{uuid.uuid4().hex[:8]}-gone"
    kubeserve.kubectl("create", "namespace", ns)
    try:
        apply(kubeserve, ns, "granite-model-runtime.yaml", "granite-model-service.yaml", "granite-model-route.yaml",
              "s3-model-secret.yaml")
        kubectl(kubeserve, ns, "patch", "servingruntime", MODEL, "--type=merge",
                "-p", '{"metadata":{"finalizers":["example.com/hold"]}}')
        kubeserve.kubectl("delete", "namespace", ns, "--wait=false")

        def emptied_but_held() -> bool:
            left = get_json(kubeserve, ns, "inferenceservices,routes,secrets,servingruntimes")["items"]
            return [o["metadata"]["name"] for o in left] == [MODEL] and left[0]["kind"] == "ServingRuntime"
        eventually(emptied_but_held, timeout=10)
        assert kubeserve.kubectl_json("get", "namespace", ns)["status"]["phase"] == "Terminating"
        refused = kubectl(kubeserve, ns, "apply", "-f", str(GUIDE / "minimal-model-runtime.yaml"), check=False)
        assert refused.returncode != 0 and "Forbidden" in refused.stderr, refused.stderr

        kubectl(kubeserve, ns, "patch", "servingruntime", MODEL, "--type=json",
                "-p", '[{"op":"remove","path":"/metadata/finalizers"}]')
        eventually(lambda: kubeserve.kubectl("get", "namespace", ns, check=False).returncode != 0, timeout=10)
        assert "NotFound" in kubeserve.kubectl("get", "namespace", ns, check=False).stderr
    finally:
        kubeserve.kubectl("delete", "namespace", ns, "--wait=false", "--ignore-not-found", check=False)


def test_delete_namespace_waits_until_it_is_gone(kubeserve: KubeServe) -> None:
    ns = f"e2e-{uuid.uuid4().hex[:8]}-del"
    kubeserve.kubectl("create", "namespace", ns)
    apply(kubeserve, ns, "s3-model-secret.yaml", "s3-model-runtime.yaml", "s3-model-service.yaml")
    out = kubeserve.kubectl("delete", "namespace", ns, timeout=60).stdout.strip()
    assert out == f'namespace "{ns}" deleted'
    assert "NotFound" in kubeserve.kubectl("get", "namespace", ns, check=False).stderr
    leftovers = kubeserve.kubectl("get", "inferenceservices,servingruntimes,secrets", "-A", "-o", "json").stdout
    assert all(o["metadata"]["namespace"] != ns for o in json.loads(leftovers)["items"])


# ---- 7. admission warnings and errors ---------------------------------------------------------------------


def warnings_of(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("Warning: ")]


def test_admission_warnings(kubeserve: KubeServe, granite: str) -> None:
    ns = granite

    def applied(doc: str, name: str) -> list[str]:
        result = kubectl(kubeserve, ns, "apply", "-f", "-", input=doc)
        assert result.stdout.strip() == f"inferenceservice.serving.kserve.io/{name} created", result.stdout
        assert exists(kubeserve, ns, f"inferenceservice/{name}")  # a warning never blocks the write
        return warnings_of(result)

    mismatch = applied(isvc_yaml("other-model", MODEL), "other-model")
    assert len(mismatch) == 1 and "spec.predictor.model.runtime" in mismatch[0], mismatch
    assert f'"{MODEL}"' in mismatch[0] and '"other-model"' in mismatch[0]

    missing = applied(isvc_yaml("ghost-model", "ghost-model"), "ghost-model")
    assert len(missing) == 1 and "spec.predictor.model.runtime" in missing[0], missing
    assert '"ghost-model" does not exist' in missing[0]

    apply(kubeserve, ns, "minimal-model-runtime.yaml")
    unsupported = applied(isvc_yaml("minimal-model", "minimal-model", model_format="onnx"), "minimal-model")
    assert len(unsupported) == 1 and "spec.predictor.model.modelFormat" in unsupported[0], unsupported
    assert '"onnx"' in unsupported[0] and "vLLM" in unsupported[0]

    apply(kubeserve, ns, "cpu-model-runtime.yaml")
    kubectl(kubeserve, ns, "delete", "inferenceservice", MODEL)
    gpus = applied(isvc_yaml(MODEL, MODEL, gpus="2"), MODEL)  # the runtime asks for 1
    assert len(gpus) == 1 and "nvidia.com/gpu" in gpus[0] and "spec.predictor.model.resources" in gpus[0], gpus

    # The guide's own files draw no warnings (checked in the apply test), nor do fixed-up objects.
    fixed = kubectl(kubeserve, ns, "apply", "-f", "-", input=isvc_yaml(MODEL, MODEL, gpus="1"))
    assert warnings_of(fixed) == [] and fixed.stdout.strip().endswith("configured")


@pytest.mark.parametrize(("doc", "field", "fragment"), [
    (runtime_yaml("tp-model", ["--model=/mnt/models", "--tensor-parallel-size=2"]), "spec.containers[0].args",
     "--distributed-executor-backend=mp"),
    (isvc_yaml("foo-model", "foo-model", storage_uri="foo://x"), "spec.predictor.model.storageUri", "foo://x"),
    (isvc_yaml("dots-model", "dots-model", storage_uri="pvc://claim/../x"), "spec.predictor.model.storageUri",
     "pvc://claim/../x"),
], ids=["tensor-parallel-without-mp", "unknown-scheme", "pvc-dotdot"])
def test_admission_errors(kubeserve: KubeServe, namespace: str, doc: str, field: str, fragment: str) -> None:
    result = kubectl(kubeserve, namespace, "apply", "-f", "-", input=doc, check=False)
    assert result.returncode != 0
    assert "is invalid" in result.stderr and field in result.stderr and fragment in result.stderr, result.stderr
    name = yaml.safe_load(doc)["metadata"]["name"]
    kind = yaml.safe_load(doc)["kind"].lower()
    assert not exists(kubeserve, namespace, f"{kind}/{name}")


def test_runtime_args_patch_without_mp_is_refused(kubeserve: KubeServe, granite: str) -> None:
    ns = granite
    without_mp = PATCH_RUNTIME_ARGS.replace(' "--distributed-executor-backend=mp",', "")
    result = kubectl(kubeserve, ns, "patch", "servingruntime", MODEL, "--type=json", f"-p={without_mp}", check=False)
    assert result.returncode != 0 and "spec.containers[0].args" in result.stderr, result.stderr
    assert "--tensor-parallel-size=2" not in get_json(kubeserve, ns, "servingruntime", MODEL)["spec"]["containers"][0][
        "args"]


# ---- 8. other kubectl commands ---------------------------------------------------------------------------


def test_create_namespace_secret_and_configmap(kubeserve: KubeServe) -> None:
    ns = f"e2e-{uuid.uuid4().hex[:8]}-new"
    assert kubeserve.kubectl("create", "namespace", ns).stdout.strip() == f"namespace/{ns} created"
    try:
        assert kubeserve.kubectl_json("get", "namespace", ns)["status"]["phase"] == "Active"
        again = kubeserve.kubectl("create", "namespace", ns, check=False)
        assert again.returncode != 0 and "AlreadyExists" in again.stderr
        assert kubectl(kubeserve, ns, "create", "secret", "generic", "model-s3-storage",
                       "--from-literal=AWS_ACCESS_KEY_ID=your-access-key",
                       "--from-literal=AWS_S3_BUCKET=your-model-bucket").stdout.strip() == \
            "secret/model-s3-storage created"
        secret = get_json(kubeserve, ns, "secret", "model-s3-storage")
        assert secret["type"] == "Opaque"
        assert secret["data"] == {"AWS_ACCESS_KEY_ID": "eW91ci1hY2Nlc3Mta2V5",
                                  "AWS_S3_BUCKET": "eW91ci1tb2RlbC1idWNrZXQ="}
        assert kubectl(kubeserve, ns, "create", "configmap", "vllm-settings", "--from-literal=max-model-len=4096",
                       "--from-literal=dtype=auto").stdout.strip() == "configmap/vllm-settings created"
        assert get_json(kubeserve, ns, "configmap", "vllm-settings")["data"] == {"max-model-len": "4096",
                                                                                 "dtype": "auto"}
        listing = kubectl(kubeserve, ns, "get", "secrets").stdout
        assert row(listing, "model-s3-storage")["DATA"] == "2"
    finally:
        kubeserve.kubectl("delete", "namespace", ns, "--wait=false", check=False)


def test_auth_can_i(kubeserve: KubeServe) -> None:
    result = kubeserve.kubectl("auth", "can-i", "list", "pods", "-A")
    assert result.stdout.strip() == "yes"
    assert kubeserve.kubectl("auth", "can-i", "create", "inferenceservices.serving.kserve.io").stdout.strip() == "yes"


def test_server_side_apply_inferenceservice(kubeserve: KubeServe, namespace: str, tmp_path: Path) -> None:
    ns = namespace
    first = kubectl(kubeserve, ns, "apply", "--server-side", "-f", str(GUIDE / "granite-model-service.yaml"))
    assert first.stdout.strip() == f"inferenceservice.serving.kserve.io/{MODEL} serverside-applied"
    obj = get_json(kubeserve, ns, "inferenceservice", MODEL)
    assert obj["metadata"]["labels"] == {"networking.kserve.io/visibility": "exposed",
                                         "opendatahub.io/dashboard": "true"}
    rv = obj["metadata"]["resourceVersion"]
    kubectl(kubeserve, ns, "apply", "--server-side", "-f", str(GUIDE / "granite-model-service.yaml"))
    assert get_json(kubeserve, ns, "inferenceservice", MODEL)["metadata"]["resourceVersion"] == rv

    doc = yaml.safe_load((GUIDE / "granite-model-service.yaml").read_text())
    del doc["metadata"]["labels"]["networking.kserve.io/visibility"]
    doc["spec"]["predictor"]["minReplicas"] = 1
    changed = tmp_path / "isvc.yaml"
    changed.write_text(yaml.safe_dump(doc))
    kubectl(kubeserve, ns, "apply", "--server-side", "-f", str(changed))
    obj = get_json(kubeserve, ns, "inferenceservice", MODEL)
    assert obj["spec"]["predictor"]["minReplicas"] == 1
    assert obj["metadata"]["labels"] == {"opendatahub.io/dashboard": "true"}, "the label dropped from the file stays"


def test_server_side_apply_deployment(kubeserve: KubeServe, namespace: str) -> None:
    ns = namespace
    labels = {"app": "web", "tier": "frontend"}
    out = kubectl(kubeserve, ns, "apply", "--server-side", "-f", "-", input=deployment_yaml("web", labels)).stdout
    assert out.strip() == "deployment.apps/web serverside-applied"
    assert get_json(kubeserve, ns, "deployment", "web")["metadata"]["labels"] == labels
    kubectl(kubeserve, ns, "apply", "--server-side", "-f", "-", input=deployment_yaml("web", {"app": "web"}))
    assert get_json(kubeserve, ns, "deployment", "web")["metadata"]["labels"] == {"app": "web"}, \
        "the label dropped from the applied configuration stays"


def test_apply_dry_run_server_persists_nothing(kubeserve: KubeServe, namespace: str, tmp_path: Path) -> None:
    ns = namespace
    created = kubectl(kubeserve, ns, "apply", "--dry-run=server", "-f", str(GUIDE / "granite-model-runtime.yaml"))
    assert created.stdout.strip() == f"servingruntime.serving.kserve.io/{MODEL} created (server dry run)"
    assert not exists(kubeserve, ns, f"servingruntime/{MODEL}")

    apply(kubeserve, ns, "granite-model-runtime.yaml")
    before = get_json(kubeserve, ns, "servingruntime", MODEL)
    changed = tmp_path / "runtime.yaml"
    changed.write_text((GUIDE / "granite-model-runtime.yaml").read_text().replace("--max-model-len=4096",
                                                                                   "--max-model-len=8192"))
    out = kubectl(kubeserve, ns, "apply", "--dry-run=server", "-f", str(changed)).stdout
    assert out.strip() == f"servingruntime.serving.kserve.io/{MODEL} configured (server dry run)"
    assert get_json(kubeserve, ns, "servingruntime", MODEL) == before

    dry_yaml = kubectl(kubeserve, ns, "apply", "--dry-run=server", "-f", str(changed), "-o", "yaml").stdout
    assert "--max-model-len=8192" in yaml.safe_load(dry_yaml)["spec"]["containers"][0]["args"]
    assert get_json(kubeserve, ns, "servingruntime", MODEL) == before


def test_diff(kubeserve: KubeServe, namespace: str, tmp_path: Path) -> None:
    ns = namespace
    runtime = str(GUIDE / "granite-model-runtime.yaml")
    new = kubectl(kubeserve, ns, "diff", "-f", runtime, check=False)
    assert new.returncode == 1, new.stderr
    assert "+kind: ServingRuntime" in new.stdout and f"+  name: {MODEL}" in new.stdout
    assert not exists(kubeserve, ns, f"servingruntime/{MODEL}")

    apply(kubeserve, ns, runtime)
    rv = jsonpath(kubeserve, ns, f"servingruntime/{MODEL}", "{.metadata.resourceVersion}")
    same = kubectl(kubeserve, ns, "diff", "-f", runtime)
    assert same.returncode == 0 and same.stdout == ""

    changed = tmp_path / "runtime.yaml"
    changed.write_text(Path(runtime).read_text().replace("--max-model-len=4096", "--max-model-len=8192"))
    diff = kubectl(kubeserve, ns, "diff", "-f", str(changed), check=False)
    assert diff.returncode == 1, diff.stderr
    lines = diff.stdout.splitlines()
    assert "-    - --max-model-len=4096" in lines and "+    - --max-model-len=8192" in lines, diff.stdout
    assert jsonpath(kubeserve, ns, f"servingruntime/{MODEL}", "{.metadata.resourceVersion}") == rv


def test_scale_deployment(kubeserve: KubeServe, namespace: str) -> None:
    ns = namespace
    kubectl(kubeserve, ns, "apply", "-f", "-", input=deployment_yaml("web", {"app": "web"}, replicas=1))
    assert kubectl(kubeserve, ns, "scale", "deployment", "web", "--replicas=3").stdout.strip() == \
        "deployment.apps/web scaled"
    deployment = get_json(kubeserve, ns, "deployment", "web")
    assert deployment["spec"]["replicas"] == 3
    assert deployment["metadata"]["generation"] == 2
    # A precondition that does not hold is refused.
    stale = kubectl(kubeserve, ns, "scale", "deployment", "web", "--current-replicas=1", "--replicas=2", check=False)
    assert stale.returncode != 0
    assert get_json(kubeserve, ns, "deployment", "web")["spec"]["replicas"] == 3
    kubectl(kubeserve, ns, "scale", "deployment/web", "--replicas=0")
    assert jsonpath(kubeserve, ns, "deployment/web", "{.spec.replicas}") == "0"


def test_api_resources(kubeserve: KubeServe) -> None:
    out = kubeserve.kubectl("api-resources").stdout
    rows = {line.split()[0]: line.split() for line in out.splitlines()[1:]}
    assert rows["inferenceservices"] == ["inferenceservices", "isvc", "serving.kserve.io/v1beta1", "true",
                                         "InferenceService"]
    for plural, kind in (("servingruntimes", "ServingRuntime"), ("routes", "Route"),
                         ("acceleratorprofiles", "AcceleratorProfile")):
        assert rows[plural][-1] == kind and rows[plural][-2] == "true"
    kserve = kubeserve.kubectl("api-resources", "--api-group=serving.kserve.io", "-o", "name").stdout.split()
    assert sorted(kserve) == ["clusterservingruntimes.serving.kserve.io", "inferenceservices.serving.kserve.io",
                              "servingruntimes.serving.kserve.io"]

