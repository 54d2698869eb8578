"""Route admission as OpenShift's router decides it: host generation, host claims, TLS validation, the guide's
exposure rule — one table per rule."""

from __future__ import annotations

import datetime
from functools import cache
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from kubeserve.gateway.admission import Admission, AdmissionSettings, admit

Obj = dict[str, Any]
SETTINGS = AdmissionSettings(domain="apps.localhost")
T1, T2, T3 = "2026-01-01T00:00:01Z", "2026-01-01T00:00:02Z", "2026-01-01T00:00:03Z"


HOST = "granite-model-demo.apps.localhost"


def route(name: str = "granite-model", namespace: str = "demo", *, host: str | None = HOST,
          path: str = "", created: str = T1, to: str = "granite-model-predictor", tls: Obj | None = None,
          **spec: Any) -> Obj:
    body: Obj = {"to": {"kind": "Service", "name": to, "weight": 100}, "port": {"targetPort": "http"}, **spec}
    if host is not None:
        body["host"] = host
    if path:
        body["path"] = path
    if tls is not None:
        body["tls"] = tls
    return {"metadata": {"name": name, "namespace": namespace, "creationTimestamp": created}, "spec": body}


def isvc(name: str = "granite-model", namespace: str = "demo", *, exposed: bool = True) -> Obj:
    labels = {"networking.kserve.io/visibility": "exposed"} if exposed else {}
    return {"metadata": {"name": name, "namespace": namespace, "labels": labels}}


def service(name: str, namespace: str = "demo", isvc_label: str | None = None) -> Obj:
    labels = {"serving.kserve.io/inferenceservice": isvc_label} if isvc_label else {}
    return {"metadata": {"name": name, "namespace": namespace, "labels": labels}}


@cache
def pair(common_name: str = "granite") -> tuple[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=365))
            .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    return cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem


def verdict(routes: list[Obj], services: list[Obj] | None = None, isvcs: list[Obj] | None = None,
            key: tuple[str, str] = ("demo", "granite-model")) -> Admission:
    return admit(routes, services or [], isvcs if isvcs is not None else [isvc()], SETTINGS)[key]


# -- host generation --------------------------------------------------------------------------------------

@pytest.mark.parametrize(("spec", "host"), [
    ({"host": None}, "granite-model-demo.apps.localhost"),
    ({"host": ""}, "granite-model-demo.apps.localhost"),
    ({"host": None, "subdomain": "granite"}, "granite.apps.localhost"),
    ({"host": "Granite.Example.COM"}, "granite.example.com"),
])
def test_host(spec: Obj, host: str) -> None:
    result = verdict([route(**spec)])
    assert (result.host, result.admitted) == (host, True)


def test_the_generated_host_uses_the_settings_domain() -> None:
    result = admit([route(host=None)], [], [], AdmissionSettings(domain="apps.example.org"))
    assert result[("demo", "granite-model")].host == "granite-model-demo.apps.example.org"


# -- host claims -------------------------------------------------------------------------------------------

CLAIMS = [
    # (case, routes, key of the route judged, admitted, message fragment)
    ("older-wins", [route("a", created=T1, host="h.apps.localhost"), route("b", created=T2, host="h.apps.localhost")],
     ("demo", "b"), False, "route a already exposes h.apps.localhost and is older"),
    ("older-keeps", [route("b", created=T2, host="h.apps.localhost"), route("a", created=T1, host="h.apps.localhost")],
     ("demo", "a"), True, ""),
    ("tie-by-name", [route("b", created=T1, host="h.apps.localhost"), route("a", created=T1, host="h.apps.localhost")],
     ("demo", "b"), False, "route a already exposes"),
    ("paths-share-in-namespace", [route("a", host="h.apps.localhost", path="/v1"),
                                  route("b", created=T2, host="h.apps.localhost", path="/v2")],
     ("demo", "b"), True, ""),
    ("same-path-conflicts", [route("a", host="h.apps.localhost", path="/v1"),
                             route("b", created=T2, host="h.apps.localhost", path="/v1")],
     ("demo", "b"), False, "already exposes h.apps.localhost/v1"),
    ("other-namespace-conflicts", [route("a", "ns1", host="h.apps.localhost", path="/v1"),
                                   route("b", "ns2", created=T2, host="h.apps.localhost", path="/v2")],
     ("ns2", "b"), False, "a route in another namespace holds h.apps.localhost and is older than b"),
    ("passthrough-takes-host", [route("a", host="h.apps.localhost", tls={"termination": "passthrough"}),
                                route("b", created=T2, host="h.apps.localhost", path="/v2")],
     ("demo", "b"), False, "passthrough route takes its whole host"),
    ("refused-older-does-not-block", [route("a", host="h.apps.localhost", tls={"termination": "bogus"}),
                                      route("b", created=T2, host="h.apps.localhost")], ("demo", "b"), True, ""),
]


