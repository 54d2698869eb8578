"""Authentication resources: TokenRequest (`serviceaccounts/{name}/token`) and TokenReview.

`kubectl create token` posts a TokenRequest and gets a bound JWT; anything that holds a bearer token (the
gateway guarding an auth-enabled InferenceService) asks the API server who it belongs to with a TokenReview,
as kube-apiserver's webhook authenticators do. A token authenticates while what it names still exists: the
ServiceAccount with the same uid, and for a legacy Secret token, the Secret still holding that token.
The server's own admin token reviews as `kubeserve-admin` in `system:masters`.
"""

from __future__ import annotations

import base64
import hmac
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from kubeserve.api import errors
from kubeserve.api.kinds import Registry
from kubeserve.apiserver.registry import Objects
from kubeserve.apiserver.tokens import DEFAULT_AUDIENCES, InvalidToken, TokenClaims, TokenSigner, bound_claims

Obj = dict[str, Any]

ADMIN_USER = "kubeserve-admin"
ADMIN_GROUPS = ("system:masters", "system:authenticated")
SECRET_TYPE = "kubernetes.io/service-account-token"
SA_NAME_ANNOTATION = "kubernetes.io/service-account.name"
DEFAULT_EXPIRATION = 3600
MIN_EXPIRATION = 600  # kube-apiserver refuses shorter tokens
MAX_EXPIRATION = 2**32  # kube-apiserver's own cap (about 136 years)


