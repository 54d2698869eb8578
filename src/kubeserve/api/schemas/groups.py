"""Built-in kinds outside core/v1: apps/v1, autoscaling/v2, storage.k8s.io, discovery.k8s.io,
coordination.k8s.io and authorization.k8s.io, keyed by their `components.schemas` name.

Field names and required lists follow the Kubernetes 1.32 OpenAPI; fields the Python client treats as
required are required here. `status` is preserved.
"""

from __future__ import annotations

from ._build import (
    Schema,
    arr,
    boolean,
    int_or_string,
    integer,
    obj,
    preserve,
    quantity,
    resource,
    string,
    string_list,
    string_map,
)
from .meta import LABEL_SELECTOR, OBJECT_META, OBJECT_REFERENCE, STATUS_PRESERVED, spec_status
from .pod import POD_TEMPLATE_SPEC

# ---- apps/v1 -------------------------------------------------------------------------------------

DEPLOYMENT = spec_status(
    "Deployment enables declarative updates for Pods and ReplicaSets.",
    obj(
        {
            "replicas": integer("Number of desired pods. Defaults to 1."),
            "selector": LABEL_SELECTOR,
            "template": POD_TEMPLATE_SPEC,
            "strategy": obj(
                {
                    "type": string("Recreate or RollingUpdate (default)."),
                    "rollingUpdate": obj({"maxUnavailable": int_or_string(), "maxSurge": int_or_string()}),
                }
            ),
            "minReadySeconds": integer(),
            "revisionHistoryLimit": integer(),
            "paused": boolean(),
            "progressDeadlineSeconds": integer(),
        },
        required=("selector", "template"),
    ),
)

REPLICA_SET = spec_status(
    "ReplicaSet ensures that a specified number of pod replicas are running at any given time.",
    obj(
        {
            "replicas": integer(),
            "minReadySeconds": integer(),
            "selector": LABEL_SELECTOR,
            "template": POD_TEMPLATE_SPEC,
        },
        required=("selector",),
    ),
)

# ---- autoscaling/v2 ------------------------------------------------------------------------------

METRIC_TARGET = obj(
    {
        "type": string("Utilization, Value or AverageValue."),
        "value": quantity(),
        "averageValue": quantity(),
        "averageUtilization": integer(),
    },
    required=("type",),
)

HPA = spec_status(
    "HorizontalPodAutoscaler automatically manages the replica count of any resource implementing the "
    "scale subresource.",
    obj(
        {
            "scaleTargetRef": obj(
                {"apiVersion": string(), "kind": string(), "name": string()}, required=("kind", "name")
            ),
            "minReplicas": integer(),
            "maxReplicas": integer("The upper limit for the number of replicas."),
            "metrics": arr(
                obj(
                    {
                        "type": string("ContainerResource, External, Object, Pods or Resource."),
                        "resource": obj(
                            {"name": string(), "target": METRIC_TARGET}, required=("name", "target")
                        ),
                        "containerResource": preserve(),
                        "pods": preserve(),
                        "object": preserve(),
                        "external": preserve(),
                    },
                    required=("type",),
                )
            ),
            "behavior": preserve(),
        },
        required=("maxReplicas", "scaleTargetRef"),
    ),
)

# ---- storage, discovery, coordination, authorization --------------------------------------------

STORAGE_CLASS = resource(
    "StorageClass describes the parameters for a class of storage.",
    OBJECT_META,
    {
        "provisioner": string("The type of the provisioner."),
        "parameters": string_map(),
        "reclaimPolicy": string(),
        "mountOptions": string_list(),
        "allowVolumeExpansion": boolean(),
        "volumeBindingMode": string(),
        "allowedTopologies": arr(preserve()),
    },
    required=("provisioner",),
)

ENDPOINT_SLICE = resource(
    "EndpointSlice represents a subset of the endpoints that implement a service.",
    OBJECT_META,
    {
        "addressType": string("IPv4, IPv6 or FQDN."),
        "endpoints": arr(
            obj(
                {
                    "addresses": string_list(),
                    "conditions": obj({"ready": boolean(), "serving": boolean(), "terminating": boolean()}),
                    "hostname": string(),
                    "targetRef": OBJECT_REFERENCE,
                    "nodeName": string(),
                    "zone": string(),
                    "hints": preserve(),
                    "deprecatedTopology": string_map(),
                },
                required=("addresses",),
            )
        ),
        "ports": arr(
            obj({"name": string(), "protocol": string(), "port": integer(), "appProtocol": string()})
        ),
    },
    required=("addressType", "endpoints"),
)

LEASE = resource(
    "Lease defines a lease concept.",
    OBJECT_META,
    {
        "spec": obj(
            {
                "holderIdentity": string(),
                "leaseDurationSeconds": integer(),
                "acquireTime": string(fmt="date-time"),
                "renewTime": string(fmt="date-time"),
                "leaseTransitions": integer(),
                "strategy": string(),
                "preferredHolder": string(),
            }
        )
    },
)

SELF_SUBJECT_ACCESS_REVIEW = resource(
    "SelfSubjectAccessReview checks whether or not the current user can perform an action.",
    OBJECT_META,
    {
        "spec": obj(
            {
                "resourceAttributes": obj(
                    {
                        "namespace": string(),
                        "verb": string(),
                        "group": string(),
                        "version": string(),
                        "resource": string(),
                        "subresource": string(),
                        "name": string(),
                        "fieldSelector": preserve(),
                        "labelSelector": preserve(),
                    }
                ),
                "nonResourceAttributes": obj({"path": string(), "verb": string()}),
            }
        ),
        "status": STATUS_PRESERVED,
    },
    required=("spec",),
)

TOKEN_REVIEW = resource(
    "TokenReview attempts to authenticate a token to a known user.",
    OBJECT_META,
    {
        "spec": obj({"token": string(), "audiences": string_list()}),
        "status": STATUS_PRESERVED,
    },
    required=("spec",),
)

SCHEMAS: dict[str, Schema] = {
    "io.k8s.api.apps.v1.Deployment": DEPLOYMENT,
    "io.k8s.api.apps.v1.ReplicaSet": REPLICA_SET,
    "io.k8s.api.autoscaling.v2.HorizontalPodAutoscaler": HPA,
    "io.k8s.api.storage.v1.StorageClass": STORAGE_CLASS,
    "io.k8s.api.discovery.v1.EndpointSlice": ENDPOINT_SLICE,
    "io.k8s.api.coordination.v1.Lease": LEASE,
    "io.k8s.api.authorization.v1.SelfSubjectAccessReview": SELF_SUBJECT_ACCESS_REVIEW,
    "io.k8s.api.authentication.v1.TokenReview": TOKEN_REVIEW,
}
