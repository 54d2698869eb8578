"""The resource kinds kubeserve serves, as data.

Discovery, URL routing, OpenAPI, tables and the store all read this one table, so a kind is added in
exactly one place. Custom resources carry their CRD's `additionalPrinterColumns` here; built-in kinds
get their printers in `tables`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

ALL_VERBS: tuple[str, ...] = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
SUBRESOURCE_VERBS: tuple[str, ...] = ("get", "patch", "update")


@dataclass(frozen=True)
class PrinterColumn:
    """An `additionalPrinterColumns` entry of a CRD."""

    name: str
    type: str  # string, integer, number, boolean, date
    json_path: str
    priority: int = 0
    format: str = ""
    description: str = ""


@dataclass(frozen=True)
class ResourceKind:
    group: str  # "" for the core group
    version: str
    kind: str
    plural: str
    singular: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()  # status, scale, log, exec, portforward, finalize, attach
    builtin: bool = True  # built-in kinds take strategic merge patch; custom resources answer 415
    verbs: tuple[str, ...] = ALL_VERBS
    printer_columns: tuple[PrinterColumn, ...] = ()
    stored: bool = True  # False for virtual kinds (SelfSubjectAccessReview, metrics)
    # A completed DELETE answers with the deleted object (the apiserver's ReturnDeletedObject) rather than a
    # Status; true only for the kinds whose registries set it (namespaces, pods, services, PV, PVC, ...).
    returns_deleted_object: bool = False
    schema_name: str = ""  # components.schemas key in OpenAPI v3
    extra_versions: tuple[str, ...] = field(default=())  # other versions served with the same schema

    @property
    def group_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def api_version(self) -> str:
        return self.group_version

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    @property
    def qualified_resource(self) -> str:
        """`inferenceservices.serving.kserve.io`, or `pods` for the core group (as error messages say)."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def qualified_kind(self) -> str:
        """`InferenceService.serving.kserve.io`, or `Pod` for the core group (as Invalid errors say)."""
        return f"{self.kind}.{self.group}" if self.group else self.kind

    @property
    def has_status(self) -> bool:
        return "status" in self.subresources


def _crd_age() -> PrinterColumn:
    return PrinterColumn("Age", "date", ".metadata.creationTimestamp")


_CORE = [
    ResourceKind("", "v1", "Namespace", "namespaces", "namespace", False, ("ns",), (), ("status", "finalize"),
                 schema_name="io.k8s.api.core.v1.Namespace", returns_deleted_object=True),
    ResourceKind("", "v1", "Pod", "pods", "pod", True, ("po",), ("all",),
                 ("status", "log", "exec", "portforward", "attach"), schema_name="io.k8s.api.core.v1.Pod",
                 returns_deleted_object=True),
    ResourceKind("", "v1", "Service", "services", "service", True, ("svc",), ("all",), ("status",),
                 schema_name="io.k8s.api.core.v1.Service", returns_deleted_object=True),
    ResourceKind("", "v1", "Secret", "secrets", "secret", True, schema_name="io.k8s.api.core.v1.Secret"),
    ResourceKind("", "v1", "ConfigMap", "configmaps", "configmap", True, ("cm",),
                 schema_name="io.k8s.api.core.v1.ConfigMap"),
    ResourceKind("", "v1", "ServiceAccount", "serviceaccounts", "serviceaccount", True, ("sa",), (), ("token",),
                 schema_name="io.k8s.api.core.v1.ServiceAccount", returns_deleted_object=True),
    ResourceKind("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", "persistentvolumeclaim", True,
                 ("pvc",), (), ("status",), schema_name="io.k8s.api.core.v1.PersistentVolumeClaim",
                 returns_deleted_object=True),
    ResourceKind("", "v1", "PersistentVolume", "persistentvolumes", "persistentvolume", False, ("pv",), (),
                 ("status",), schema_name="io.k8s.api.core.v1.PersistentVolume", returns_deleted_object=True),
    ResourceKind("", "v1", "Endpoints", "endpoints", "endpoints", True, ("ep",),
                 schema_name="io.k8s.api.core.v1.Endpoints"),
    ResourceKind("", "v1", "Event", "events", "event", True, ("ev",), schema_name="io.k8s.api.core.v1.Event"),
    ResourceKind("", "v1", "Node", "nodes", "node", False, ("no",), (), ("status", "proxy"),
                 schema_name="io.k8s.api.core.v1.Node"),
]

