"""SNI from a real ClientHello (made by Python's own TLS client into a memory BIO), and certificates issued by a
CA for a Route's host."""

from __future__ import annotations

import datetime as dt
import ssl
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from kubeserve.gateway.tls import CertificateStore, NotClientHello, client_hello_length, client_hello_sni, issue_leaf


def client_hello(server_name: str | None) -> bytes:
    context = ssl.create_default_context()
    if server_name is None:
        context.check_hostname = False
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname=server_name)
    with pytest.raises(ssl.SSLWantReadError):
        tls.do_handshake()
    return outgoing.read()


@pytest.mark.parametrize("name", ["granite-model-my-namespace.apps.localhost", "a.b", "x" * 60 + ".example.com"])
def test_sni_is_read_from_a_real_client_hello(name: str) -> None:
    hello = client_hello(name)
    assert client_hello_length(hello) == len(hello)
    assert client_hello_sni(hello) == name


def test_a_hello_without_sni_gives_none() -> None:
    assert client_hello_sni(client_hello(None)) is None


@pytest.mark.parametrize("data", [b"GET / HTTP/1.1\r\n", b"\x16\x03\x01\x00\x05\x02\x00\x00\x00\x00"])
def test_not_a_client_hello(data: bytes) -> None:
    with pytest.raises(NotClientHello):
        client_hello_sni(data)


def test_an_incomplete_hello_asks_for_the_whole_record() -> None:
    hello = client_hello("a.apps.localhost")
    assert client_hello_length(hello[:3]) == 5
    assert client_hello_length(hello[:20]) == len(hello)
    with pytest.raises(NotClientHello):
        client_hello_sni(hello[:20])


def test_issued_certificates_name_the_host_and_chain_to_the_ca(tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test-ca")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True).sign(key, hashes.SHA256()))
    ca_cert, ca_key = tmp_path / "ca.crt", tmp_path / "ca.key"
    ca_cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    ca_key.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                         serialization.NoEncryption()))
    leaf_pem, _ = issue_leaf(ca_cert, ca_key, "web-ns.apps.localhost")
    leaf = x509.load_pem_x509_certificate(leaf_pem)
    assert leaf.issuer == cert.subject
    sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["web-ns.apps.localhost"]
    store = CertificateStore(ca_cert, ca_key)
    assert store.for_host("web-ns.apps.localhost") is store.for_host("web-ns.apps.localhost")
    with pytest.raises(ValueError, match="do not load"):
        store.for_route("-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n", "nope", "")
