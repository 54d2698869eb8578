"""OpenShift Route (route.openshift.io/v1) and the OpenShift AI dashboard's AcceleratorProfile
(dashboard.opendatahub.io/v1).

Route fields, enums, defaults and required lists follow openshift/api `route/v1` (types.go and the
generated CRD); the termination enum is listed sorted, as openshift-apiserver words its NotSupported
error. AcceleratorProfile follows the odh-dashboard CRD.
"""

from __future__ import annotations

from ._build import (
    Schema,
    arr,
    boolean,
    date_time,
    int_or_string,
    integer,
    obj,
    preserve,
    resource,
    string,
)
from .core import TOLERATION
from .meta import OBJECT_META

_DNS_SUBDOMAIN = (
    r"^([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9\-]{0,61}[a-zA-Z0-9])(\.([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9\-]{0,61}"
    r"[a-zA-Z0-9]))*$"
)

ROUTE_TARGET_REFERENCE = obj(
    {
        "kind": string(
            "The kind of target that the route is referring to. Currently, only 'Service' is allowed.",
            enum=("Service", ""),
            default="Service",
        ),
        "name": string(
            "name of the service/target that is being referred to. e.g. name of the service", min_length=1
        ),
        "weight": integer(
            "weight as an integer between 0 and 256, default 100, that specifies the target's "
            "relative weight against other target reference objects. 0 suppresses requests "
            "to this backend.",
            minimum=0,
            maximum=256,
            default=100,
        ),
    },
    required=("kind", "name"),
    description="RouteTargetReference specifies the target that resolve into endpoints. Only the 'Service' "
    "kind is allowed. Use 'weight' field to emphasize one over others.",
)

TLS_CONFIG = obj(
    {
        "termination": string(
            "termination indicates termination type: edge (TLS terminated by the router, http to the "
            "backend), passthrough (traffic sent straight to the destination) or reencrypt (TLS terminated "
            "by the router, https to the backend).",
            enum=("edge", "passthrough", "reencrypt"),
        ),
        "certificate": string(
            "certificate provides certificate contents. This should be a single serving "
            "certificate, not a certificate chain."
        ),
        "key": string("key provides key file contents"),
        "caCertificate": string("caCertificate provides the cert authority certificate contents"),
        "destinationCACertificate": string(
            "destinationCACertificate provides the contents of the ca "
            "certificate of the final destination (reencrypt)."
        ),
        "insecureEdgeTerminationPolicy": string(
            "insecureEdgeTerminationPolicy indicates the desired behavior for insecure connections to a "
            "route: Allow, None (default) or Redirect.",
            enum=("Allow", "None", "Redirect", ""),
        ),
        "externalCertificate": obj(
            {"name": string("name of the secret holding the certificate and key.")},
            description="externalCertificate provides certificate contents as a secret reference.",
        ),
    },
    required=("termination",),
    description="The tls field provides the ability to configure certificates and termination for the route.",
)

ROUTE_SPEC = obj(
    {
        "host": string(
            "host is an alias/DNS that points to the service. Optional. If not specified a route "
            "name will typically be automatically chosen.",
            pattern=_DNS_SUBDOMAIN,
            max_length=253,
        ),
        "subdomain": string(
            "subdomain is a DNS subdomain that is requested within the ingress controller's "
            "domain (as a subdomain). If host is set this field is ignored.",
            pattern=_DNS_SUBDOMAIN,
            max_length=253,
        ),
        "path": string(
            "path that the router watches for, to route traffic for to the service. Optional", pattern="^/"
        ),
        "to": ROUTE_TARGET_REFERENCE,
        "alternateBackends": arr(
            ROUTE_TARGET_REFERENCE,
            "alternateBackends allows up to 3 additional backends to be assigned to the route.",
            max_items=3,
        ),
        "port": obj(
            {
                "targetPort": int_or_string(
                    "The target port on pods selected by the service this route points "
                    "to. If this is a string, it will be looked up as a named port in "
                    "the target endpoints port list. Required"
                )
            },
            required=("targetPort",),
            description="If specified, the port to be used by the router.",
        ),
        "tls": TLS_CONFIG,
        "wildcardPolicy": string(
            "Wildcard policy if any for the route. Currently only 'Subdomain' or 'None' is allowed.",
            enum=("None", "Subdomain", ""),
            default="None",
        ),
        "httpHeaders": preserve("httpHeaders defines policy for HTTP headers."),
    },
    required=("to",),
    description="spec is the desired state of the route",
)

ROUTE_INGRESS_CONDITION = obj(
    {
        "type": string(
            "Type is the type of the condition. Currently only Admitted or UnservableInFutureVersions."
        ),
        "status": string("Status is the status of the condition. Can be True, False, Unknown."),
        "reason": string(),
        "message": string(),
        "lastTransitionTime": date_time(),
    },
    required=("status", "type"),
)

ROUTE_STATUS = obj(
    {
        "ingress": arr(
            obj(
                {
                    "host": string("Host is the host string under which the route is exposed"),
                    "routerName": string("Name is a name chosen by the router to identify itself"),
                    "routerCanonicalHostname": string(),
                    "wildcardPolicy": string(),
                    "conditions": arr(
                        ROUTE_INGRESS_CONDITION, "Conditions is the state of the route, may be empty."
                    ),
                },
                description="RouteIngress holds information about the places where a route is exposed.",
            ),
            "ingress describes the places where the route may be exposed.",
        ),
    },
    description="status is the current state of the route",
)

ROUTE = resource(
    "A route allows developers to expose services through an HTTP(S) aware load balancing and proxy layer "
    "via a public DNS entry.",
    OBJECT_META,
    {"spec": ROUTE_SPEC, "status": ROUTE_STATUS},
    required=("spec",),
)

ACCELERATOR_PROFILE = resource(
    "AcceleratorProfile describes an accelerator (GPU) configuration offered by the OpenShift AI dashboard.",
    OBJECT_META,
    {
        "spec": obj(
            {
                "displayName": string("The display name of the accelerator profile."),
                "enabled": boolean(
                    "Indicates whether the accelerator profile is available for new resources."
                ),
                "identifier": string(
                    "The resource identifier of the accelerator device. Example: nvidia.com/gpu"
                ),
                "description": string("A short description of the accelerator profile."),
                "tolerations": arr(
                    obj(TOLERATION["properties"], required=("key",)),
                    "Any number of Kubernetes toleration values that are added to resources "
                    "when created or updated to this accelerator profile.",
                ),
            },
            required=("displayName", "enabled", "identifier"),
            description="The accelerator: its display name, resource identifier and node tolerations.",
        ),
    },
    required=("spec",),
)

SCHEMAS: dict[str, Schema] = {
    "com.github.openshift.api.route.v1.Route": ROUTE,
    "io.opendatahub.dashboard.v1.AcceleratorProfile": ACCELERATOR_PROFILE,
}
