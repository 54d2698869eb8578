"""core/v1 building blocks: Container and its parts, volumes, probes, tolerations.

Field names, types and required lists follow `k8s.io/api/core/v1` (Kubernetes 1.32) as published in the
OpenAPI document; the scheduling and security structs that are large and rarely hand-written (Affinity,
SecurityContext, Lifecycle, ...) are kept as preserved objects.
"""

from __future__ import annotations

from ._build import (
    Schema,
    arr,
    boolean,
    int64,
    int_or_string,
    integer,
    merged,
    obj,
    preserve,
    quantity,
    quantity_map,
    string,
    string_list,
)
from .meta import LOCAL_OBJECT_REFERENCE

# ---- environment ---------------------------------------------------------------------------------

KEY_SELECTOR_PROPS: dict[str, Schema] = {
    "key": string("The key to select."),
    "name": string("Name of the referent."),
    "optional": boolean("Specify whether the object or its key must be defined."),
}

OBJECT_FIELD_SELECTOR = obj(
    {
        "apiVersion": string("Version of the schema the FieldPath is written in terms of, defaults to v1."),
        "fieldPath": string("Path of the field to select in the specified API version."),
    },
    required=("fieldPath",),
)

RESOURCE_FIELD_SELECTOR = obj(
    {
        "containerName": string("Container name: required for volumes, optional for env vars."),
        "resource": string("Required: resource to select, e.g. limits.cpu."),
        "divisor": quantity('Specifies the output format of the exposed resources, defaults to "1".'),
    },
    required=("resource",),
)

ENV_VAR_SOURCE = obj(
    {
        "configMapKeyRef": obj(
            KEY_SELECTOR_PROPS, required=("key",), description="Selects a key of a ConfigMap."
        ),
        "secretKeyRef": obj(
            KEY_SELECTOR_PROPS,
            required=("key",),
            description="Selects a key of a secret in the pod's namespace.",
        ),
        "fieldRef": OBJECT_FIELD_SELECTOR,
        "resourceFieldRef": RESOURCE_FIELD_SELECTOR,
    },
    description="Source for the environment variable's value. Cannot be used if value is not empty.",
)

ENV_VAR = obj(
    {
        "name": string("Name of the environment variable. Must be a C_IDENTIFIER."),
        "value": string("Variable references $(VAR_NAME) are expanded using previously defined variables."),
        "valueFrom": ENV_VAR_SOURCE,
    },
    required=("name",),
    description="EnvVar represents an environment variable present in a Container.",
)

_ENV_REF = {"name": string("Name of the referent."), "optional": boolean()}

ENV_FROM_SOURCE = obj(
    {
        "prefix": string("An optional identifier to prepend to each key."),
        "configMapRef": obj(_ENV_REF, description="The ConfigMap to select from."),
        "secretRef": obj(_ENV_REF, description="The Secret to select from."),
    },
    description="EnvFromSource represents the source of a set of ConfigMaps or Secrets.",
)

# ---- resources, ports, mounts --------------------------------------------------------------------

RESOURCE_REQUIREMENTS = obj(
    {
        "limits": quantity_map("Limits describes the maximum amount of compute resources allowed."),
        "requests": quantity_map(
            "Requests describes the minimum amount of compute resources required. If omitted it defaults "
            "to Limits if that is explicitly specified."
        ),
        "claims": arr(
            obj({"name": string(), "request": string()}, required=("name",)),
            "Claims lists the names of resources, defined in spec.resourceClaims, used by this container.",
        ),
    },
    description="Compute resources required by this container, e.g. cpu: 500m, memory: 16Gi.",
)

CONTAINER_PORT = obj(
    {
        "containerPort": integer("Number of port to expose on the pod's IP address (0 < x < 65536)."),
        "name": string("An IANA_SVC_NAME, unique within the pod. Can be referred to by services."),
        "protocol": string('Protocol for port. Must be UDP, TCP, or SCTP. Defaults to "TCP".'),
        "hostIP": string("What host IP to bind the external port to."),
        "hostPort": integer("Number of port to expose on the host."),
    },
    required=("containerPort",),
    description="ContainerPort represents a network port in a single container.",
)

