"""The local certificate authority, serving certificates and bearer token that let clients use TLS.

Go clients (kubectl, the MCP server) send no credentials over plain `http://`, and Python clients send
their token in clear text there. Serving HTTPS with a private CA fixes both: the kubeconfig names the
CA file, every client verifies the server, and the token only ever travels encrypted.

Everything here is idempotent, because it runs at every start: the CA is created once and then reused
(so kubeconfigs that point at it stay valid), and a leaf certificate is reissued only when it is
missing, unreadable, not from this CA, for a different set of hosts or names, or within 30 days of
expiry. Private keys and the token are written with mode 0600, by rename, so a crash never leaves a
half-written key behind; a lock file serialises processes that start at the same time.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import ipaddress
import os
import secrets
import ssl
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from kubeserve.atomicfile import write_atomic

CA_COMMON_NAME = "kubeserve-ca"
SERVING_COMMON_NAME = "kubeserve-apiserver"
DEFAULT_HOSTS: tuple[str, ...] = (
    "127.0.0.1",
    "::1",
    "localhost",
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
)

CA_VALIDITY = dt.timedelta(days=3650)
LEAF_VALIDITY = dt.timedelta(days=365)
RENEW_BEFORE = dt.timedelta(days=30)
_BACKDATE = dt.timedelta(minutes=5)  # tolerate small clock differences between processes

_PUBLIC_MODE = 0o644
_PRIVATE_MODE = 0o600

_IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class Pki:
    """Where the CA and the API server's serving certificate live (PEM files)."""

    ca_cert: Path
    ca_key: Path
    serving_cert: Path
    serving_key: Path

    @classmethod
    def in_directory(cls, directory: Path) -> Pki:
        """Where the files of a PKI directory are, whether or not they exist yet."""
        return cls(
            ca_cert=directory / "ca.crt",
            ca_key=directory / "ca.key",
            serving_cert=directory / "serving.crt",
            serving_key=directory / "serving.key",
        )


def ensure_pki(directory: Path, hosts: Sequence[str] = DEFAULT_HOSTS) -> Pki:
    """Create (or reuse) the CA and a serving certificate for `hosts` under `directory`.

    IP addresses in `hosts` become IP SANs, anything else a DNS SAN.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    pki = Pki.in_directory(directory)
    with _locked(directory):
        ca_cert, ca_key = _ensure_ca(pki.ca_cert, pki.ca_key)
        _ensure_leaf(ca_cert, ca_key, SERVING_COMMON_NAME, hosts, pki.serving_cert, pki.serving_key)
    return pki


def issue_certificate(
    pki: Pki, common_name: str, hosts: Sequence[str], directory: Path, name: str
) -> tuple[Path, Path]:
    """Create (or reuse) `directory/name.crt` and `name.key`: a serving certificate signed by the CA.

    For other servers (the gateway, ...) that clients should trust through the same CA file. Reissued
    under the same rules as the API server's own certificate. Returns `(cert_path, key_path)`.
    """
    if not name or "/" in name or name.startswith("."):
        raise ValueError(f"invalid certificate name {name!r}")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    cert_path, key_path = directory / f"{name}.crt", directory / f"{name}.key"
    with _locked(pki.ca_cert.parent):
        ca_cert, ca_key = _load_ca(pki.ca_cert, pki.ca_key)
        _ensure_leaf(ca_cert, ca_key, common_name, hosts, cert_path, key_path)
    return cert_path, key_path


def ensure_token(path: Path) -> str:
    """The bearer token stored at `path`; a random 32-byte urlsafe one is created (mode 0600) if absent."""
    path = Path(path)
    existing = _read_token(path)
    if existing:
        return existing
    path.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(token + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(tmp, path)  # create-if-absent: a concurrent creator's token wins, not ours
        except FileExistsError:
            existing = _read_token(path)
            if existing:
                return existing
            os.replace(tmp, path)  # an empty or unreadable file: replace it
            tmp = ""
    finally:
        if tmp:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
    return token


def server_ssl_context(pki: Pki) -> ssl.SSLContext:
    """A TLS 1.2+ server context with the serving certificate, offering ALPN `http/1.1` only."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(certfile=str(pki.serving_cert), keyfile=str(pki.serving_key))
    context.set_alpn_protocols(["http/1.1"])
    return context


