"""ServiceAccount JWTs: what is signed is what verifies, and nothing else does."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import jwt
import pytest
from world import T0

from kubeserve.apiserver.tokens import (
    ISSUER,
    InvalidToken,
    TokenSigner,
    bound_claims,
    claims_of,
    legacy_claims,
)

SIGNER = TokenSigner.generate()


def _bound(audiences: tuple[str, ...] = (ISSUER,), seconds: int = 3600) -> str:
    return SIGNER.sign(bound_claims("ns-a", "robot", "uid-1", audiences, T0, seconds))


def test_bound_token_has_the_kubernetes_claims() -> None:
    payload = jwt.decode(_bound(), options={"verify_signature": False})
    assert payload["iss"] == ISSUER
    assert payload["sub"] == "system:serviceaccount:ns-a:robot"
    assert payload["aud"] == [ISSUER]
    assert payload["iat"] == payload["nbf"] == int(T0.timestamp())
    assert payload["exp"] == int(T0.timestamp()) + 3600
    assert payload["kubernetes.io"] == {"namespace": "ns-a", "serviceaccount": {"name": "robot", "uid": "uid-1"}}
    assert jwt.get_unverified_header(_bound())["alg"] == "ES256"


def test_bound_token_verifies_until_it_expires() -> None:
    claims = SIGNER.verify(_bound(), T0 + timedelta(seconds=3599))
    assert (claims.namespace, claims.name, claims.uid, claims.username) == (
        "ns-a", "robot", "uid-1", "system:serviceaccount:ns-a:robot")
    with pytest.raises(InvalidToken, match="expired"):
        SIGNER.verify(_bound(), T0 + timedelta(seconds=3600))


@pytest.mark.parametrize(("token_audiences", "wanted", "ok"), [
    ((ISSUER,), (), True),
    (("a", "b"), ("b",), True),
    (("a",), ("b", "a"), True),
    (("a",), ("b",), False),
])
def test_audiences(token_audiences: tuple[str, ...], wanted: tuple[str, ...], ok: bool) -> None:
    token = _bound(token_audiences)
    if ok:
        assert SIGNER.verify(token, T0, wanted).audiences == token_audiences
    else:
        with pytest.raises(InvalidToken, match="audiences"):
            SIGNER.verify(token, T0, wanted)


@pytest.mark.parametrize("token", [
    "",
    "not-a-jwt",
    "a.b.c",
    TokenSigner.generate().sign(bound_claims("ns-a", "robot", "uid-1", [ISSUER], T0, 3600)),  # another key
    jwt.encode(bound_claims("ns-a", "robot", "uid-1", [ISSUER], T0, 3600), "s" * 32, algorithm="HS256"),
    SIGNER.sign({"sub": "someone", "exp": int(T0.timestamp()) + 60}),  # no service account claims
])
def test_foreign_or_malformed_tokens_do_not_verify(token: str) -> None:
    with pytest.raises(InvalidToken):
        SIGNER.verify(token, T0)


def test_tampered_payload_does_not_verify() -> None:
    header, _, signature = _bound().split(".")
    forged = jwt.encode(bound_claims("ns-b", "robot", "uid-1", [ISSUER], T0, 3600), "x" * 32, algorithm="HS256")
    with pytest.raises(InvalidToken):
        SIGNER.verify(f"{header}.{forged.split('.')[1]}.{signature}", T0)


def test_legacy_token_never_expires_and_names_its_secret() -> None:
    token = SIGNER.legacy_token("ns-a", "robot", "uid-1", "robot-token")
    payload = jwt.decode(token, options={"verify_signature": False})
    assert "exp" not in payload and payload == legacy_claims("ns-a", "robot", "uid-1", "robot-token")
    claims = SIGNER.verify(token, T0 + timedelta(days=365 * 50), ("any-audience",))
    assert (claims.namespace, claims.name, claims.uid, claims.secret_name, claims.expires) == (
        "ns-a", "robot", "uid-1", "robot-token", None)


def test_claims_of_rejects_incomplete_claims() -> None:
    with pytest.raises(InvalidToken):
        claims_of({"kubernetes.io": {"namespace": "a", "serviceaccount": {"name": ""}}})
    with pytest.raises(InvalidToken):
        claims_of({**legacy_claims("a", "b", "c", "d"), "kubernetes.io/serviceaccount/secret.name": ""})


def test_key_file_is_created_once_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "pki" / "sa.key"
    first = TokenSigner.load(path)
    assert path.stat().st_mode & 0o777 == 0o600
    token = first.sign(bound_claims("ns-a", "robot", "uid-1", [ISSUER], T0, 3600))
    assert TokenSigner.load(path).verify(token, T0).name == "robot"
