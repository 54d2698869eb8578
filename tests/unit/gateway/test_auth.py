"""The gateway's token policy (`decide`, a table) and its TokenReview cache (a stub API client, a virtual clock)."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from kubeserve.api import errors
from kubeserve.api.kinds import Registry
from kubeserve.gateway.auth import (
    AuthDecision,
    ReviewResult,
    TokenAuthenticator,
    auth_enabled,
    bearer_token,
    decide,
)

SA_A = ReviewResult(True, "system:serviceaccount:a:default", ("system:serviceaccounts", "system:serviceaccounts:a"))
SA_B = ReviewResult(True, "system:serviceaccount:b:robot", ("system:serviceaccounts", "system:serviceaccounts:b"))
ADMIN = ReviewResult(True, "kubeserve-admin", ("system:masters", "system:authenticated"))
USER = ReviewResult(True, "alice", ("system:authenticated",))
BAD = ReviewResult(False, error="the token has expired: request a new one")
HINT = "kubectl create token default -n a"


@pytest.mark.parametrize(("enabled", "header", "review", "status", "in_message", "www"), [
    (False, None, None, 200, "", ""),
    (False, "Bearer junk", BAD, 200, "", ""),
    (True, None, None, 401, "no Authorization header", "Bearer"),
    (True, "", None, 401, "no Authorization header", "Bearer"),
    (True, "Basic dXNlcjpwYXNz", None, 401, "malformed", "Bearer"),
    (True, "Bearer", None, 401, "malformed", "Bearer"),
    (True, "Bearer two words", None, 401, "malformed", "Bearer"),
    (True, "Bearer tok", None, 401, "not valid", 'Bearer error="invalid_token"'),
    (True, "Bearer tok", BAD, 401, "expired", 'Bearer error="invalid_token"'),
    (True, "Bearer tok", SA_A, 200, "", ""),
    (True, "bearer  tok ", SA_A, 200, "", ""),
    (True, "Bearer tok", ADMIN, 200, "", ""),
    (True, "Bearer tok", SA_B, 403, "serviceaccount robot of namespace b", ""),
    (True, "Bearer tok", USER, 403, "user alice", ""),
])
def test_decide(enabled: bool, header: str | None, review: ReviewResult | None, status: int, in_message: str,
                www: str) -> None:
    decision = decide(enabled, header, review, "a")
    assert decision.status == status
    assert decision.www_authenticate == www
    assert in_message in decision.message
    if status != 200:
        assert HINT in decision.message
    assert decision.allowed == (status == 200)


@pytest.mark.parametrize(("header", "token"), [
    (None, None), ("", None), ("Bearer", None), ("Bearer ", None), ("Token abc", None), ("Bearer a b", None),
    ("Bearer abc", "abc"), ("BEARER abc", "abc"), ("  Bearer   abc  ", "abc"),
])
def test_bearer_token(header: str | None, token: str | None) -> None:
    assert bearer_token(header) == token


@pytest.mark.parametrize(("annotations", "enabled"), [
    (None, False), ({}, False), ({"security.opendatahub.io/enable-auth": "false"}, False),
    ({"security.opendatahub.io/enable-auth": "true"}, True), ({"security.opendatahub.io/enable-auth": "True"}, True),
    ({"security.opendatahub.io/enable-auth": "TRUE"}, True), ({"security.opendatahub.io/enable-auth": "yes"}, False),
])
def test_auth_enabled(annotations: dict[str, str] | None, enabled: bool) -> None:
    assert auth_enabled({"metadata": {"name": "x", "annotations": annotations}}) is enabled


def test_review_result_from_status() -> None:
    assert ReviewResult.from_status({"authenticated": True, "user": {"username": "u", "groups": ["g"]}}) == \
        ReviewResult(True, "u", ("g",))
    assert ReviewResult.from_status(None) == ReviewResult(False)
    assert SA_B.service_account == ("b", "robot") and USER.service_account is None


class StubClient:
    """The two ApiClient methods TokenAuthenticator uses; answers from a table, counting calls."""

    def __init__(self, answers: dict[str, Any]) -> None:
        self.registry = Registry()
        self.answers = answers
        self.calls = 0
        self.fail: Exception | None = None

    def kind(self, api_version: str, kind: str) -> Any:
        group, _, version = api_version.rpartition("/")
        return self.registry.by_kind(group, version, kind)

    def path(self, kind: Any, namespace: str = "", name: str = "", subresource: str = "") -> str:
        return f"/apis/{kind.group}/{kind.version}/{kind.plural}"

    async def request(self, method: str, path: str, *, body: Any = None, **_: Any) -> Any:
        assert (method, path) == ("POST", "/apis/authentication.k8s.io/v1/tokenreviews")
        self.calls += 1
        if self.fail is not None:
            raise self.fail
        return {"kind": "TokenReview", "status": self.answers[body["spec"]["token"]]}


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _authenticator(stub: StubClient, clock: Clock, **kwargs: Any) -> TokenAuthenticator:
    return TokenAuthenticator(stub, clock=clock, **kwargs)  # type: ignore[arg-type]


async def test_positive_answers_are_cached_30s_negative_5s() -> None:
    stub = StubClient({"good": {"authenticated": True, "user": {"username": "system:serviceaccount:a:x"}},
                       "bad": {"authenticated": False, "error": "no"}})
    clock = Clock()
    authn = _authenticator(stub, clock)
    assert (await authn.review("good")).authenticated
    assert (await authn.review("bad")).error == "no"
    clock.now += 4.9
    await authn.review("good")
    await authn.review("bad")
    assert stub.calls == 2
    clock.now += 0.2  # 5.1 s: the negative answer is asked again, the positive one is not
    await authn.review("good")
    await authn.review("bad")
    assert stub.calls == 3
    clock.now += 25.0  # 30.1 s
    await authn.review("good")
    assert stub.calls == 4


async def test_cache_is_bounded() -> None:
    stub = StubClient({f"t{i}": {"authenticated": True, "user": {"username": "u"}} for i in range(5)})
    authn = _authenticator(stub, Clock(), max_entries=3)
    for i in range(5):
        await authn.review(f"t{i}")
    assert len(authn._cache) == 3
    await authn.review("t0")  # evicted: asked again
    assert stub.calls == 6


@pytest.mark.parametrize("failure", [errors.InternalError("boom"), aiohttp.ClientConnectionError("refused"),
                                     TimeoutError()])
async def test_unreachable_api_server_refuses_and_is_not_cached(failure: Exception) -> None:
    stub = StubClient({"good": {"authenticated": True, "user": {"username": "system:serviceaccount:a:x"}}})
    stub.fail = failure
    authn = _authenticator(stub, Clock())
    result = await authn.review("good")
    assert not result.authenticated and result.unavailable and "try again" in result.error
    stub.fail = None
    assert (await authn.review("good")).authenticated


async def test_authorize_reviews_only_when_needed() -> None:
    stub = StubClient({"good": {"authenticated": True, "user": {"username": "system:serviceaccount:a:x"}}})
    authn = _authenticator(stub, Clock())
    assert await authn.authorize(False, None, "a") == AuthDecision(200)
    assert (await authn.authorize(True, None, "a")).status == 401
    assert stub.calls == 0
    assert (await authn.authorize(True, "Bearer good", "a")).status == 200
    assert (await authn.authorize(True, "Bearer good", "b")).status == 403
    assert stub.calls == 1