@pytest.mark.parametrize(("routes", "key", "admitted", "message"), [c[1:] for c in CLAIMS],
                         ids=[c[0] for c in CLAIMS])
def test_host_claims(routes: list[Obj], key: tuple[str, str], admitted: bool, message: str) -> None:
    result = verdict(routes, key=key)
    assert result.admitted is admitted
    if not admitted:
        assert result.reason == "HostAlreadyClaimed"
        assert message in result.message


def test_a_generated_host_claims_like_a_written_one() -> None:
    routes = [route("x", host="granite-model-demo.apps.localhost", created=T1), route(host=None, created=T2)]
    result = verdict(routes)
    assert (result.admitted, result.reason) == (False, "HostAlreadyClaimed")


# -- TLS ---------------------------------------------------------------------------------------------------

def tls_cases() -> list[tuple[str, Obj, str, str | None]]:
    cert, key = pair()
    other_cert, other_key = pair("other")
    return [
        # (case, tls, path, the field named by the refusal or None for admitted)
        ("edge", {"termination": "edge", "insecureEdgeTerminationPolicy": "Redirect"}, "", None),
        ("edge-allow", {"termination": "edge", "insecureEdgeTerminationPolicy": "Allow"}, "/v1", None),
        ("edge-with-pair", {"termination": "edge", "certificate": cert, "key": key, "caCertificate": other_cert}, "",
         None),
        ("reencrypt-with-dest-ca", {"termination": "reencrypt", "certificate": cert, "key": key,
                                    "destinationCACertificate": other_cert}, "", None),
        ("passthrough", {"termination": "passthrough", "insecureEdgeTerminationPolicy": "Redirect"}, "", None),
        ("unknown-termination", {"termination": "mirror"}, "", "spec.tls.termination"),
        ("missing-termination", {"insecureEdgeTerminationPolicy": "Redirect"}, "", "spec.tls.termination"),
        ("unknown-policy", {"termination": "edge", "insecureEdgeTerminationPolicy": "Sometimes"}, "",
         "spec.tls.insecureEdgeTerminationPolicy"),
        ("passthrough-path", {"termination": "passthrough"}, "/v1", "spec.path"),
        ("passthrough-allow", {"termination": "passthrough", "insecureEdgeTerminationPolicy": "Allow"}, "",
         "spec.tls.insecureEdgeTerminationPolicy"),
        ("passthrough-cert", {"termination": "passthrough", "certificate": cert, "key": key}, "",
         "spec.tls.certificate"),
        ("edge-dest-ca", {"termination": "edge", "destinationCACertificate": cert}, "",
         "spec.tls.destinationCACertificate"),
        ("bad-cert", {"termination": "edge", "certificate": "-----BEGIN CERTIFICATE-----\nnope\n"
                      "-----END CERTIFICATE-----\n", "key": key}, "", "spec.tls.certificate"),
        ("guide-placeholder", {"termination": "reencrypt", "certificate": "-----BEGIN CERTIFICATE-----\n"
                               "<YOUR_CERTIFICATE_CONTENT>\n-----END CERTIFICATE-----", "key": key}, "",
         "spec.tls.certificate"),
        ("bad-key", {"termination": "edge", "certificate": cert, "key": "not a key"}, "", "spec.tls.key"),
        ("mismatched-key", {"termination": "edge", "certificate": cert, "key": other_key}, "", "spec.tls.key"),
        ("cert-without-key", {"termination": "edge", "certificate": cert}, "", "spec.tls.key"),
        ("key-without-cert", {"termination": "reencrypt", "key": key}, "", "spec.tls.certificate"),
        ("bad-ca", {"termination": "edge", "caCertificate": "junk"}, "", "spec.tls.caCertificate"),
        ("bad-dest-ca", {"termination": "reencrypt", "destinationCACertificate": "junk"}, "",
         "spec.tls.destinationCACertificate"),
    ]