def client_ssl_context(pki: Pki) -> ssl.SSLContext:
    """A client context that trusts only this CA (for in-process clients talking to our own servers)."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(pki.ca_cert))
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


# --- internals -----------------------------------------------------------------------------------


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    with open(directory / ".lock", "a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _read_token(path: Path) -> str:
    try:
        token = path.read_text().strip()
    except (FileNotFoundError, UnicodeDecodeError):
        return ""
    if token and (path.stat().st_mode & 0o777) != _PRIVATE_MODE:
        path.chmod(_PRIVATE_MODE)
    return token


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _load_pair(cert_path: Path, key_path: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None:
    """The certificate and its key, or None when either is missing, unreadable or they do not match."""
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError):
        return None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        return None
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    if cert.public_key().public_bytes(serialization.Encoding.DER, public) != key.public_key().public_bytes(
        serialization.Encoding.DER, public
    ):
        return None
    return cert, key


def _fresh(cert: x509.Certificate) -> bool:
    now = _now()
    return cert.not_valid_before_utc <= now + _BACKDATE and cert.not_valid_after_utc - now > RENEW_BEFORE


def _load_ca(cert_path: Path, key_path: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    pair = _load_pair(cert_path, key_path)
    if pair is None:
        raise FileNotFoundError(f"no usable CA at {cert_path} / {key_path}; run ensure_pki first")
    return pair


def _ensure_ca(cert_path: Path, key_path: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    pair = _load_pair(cert_path, key_path)
    if pair is not None and _fresh(pair[0]):
        return pair
    key = _new_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CA_COMMON_NAME)])
    now = _now()
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + CA_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ski, critical=False)
        .sign(key, hashes.SHA256())
    )
    # The key first: a crash in between leaves a mismatched pair, which the next start replaces.
    write_atomic(key_path, _key_pem(key), _PRIVATE_MODE)
    write_atomic(cert_path, cert.public_bytes(serialization.Encoding.PEM), _PUBLIC_MODE)
    return cert, key


def _parse_hosts(hosts: Sequence[str]) -> tuple[list[_IpAddress], list[str]]:
    ips: list[_IpAddress] = []
    names: list[str] = []
    for raw in hosts:
        host = raw.strip()
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        if not host:
            continue
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            name = host.lower().rstrip(".")
            if name not in names:
                names.append(name)
        else:
            if ip not in ips:
                ips.append(ip)
    if not ips and not names:
        raise ValueError("a certificate needs at least one host")
    return ips, names


def _signed_by(cert: x509.Certificate, ca_cert: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(ca_cert)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _matches(cert: x509.Certificate, common_name: str, ips: list[_IpAddress], names: list[str]) -> bool:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    cns = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    return (
        cns == [common_name]
        and set(san.get_values_for_type(x509.IPAddress)) == set(ips)
        and {n.lower() for n in san.get_values_for_type(x509.DNSName)} == set(names)
    )


def _ensure_leaf(
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    common_name: str,
    hosts: Sequence[str],
    cert_path: Path,
    key_path: Path,
) -> None:
    ips, names = _parse_hosts(hosts)
    pair = _load_pair(cert_path, key_path)
    if (
        pair is not None
        and _fresh(pair[0])
        and _signed_by(pair[0], ca_cert)
        and _matches(pair[0], common_name, ips, names)
    ):
        return
    key = _new_key()
    now = _now()
    sans: list[x509.GeneralName] = [x509.IPAddress(ip) for ip in ips]
    sans += [x509.DNSName(name) for name in names]
    not_after = min(now + LEAF_VALIDITY, ca_cert.not_valid_after_utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    write_atomic(key_path, _key_pem(key), _PRIVATE_MODE)
    write_atomic(cert_path, cert.public_bytes(serialization.Encoding.PEM), _PUBLIC_MODE)
