"""Bearer-token auth for InferenceServices annotated `security.opendatahub.io/enable-auth: 'true'`.

As on OpenShift AI, a caller presents a ServiceAccount token of the InferenceService's namespace (`kubectl
create token default -n NS`, or the `token` of a `kubernetes.io/service-account-token` Secret there). The
gateway does not verify signatures itself: it asks the API server with a TokenReview, as kube-rbac-proxy and
Authorino do, so revocation (deleting the ServiceAccount or the Secret) is the API server's to decide and works
the same against a real cluster. Answers are cached briefly (positive ~30 s, negative ~5 s) so a busy route
costs one review per token per half-minute, not one per request. When the API server cannot be asked, the
review says so (`unavailable`, never cached) and the request is refused with 401, never let through.

`decide` is the whole policy, pure: 401 with `WWW-Authenticate: Bearer` when there is no usable token or it
does not authenticate, 403 when it belongs to another namespace, 200 otherwise. Every message says how to get
the right token.
"""

from __future__ import annotations

import collections
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

from kubeserve.api import errors
from kubeserve.client import ApiClient, Obj

log = logging.getLogger(__name__)

ENABLE_AUTH_ANNOTATION = "security.opendatahub.io/enable-auth"
ADMIN_USER = "kubeserve-admin"
ADMIN_GROUP = "system:masters"
SA_PREFIX = "system:serviceaccount:"
WWW_AUTHENTICATE = "Bearer"


def auth_enabled(isvc: Obj) -> bool:
    """Whether the InferenceService asks for token auth (the annotation is 'true', in any case)."""
    annotations = (isvc.get("metadata") or {}).get("annotations") or {}
    value = annotations.get(ENABLE_AUTH_ANNOTATION)
    return isinstance(value, str) and value.strip().lower() == "true"


@dataclass(frozen=True)
class ReviewResult:
    """What the API server's TokenReview said about a token."""

    authenticated: bool
    username: str = ""
    groups: tuple[str, ...] = ()
    error: str = ""
    unavailable: bool = False  # the API server could not be asked: not cached, and worth a retry

    @property
    def service_account(self) -> tuple[str, str] | None:
        """(namespace, name) when the user is a ServiceAccount."""
        if not self.username.startswith(SA_PREFIX):
            return None
        namespace, _, name = self.username[len(SA_PREFIX):].partition(":")
        return (namespace, name) if namespace and name else None

    @classmethod
    def from_status(cls, status: Any) -> ReviewResult:
        status = status if isinstance(status, dict) else {}
        user = status.get("user") if isinstance(status.get("user"), dict) else {}
        assert isinstance(user, dict)
        groups = user.get("groups") if isinstance(user.get("groups"), list) else []
        assert isinstance(groups, list)
        return cls(authenticated=status.get("authenticated") is True, username=str(user.get("username") or ""),
                   groups=tuple(str(g) for g in groups), error=str(status.get("error") or ""))


@dataclass(frozen=True)
class AuthDecision:
    status: int  # 200, 401 or 403
    message: str = ""
    www_authenticate: str = ""  # the WWW-Authenticate header to send, when not empty

    @property
    def allowed(self) -> bool:
        return self.status == 200


def how_to_get_token(namespace: str) -> str:
    return (f"get a token with `kubectl create token default -n {namespace}` and send it as "
            "`Authorization: Bearer <token>`")


def bearer_token(authorization_header: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, or None when there is no usable one."""
    if not authorization_header:
        return None
    scheme, _, token = authorization_header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        return None
    return token


def decide(enabled: bool, authorization_header: str | None, review: ReviewResult | None,
           namespace: str) -> AuthDecision:
    """Allow, 401 or 403 for a request to an InferenceService in `namespace` (pure: the review is done)."""
    if not enabled:
        return AuthDecision(200)
    hint = how_to_get_token(namespace)
    if bearer_token(authorization_header) is None:
        missing = "no" if not authorization_header else "a malformed"
        return AuthDecision(401, f"this InferenceService requires a bearer token and the request has {missing} "
                                 f"Authorization header: {hint}", WWW_AUTHENTICATE)
    if review is None or not review.authenticated:
        why = f" ({review.error})" if review is not None and review.error else ""
        return AuthDecision(401, f"the bearer token is not valid{why}: {hint}",
                            f'{WWW_AUTHENTICATE} error="invalid_token"')
    if review.username == ADMIN_USER or ADMIN_GROUP in review.groups:
        return AuthDecision(200)
    account = review.service_account
    if account is not None and account[0] == namespace:
        return AuthDecision(200)
    who = (f"serviceaccount {account[1]} of namespace {account[0]}" if account is not None
           else f"user {review.username or '(unknown)'}")
    return AuthDecision(403, f"the token belongs to {who}, but this InferenceService accepts only tokens of "
                             f"ServiceAccounts in namespace {namespace}: {hint}")


class TokenAuthenticator:
    """Reviews tokens through the API server (TokenReview), with a small bounded cache of the answers."""

    def __init__(self, client: ApiClient, *, positive_ttl: float = 30.0, negative_ttl: float = 5.0,
                 max_entries: int = 4096, clock: Callable[[], float] = time.monotonic) -> None:
        self.client = client
        self.positive_ttl = positive_ttl
        self.negative_ttl = negative_ttl
        self.max_entries = max_entries
        self.clock = clock
        self._kind = client.kind("authentication.k8s.io/v1", "TokenReview")
        # keyed by a digest, so the cache never holds the tokens themselves
        self._cache: collections.OrderedDict[bytes, tuple[float, ReviewResult]] = collections.OrderedDict()

    async def review(self, token: str) -> ReviewResult:
        key = hashlib.sha256(token.encode()).digest()
        now = self.clock()
        cached = self._cache.get(key)
        if cached is not None and cached[0] > now:
            self._cache.move_to_end(key)
            return cached[1]
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": token}}
        try:
            answer = await self.client.request("POST", self.client.path(self._kind), body=body)
        except (errors.ApiError, aiohttp.ClientError, OSError, TimeoutError) as exc:  # never "authenticated"
            log.warning("TokenReview failed: %s", exc)
            return ReviewResult(False, error=f"it could not be checked with the API server ({exc}); try again",
                                unavailable=True)
        result = ReviewResult.from_status((answer or {}).get("status") if isinstance(answer, dict) else None)
        ttl = self.positive_ttl if result.authenticated else self.negative_ttl
        self._cache[key] = (self.clock() + ttl, result)
        self._cache.move_to_end(key)
        while len(self._cache) > self.max_entries:
            self._cache.popitem(last=False)
        return result

    async def authorize(self, enabled: bool, authorization_header: str | None, namespace: str) -> AuthDecision:
        """`decide`, after reviewing the header's token when there is one."""
        token = bearer_token(authorization_header) if enabled else None
        review = await self.review(token) if token is not None else None
        return decide(enabled, authorization_header, review, namespace)
