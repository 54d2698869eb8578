"""TokenRequest and TokenReview against the registry: a token authenticates while what it names exists."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest
from world import NS, REGISTRY, SECRET, T0, W, kind

from kubeserve.api import errors
from kubeserve.apiserver import discovery
from kubeserve.apiserver.authn import ADMIN_USER, Authenticator
from kubeserve.apiserver.registry import Objects
from kubeserve.apiserver.tokens import ISSUER, TokenSigner
from kubeserve.store import SqliteStore

SA = kind("", "v1", "ServiceAccount")


class World:
    def __init__(self, store: SqliteStore) -> None:
        self.now = T0
        self.objects = Objects(store, REGISTRY, lambda: self.now)
        self.signer = TokenSigner.generate()
        self.authn = Authenticator(self.objects, REGISTRY, self.signer, ("admin-token",), lambda: self.now)
        for ns in ("a", "b"):
            self.objects.create(NS, "", {"metadata": {"name": ns}}, W)

    def account(self, ns: str, name: str) -> str:
        return str(self.objects.create(SA, ns, {"metadata": {"name": name}}, W).object["metadata"]["uid"])

    def token(self, ns: str, name: str, spec: dict[str, object] | None = None) -> str:
        answer = self.authn.token_request(ns, name, {"spec": spec or {}})
        return str(answer["status"]["token"])


@pytest.fixture
def world(store: SqliteStore) -> World:
    return World(store)


def test_token_request_defaults_and_answer_shape(world: World) -> None:
    world.account("a", "robot")
    answer = world.authn.token_request("a", "robot", {"apiVersion": "authentication.k8s.io/v1",
                                                      "kind": "TokenRequest", "spec": {}})
    assert answer["kind"] == "TokenRequest" and answer["apiVersion"] == "authentication.k8s.io/v1"
    assert answer["spec"] == {"audiences": [ISSUER], "expirationSeconds": 3600}
    assert answer["status"]["expirationTimestamp"] == "2025-03-04T06:06:07Z"


def test_token_request_for_missing_account_is_not_found(world: World) -> None:
    with pytest.raises(errors.NotFound, match='serviceaccounts "ghost" not found'):
        world.authn.token_request("a", "ghost", {})


@pytest.mark.parametrize(("spec", "field"), [
    ({"expirationSeconds": 60}, "spec.expirationSeconds"),
    ({"expirationSeconds": "1h"}, "spec.expirationSeconds"),
    ({"audiences": [""]}, "spec.audiences"),
    ({"boundObjectRef": {"kind": "Pod", "name": "p"}}, "spec.boundObjectRef"),
])
def test_token_request_validation(world: World, spec: dict[str, object], field: str) -> None:
    world.account("a", "robot")
    with pytest.raises(errors.Invalid, match=field):
        world.authn.token_request("a", "robot", {"spec": spec})


def test_review_of_a_bound_token(world: World) -> None:
    uid = world.account("a", "robot")
    status = world.authn.review(world.token("a", "robot"))
    assert status == {"authenticated": True, "audiences": [ISSUER], "user": {
        "username": "system:serviceaccount:a:robot", "uid": uid,
        "groups": ["system:serviceaccounts", "system:serviceaccounts:a", "system:authenticated"]}}


def test_review_stops_when_the_account_goes_or_is_recreated_or_the_token_expires(world: World) -> None:
    world.account("a", "robot")
    token = world.token("a", "robot", {"expirationSeconds": 600})
    world.now = T0 + timedelta(seconds=600)
    assert "expired" in world.authn.review(token)["error"]
    world.now = T0
    world.objects.delete(SA, "a", "robot")
    assert world.authn.review(token) == {"authenticated": False, "user": {},
                                         "error": "serviceaccount a/robot has been deleted: the token no "
                                                  "longer authenticates"}
    world.account("a", "robot")
    assert "recreated" in world.authn.review(token)["error"]


def test_review_of_legacy_secret_token(world: World) -> None:
    uid = world.account("a", "robot")
    token = world.signer.legacy_token("a", "robot", uid, "robot-token")
    missing = world.authn.review(token)
    assert missing["authenticated"] is False and "secret a/robot-token" in missing["error"]
    world.objects.create(SECRET, "a", {
        "metadata": {"name": "robot-token", "annotations": {"kubernetes.io/service-account.name": "robot"}},
        "type": "kubernetes.io/service-account-token",
        "data": {"token": base64.b64encode(token.encode()).decode()}}, W)
    assert world.authn.review(token)["user"]["username"] == "system:serviceaccount:a:robot"
    world.objects.delete(SECRET, "a", "robot-token")
    assert world.authn.review(token)["authenticated"] is False


def test_review_of_admin_and_garbage(world: World) -> None:
    admin = world.authn.review("admin-token")
    assert admin["authenticated"] is True and admin["user"]["username"] == ADMIN_USER
    assert "system:masters" in admin["user"]["groups"]
    for junk in ("garbage", "tökén.ä.ö", "a.b.c"):
        garbage = world.authn.review(junk)
        assert garbage["authenticated"] is False and garbage["error"]


def test_token_review_object_and_audiences(world: World) -> None:
    world.account("b", "robot")
    token = world.token("b", "robot", {"audiences": ["gateway"]})
    answer = world.authn.token_review({"spec": {"token": token, "audiences": ["gateway"]}})
    assert answer["kind"] == "TokenReview" and answer["status"]["authenticated"] is True
    assert answer["status"]["audiences"] == ["gateway"]
    other = world.authn.token_review({"spec": {"token": token, "audiences": ["elsewhere"]}})
    assert other["status"]["authenticated"] is False
    with pytest.raises(errors.Invalid, match=r"spec\.token"):
        world.authn.token_review({"spec": {}})


def test_discovery_lists_tokenreviews_and_the_token_subresource() -> None:
    authn = discovery.api_resource_list(REGISTRY, "authentication.k8s.io", "v1")
    assert authn is not None
    assert [(r["name"], r["verbs"], r["namespaced"]) for r in authn["resources"]] == [
        ("tokenreviews", ["create"], False)]
    core = discovery.api_resource_list(REGISTRY, "", "v1")
    assert core is not None
    token = next(r for r in core["resources"] if r["name"] == "serviceaccounts/token")
    assert (token["kind"], token["group"], token["version"], token["verbs"]) == (
        "TokenRequest", "authentication.k8s.io", "v1", ["create"])