class Authenticator:
    """Issues and reviews ServiceAccount tokens against the objects in the store."""

    def __init__(self, objects: Objects, registry: Registry, signer: TokenSigner, admin_tokens: Sequence[str],
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.objects = objects
        self.signer = signer
        self.admin_tokens = tuple(admin_tokens)
        self.clock = clock
        sa_kind = registry.by_kind("", "v1", "ServiceAccount")
        secret_kind = registry.by_kind("", "v1", "Secret")
        assert sa_kind is not None and secret_kind is not None
        self.sa_kind, self.secret_kind = sa_kind, secret_kind

    # ---- TokenRequest ------------------------------------------------------------------------------

    def token_request(self, namespace: str, name: str, body: Any) -> Obj:
        """The TokenRequest answer for `POST serviceaccounts/{name}/token`: the request with status filled."""
        request: Obj = body if isinstance(body, dict) else {}
        spec = request.get("spec") if isinstance(request.get("spec"), dict) else {}
        assert isinstance(spec, dict)
        audiences = spec.get("audiences") or list(DEFAULT_AUDIENCES)
        if not isinstance(audiences, list) or not all(isinstance(a, str) and a for a in audiences):
            raise _invalid(name, "spec.audiences", f"Invalid value: {audiences!r}: must be a list of non-empty strings")
        expiration = spec.get("expirationSeconds")
        if expiration is None:
            expiration = DEFAULT_EXPIRATION
        if not isinstance(expiration, int) or isinstance(expiration, bool) or expiration < MIN_EXPIRATION:
            raise _invalid(name, "spec.expirationSeconds",
                           f"Invalid value: {expiration!r}: may not specify a duration less than 10 minutes")
        expiration = min(expiration, MAX_EXPIRATION)
        if spec.get("boundObjectRef"):
            raise _invalid(name, "spec.boundObjectRef",
                           "Forbidden: kubeserve does not bind tokens to pods or secrets; leave it out")
        sa = self.objects.get(self.sa_kind, namespace, name)  # NotFound: serviceaccounts "x" not found
        now = self.clock()
        uid = str(sa["metadata"].get("uid", ""))
        token = self.signer.sign(bound_claims(namespace, name, uid, audiences, now, expiration))
        expires = (now + timedelta(seconds=expiration)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        meta = request.get("metadata") if isinstance(request.get("metadata"), dict) else {}
        return {
            "kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1",
            "metadata": {**(meta or {}), "name": name, "namespace": namespace,
                         "creationTimestamp": None},
            "spec": {"audiences": audiences, "expirationSeconds": expiration},
            "status": {"token": token, "expirationTimestamp": expires},
        }

    # ---- TokenReview -------------------------------------------------------------------------------

    def token_review(self, body: Any) -> Obj:
        """The TokenReview answer: the request's spec with status {authenticated, user, audiences | error}."""
        review: Obj = body if isinstance(body, dict) else {}
        spec = review.get("spec") if isinstance(review.get("spec"), dict) else {}
        assert isinstance(spec, dict)
        token = spec.get("token")
        if not isinstance(token, str) or not token:
            raise errors.invalid("TokenReview", "authentication.k8s.io", "", [errors.Cause(
                "FieldValueRequired", "Required value: the token to review", "spec.token")])
        wanted = spec.get("audiences") or []
        audiences = [a for a in wanted if isinstance(a, str)] if isinstance(wanted, list) else []
        return {
            "kind": "TokenReview", "apiVersion": "authentication.k8s.io/v1",
            "metadata": {"creationTimestamp": None}, "spec": spec, "status": self.review(token, audiences),
        }

    def review(self, token: str, audiences: Sequence[str] = ()) -> Obj:
        """The TokenReview status for `token`."""
        # compared as bytes: compare_digest refuses non-ASCII str, and a token is whatever a client sent
        if any(hmac.compare_digest(token.encode(), admin.encode()) for admin in self.admin_tokens):
            return {"authenticated": True, "user": {"username": ADMIN_USER, "groups": list(ADMIN_GROUPS)},
                    "audiences": list(audiences)}
        try:
            claims = self.signer.verify(token, self.clock(), audiences)
            self._check_live(token, claims)
        except InvalidToken as exc:
            return {"authenticated": False, "user": {}, "error": str(exc)}
        groups = ["system:serviceaccounts", f"system:serviceaccounts:{claims.namespace}", "system:authenticated"]
        user: Obj = {"username": claims.username, "uid": claims.uid, "groups": groups}
        return {"authenticated": True, "user": user,
                "audiences": list(audiences) or list(claims.audiences or DEFAULT_AUDIENCES)}

    def authenticates(self, token: str) -> bool:
        """Whether `token` is a live ServiceAccount token (the API server's middleware accepts those too)."""
        return bool(self.review(token)["authenticated"])

    def _check_live(self, token: str, claims: TokenClaims) -> None:
        sa = self.objects.find(self.sa_kind, claims.namespace, claims.name)
        who = f"serviceaccount {claims.namespace}/{claims.name}"
        if sa is None or sa["metadata"].get("deletionTimestamp"):
            raise InvalidToken(f"{who} has been deleted: the token no longer authenticates")
        if str(sa["metadata"].get("uid", "")) != claims.uid:
            raise InvalidToken(f"{who} was recreated (uid {sa['metadata'].get('uid')}, token for {claims.uid}): "
                               "request a new token")
        if not claims.secret_name:
            return
        secret = self.objects.find(self.secret_kind, claims.namespace, claims.secret_name)
        stored = ((secret or {}).get("data") or {}).get("token", "")
        if secret is None or secret["metadata"].get("deletionTimestamp") or secret.get("type") != SECRET_TYPE:
            raise InvalidToken(f"secret {claims.namespace}/{claims.secret_name} has been deleted: "
                               "the token no longer authenticates")
        try:
            held = base64.b64decode(stored).decode()
        except (ValueError, UnicodeDecodeError):
            held = ""
        if not hmac.compare_digest(held.encode(), token.encode()):
            raise InvalidToken(f"secret {claims.namespace}/{claims.secret_name} no longer holds this token")


def _invalid(name: str, path: str, message: str) -> errors.ApiError:
    return errors.invalid("TokenRequest", "authentication.k8s.io", name,
                          [errors.Cause("FieldValueInvalid", message, path)])
