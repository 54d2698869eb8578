"""TLS for Routes: reading the SNI name before deciding who terminates, and the certificate for each host.

The HTTPS listener has to choose between passthrough (splice the still-encrypted bytes to the pod) and
termination (edge, reencrypt) before the handshake, so it peeks at the ClientHello and reads the
server_name extension itself (`client_hello_sni`, pure). Terminated connections then pick a certificate
per SNI name: the Route's own `spec.tls.certificate`/`key` when it has one (the guide's reencrypt patch),
else one issued by kubeserve's CA for that host, so `curl --cacert "$(kubeserve ca)"` verifies every Route.
Issued certificates are kept in memory only: the CA key is what persists.
"""

from __future__ import annotations

import datetime as dt
import ssl
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

RECORD_HEADER = 5
HANDSHAKE = 0x16
CLIENT_HELLO = 0x01
SERVER_NAME_EXTENSION = 0x0000
LEAF_VALIDITY = dt.timedelta(days=365)


class NotClientHello(ValueError):
    """The bytes are not the start of a TLS ClientHello (plain HTTP on the TLS port, say)."""


def client_hello_length(data: bytes) -> int:
    """How many bytes the first TLS record holds (header included); raises NotClientHello early."""
    if len(data) >= 1 and data[0] != HANDSHAKE:
        raise NotClientHello("not a TLS handshake record")
    if len(data) < RECORD_HEADER:
        return RECORD_HEADER
    return RECORD_HEADER + int.from_bytes(data[3:5], "big")


def client_hello_sni(data: bytes) -> str | None:
    """The server_name of a ClientHello (the first record, complete), or None when it sends none."""
    end = client_hello_length(data)
    if len(data) < end:
        raise NotClientHello("incomplete ClientHello")
    body = data[RECORD_HEADER:end]
    if len(body) < 4 or body[0] != CLIENT_HELLO:
        raise NotClientHello("not a ClientHello")
    pos = 4 + 2 + 32  # handshake header, client_version, random
    try:
        pos += 1 + body[pos]  # session_id
        pos += 2 + int.from_bytes(body[pos:pos + 2], "big")  # cipher_suites
        pos += 1 + body[pos]  # compression_methods
        if pos + 2 > len(body):
            return None  # no extensions
        end_ext = pos + 2 + int.from_bytes(body[pos:pos + 2], "big")
        pos += 2
        while pos + 4 <= end_ext:
            kind = int.from_bytes(body[pos:pos + 2], "big")
            size = int.from_bytes(body[pos + 2:pos + 4], "big")
            data_ext = body[pos + 4:pos + 4 + size]
            pos += 4 + size
            if kind != SERVER_NAME_EXTENSION:
                continue
            # server_name_list: length(2), then entries of type(1) length(2) name
            inner = 2
            while inner + 3 <= len(data_ext):
                name_type = data_ext[inner]
                name_len = int.from_bytes(data_ext[inner + 1:inner + 3], "big")
                name = data_ext[inner + 3:inner + 3 + name_len]
                inner += 3 + name_len
                if name_type == 0:
                    return name.decode("ascii", "replace").lower().rstrip(".")
            return None
    except IndexError:
        raise NotClientHello("truncated ClientHello") from None
    return None


@dataclass
class CertificateStore:
    """SSL contexts per host: the Route's own pair, or a certificate issued by kubeserve's CA."""

    ca_cert: Path
    ca_key: Path
    _issued: dict[str, ssl.SSLContext] = field(default_factory=dict)
    _custom: dict[tuple[str, str, str], ssl.SSLContext] = field(default_factory=dict)

    def for_host(self, host: str) -> ssl.SSLContext:
        context = self._issued.get(host)
        if context is None:
            cert, key = issue_leaf(self.ca_cert, self.ca_key, host)
            context = _context(cert + self.ca_cert.read_bytes(), key)
            self._issued[host] = context
        return context

    def for_route(self, certificate: str, key: str, ca_certificate: str) -> ssl.SSLContext:
        """The Route's own certificate (with its CA chain); raises ValueError when it does not load."""
        cache_key = (certificate, key, ca_certificate)
        context = self._custom.get(cache_key)
        if context is None:
            chain = certificate.strip() + "\n" + (ca_certificate.strip() + "\n" if ca_certificate else "")
            context = _context(chain.encode(), key.encode())
            if len(self._custom) > 256:
                self._custom.clear()
            self._custom[cache_key] = context
        return context


def _context(chain_pem: bytes, key_pem: bytes) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_alpn_protocols(["http/1.1"])
    # load_cert_chain reads files only; a private temporary directory keeps the key off shared paths.
    with tempfile.TemporaryDirectory(prefix="kubeserve-gw-") as tmp:
        cert_file, key_file = Path(tmp) / "tls.crt", Path(tmp) / "tls.key"
        cert_file.write_bytes(chain_pem)
        key_file.touch(mode=0o600)
        key_file.write_bytes(key_pem)
        try:
            context.load_cert_chain(cert_file, key_file)
        except ssl.SSLError as exc:
            raise ValueError(f"the certificate and key do not load: {exc.reason or exc}") from None
    return context


def issue_leaf(ca_cert_path: Path, ca_key_path: Path, host: str) -> tuple[bytes, bytes]:
    """A serving certificate for `host` signed by the CA: (certificate PEM, key PEM)."""
    ca_cert = x509.load_pem_x509_certificate(ca_cert_path.read_bytes())
    ca_key = serialization.load_pem_private_key(ca_key_path.read_bytes(), password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{ca_key_path}: expected the EC key kubeserve's CA uses")
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host[:64])]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + LEAF_VALIDITY)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return cert.public_bytes(serialization.Encoding.PEM), key_pem
