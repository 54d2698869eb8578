"""Field tables for the protobuf bodies kubectl 1.32's typed clients send: one line per message.

The field numbers and names were read out of the file descriptors that kubectl v1.32.4 embeds for
`k8s.io/api/{core,apps,autoscaling,authorization}/v1|v2/generated.proto` and
`k8s.io/apimachinery/pkg/apis/meta/v1/generated.proto` (the compiled form of those files), walking
from the kinds in `KINDS`. go-to-protobuf names every proto field after its JSON tag, so the names
below are the JSON keys too.

Each message is a `;`-separated list of `NUMBER NAME [TYPE]`:

- TYPE is `string` when left out, or `int32`, `int64`, `bool`, `bytes` (base64 in JSON), a message
  name from this table, `IntOrString`, `Quantity`, `Time` or `FieldsV1` (the apimachinery types
  whose JSON is not an object), `map` (string to string), `map<bytes>` or `map<Quantity>`.
- A `[]` prefix makes the field repeated.
- A `?` suffix keeps a zero value. Go writes every non-pointer scalar, so a zero on the wire usually
  means "unset" and the JSON (`omitempty`) would not have had it; but pointer fields (`replicas
  *int32`) are written only when set, and a few fields have no `omitempty`, so for those a zero is
  real. The proto files cannot say which, hence the hand-kept marks, taken from the Go types.
- The name `...` inlines the message into its parent, as Go's embedded structs are in JSON
  (`ConfigMapKeySelector` embeds `LocalObjectReference`, `Volume` embeds `VolumeSource`).

A message with no fields (the `...Status` ones) decodes to `{}`: status is the server's to write,
and kubectl never sends one, so its fields are skipped like any unknown field. The deprecated
in-tree cloud volume sources (gcePersistentDisk, awsElasticBlockStore, rbd, ...) are left out too.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

#: (apiVersion, kind) -> the message its body is. autoscaling/v1 is what `kubectl autoscale` sends.
KINDS: Mapping[tuple[str, str], str] = MappingProxyType({
    ("v1", "Namespace"): "Namespace",
    ("v1", "Secret"): "Secret",
    ("v1", "ConfigMap"): "ConfigMap",
    ("v1", "ServiceAccount"): "ServiceAccount",
    ("v1", "Service"): "Service",
    ("v1", "Pod"): "Pod",
    ("apps/v1", "Deployment"): "Deployment",
    ("autoscaling/v1", "HorizontalPodAutoscaler"): "HorizontalPodAutoscalerV1",
    ("autoscaling/v2", "HorizontalPodAutoscaler"): "HorizontalPodAutoscaler",
    ("authorization.k8s.io/v1", "SelfSubjectAccessReview"): "SelfSubjectAccessReview",
    ("authentication.k8s.io/v1", "TokenRequest"): "TokenRequest",
    ("authentication.k8s.io/v1", "TokenReview"): "TokenReview",
})

#: Options kinds are registered in every group version, so their envelope may name any apiVersion
#: (the MCP server deletes a Service with a protobuf `DeleteOptions` body).
OPTIONS_KINDS: Mapping[str, str] = MappingProxyType({"DeleteOptions": "DeleteOptions"})

SCALARS = frozenset({"string", "int32", "int64", "bool", "bytes"})
SPECIAL = frozenset({"IntOrString", "Quantity", "Time", "FieldsV1"})
MAPS = frozenset({"map", "map<bytes>", "map<Quantity>"})

# fmt: off
SCHEMA: Mapping[str, str] = MappingProxyType({
    "Namespace": "1 metadata ObjectMeta; 2 spec NamespaceSpec; 3 status NamespaceStatus",
    # meta/v1 DeleteOptions; dryRun is a list, the rest are pointers.
    "DeleteOptions": (
        "1 gracePeriodSeconds int64?; 2 preconditions Preconditions; 3 orphanDependents bool?; "
        "4 propagationPolicy string?; 5 dryRun []string"
    ),
    "Preconditions": "1 uid string?; 2 resourceVersion string?",
    "ObjectMeta": (
        "1 name; 2 generateName; 3 namespace; 4 selfLink; 5 uid; 6 resourceVersion; 7 generation int64; "
        "8 creationTimestamp Time; 9 deletionTimestamp Time; 10 deletionGracePeriodSeconds int64?; 11 labels map; "
        "12 annotations map; 13 ownerReferences []OwnerReference; 14 finalizers []string; "
        "17 managedFields []ManagedFieldsEntry"
    ),
    "OwnerReference": "1 kind; 3 name; 4 uid; 5 apiVersion; 6 controller bool?; 7 blockOwnerDeletion bool?",
    "ManagedFieldsEntry": (
        "1 manager; 2 operation; 3 apiVersion; 4 time Time; 6 fieldsType; 7 fieldsV1 FieldsV1; 8 subresource"
    ),
    "NamespaceSpec": "1 finalizers []string",
    "NamespaceStatus": "1 phase; 2 conditions []NamespaceCondition",
    "NamespaceCondition": "1 type; 2 status; 4 lastTransitionTime Time; 5 reason; 6 message",
    "Secret": "1 metadata ObjectMeta; 2 data map<bytes>; 3 type; 4 stringData map; 5 immutable bool?",
    "ConfigMap": "1 metadata ObjectMeta; 2 data map; 3 binaryData map<bytes>; 4 immutable bool?",
    "ServiceAccount": (
        "1 metadata ObjectMeta; 2 secrets []ObjectReference; 3 imagePullSecrets []LocalObjectReference; "
        "4 automountServiceAccountToken bool?"
    ),
    "ObjectReference": "1 kind; 2 namespace; 3 name; 4 uid; 5 apiVersion; 6 resourceVersion; 7 fieldPath",
    "LocalObjectReference": "1 name",
    "Service": "1 metadata ObjectMeta; 2 spec ServiceSpec; 3 status ServiceStatus",
    "ServiceSpec": (
        "1 ports []ServicePort; 2 selector map; 3 clusterIP; 4 type; 5 externalIPs []string; 7 sessionAffinity; "
        "8 loadBalancerIP; 9 loadBalancerSourceRanges []string; 10 externalName; 11 externalTrafficPolicy; "
        "12 healthCheckNodePort int32; 13 publishNotReadyAddresses bool; "
        "14 sessionAffinityConfig SessionAffinityConfig; 17 ipFamilyPolicy string?; 18 clusterIPs []string; "
        "19 ipFamilies []string; 20 allocateLoadBalancerNodePorts bool?; 21 loadBalancerClass string?; "
        "22 internalTrafficPolicy string?; 23 trafficDistribution string?"
    ),
    "ServicePort": (
        "1 name; 2 protocol; 3 port int32?; 4 targetPort IntOrString; 5 nodePort int32; 6 appProtocol string?"
    ),
    "SessionAffinityConfig": "1 clientIP ClientIPConfig",
    "ClientIPConfig": "1 timeoutSeconds int32?",
    "ServiceStatus": "",
    "Pod": "1 metadata ObjectMeta; 2 spec PodSpec; 3 status PodStatus",
    "PodSpec": (
        "1 volumes []Volume; 2 containers []Container; 3 restartPolicy; 4 terminationGracePeriodSeconds int64?; "
        "5 activeDeadlineSeconds int64?; 6 dnsPolicy; 7 nodeSelector map; 8 serviceAccountName; 9 serviceAccount; "
        "10 nodeName; 11 hostNetwork bool; 12 hostPID bool; 13 hostIPC bool; "
        "14 securityContext PodSecurityContext; 15 imagePullSecrets []LocalObjectReference; 16 hostname; "
        "17 subdomain; 18 affinity Affinity; 19 schedulerName; 20 initContainers []Container; "
        "21 automountServiceAccountToken bool?; 22 tolerations []Toleration; 23 hostAliases []HostAlias; "
        "24 priorityClassName; 25 priority int32?; 26 dnsConfig PodDNSConfig; 27 shareProcessNamespace bool?; "
        "28 readinessGates []PodReadinessGate; 29 runtimeClassName string?; 30 enableServiceLinks bool?; "
        "31 preemptionPolicy string?; 32 overhead map<Quantity>; "
        "33 topologySpreadConstraints []TopologySpreadConstraint; 34 ephemeralContainers []EphemeralContainer; "
        "35 setHostnameAsFQDN bool?; 36 os PodOS; 37 hostUsers bool?; 38 schedulingGates []PodSchedulingGate; "
        "39 resourceClaims []PodResourceClaim; 40 resources ResourceRequirements"
    ),
    "Volume": "1 name; 2 ... VolumeSource",
    "VolumeSource": (
        "1 hostPath HostPathVolumeSource; 2 emptyDir EmptyDirVolumeSource; 6 secret SecretVolumeSource; "
        "7 nfs NFSVolumeSource; 10 persistentVolumeClaim PersistentVolumeClaimVolumeSource; "
        "16 downwardAPI DownwardAPIVolumeSource; 19 configMap ConfigMapVolumeSource; "
        "26 projected ProjectedVolumeSource; 28 csi CSIVolumeSource; 29 ephemeral EphemeralVolumeSource; "
        "30 image ImageVolumeSource"
    ),
    "HostPathVolumeSource": "1 path; 2 type string?",
    "EmptyDirVolumeSource": "1 medium; 2 sizeLimit Quantity",
    "SecretVolumeSource": "1 secretName; 2 items []KeyToPath; 3 defaultMode int32?; 4 optional bool?",
    "KeyToPath": "1 key; 2 path; 3 mode int32?",
    "NFSVolumeSource": "1 server; 2 path; 3 readOnly bool",
    "PersistentVolumeClaimVolumeSource": "1 claimName; 2 readOnly bool",
    "DownwardAPIVolumeSource": "1 items []DownwardAPIVolumeFile; 2 defaultMode int32?",
    "DownwardAPIVolumeFile": (
        "1 path; 2 fieldRef ObjectFieldSelector; 3 resourceFieldRef ResourceFieldSelector; 4 mode int32?"
    ),
    "ObjectFieldSelector": "1 apiVersion; 2 fieldPath",
    "ResourceFieldSelector": "1 containerName; 2 resource; 3 divisor Quantity",
    "ConfigMapVolumeSource": "1 ... LocalObjectReference; 2 items []KeyToPath; 3 defaultMode int32?; 4 optional bool?",
    "ProjectedVolumeSource": "1 sources []VolumeProjection; 2 defaultMode int32?",
    "VolumeProjection": (
        "1 secret SecretProjection; 2 downwardAPI DownwardAPIProjection; 3 configMap ConfigMapProjection; "
        "4 serviceAccountToken ServiceAccountTokenProjection"
    ),
    "SecretProjection": "1 ... LocalObjectReference; 2 items []KeyToPath; 4 optional bool?",
    "DownwardAPIProjection": "1 items []DownwardAPIVolumeFile",
    "ConfigMapProjection": "1 ... LocalObjectReference; 2 items []KeyToPath; 4 optional bool?",
    "ServiceAccountTokenProjection": "1 audience; 2 expirationSeconds int64?; 3 path",
    "CSIVolumeSource": (
        "1 driver; 2 readOnly bool?; 3 fsType string?; 4 volumeAttributes map; "
        "5 nodePublishSecretRef LocalObjectReference"
    ),
    "EphemeralVolumeSource": "1 volumeClaimTemplate PersistentVolumeClaimTemplate",
    "PersistentVolumeClaimTemplate": "1 metadata ObjectMeta; 2 spec PersistentVolumeClaimSpec",
    "PersistentVolumeClaimSpec": (
        "1 accessModes []string; 2 resources VolumeResourceRequirements; 3 volumeName; 4 selector LabelSelector; "
        "5 storageClassName string?; 6 volumeMode string?; 7 dataSource TypedLocalObjectReference; "
        "8 dataSourceRef TypedObjectReference; 9 volumeAttributesClassName string?"
    ),
    "LabelSelector": "1 matchLabels map; 2 matchExpressions []LabelSelectorRequirement",
    "LabelSelectorRequirement": "1 key; 2 operator; 3 values []string",
    "VolumeResourceRequirements": "1 limits map<Quantity>; 2 requests map<Quantity>",
    "TypedLocalObjectReference": "1 apiGroup string?; 2 kind; 3 name",
    "TypedObjectReference": "1 apiGroup string?; 2 kind; 3 name; 4 namespace string?",
    "ImageVolumeSource": "1 reference; 2 pullPolicy",
    "Container": (
        "1 name; 2 image; 3 command []string; 4 args []string; 5 workingDir; 6 ports []ContainerPort; "
        "7 env []EnvVar; 8 resources ResourceRequirements; 9 volumeMounts []VolumeMount; 10 livenessProbe Probe; "
        "11 readinessProbe Probe; 12 lifecycle Lifecycle; 13 terminationMessagePath; 14 imagePullPolicy; "
        "15 securityContext SecurityContext; 16 stdin bool; 17 stdinOnce bool; 18 tty bool; "
        "19 envFrom []EnvFromSource; 20 terminationMessagePolicy; 21 volumeDevices []VolumeDevice; "
        "22 startupProbe Probe; 23 resizePolicy []ContainerResizePolicy; 24 restartPolicy string?"
    ),
    "ContainerPort": "1 name; 2 hostPort int32; 3 containerPort int32?; 4 protocol; 5 hostIP",
    "EnvFromSource": "1 prefix; 2 configMapRef ConfigMapEnvSource; 3 secretRef SecretEnvSource",
    "ConfigMapEnvSource": "1 ... LocalObjectReference; 2 optional bool?",
    "SecretEnvSource": "1 ... LocalObjectReference; 2 optional bool?",
    "EnvVar": "1 name; 2 value; 3 valueFrom EnvVarSource",
    "EnvVarSource": (
        "1 fieldRef ObjectFieldSelector; 2 resourceFieldRef ResourceFieldSelector; "
        "3 configMapKeyRef ConfigMapKeySelector; 4 secretKeyRef SecretKeySelector"
    ),
    "ConfigMapKeySelector": "1 ... LocalObjectReference; 2 key; 3 optional bool?",
    "SecretKeySelector": "1 ... LocalObjectReference; 2 key; 3 optional bool?",
    "ResourceRequirements": "1 limits map<Quantity>; 2 requests map<Quantity>; 3 claims []ResourceClaim",
    "ResourceClaim": "1 name; 2 request",
    "ContainerResizePolicy": "1 resourceName; 2 restartPolicy",
    "VolumeMount": (
        "1 name; 2 readOnly bool; 3 mountPath; 4 subPath; 5 mountPropagation string?; 6 subPathExpr; "
        "7 recursiveReadOnly string?"
    ),
    "VolumeDevice": "1 name; 2 devicePath",
    "Probe": (
        "1 ... ProbeHandler; 2 initialDelaySeconds int32; 3 timeoutSeconds int32; 4 periodSeconds int32; "
        "5 successThreshold int32; 6 failureThreshold int32; 7 terminationGracePeriodSeconds int64?"
    ),
    "ProbeHandler": "1 exec ExecAction; 2 httpGet HTTPGetAction; 3 tcpSocket TCPSocketAction; 4 grpc GRPCAction",
    "ExecAction": "1 command []string",
    "HTTPGetAction": "1 path; 2 port IntOrString; 3 host; 4 scheme; 5 httpHeaders []HTTPHeader",
    "HTTPHeader": "1 name; 2 value",
    "TCPSocketAction": "1 port IntOrString; 2 host",
    "GRPCAction": "1 port int32?; 2 service string?",
    "Lifecycle": "1 postStart LifecycleHandler; 2 preStop LifecycleHandler",
    "LifecycleHandler": "1 exec ExecAction; 2 httpGet HTTPGetAction; 3 tcpSocket TCPSocketAction; 4 sleep SleepAction",
    "SleepAction": "1 seconds int64?",
    "SecurityContext": (
        "1 capabilities Capabilities; 2 privileged bool?; 3 seLinuxOptions SELinuxOptions; 4 runAsUser int64?; "
        "5 runAsNonRoot bool?; 6 readOnlyRootFilesystem bool?; 7 allowPrivilegeEscalation bool?; "
        "8 runAsGroup int64?; 9 procMount string?; 10 windowsOptions WindowsSecurityContextOptions; "
        "11 seccompProfile SeccompProfile; 12 appArmorProfile AppArmorProfile"
    ),
    "Capabilities": "1 add []string; 2 drop []string",
    "SELinuxOptions": "1 user; 2 role; 3 type; 4 level",
    "WindowsSecurityContextOptions": (
        "1 gmsaCredentialSpecName string?; 2 gmsaCredentialSpec string?; 3 runAsUserName string?; "
        "4 hostProcess bool?"
    ),
    "SeccompProfile": "1 type; 2 localhostProfile string?",
    "AppArmorProfile": "1 type; 2 localhostProfile string?",
    "EphemeralContainer": "1 ... Container; 2 targetContainerName",
    "PodSecurityContext": (
        "1 seLinuxOptions SELinuxOptions; 2 runAsUser int64?; 3 runAsNonRoot bool?; 4 supplementalGroups []int64; "
        "5 fsGroup int64?; 6 runAsGroup int64?; 7 sysctls []Sysctl; "
        "8 windowsOptions WindowsSecurityContextOptions; 9 fsGroupChangePolicy string?; "
        "10 seccompProfile SeccompProfile; 11 appArmorProfile AppArmorProfile; "
        "12 supplementalGroupsPolicy string?; 13 seLinuxChangePolicy string?"
    ),
    "Sysctl": "1 name; 2 value",
    "Affinity": "1 nodeAffinity NodeAffinity; 2 podAffinity PodAffinity; 3 podAntiAffinity PodAntiAffinity",
    "NodeAffinity": (
        "1 requiredDuringSchedulingIgnoredDuringExecution NodeSelector; "
        "2 preferredDuringSchedulingIgnoredDuringExecution []PreferredSchedulingTerm"
    ),
    "NodeSelector": "1 nodeSelectorTerms []NodeSelectorTerm",
    "NodeSelectorTerm": "1 matchExpressions []NodeSelectorRequirement; 2 matchFields []NodeSelectorRequirement",
    "NodeSelectorRequirement": "1 key; 2 operator; 3 values []string",
    "PreferredSchedulingTerm": "1 weight int32?; 2 preference NodeSelectorTerm",
    "PodAffinity": (
        "1 requiredDuringSchedulingIgnoredDuringExecution []PodAffinityTerm; "
        "2 preferredDuringSchedulingIgnoredDuringExecution []WeightedPodAffinityTerm"
    ),
    "PodAffinityTerm": (
        "1 labelSelector LabelSelector; 2 namespaces []string; 3 topologyKey; 4 namespaceSelector LabelSelector; "
        "5 matchLabelKeys []string; 6 mismatchLabelKeys []string"
    ),
    "WeightedPodAffinityTerm": "1 weight int32?; 2 podAffinityTerm PodAffinityTerm",
    "PodAntiAffinity": (
        "1 requiredDuringSchedulingIgnoredDuringExecution []PodAffinityTerm; "
        "2 preferredDuringSchedulingIgnoredDuringExecution []WeightedPodAffinityTerm"
    ),
    "Toleration": "1 key; 2 operator; 3 value; 4 effect; 5 tolerationSeconds int64?",
    "HostAlias": "1 ip; 2 hostnames []string",
    "PodDNSConfig": "1 nameservers []string; 2 searches []string; 3 options []PodDNSConfigOption",
    "PodDNSConfigOption": "1 name; 2 value string?",
    "PodReadinessGate": "1 conditionType",
    "TopologySpreadConstraint": (
        "1 maxSkew int32?; 2 topologyKey; 3 whenUnsatisfiable; 4 labelSelector LabelSelector; 5 minDomains int32?; "
        "6 nodeAffinityPolicy string?; 7 nodeTaintsPolicy string?; 8 matchLabelKeys []string"
    ),
    "PodOS": "1 name",
    "PodSchedulingGate": "1 name",
    "PodResourceClaim": "1 name; 3 resourceClaimName string?; 4 resourceClaimTemplateName string?",
    "PodStatus": "",
    "Deployment": "1 metadata ObjectMeta; 2 spec DeploymentSpec; 3 status DeploymentStatus",
    "DeploymentSpec": (
        "1 replicas int32?; 2 selector LabelSelector; 3 template PodTemplateSpec; 4 strategy DeploymentStrategy; "
        "5 minReadySeconds int32; 6 revisionHistoryLimit int32?; 7 paused bool; 9 progressDeadlineSeconds int32?"
    ),
    "PodTemplateSpec": "1 metadata ObjectMeta; 2 spec PodSpec",
    "DeploymentStrategy": "1 type; 2 rollingUpdate RollingUpdateDeployment",
    "RollingUpdateDeployment": "1 maxUnavailable IntOrString; 2 maxSurge IntOrString",
    "DeploymentStatus": "",
    "HorizontalPodAutoscalerV1": (
        "1 metadata ObjectMeta; 2 spec HorizontalPodAutoscalerSpecV1; 3 status HorizontalPodAutoscalerStatusV1"
    ),
    "HorizontalPodAutoscalerSpecV1": (
        "1 scaleTargetRef CrossVersionObjectReference; 2 minReplicas int32?; 3 maxReplicas int32?; "
        "4 targetCPUUtilizationPercentage int32?"
    ),
    "CrossVersionObjectReference": "1 kind; 2 name; 3 apiVersion",
    "HorizontalPodAutoscalerStatusV1": "",
    "HorizontalPodAutoscaler": (
        "1 metadata ObjectMeta; 2 spec HorizontalPodAutoscalerSpec; 3 status HorizontalPodAutoscalerStatus"
    ),
    "HorizontalPodAutoscalerSpec": (
        "1 scaleTargetRef CrossVersionObjectReference; 2 minReplicas int32?; 3 maxReplicas int32?; "
        "4 metrics []MetricSpec; 5 behavior HorizontalPodAutoscalerBehavior"
    ),
    "MetricSpec": (
        "1 type; 2 object ObjectMetricSource; 3 pods PodsMetricSource; 4 resource ResourceMetricSource; "
        "5 external ExternalMetricSource; 7 containerResource ContainerResourceMetricSource"
    ),
    "ObjectMetricSource": (
        "1 describedObject CrossVersionObjectReference; 2 target MetricTarget; 3 metric MetricIdentifier"
    ),
    "MetricTarget": "1 type; 2 value Quantity; 3 averageValue Quantity; 4 averageUtilization int32?",
    "MetricIdentifier": "1 name; 2 selector LabelSelector",
    "PodsMetricSource": "1 metric MetricIdentifier; 2 target MetricTarget",
    "ResourceMetricSource": "1 name; 2 target MetricTarget",
    "ContainerResourceMetricSource": "1 name; 2 target MetricTarget; 3 container",
    "ExternalMetricSource": "1 metric MetricIdentifier; 2 target MetricTarget",
    "HorizontalPodAutoscalerBehavior": "1 scaleUp HPAScalingRules; 2 scaleDown HPAScalingRules",
    "HPAScalingRules": "1 selectPolicy string?; 2 policies []HPAScalingPolicy; 3 stabilizationWindowSeconds int32?",
    "HPAScalingPolicy": "1 type; 2 value int32?; 3 periodSeconds int32?",
    "HorizontalPodAutoscalerStatus": "",
    "SelfSubjectAccessReview": (
        "1 metadata ObjectMeta; 2 spec SelfSubjectAccessReviewSpec; 3 status SubjectAccessReviewStatus"
    ),
    "SelfSubjectAccessReviewSpec": (
        "1 resourceAttributes ResourceAttributes; 2 nonResourceAttributes NonResourceAttributes"
    ),
    "ResourceAttributes": (
        "1 namespace; 2 verb; 3 group; 4 version; 5 resource; 6 subresource; 7 name; "
        "8 fieldSelector FieldSelectorAttributes; 9 labelSelector LabelSelectorAttributes"
    ),
    "FieldSelectorAttributes": "1 rawSelector; 2 requirements []FieldSelectorRequirement",
    "FieldSelectorRequirement": "1 key; 2 operator; 3 values []string",
    "LabelSelectorAttributes": "1 rawSelector; 2 requirements []LabelSelectorRequirement",
    "NonResourceAttributes": "1 path; 2 verb",
    "SubjectAccessReviewStatus": "",
    # authentication/v1: `kubectl create token` posts a TokenRequest; expirationSeconds is a pointer.
    "TokenRequest": "1 metadata ObjectMeta; 2 spec TokenRequestSpec; 3 status TokenRequestStatus",
    "TokenRequestSpec": "1 audiences []string; 3 boundObjectRef BoundObjectReference; 4 expirationSeconds int64?",
    "BoundObjectReference": "1 kind; 2 apiVersion; 3 name; 4 uid",
    "TokenRequestStatus": "",
    "TokenReview": "1 metadata ObjectMeta; 2 spec TokenReviewSpec; 3 status TokenReviewStatus",
    "TokenReviewSpec": "1 token; 2 audiences []string",
    "TokenReviewStatus": "",
})
# fmt: on


@dataclass(frozen=True)
class Field:
    """One field of a message: `type` is a scalar, special, map or message name (see the module docstring)."""

    name: str
    type: str
    repeated: bool = False
    keep_zero: bool = False

    @property
    def inline(self) -> bool:
        return self.name == "..."

    @property
    def is_message(self) -> bool:
        return self.type not in SCALARS and self.type not in SPECIAL and self.type not in MAPS


_FIELD = re.compile(r"(\d+) (\.\.\.|[A-Za-z][A-Za-z0-9]*)(?: (\[\])?([A-Za-z0-9<>]+)(\?)?)?")


def parse_message(spec: str) -> dict[int, Field]:
    """Parse one message's `NUMBER NAME [TYPE]; ...` line into `{number: Field}`."""
    fields: dict[int, Field] = {}
    for part in filter(None, (p.strip() for p in spec.split(";"))):
        match = _FIELD.fullmatch(part)
        if match is None:
            raise ValueError(f"bad field spec {part!r}")
        number, name, repeated, type_, keep = match.groups()
        if int(number) in fields:
            raise ValueError(f"field number {number} twice in {spec!r}")
        fields[int(number)] = Field(name, type_ or "string", bool(repeated), bool(keep))
    return fields


MESSAGES: Mapping[str, Mapping[int, Field]] = MappingProxyType(
    {name: MappingProxyType(parse_message(spec)) for name, spec in SCHEMA.items()}
)
