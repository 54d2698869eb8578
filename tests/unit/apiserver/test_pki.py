"""The local CA and serving certificates: created once, reused, reissued only when they must be.

One test does a real TLS handshake over loopback, because the only proof that the SANs, key usages and
context settings are right is a verifying client accepting the certificate for 127.0.0.1.
"""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import stat
import threading
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from kubeserve.apiserver import pki as pki_mod
from kubeserve.apiserver.pki import (
    DEFAULT_HOSTS,
    Pki,
    client_ssl_context,
    ensure_pki,
    ensure_token,
    issue_certificate,
    server_ssl_context,
)


def load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def sans(path: Path) -> tuple[set[str], set[str]]:
    ext = load(path).extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return {str(ip) for ip in ext.get_values_for_type(x509.IPAddress)}, set(
        ext.get_values_for_type(x509.DNSName)
    )


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def fingerprint(path: Path) -> bytes:
    return load(path).fingerprint(hashes.SHA256())


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return ensure_pki(tmp_path / "pki", DEFAULT_HOSTS)


def test_layout_and_modes(pki: Pki, tmp_path: Path) -> None:
    assert pki == Pki(
        ca_cert=tmp_path / "pki" / "ca.crt",
        ca_key=tmp_path / "pki" / "ca.key",
        serving_cert=tmp_path / "pki" / "serving.crt",
        serving_key=tmp_path / "pki" / "serving.key",
    )
    assert mode(pki.ca_key) == 0o600
    assert mode(pki.serving_key) == 0o600
    assert mode(pki.ca_cert) == 0o644
    assert not list((tmp_path / "pki").glob("*.tmp"))


def test_ca_is_a_ten_year_self_signed_ca(pki: Pki) -> None:
    ca = load(pki.ca_cert)
    assert ca.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "kubeserve-ca"
    assert ca.issuer == ca.subject
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    assert ca.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign is True
    lifetime = ca.not_valid_after_utc - ca.not_valid_before_utc
    assert dt.timedelta(days=3649) < lifetime < dt.timedelta(days=3651)
    ca.verify_directly_issued_by(ca)


def test_serving_certificate_sans_and_usage(pki: Pki) -> None:
    assert sans(pki.serving_cert) == (
        {"127.0.0.1", "::1"},
        {
            "localhost",
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local",
        },
    )
    cert = load(pki.serving_cert)
    cert.verify_directly_issued_by(load(pki.ca_cert))
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.SERVER_AUTH in eku
    assert cert.not_valid_after_utc - dt.datetime.now(dt.UTC) > dt.timedelta(days=300)


def test_idempotent(pki: Pki, tmp_path: Path) -> None:
    before = {p: p.read_bytes() for p in (pki.ca_cert, pki.ca_key, pki.serving_cert, pki.serving_key)}
    again = ensure_pki(tmp_path / "pki", list(reversed(DEFAULT_HOSTS)))  # order does not matter
    assert again == pki
    assert {p: p.read_bytes() for p in before} == before


def test_reissue_on_host_change_keeps_the_ca(pki: Pki, tmp_path: Path) -> None:
    ca_before = pki.ca_cert.read_bytes()
    serving_before = fingerprint(pki.serving_cert)
    ensure_pki(tmp_path / "pki", [*DEFAULT_HOSTS, "10.0.0.5", "[fd00::1]", "Box.Example."])
    assert pki.ca_cert.read_bytes() == ca_before
    assert fingerprint(pki.serving_cert) != serving_before
    ips, names = sans(pki.serving_cert)
    assert {"10.0.0.5", "fd00::1"} <= ips
    assert "box.example" in names
    load(pki.serving_cert).verify_directly_issued_by(load(pki.ca_cert))
    # and dropping a host reissues too
    ensure_pki(tmp_path / "pki", ["127.0.0.1"])
    assert sans(pki.serving_cert) == ({"127.0.0.1"}, set())


