"""ServiceAccount tokens: the JWTs the API server signs and later recognises, as kube-apiserver's are.

Two shapes, as in Kubernetes. A *bound* token (TokenRequest, `kubectl create token`) carries `aud`, `exp`,
`iat`, `nbf` and a `kubernetes.io` claim naming the namespace and ServiceAccount (name and uid). A *legacy*
token (what the token controller writes into a `kubernetes.io/service-account-token` Secret) has no expiry
and names the Secret instead; it is valid for as long as that Secret holds it.

Signing is ES256 with a P-256 key kept next to the CA (`pki/sa.key`), so tokens survive restarts. This module
only signs and checks signatures and claims; whether the ServiceAccount or Secret still exists is the
reviewer's question (`authn`), because that needs the store.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

ISSUER = "https://kubernetes.default.svc.cluster.local"
LEGACY_ISSUER = "kubernetes/serviceaccount"
DEFAULT_AUDIENCES = (ISSUER,)
ALGORITHM = "ES256"
SERVICE_ACCOUNT_KEY = "sa.key"  # in the PKI directory, next to the CA
_LEGACY_PREFIX = "kubernetes.io/serviceaccount/"


class InvalidToken(Exception):
    """The token is not one this server signed, or its claims are expired, malformed or for another audience."""


@dataclass(frozen=True)
class TokenClaims:
    """Who a verified token says it is; `secret_name` is set for legacy tokens only."""

    namespace: str
    name: str
    uid: str
    audiences: tuple[str, ...]
    expires: int | None  # seconds since the epoch; None for legacy tokens
    secret_name: str = ""

    @property
    def username(self) -> str:
        return service_account_username(self.namespace, self.name)


def service_account_username(namespace: str, name: str) -> str:
    return f"system:serviceaccount:{namespace}:{name}"


def bound_claims(namespace: str, name: str, uid: str, audiences: Sequence[str], now: datetime,
                 expiration_seconds: int) -> dict[str, Any]:
    """The claims of a TokenRequest token, as kube-apiserver writes them (without a bound pod or secret)."""
    issued = int(now.timestamp())
    return {
        "aud": list(audiences), "exp": issued + expiration_seconds, "iat": issued, "nbf": issued, "iss": ISSUER,
        "sub": service_account_username(namespace, name),
        "kubernetes.io": {"namespace": namespace, "serviceaccount": {"name": name, "uid": uid}},
    }


def legacy_claims(namespace: str, name: str, uid: str, secret_name: str) -> dict[str, Any]:
    """The claims of a token Secret's token, as the legacy token controller writes them: no exp, no aud."""
    return {
        "iss": LEGACY_ISSUER,
        f"{_LEGACY_PREFIX}namespace": namespace,
        f"{_LEGACY_PREFIX}secret.name": secret_name,
        f"{_LEGACY_PREFIX}service-account.name": name,
        f"{_LEGACY_PREFIX}service-account.uid": uid,
        "sub": service_account_username(namespace, name),
    }


def claims_of(payload: dict[str, Any]) -> TokenClaims:
    """Read who a (signature-checked) payload names; raises InvalidToken when the claims are not a SA's."""
    if payload.get("iss") == LEGACY_ISSUER:
        fields = [payload.get(f"{_LEGACY_PREFIX}{k}") for k in
                  ("namespace", "service-account.name", "service-account.uid", "secret.name")]
        if not all(isinstance(f, str) and f for f in fields):
            raise InvalidToken("the token's service account claims are incomplete")
        namespace, name, uid, secret = (str(f) for f in fields)
        return TokenClaims(namespace, name, uid, (), None, secret)
    k8s = payload.get("kubernetes.io")
    sa = k8s.get("serviceaccount") if isinstance(k8s, dict) else None
    if not isinstance(k8s, dict) or not isinstance(sa, dict):
        raise InvalidToken("the token has no kubernetes.io service account claim")
    ns_claim, name_claim, uid_claim = k8s.get("namespace"), sa.get("name"), sa.get("uid")
    if not (isinstance(ns_claim, str) and isinstance(name_claim, str) and isinstance(uid_claim, str)
            and ns_claim and name_claim):
        raise InvalidToken("the token's service account claims are incomplete")
    aud = payload.get("aud")
    audiences = (aud,) if isinstance(aud, str) else tuple(a for a in aud or () if isinstance(a, str))
    exp = payload.get("exp")
    return TokenClaims(ns_claim, name_claim, uid_claim, audiences, exp if isinstance(exp, int) else None)


class TokenSigner:
    """Signs and verifies ServiceAccount JWTs with one EC key."""

    def __init__(self, key: ec.EllipticCurvePrivateKey) -> None:
        self._key = key
        self._public = key.public_key()

    @classmethod
    def generate(cls) -> TokenSigner:
        """A signer with a fresh in-memory key (tests, and API servers built without a PKI directory)."""
        return cls(ec.generate_private_key(ec.SECP256R1()))

    @classmethod
    def load(cls, path: Path) -> TokenSigner:
        """The signer whose key is at `path`, created (mode 0600) when absent so tokens outlive restarts."""
        return cls(_ensure_key(Path(path)))

    def sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode(claims, self._key, algorithm=ALGORITHM)

    def legacy_token(self, namespace: str, name: str, uid: str, secret_name: str) -> str:
        return self.sign(legacy_claims(namespace, name, uid, secret_name))

    def verify(self, token: str, now: datetime, audiences: Sequence[str] = ()) -> TokenClaims:
        """The claims of a token this signer made, checked for expiry and (when asked) audience."""
        if token.count(".") != 2:
            raise InvalidToken("the token is not a JWT")
        try:
            payload = jwt.decode(token, self._public, algorithms=[ALGORITHM],
                                 options={"verify_exp": False, "verify_nbf": False, "verify_aud": False,
                                          "verify_iat": False})
        except jwt.PyJWTError as exc:
            raise InvalidToken(f"the token is not valid: {exc}") from exc
        if not isinstance(payload, dict):
            raise InvalidToken("the token's payload is not a JSON object")
        claims = claims_of(payload)
        # The clock is ours to pass in (tests use a virtual one), so expiry is checked here, not by PyJWT.
        seconds = int(now.timestamp())
        if claims.expires is not None and seconds >= claims.expires:
            raise InvalidToken("the token has expired: request a new one")
        nbf = payload.get("nbf")
        if isinstance(nbf, int) and seconds + 60 < nbf:  # a minute of leeway for clock skew, as Kubernetes
            raise InvalidToken("the token is not valid yet")
        if claims.secret_name == "" and audiences and not set(audiences) & set(claims.audiences):
            raise InvalidToken(f"the token's audiences {list(claims.audiences)} include none of {list(audiences)}")
        return claims


def _ensure_key(path: Path) -> ec.EllipticCurvePrivateKey:
    with contextlib.suppress(FileNotFoundError, ValueError, TypeError):
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if isinstance(key, ec.EllipticCurvePrivateKey):
            return key
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
        handle.flush()
        os.fsync(handle.fileno())
    try:
        os.link(tmp, path)  # create-if-absent (mkstemp made it 0600): a concurrent creator's key wins
    except FileExistsError:
        existing = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(existing, ec.EllipticCurvePrivateKey):
            raise ValueError(f"{path} holds a key that is not an EC private key: delete it to make a new one") from None
        return existing
    finally:
        os.unlink(tmp)
    return key