_BUILTIN_GROUPS = [
    ResourceKind("apps", "v1", "Deployment", "deployments", "deployment", True, ("deploy",), ("all",),
                 ("status", "scale"), schema_name="io.k8s.api.apps.v1.Deployment"),
    ResourceKind("apps", "v1", "ReplicaSet", "replicasets", "replicaset", True, ("rs",), ("all",),
                 ("status", "scale"), schema_name="io.k8s.api.apps.v1.ReplicaSet"),
    ResourceKind("autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers",
                 "horizontalpodautoscaler", True, ("hpa",), ("all",), ("status",),
                 schema_name="io.k8s.api.autoscaling.v2.HorizontalPodAutoscaler"),
    ResourceKind("storage.k8s.io", "v1", "StorageClass", "storageclasses", "storageclass", False, ("sc",),
                 schema_name="io.k8s.api.storage.v1.StorageClass", returns_deleted_object=True),
    ResourceKind("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices", "endpointslice", True,
                 schema_name="io.k8s.api.discovery.v1.EndpointSlice"),
    ResourceKind("coordination.k8s.io", "v1", "Lease", "leases", "lease", True,
                 schema_name="io.k8s.api.coordination.v1.Lease"),
    ResourceKind("authorization.k8s.io", "v1", "SelfSubjectAccessReview", "selfsubjectaccessreviews",
                 "selfsubjectaccessreview", False, verbs=("create",), stored=False,
                 schema_name="io.k8s.api.authorization.v1.SelfSubjectAccessReview"),
    ResourceKind("authentication.k8s.io", "v1", "TokenReview", "tokenreviews", "tokenreview", False,
                 verbs=("create",), stored=False, schema_name="io.k8s.api.authentication.v1.TokenReview"),
    # metrics.k8s.io is metrics-server's group (kubectl top): computed from the kubelets' stats, never stored
    ResourceKind("metrics.k8s.io", "v1beta1", "NodeMetrics", "nodes", "", False, verbs=("get", "list"),
                 stored=False, schema_name="io.k8s.metrics.pkg.apis.metrics.v1beta1.NodeMetrics"),
    ResourceKind("metrics.k8s.io", "v1beta1", "PodMetrics", "pods", "", True, verbs=("get", "list"),
                 stored=False, schema_name="io.k8s.metrics.pkg.apis.metrics.v1beta1.PodMetrics"),
]

_KSERVE_GROUP = "serving.kserve.io"

