"""Schemas of the built-in kinds, keyed by their `components.schemas` name: core/v1 here, the other
built-in groups (apps, autoscaling, storage, discovery, coordination, authorization) from `groups`.

Field names and required lists follow the Kubernetes 1.32 OpenAPI; every field the Python client treats
as required is required here, so a stored object can always be read back by it. `status` is preserved.
"""

from __future__ import annotations

from . import groups
from ._build import (
    Schema,
    arr,
    boolean,
    date_time,
    int_or_string,
    integer,
    obj,
    preserve,
    quantity_map,
    resource,
    string,
    string_list,
    string_map,
)
from .core import HOST_PATH, IMAGE_PULL_SECRETS
from .meta import LABEL_SELECTOR, OBJECT_META, OBJECT_REFERENCE, TYPED_LOCAL_OBJECT_REFERENCE, spec_status
from .pod import POD_SPEC

# ---- core/v1 -------------------------------------------------------------------------------------

NAMESPACE = spec_status(
    "Namespace provides a scope for Names.",
    obj({"finalizers": string_list("Values that must be empty to permanently remove the namespace.")}),
)

POD = spec_status(
    "Pod is a collection of containers that can run on a host.",
    POD_SPEC,
)

SERVICE_PORT = obj(
    {
        "name": string("The name of this port within the service. Must be a DNS_LABEL."),
        "protocol": string("The IP protocol for this port: TCP, UDP, or SCTP. Default is TCP."),
        "appProtocol": string(),
        "port": integer("The port that will be exposed by this service."),
        "targetPort": int_or_string(
            "Number or name of the port to access on the pods targeted by the service."
        ),
        "nodePort": integer(),
    },
    required=("port",),
)

SERVICE = spec_status(
    "Service is a named abstraction of software service consisting of a local port that the proxy "
    "listens on, and the selector that determines which pods will answer requests sent through the proxy.",
    obj(
        {
            "ports": arr(
                SERVICE_PORT, "The list of ports that are exposed by this service.", merge_key="port"
            ),
            "selector": string_map(
                "Route service traffic to pods with label keys and values matching this selector."
            ),
            "clusterIP": string(),
            "clusterIPs": string_list(),
            "type": string("ClusterIP (default), ExternalName, NodePort or LoadBalancer."),
            "externalIPs": string_list(),
            "sessionAffinity": string(),
            "loadBalancerIP": string(),
            "loadBalancerSourceRanges": string_list(),
            "externalName": string(),
            "externalTrafficPolicy": string(),
            "healthCheckNodePort": integer(),
            "publishNotReadyAddresses": boolean(),
            "sessionAffinityConfig": preserve(),
            "ipFamilies": string_list(),
            "ipFamilyPolicy": string(),
            "allocateLoadBalancerNodePorts": boolean(),
            "loadBalancerClass": string(),
            "internalTrafficPolicy": string(),
            "trafficDistribution": string(),
        },
        description="Spec defines the behavior of a service.",
    ),
)

SECRET = resource(
    "Secret holds secret data of a certain type.",
    OBJECT_META,
    {
        "data": string_map("Secret data, base64 encoded."),
        "stringData": string_map(
            "Write-only convenience field for non-binary secret data in string form; "
            "merged into data on write."
        ),
        "type": string("Used to facilitate programmatic handling of secret data, e.g. Opaque."),
        "immutable": boolean(),
    },
)

CONFIG_MAP = resource(
    "ConfigMap holds configuration data for pods to consume.",
    OBJECT_META,
    {
        "data": string_map("Configuration data (UTF-8 strings)."),
        "binaryData": string_map("Binary configuration data, base64 encoded."),
        "immutable": boolean(),
    },
)

SERVICE_ACCOUNT = resource(
    "ServiceAccount binds together a name, a principal that can be authenticated, and a set of secrets.",
    OBJECT_META,
    {
        "secrets": arr(OBJECT_REFERENCE),
        "imagePullSecrets": IMAGE_PULL_SECRETS,
        "automountServiceAccountToken": boolean(),
    },
)

PVC = spec_status(
    "PersistentVolumeClaim is a user's request for and claim to a persistent volume.",
    obj(
        {
            "accessModes": string_list("ReadWriteOnce, ReadOnlyMany, ReadWriteMany or ReadWriteOncePod."),
            "selector": LABEL_SELECTOR,
            "resources": obj({"limits": quantity_map(), "requests": quantity_map("e.g. storage: 10Gi")}),
            "volumeName": string(),
            "storageClassName": string(),
            "volumeMode": string(),
            "dataSource": TYPED_LOCAL_OBJECT_REFERENCE,
            "dataSourceRef": obj(
                {"apiGroup": string(), "kind": string(), "name": string(), "namespace": string()},
                required=("kind", "name"),
            ),
            "volumeAttributesClassName": string(),
        },
    ),
)

