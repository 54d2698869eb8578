"""The fixed world the API server's unit tests share: the kind registry, the kinds they use, a frozen clock."""

from __future__ import annotations

from datetime import UTC, datetime

from kubeserve.api.kinds import Registry, ResourceKind
from kubeserve.apiserver.request import WriteOptions

REGISTRY = Registry()
W = WriteOptions()
T0 = datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)


def kind(group: str, version: str, name: str) -> ResourceKind:
    found = REGISTRY.by_kind(group, version, name)
    assert found is not None
    return found


NS = kind("", "v1", "Namespace")
CM = kind("", "v1", "ConfigMap")
SECRET = kind("", "v1", "Secret")
POD = kind("", "v1", "Pod")
PV = kind("", "v1", "PersistentVolume")
DEPLOY = kind("apps", "v1", "Deployment")
ISVC = kind("serving.kserve.io", "v1beta1", "InferenceService")
SR = kind("serving.kserve.io", "v1alpha1", "ServingRuntime")
