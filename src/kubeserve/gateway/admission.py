"""Route admission, decided the way OpenShift's router decides it: which Routes get their host, and why not.

One pure function, `admit`, over everything the router sees (Routes, Services, InferenceServices) and its
settings; `routestatus` writes the verdicts to each Route's `status.ingress`, and the proxy serves only
admitted Routes. Each Route is first checked on its own, then the Routes that pass claim their hosts:

- a Route whose TLS configuration the router could not serve fails `ExtendedValidationFailed`, with the
  field at fault and what is wrong with it (an unknown termination, a passthrough Route with a path, with
  certificates or with `Allow`, a certificate or key that does not parse or a pair that does not match, a
  destinationCACertificate on anything but reencrypt);
- wildcard Routes are refused (`RouteNotAdmitted`), as by OpenShift's default router;
- the guide's rule: a Route to the predictor of an InferenceService that lacks the label
  `networking.kserve.io/visibility: exposed` is refused (`InferenceServiceNotExposed`) with the exact
  `kubectl label` command that fixes it;
- host claims: the oldest Route (creationTimestamp, then namespace/name) wins a host and path; a host is
  shared between paths only within one namespace, and a passthrough Route (routed by SNI, before any path
  is seen) claims its whole host; the others fail `HostAlreadyClaimed`, naming the Route that holds it.

A Route without `spec.host` (the API server normally fills it in at creation) gets `<subdomain>.<domain>`
when it asks for a subdomain and `<name>-<namespace>.<domain>` otherwise, as the router would.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

Obj = dict[str, Any]

TERMINATIONS = ("edge", "passthrough", "reencrypt")
INSECURE_POLICIES = ("", "None", "Allow", "Redirect")
ISVC_LABEL = "serving.kserve.io/inferenceservice"
VISIBILITY_LABEL = "networking.kserve.io/visibility"


@dataclass(frozen=True)
class AdmissionSettings:
    router_name: str = "default"
    domain: str = "apps.localhost"
    https_port: int = 443
    http_port: int = 80

    @property
    def canonical_hostname(self) -> str:
        return f"router-{self.router_name}.{self.domain}"


@dataclass(frozen=True)
class Admission:
    host: str
    path: str
    admitted: bool
    reason: str = ""
    message: str = ""


def admit(routes: Sequence[Obj], services: Sequence[Obj], inference_services: Sequence[Obj],
          settings: AdmissionSettings) -> dict[tuple[str, str], Admission]:
    """(namespace, name) -> the verdict, for every Route."""
    predictors = _predictor_services(services, inference_services)
    out: dict[tuple[str, str], Admission] = {}
    holders: list[tuple[Obj, Admission]] = []  # admitted so far, oldest first
    for route in sorted(routes, key=_age):
        namespace, name = _key(route)
        spec = route.get("spec") or {}
        host = route_host(route, settings.domain)
        path = str(spec.get("path") or "")
        refusal = _refusal(route, predictors, settings)
        if refusal is None:
            refusal = _claimed(route, host, path, holders)
        if refusal is None:
            out[(namespace, name)] = Admission(host, path, True)
            holders.append((route, out[(namespace, name)]))
        else:
            out[(namespace, name)] = Admission(host, path, False, *refusal)
    return out


def route_host(route: Obj, domain: str) -> str:
    spec = route.get("spec") or {}
    host = str(spec.get("host") or "")
    if host:
        return host.lower()
    namespace, name = _key(route)
    subdomain = spec.get("subdomain")
    return f"{subdomain}.{domain}" if subdomain else f"{name}-{namespace}.{domain}"


def _key(obj: Obj) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return str(meta.get("namespace") or ""), str(meta.get("name") or "")


def _age(route: Obj) -> tuple[str, str, str]:
    # RFC 3339 UTC timestamps in one format sort as strings; a missing one counts as oldest, as in Go.
    return (str((route.get("metadata") or {}).get("creationTimestamp") or ""), *_key(route))


def _refusal(route: Obj, predictors: dict[tuple[str, str], Obj], settings: AdmissionSettings) -> tuple[str, str] | None:
    spec = route.get("spec") or {}
    problem = _tls_problem(spec)
    if problem is not None:
        return "ExtendedValidationFailed", problem
    if spec.get("wildcardPolicy") == "Subdomain":
        return ("RouteNotAdmitted", f"wildcard routes are not allowed by router {settings.router_name!r}: set "
                "spec.wildcardPolicy to None and give each host its own Route")
    namespace = _key(route)[0]
    backends = [spec.get("to") or {}, *(spec.get("alternateBackends") or [])]
    for backend in backends:
        if (backend.get("kind") or "Service") != "Service":
            continue
        isvc = predictors.get((namespace, str(backend.get("name") or "")))
        if isvc is None:
            continue
        labels = (isvc.get("metadata") or {}).get("labels") or {}
        if labels.get(VISIBILITY_LABEL) == "exposed":
            continue
        isvc_name = _key(isvc)[1]
        return ("InferenceServiceNotExposed",
                f"Service {backend.get('name')} is the predictor of InferenceService {isvc_name}, which is not "
                f"labelled {VISIBILITY_LABEL}=exposed and so is served inside the cluster only; to expose it, run "
                f"kubectl label inferenceservice {isvc_name} {VISIBILITY_LABEL}=exposed -n {namespace}")
    return None


def _predictor_services(services: Sequence[Obj], isvcs: Sequence[Obj]) -> dict[tuple[str, str], Obj]:
    """(namespace, Service name) -> the InferenceService whose predictor it is."""
    by_key = {_key(isvc): isvc for isvc in isvcs}
    out: dict[tuple[str, str], Obj] = {}
    for (namespace, name), isvc in by_key.items():
        out[(namespace, f"{name}-predictor")] = isvc
    for service in services:
        namespace, name = _key(service)
        owner = ((service.get("metadata") or {}).get("labels") or {}).get(ISVC_LABEL)
        if owner and (namespace, owner) in by_key:
            out[(namespace, name)] = by_key[(namespace, owner)]
    return out


def _claimed(route: Obj, host: str, path: str, holders: list[tuple[Obj, Admission]]) -> tuple[str, str] | None:
    """Why an older admitted Route keeps this one off its host, or None."""
    namespace, name = _key(route)
    passthrough = _termination(route) == "passthrough"
    for other, held in holders:
        if held.host != host:
            continue
        other_namespace, other_name = _key(other)
        other_path = held.path
        if other_namespace != namespace:
            return ("HostAlreadyClaimed",
                    f"a route in another namespace holds {host} and is older than {name}")
        if other_path == path:
            return "HostAlreadyClaimed", f"route {other_name} already exposes {host}{path} and is older"
        if passthrough or _termination(other) == "passthrough":
            return ("HostAlreadyClaimed", f"route {other_name} already exposes {host} and is older; a passthrough "
                    "route takes its whole host (TLS is not opened, so no path can be seen)")
    return None


def _termination(route: Obj) -> str:
    tls = (route.get("spec") or {}).get("tls")
    return str(tls.get("termination") or "") if isinstance(tls, dict) else ""


def _tls_problem(spec: Obj) -> str | None:
    tls = spec.get("tls")
    if not tls:
        return None
    if not isinstance(tls, dict):
        return "spec.tls: Invalid value: must be an object with a termination"
    termination = str(tls.get("termination") or "")
    if termination not in TERMINATIONS:
        return (f'spec.tls.termination: Unsupported value: "{termination}": supported values: "edge", '
                '"passthrough", "reencrypt"')
    policy = str(tls.get("insecureEdgeTerminationPolicy") or "")
    if policy not in INSECURE_POLICIES:
        return (f'spec.tls.insecureEdgeTerminationPolicy: Unsupported value: "{policy}": supported values: '
                '"None", "Allow", "Redirect"')
    if termination == "passthrough":
        if spec.get("path"):
            return (f'spec.path: Invalid value: "{spec["path"]}": passthrough termination does not support paths '
                    "(the router cannot see the path of a connection it does not decrypt); remove spec.path")
        if policy == "Allow":
            return ('spec.tls.insecureEdgeTerminationPolicy: Invalid value: "Allow": passthrough termination '
                    'cannot serve plain HTTP; use "None" or "Redirect"')
        for field in ("certificate", "key", "caCertificate", "destinationCACertificate"):
            if tls.get(field):
                return (f"spec.tls.{field}: Invalid value: passthrough termination does not support certificates "
                        "(the backend presents its own); remove it or use reencrypt")
        return None
    if termination == "edge" and tls.get("destinationCACertificate"):
        return ("spec.tls.destinationCACertificate: Invalid value: edge termination does not support destination "
                "certificates (the router speaks plain HTTP to the backend); remove it or use reencrypt")
    return _certificate_problem(tls)


def _certificate_problem(tls: Obj) -> str | None:
    cert_pem, key_pem = str(tls.get("certificate") or ""), str(tls.get("key") or "")
    if cert_pem and not key_pem:
        return "spec.tls.key: Required value: spec.tls.certificate is set, so its private key must be too"
    if key_pem and not cert_pem:
        return "spec.tls.certificate: Required value: spec.tls.key is set, so its certificate must be too"
    certificates: list[x509.Certificate] = []
    if cert_pem:
        try:
            certificates = x509.load_pem_x509_certificates(cert_pem.encode())
        except ValueError as err:
            return f"spec.tls.certificate: Invalid value: not a PEM-encoded X.509 certificate ({err})"
        try:
            key = serialization.load_pem_private_key(key_pem.encode(), password=None)
        except (ValueError, TypeError) as err:
            return f"spec.tls.key: Invalid value: not an unencrypted PEM-encoded private key ({err})"
        if _public(key.public_key()) != _public(certificates[0].public_key()):
            return ("spec.tls.key: Invalid value: the private key does not match the public key of "
                    "spec.tls.certificate (check that the two come from the same certificate request)")
    for field in ("caCertificate", "destinationCACertificate"):
        pem = str(tls.get(field) or "")
        if not pem:
            continue
        try:
            x509.load_pem_x509_certificates(pem.encode())
        except ValueError as err:
            return f"spec.tls.{field}: Invalid value: not a PEM-encoded X.509 certificate ({err})"
    return None


def _public(key: Any) -> bytes:
    data: bytes = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return data
