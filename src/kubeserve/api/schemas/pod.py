"""core/v1 PodSpec and PodTemplateSpec.

`POD_SPEC_PROPS` is also inlined into the KServe component specs (Go's `PodSpec json:",inline"`), where
`containers` is optional; a Pod's own spec requires it.
"""

from __future__ import annotations

from ._build import (
    Schema,
    arr,
    boolean,
    int64,
    integer,
    obj,
    preserve,
    quantity_map,
    string,
    string_list,
    string_map,
)
from .core import AFFINITY, CONTAINER, IMAGE_PULL_SECRETS, RESOURCE_REQUIREMENTS, TOLERATION, VOLUME
from .meta import LABEL_SELECTOR, OBJECT_META

TOPOLOGY_SPREAD_CONSTRAINT = obj(
    {
        "maxSkew": integer("The degree to which pods may be unevenly distributed."),
        "topologyKey": string("The key of node labels."),
        "whenUnsatisfiable": string("DoNotSchedule (default) or ScheduleAnyway."),
        "labelSelector": LABEL_SELECTOR,
        "minDomains": integer(),
        "nodeAffinityPolicy": string(),
        "nodeTaintsPolicy": string(),
        "matchLabelKeys": string_list(),
    },
    required=("maxSkew", "topologyKey", "whenUnsatisfiable"),
)

POD_SPEC_PROPS: dict[str, Schema] = {
    "containers": arr(
        CONTAINER,
        "List of containers belonging to the pod. There must be at least one container in a Pod.",
        merge_key="name",
    ),
    "initContainers": arr(
        CONTAINER, "List of initialization containers belonging to the pod.", merge_key="name"
    ),
    "ephemeralContainers": arr(preserve(), "List of ephemeral containers run in this pod.", merge_key="name"),
    "volumes": arr(
        VOLUME,
        "List of volumes that can be mounted by containers belonging to the pod.",
        merge_key="name",
        strategy="merge,retainKeys",
    ),
    "restartPolicy": string("Restart policy for all containers within the pod: Always, OnFailure, Never."),
    "terminationGracePeriodSeconds": int64(
        "Optional duration in seconds the pod needs to terminate gracefully."
    ),
    "activeDeadlineSeconds": int64(),
    "dnsPolicy": string('Set DNS policy for the pod. Defaults to "ClusterFirst".'),
    "dnsConfig": preserve("Specifies the DNS parameters of a pod."),
    "nodeSelector": string_map(
        "A selector which must match a node's labels for the pod to be scheduled on that node."
    ),
    "serviceAccountName": string("Name of the ServiceAccount to use to run this pod."),
    "serviceAccount": string("Deprecated alias for serviceAccountName."),
    "automountServiceAccountToken": boolean(),
    "nodeName": string("A request to schedule this pod onto a specific node."),
    "hostNetwork": boolean("Host networking requested for this pod."),
    "hostPID": boolean(),
    "hostIPC": boolean("Use the host's ipc namespace."),
    "hostUsers": boolean(),
    "shareProcessNamespace": boolean(),
    "securityContext": preserve("Pod-level security attributes and common container settings."),
    "imagePullSecrets": IMAGE_PULL_SECRETS,
    "hostname": string(),
    "subdomain": string(),
    "setHostnameAsFQDN": boolean(),
    "affinity": AFFINITY,
    "schedulerName": string(),
    "tolerations": arr(TOLERATION, "If specified, the pod's tolerations."),
    "hostAliases": arr(obj({"ip": string(), "hostnames": string_list()}, required=("ip",)), merge_key="ip"),
    "priorityClassName": string(),
    "priority": integer(),
    "preemptionPolicy": string(),
    "readinessGates": arr(obj({"conditionType": string()}, required=("conditionType",))),
    "runtimeClassName": string(),
    "enableServiceLinks": boolean(),
    "overhead": quantity_map(),
    "topologySpreadConstraints": arr(TOPOLOGY_SPREAD_CONSTRAINT, merge_key="topologyKey"),
    "os": obj({"name": string()}, required=("name",)),
    "schedulingGates": arr(obj({"name": string()}, required=("name",)), merge_key="name"),
    "resourceClaims": arr(preserve(), merge_key="name", strategy="merge,retainKeys"),
    "resources": RESOURCE_REQUIREMENTS,
}

POD_SPEC = obj(
    # A Pod (or pod template) needs at least one container: `containers: []` is as missing as no key.
    {**POD_SPEC_PROPS, "containers": {**POD_SPEC_PROPS["containers"], "minItems": 1}},
    required=("containers",), description="Specification of the desired behavior of the pod."
)

POD_TEMPLATE_SPEC = obj(
    {"metadata": OBJECT_META, "spec": POD_SPEC},
    description="Template describes the pods that will be created.",
)
