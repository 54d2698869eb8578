"""meta/v1 and small shared reference types: ObjectMeta, LabelSelector, references, conditions, lists.

Field names, types and required lists follow k8s.io/apimachinery `meta/v1` and `core/v1` as published in
the Kubernetes OpenAPI; descriptions are shortened.
"""

from __future__ import annotations

from ._build import (
    Schema,
    arr,
    boolean,
    date_time,
    int64,
    integer,
    obj,
    preserve,
    resource,
    string,
    string_list,
    string_map,
)

OWNER_REFERENCE = obj(
    {
        "apiVersion": string("API version of the referent."),
        "kind": string("Kind of the referent."),
        "name": string("Name of the referent."),
        "uid": string("UID of the referent."),
        "controller": boolean("If true, this reference points to the managing controller."),
        "blockOwnerDeletion": boolean(
            "If true, and the owner has the foregroundDeletion finalizer, the owner cannot be deleted "
            "from the key-value store until this reference is removed."
        ),
    },
    required=("apiVersion", "kind", "name", "uid"),
    description="OwnerReference contains enough information to let you identify an owning object.",
)

MANAGED_FIELDS_ENTRY = obj(
    {
        "apiVersion": string(),
        "fieldsType": string(),
        "fieldsV1": preserve("FieldsV1 stores a set of fields in a data structure like a Trie."),
        "manager": string("Manager is an identifier of the workflow managing these fields."),
        "operation": string("Operation is the type of operation which lead to this entry: Apply or Update."),
        "subresource": string(),
        "time": date_time(),
    },
    description="ManagedFieldsEntry is a workflow-id, a FieldSet and the group version of the resource.",
)

OBJECT_META = obj(
    {
        "name": string(
            "Name must be unique within a namespace. Is required when creating resources, although some "
            "resources may allow a client to request the generation of an appropriate name automatically."
        ),
        "generateName": string("Optional prefix used by the server to generate a unique name."),
        "namespace": string("Namespace defines the space within which each name must be unique."),
        "selfLink": string("Deprecated: selfLink is a legacy read-only field that is no longer populated."),
        "uid": string("UID is the unique in time and space value for this object. Read-only."),
        "resourceVersion": string(
            "An opaque value that represents the internal version of this object, used for optimistic "
            "concurrency and watches. Read-only."
        ),
        "generation": int64("A sequence number representing a specific generation of the desired state."),
        "creationTimestamp": date_time("Time at which this object was created. Read-only."),
        "deletionTimestamp": date_time("Time at which this resource will be deleted. Read-only."),
        "deletionGracePeriodSeconds": int64("Seconds allowed for graceful termination. Read-only."),
        "labels": string_map(
            "Map of string keys and values that can be used to organize and select objects."
        ),
        "annotations": string_map(
            "Unstructured key value map stored with a resource that may be set by external tools."
        ),
        "ownerReferences": arr(OWNER_REFERENCE, "Objects depended on by this object.", merge_key="uid"),
        "finalizers": string_list(
            "Must be empty before the object is deleted from the registry.", as_set=True
        ),
        "managedFields": arr(MANAGED_FIELDS_ENTRY, "Maps workflow-id and version to managed fields."),
    },
    description="Standard object's metadata: name, namespace, labels, annotations and server-set fields.",
)

LIST_META = obj(
    {
        "resourceVersion": string("The resource version of the list."),
        "continue": string("Set when more results are available; pass it back to get the next page."),
        "remainingItemCount": int64("The number of subsequent items in the list (an estimate)."),
        "selfLink": string("Deprecated."),
    },
    description="ListMeta describes metadata that synthetic resources must have, including lists.",
)

LABEL_SELECTOR_REQUIREMENT = obj(
    {
        "key": string("The label key that the selector applies to."),
        "operator": string(
            "Represents a key's relationship to a set of values: In, NotIn, Exists, DoesNotExist."
        ),
        "values": string_list("An array of string values."),
    },
    required=("key", "operator"),
)

LABEL_SELECTOR = obj(
    {
        "matchLabels": string_map("A map of {key,value} pairs; each is an `In` requirement."),
        "matchExpressions": arr(LABEL_SELECTOR_REQUIREMENT, "A list of label selector requirements (ANDed)."),
    },
    description="A label query over a set of resources. An empty selector matches all objects.",
)

LOCAL_OBJECT_REFERENCE = obj(
    {"name": string("Name of the referent.")},
    description="A reference to an object in the same namespace.",
)

OBJECT_REFERENCE = obj(
    {
        "apiVersion": string(),
        "kind": string(),
        "name": string(),
        "namespace": string(),
        "uid": string(),
        "resourceVersion": string(),
        "fieldPath": string("A piece of an object, e.g. spec.containers{name}."),
    },
    description="ObjectReference contains enough information to inspect or modify the referred object.",
)

TYPED_LOCAL_OBJECT_REFERENCE = obj(
    {"apiGroup": string(), "kind": string(), "name": string()},
    required=("kind", "name"),
)

CONDITION = obj(
    {
        "type": string("Type of condition."),
        "status": string("Status of the condition: True, False or Unknown."),
        "reason": string("A machine-readable reason for the condition's last transition."),
        "message": string("A human-readable message about the transition."),
        "lastTransitionTime": date_time(),
        "lastUpdateTime": date_time(),
        "lastProbeTime": date_time(),
        "observedGeneration": int64(),
        "severity": string(),
    },
    required=("type", "status"),
)

STATUS = obj(
    {
        "apiVersion": string(),
        "kind": string(),
        "metadata": LIST_META,
        "status": string("Success or Failure."),
        "message": string(),
        "reason": string(),
        "details": preserve(),
        "code": integer(),
    },
    description="Status is a return value for calls that don't return other objects.",
)

DELETE_OPTIONS = obj(
    {
        "apiVersion": string(),
        "kind": string(),
        "dryRun": string_list(),
        "gracePeriodSeconds": int64(),
        "orphanDependents": boolean(),
        "preconditions": obj({"resourceVersion": string(), "uid": string()}),
        "propagationPolicy": string("Orphan, Background or Foreground."),
    },
    description="DeleteOptions may be provided when deleting an API object.",
)

PATCH: Schema = {
    "type": "object",
    "description": "Patch is provided to give a concrete name and type to the Kubernetes PATCH request body.",
}

# components.schemas names of the meta types the OpenAPI documents reference.
META_SCHEMAS: dict[str, Schema] = {
    "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta": OBJECT_META,
    "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta": LIST_META,
    "io.k8s.apimachinery.pkg.apis.meta.v1.Status": STATUS,
    "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions": DELETE_OPTIONS,
    "io.k8s.apimachinery.pkg.apis.meta.v1.Patch": PATCH,
}

STATUS_PRESERVED = preserve("Most recently observed status. Populated by the system. Read-only.")


def spec_status(description: str, spec: Schema) -> Schema:
    """A kind made of ObjectMeta, a `spec` and a preserved `status` (most built-in kinds)."""
    if "description" not in spec:
        spec = {**spec, "description": "Spec defines the desired behavior of the object."}
    return resource(description, OBJECT_META, {"spec": spec, "status": STATUS_PRESERVED})