@pytest.mark.parametrize(("tls", "path", "field"), [c[1:] for c in tls_cases()], ids=[c[0] for c in tls_cases()])
def test_tls(tls: Obj, path: str, field: str | None) -> None:
    result = verdict([route(tls=tls, path=path)])
    if field is None:
        assert result.admitted, result.message
        return
    assert (result.admitted, result.reason) == (False, "ExtendedValidationFailed")
    assert result.message.startswith(field + ":"), result.message


def test_wildcard_routes_are_refused() -> None:
    result = verdict([route(wildcardPolicy="Subdomain")])
    assert (result.admitted, result.reason) == (False, "RouteNotAdmitted")
    assert "wildcardPolicy" in result.message


# -- the guide's exposure rule ------------------------------------------------------------------------------

FIX = "kubectl label inferenceservice granite-model networking.kserve.io/visibility=exposed -n demo"
EXPOSURE = [
    # (case, route, services, isvcs, admitted)
    ("exposed", route(), [], [isvc()], True),
    ("not-exposed-by-name", route(), [], [isvc(exposed=False)], False),
    ("not-exposed-by-label", route(to="custom-svc"), [service("custom-svc", isvc_label="granite-model")],
     [isvc(exposed=False)], False),
    ("not-exposed-alternate-backend", route(to="web", alternateBackends=[{"kind": "Service",
                                                                         "name": "granite-model-predictor"}]),
     [], [isvc(exposed=False)], False),
    ("other-namespace-isvc", route(), [], [isvc(namespace="elsewhere", exposed=False)], True),
    ("no-isvc", route(), [service("granite-model-predictor")], [], True),
    ("label-without-isvc", route(to="custom-svc"), [service("custom-svc", isvc_label="gone")], [], True),
    ("plain-service", route(to="web"), [service("web")], [isvc(exposed=False)], True),
]


@pytest.mark.parametrize(("route_obj", "services", "isvcs", "admitted"), [c[1:] for c in EXPOSURE],
                         ids=[c[0] for c in EXPOSURE])
def test_exposure_rule(route_obj: Obj, services: list[Obj], isvcs: list[Obj], admitted: bool) -> None:
    result = verdict([route_obj], services, isvcs)
    assert result.admitted is admitted
    if not admitted:
        assert result.reason == "InferenceServiceNotExposed"
        assert result.message.endswith(FIX)


def test_a_refused_route_claims_no_host() -> None:
    routes = [route("hidden", created=T1, host="h.apps.localhost", to="hidden-predictor"),
              route("open", created=T2, host="h.apps.localhost", to="web")]
    result = admit(routes, [], [isvc("hidden", exposed=False)], SETTINGS)
    assert result[("demo", "hidden")].reason == "InferenceServiceNotExposed"
    assert result[("demo", "open")].admitted


def test_every_route_gets_a_verdict_in_any_order() -> None:
    routes = [route("c", created=T3, host="h.apps.localhost"), route("a", created=T1, host="h.apps.localhost"),
              route("b", created=T2, host="x.apps.localhost")]
    forward = admit(routes, [], [], SETTINGS)
    backward = admit(list(reversed(routes)), [], [], SETTINGS)
    assert forward == backward
    assert [forward[("demo", n)].admitted for n in "abc"] == [True, True, False]