VOLUME_MOUNT = obj(
    {
        "name": string("This must match the Name of a Volume."),
        "mountPath": string("Path within the container at which the volume should be mounted."),
        "readOnly": boolean("Mounted read-only if true, read-write otherwise (false or unspecified)."),
        "recursiveReadOnly": string(),
        "subPath": string("Path within the volume from which the container's volume should be mounted."),
        "subPathExpr": string(),
        "mountPropagation": string(),
    },
    required=("mountPath", "name"),
    description="VolumeMount describes a mounting of a Volume within a container.",
)

VOLUME_DEVICE = obj({"devicePath": string(), "name": string()}, required=("devicePath", "name"))

# ---- probes --------------------------------------------------------------------------------------

HTTP_GET_ACTION = obj(
    {
        "path": string("Path to access on the HTTP server."),
        "port": int_or_string("Name or number of the port to access on the container."),
        "host": string("Host name to connect to, defaults to the pod IP."),
        "scheme": string("Scheme to use for connecting to the host. Defaults to HTTP."),
        "httpHeaders": arr(obj({"name": string(), "value": string()}, required=("name", "value"))),
    },
    required=("port",),
)

PROBE = obj(
    {
        "exec": obj({"command": string_list("Command line to execute inside the container.")}),
        "httpGet": HTTP_GET_ACTION,
        "tcpSocket": obj({"port": int_or_string(), "host": string()}, required=("port",)),
        "grpc": obj({"port": integer(), "service": string()}, required=("port",)),
        "initialDelaySeconds": integer(
            "Seconds after the container has started before probes are initiated."
        ),
        "timeoutSeconds": integer("Seconds after which the probe times out. Defaults to 1 second."),
        "periodSeconds": integer("How often (in seconds) to perform the probe. Default to 10 seconds."),
        "successThreshold": integer(
            "Minimum consecutive successes for the probe to be considered successful."
        ),
        "failureThreshold": integer("Minimum consecutive failures for the probe to be considered failed."),
        "terminationGracePeriodSeconds": int64(),
    },
    description="Probe describes a health check to be performed against a container.",
)

# ---- container -----------------------------------------------------------------------------------

CONTAINER_PROPS: dict[str, Schema] = {
    "name": string(
        "Name of the container specified as a DNS_LABEL. Each container in a pod must have a unique name."
    ),
    "image": string("Container image name."),
    "command": string_list(
        "Entrypoint array. Not executed within a shell. The image's ENTRYPOINT is used "
        "if this is not provided."
    ),
    "args": string_list("Arguments to the entrypoint. The image's CMD is used if this is not provided."),
    "workingDir": string("Container's working directory."),
    "ports": arr(CONTAINER_PORT, "List of ports to expose from the container.", merge_key="containerPort"),
    "envFrom": arr(ENV_FROM_SOURCE, "List of sources to populate environment variables in the container."),
    "env": arr(ENV_VAR, "List of environment variables to set in the container.", merge_key="name"),
    "resources": RESOURCE_REQUIREMENTS,
    "resizePolicy": arr(
        obj({"resourceName": string(), "restartPolicy": string()}, required=("resourceName", "restartPolicy"))
    ),
    "restartPolicy": string("RestartPolicy defines the restart behavior of individual containers in a pod."),
    "volumeMounts": arr(
        VOLUME_MOUNT, "Pod volumes to mount into the container's filesystem.", merge_key="mountPath"
    ),
    "volumeDevices": arr(
        VOLUME_DEVICE,
        "volumeDevices is the list of block devices to be used by the container.",
        merge_key="devicePath",
    ),
    "livenessProbe": PROBE,
    "readinessProbe": PROBE,
    "startupProbe": PROBE,
    "lifecycle": preserve(
        "Actions that the management system should take in response to container lifecycle events."
    ),
    "terminationMessagePath": string(),
    "terminationMessagePolicy": string(),
    "imagePullPolicy": string("Image pull policy. One of Always, Never, IfNotPresent."),
    "securityContext": preserve(
        "SecurityContext defines the security options the container should be run with."
    ),
    "stdin": boolean(),
    "stdinOnce": boolean(),
    "tty": boolean(),
}