_PV_SOURCES = (
    "awsElasticBlockStore",
    "azureDisk",
    "azureFile",
    "cephfs",
    "cinder",
    "csi",
    "fc",
    "flexVolume",
    "flocker",
    "gcePersistentDisk",
    "glusterfs",
    "iscsi",
    "nfs",
    "photonPersistentDisk",
    "portworxVolume",
    "quobyte",
    "rbd",
    "scaleIO",
    "storageos",
    "vsphereVolume",
)

PV = spec_status(
    "PersistentVolume is a storage resource provisioned by an administrator.",
    obj(
        {
            "capacity": quantity_map("A description of the persistent volume's resources and capacity."),
            "accessModes": string_list(),
            "claimRef": OBJECT_REFERENCE,
            "persistentVolumeReclaimPolicy": string("Retain, Delete or Recycle."),
            "storageClassName": string(),
            "mountOptions": string_list(),
            "volumeMode": string(),
            "nodeAffinity": preserve(),
            "volumeAttributesClassName": string(),
            "hostPath": HOST_PATH,
            "local": obj({"path": string(), "fsType": string()}, required=("path",)),
            **{name: preserve() for name in _PV_SOURCES},
        },
    ),
)

ENDPOINT_PORT = obj(
    {"name": string(), "port": integer(), "protocol": string(), "appProtocol": string()}, required=("port",)
)
ENDPOINT_ADDRESS = obj(
    {"ip": string(), "hostname": string(), "nodeName": string(), "targetRef": OBJECT_REFERENCE},
    required=("ip",),
)

ENDPOINTS = resource(
    "Endpoints is a collection of endpoints that implement the actual service.",
    OBJECT_META,
    {
        "subsets": arr(
            obj(
                {
                    "addresses": arr(ENDPOINT_ADDRESS),
                    "notReadyAddresses": arr(ENDPOINT_ADDRESS),
                    "ports": arr(ENDPOINT_PORT),
                }
            )
        )
    },
)

EVENT = resource(
    "Event is a report of an event somewhere in the cluster.",
    OBJECT_META,
    {
        "involvedObject": OBJECT_REFERENCE,
        "reason": string("A short, machine understandable string that gives the reason for the transition."),
        "message": string("A human-readable description of the status of this operation."),
        "source": obj({"component": string(), "host": string()}),
        "firstTimestamp": date_time(),
        "lastTimestamp": date_time(),
        "count": integer(),
        "type": string("Normal or Warning."),
        "eventTime": string(fmt="date-time"),
        "series": obj({"count": integer(), "lastObservedTime": string(fmt="date-time")}),
        "action": string(),
        "related": OBJECT_REFERENCE,
        "reportingComponent": string(),
        "reportingInstance": string(),
    },
    required=("metadata", "involvedObject"),
)

NODE = spec_status(
    "Node is a worker node in Kubernetes.",
    obj(
        {
            "podCIDR": string(),
            "podCIDRs": string_list(),
            "providerID": string(),
            "unschedulable": boolean(),
            "taints": arr(
                obj(
                    {"key": string(), "value": string(), "effect": string(), "timeAdded": date_time()},
                    required=("key", "effect"),
                )
            ),
            "configSource": preserve(),
            "externalID": string(),
        },
    ),
)

SCHEMAS: dict[str, Schema] = {
    "io.k8s.api.core.v1.Namespace": NAMESPACE,
    "io.k8s.api.core.v1.Pod": POD,
    "io.k8s.api.core.v1.Service": SERVICE,
    "io.k8s.api.core.v1.Secret": SECRET,
    "io.k8s.api.core.v1.ConfigMap": CONFIG_MAP,
    "io.k8s.api.core.v1.ServiceAccount": SERVICE_ACCOUNT,
    "io.k8s.api.core.v1.PersistentVolumeClaim": PVC,
    "io.k8s.api.core.v1.PersistentVolume": PV,
    "io.k8s.api.core.v1.Endpoints": ENDPOINTS,
    "io.k8s.api.core.v1.Event": EVENT,
    "io.k8s.api.core.v1.Node": NODE,
    **groups.SCHEMAS,
}