def test_reissue_when_expiring(pki: Pki, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    serving_before = fingerprint(pki.serving_cert)
    ca_before = fingerprint(pki.ca_cert)
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(days=340)  # leaf has < 30 days left, CA has years
    monkeypatch.setattr(pki_mod, "_now", lambda: soon)
    ensure_pki(tmp_path / "pki", DEFAULT_HOSTS)
    assert fingerprint(pki.ca_cert) == ca_before
    assert fingerprint(pki.serving_cert) != serving_before


def test_reissue_when_damaged_or_from_another_ca(pki: Pki, tmp_path: Path) -> None:
    pki.serving_key.write_bytes(b"garbage")
    ensure_pki(tmp_path / "pki", DEFAULT_HOSTS)
    server_ssl_context(pki)  # key and certificate match again

    other = ensure_pki(tmp_path / "other", DEFAULT_HOSTS)
    pki.serving_cert.write_bytes(other.serving_cert.read_bytes())
    pki.serving_key.write_bytes(other.serving_key.read_bytes())
    ensure_pki(tmp_path / "pki", DEFAULT_HOSTS)
    load(pki.serving_cert).verify_directly_issued_by(load(pki.ca_cert))


def test_missing_ca_key_recreates_ca_and_serving(pki: Pki, tmp_path: Path) -> None:
    ca_before = fingerprint(pki.ca_cert)
    pki.ca_key.unlink()
    ensure_pki(tmp_path / "pki", DEFAULT_HOSTS)
    assert fingerprint(pki.ca_cert) != ca_before
    load(pki.serving_cert).verify_directly_issued_by(load(pki.ca_cert))


def test_issue_certificate(pki: Pki, tmp_path: Path) -> None:
    out = tmp_path / "gateway"
    cert_path, key_path = issue_certificate(
        pki, "kubeserve-gateway", ["127.0.0.1", "gw.local"], out, "gateway"
    )
    assert (cert_path, key_path) == (out / "gateway.crt", out / "gateway.key")
    assert mode(key_path) == 0o600
    cert = load(cert_path)
    cert.verify_directly_issued_by(load(pki.ca_cert))
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "kubeserve-gateway"
    assert sans(cert_path) == ({"127.0.0.1"}, {"gw.local"})
    first = fingerprint(cert_path)
    issue_certificate(pki, "kubeserve-gateway", ["gw.local", "127.0.0.1"], out, "gateway")
    assert fingerprint(cert_path) == first
    issue_certificate(pki, "kubeserve-gateway", ["127.0.0.1"], out, "gateway")
    assert fingerprint(cert_path) != first
    issue_certificate(pki, "other-name", ["127.0.0.1"], out, "gateway")
    assert load(cert_path).subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "other-name"
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    assert load(cert_path).public_key() == key.public_key()


@pytest.mark.parametrize("bad", ["", "../x", "a/b", ".hidden"])
def test_issue_certificate_rejects_bad_names(pki: Pki, tmp_path: Path, bad: str) -> None:
    with pytest.raises(ValueError):
        issue_certificate(pki, "cn", ["127.0.0.1"], tmp_path, bad)


def test_no_hosts_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        ensure_pki(tmp_path / "pki", [])


def test_token(tmp_path: Path) -> None:
    path = tmp_path / "auth" / "token"
    token = ensure_token(path)
    assert len(token) >= 43 and token.replace("-", "").replace("_", "").isalnum()
    assert mode(path) == 0o600
    assert ensure_token(path) == token
    assert ensure_token(tmp_path / "other-token") != token
    path.chmod(0o644)
    assert ensure_token(path) == token
    assert mode(path) == 0o600
    path.write_text("")
    fresh = ensure_token(path)
    assert fresh and fresh != token and path.read_text().strip() == fresh
    assert not list(path.parent.glob("*.tmp"))


def test_server_context(pki: Pki) -> None:
    context = server_ssl_context(pki)
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2


def test_tls_handshake_verifies_for_loopback(pki: Pki) -> None:
    server_context = server_ssl_context(pki)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    result: dict[str, object] = {}

    def serve() -> None:
        conn, _ = listener.accept()
        with server_context.wrap_socket(conn, server_side=True) as tls:
            result["server_alpn"] = tls.selected_alpn_protocol()
            tls.sendall(tls.recv(5))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    client = client_ssl_context(pki)
    client.set_alpn_protocols(["h2", "http/1.1"])
    assert client.verify_mode == ssl.CERT_REQUIRED and client.check_hostname
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        client.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        peer = tls.getpeercert()
        tls.sendall(b"hello")
        assert tls.recv(5) == b"hello"
        assert tls.selected_alpn_protocol() == "http/1.1"
        assert tls.version() in ("TLSv1.2", "TLSv1.3")
    thread.join(10)
    listener.close()
    assert result["server_alpn"] == "http/1.1"
    assert peer is not None
    assert ("IP Address", "127.0.0.1") in peer["subjectAltName"]

    # a client that does not trust our CA refuses the same certificate
    stranger = ssl.create_default_context(cafile=str(ensure_pki(pki.ca_cert.parent.parent / "x").ca_cert))
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def refuse() -> None:
        conn, _ = listener.accept()
        try:
            server_context.wrap_socket(conn, server_side=True).close()
        except (ssl.SSLError, OSError):
            conn.close()  # the client aborts the handshake; that is the point

    thread = threading.Thread(target=refuse, daemon=True)
    thread.start()
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        pytest.raises(ssl.SSLCertVerificationError),
    ):
        stranger.wrap_socket(raw, server_hostname="127.0.0.1")
    thread.join(10)
    listener.close()