CONTAINER = obj(
    CONTAINER_PROPS,
    required=("name",),
    description="A single application container that you want to run within a pod.",
)

# ---- volumes -------------------------------------------------------------------------------------

KEY_TO_PATH = obj(
    {
        "key": string("The key to project."),
        "path": string("The relative path of the file to map the key to."),
        "mode": integer("Optional: mode bits used to set permissions on this file."),
    },
    required=("key", "path"),
)

DOWNWARD_API_FILE = obj(
    {
        "path": string(),
        "fieldRef": OBJECT_FIELD_SELECTOR,
        "resourceFieldRef": RESOURCE_FIELD_SELECTOR,
        "mode": integer(),
    },
    required=("path",),
)

_PRESERVED_SOURCES = (
    "awsElasticBlockStore",
    "azureDisk",
    "azureFile",
    "cephfs",
    "cinder",
    "csi",
    "ephemeral",
    "fc",
    "flexVolume",
    "flocker",
    "gcePersistentDisk",
    "gitRepo",
    "glusterfs",
    "image",
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

HOST_PATH = obj({"path": string("Path of the directory on the host."), "type": string()}, required=("path",))

VOLUME_SOURCES: dict[str, Schema] = merged(
    {
        "emptyDir": obj(
            {
                "medium": string('What type of storage medium should back this directory: "" or Memory.'),
                "sizeLimit": quantity("Total amount of local storage required for this EmptyDir volume."),
            },
            description="A temporary directory that shares a pod's lifetime.",
        ),
        "secret": obj(
            {
                "secretName": string("Name of the secret in the pod's namespace to use."),
                "items": arr(KEY_TO_PATH),
                "defaultMode": integer(),
                "optional": boolean(),
            },
            description="A secret that should populate this volume.",
        ),
        "configMap": obj(
            {"name": string(), "items": arr(KEY_TO_PATH), "defaultMode": integer(), "optional": boolean()},
            description="A configMap that should populate this volume.",
        ),
        "persistentVolumeClaim": obj(
            {
                "claimName": string("The name of a PersistentVolumeClaim in the same namespace as the pod."),
                "readOnly": boolean(),
            },
            required=("claimName",),
        ),
        "hostPath": HOST_PATH,
        "projected": obj(
            {"sources": arr(preserve(), "List of volume projections."), "defaultMode": integer()},
            description="Items for all in one resources secrets, configmaps, and downward API.",
        ),
        "downwardAPI": obj({"items": arr(DOWNWARD_API_FILE), "defaultMode": integer()}),
    },
    {name: preserve() for name in _PRESERVED_SOURCES},
)

VOLUME = obj(
    merged({"name": string("Volume's name. Must be a DNS_LABEL and unique within the pod.")}, VOLUME_SOURCES),
    required=("name",),
    description="Volume represents a named volume in a pod that may be accessed by any container in the pod.",
)

# ---- scheduling ----------------------------------------------------------------------------------

TOLERATION = obj(
    {
        "key": string("The taint key that the toleration applies to. Empty means match all taint keys."),
        "operator": string("Represents a key's relationship to the value: Exists or Equal (default)."),
        "value": string("The taint value the toleration matches to."),
        "effect": string("The taint effect to match: NoSchedule, PreferNoSchedule or NoExecute."),
        "tolerationSeconds": int64("The period of time the toleration tolerates a NoExecute taint."),
    },
    description="The pod this Toleration is attached to tolerates any taint that matches the triple "
    "<key,value,effect> using the matching operator <operator>.",
)

AFFINITY = preserve(
    "If specified, the pod's scheduling constraints (nodeAffinity, podAffinity, podAntiAffinity)."
)

IMAGE_PULL_SECRETS = arr(
    LOCAL_OBJECT_REFERENCE,
    "References to secrets in the same namespace to use for pulling any of the images used by this PodSpec.",
    merge_key="name",
)