_CUSTOM = [
    ResourceKind(
        _KSERVE_GROUP, "v1beta1", "InferenceService", "inferenceservices", "inferenceservice", True,
        ("isvc",), (), ("status",), builtin=False,
        printer_columns=(
            PrinterColumn("URL", "string", ".status.url"),
            PrinterColumn("Ready", "string", ".status.conditions[?(@.type=='Ready')].status"),
            PrinterColumn("Prev", "integer", ".status.components.predictor.traffic[?(@.tag=='prev')].percent"),
            PrinterColumn("Latest", "integer",
                          ".status.components.predictor.traffic[?(@.latestRevision==true)].percent"),
            PrinterColumn("PrevRolledoutRevision", "string",
                          ".status.components.predictor.traffic[?(@.tag=='prev')].revisionName"),
            PrinterColumn("LatestReadyRevision", "string",
                          ".status.components.predictor.traffic[?(@.latestRevision==true)].revisionName"),
            _crd_age(),
        ),
        schema_name="io.kserve.serving.v1beta1.InferenceService",
    ),
    ResourceKind(
        _KSERVE_GROUP, "v1alpha1", "ServingRuntime", "servingruntimes", "servingruntime", True,
        (), (), (), builtin=False,
        printer_columns=(
            PrinterColumn("Disabled", "boolean", ".spec.disabled"),
            PrinterColumn("ModelType", "string", ".spec.supportedModelFormats[*].name"),
            PrinterColumn("Containers", "string", ".spec.containers[*].name"),
            _crd_age(),
        ),
        schema_name="io.kserve.serving.v1alpha1.ServingRuntime",
    ),
    ResourceKind(
        _KSERVE_GROUP, "v1alpha1", "ClusterServingRuntime", "clusterservingruntimes", "clusterservingruntime",
        False, (), (), (), builtin=False,
        printer_columns=(
            PrinterColumn("Disabled", "boolean", ".spec.disabled"),
            PrinterColumn("ModelType", "string", ".spec.supportedModelFormats[*].name"),
            PrinterColumn("Containers", "string", ".spec.containers[*].name"),
            _crd_age(),
        ),
        schema_name="io.kserve.serving.v1alpha1.ClusterServingRuntime",
    ),
    # On OpenShift, Route is a built-in kind of the aggregated openshift-apiserver (not a CRD): it takes
    # strategic merge patch and is printed by a server-side printer (see tables), so it is builtin here.
    ResourceKind(
        "route.openshift.io", "v1", "Route", "routes", "route", True, (), (), ("status",), builtin=True,
        schema_name="com.github.openshift.api.route.v1.Route",
    ),
    ResourceKind(
        "dashboard.opendatahub.io", "v1", "AcceleratorProfile", "acceleratorprofiles", "acceleratorprofile",
        True, (), (), (), builtin=False,
        printer_columns=(
            PrinterColumn("Display Name", "string", ".spec.displayName"),
            PrinterColumn("Enabled", "boolean", ".spec.enabled"),
            PrinterColumn("Identifier", "string", ".spec.identifier"),
            PrinterColumn("Tolerations", "string", ".spec.tolerations[*].key", priority=1),
            _crd_age(),
        ),
        schema_name="io.opendatahub.dashboard.v1.AcceleratorProfile",
    ),
]

KINDS: tuple[ResourceKind, ...] = tuple(_CORE + _BUILTIN_GROUPS + _CUSTOM)

# serving.kserve.io is served at two versions, each with its own kinds; the preferred version comes first.
GROUP_VERSION_ORDER: dict[str, tuple[str, ...]] = {_KSERVE_GROUP: ("v1beta1", "v1alpha1")}


class Registry:
    """Look-ups over `KINDS` by plural, kind, short name and group-version."""

    def __init__(self, kinds: tuple[ResourceKind, ...] = KINDS) -> None:
        self.kinds = kinds
        self._by_gvr = {(k.group, k.version, k.plural): k for k in kinds}
        self._by_gvk = {(k.group, k.version, k.kind): k for k in kinds}
        self._by_gk = {(k.group, k.kind): k for k in kinds}
        self._by_gr = {(k.group, k.plural): k for k in kinds}

    def by_resource(self, group: str, version: str, plural: str) -> ResourceKind | None:
        return self._by_gvr.get((group, version, plural))

    def by_kind(self, group: str, version: str, kind: str) -> ResourceKind | None:
        return self._by_gvk.get((group, version, kind))

    def by_group_kind(self, group: str, kind: str) -> ResourceKind | None:
        return self._by_gk.get((group, kind))

    def by_group_resource(self, group: str, plural: str) -> ResourceKind | None:
        return self._by_gr.get((group, plural))

    def by_api_version_kind(self, api_version: str, kind: str) -> ResourceKind | None:
        group, _, version = api_version.rpartition("/")
        return self.by_kind(group, version, kind)

    def groups(self) -> list[str]:
        """Group names in a stable order, the core group ("") first."""
        seen: list[str] = []
        for k in self.kinds:
            if k.group not in seen:
                seen.append(k.group)
        return seen

    def versions(self, group: str) -> list[str]:
        order = GROUP_VERSION_ORDER.get(group)
        if order:
            return list(order)
        return sorted({k.version for k in self.kinds if k.group == group})

    def kinds_in(self, group: str, version: str) -> list[ResourceKind]:
        return [k for k in self.kinds if k.group == group and k.version == version]
