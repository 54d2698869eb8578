"""ServiceAccount tokens end to end: the real kubectl against a real kubeserve.

`kubectl create serviceaccount` / `kubectl create token` (a protobuf TokenRequest), token Secrets filled by the
token controller, TokenReview answering who a token belongs to (and no longer, once its ServiceAccount is
gone), and the gateway's TokenAuthenticator deciding 200/401/403 with those reviews.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness import KubeServe, eventually, start_kubeserve
from kubeserve.client import ApiClient, ClientConfig
from kubeserve.gateway.auth import TokenAuthenticator

TOKEN_SECRET = """
apiVersion: v1
kind: Secret
metadata:
  name: robot-token
  namespace: team-a
  annotations:
    kubernetes.io/service-account.name: robot
type: kubernetes.io/service-account-token
"""


@pytest.fixture(scope="module")
def ks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeServe]:
    server = start_kubeserve(Path(tmp_path_factory.mktemp("tokens")) / "home")
    try:
        server.kubectl("create", "namespace", "team-a")
        server.kubectl("create", "namespace", "team-b")
        yield server
    finally:
        server.stop()


def review(ks: KubeServe, token: str) -> dict[str, Any]:
    status, body, _ = ks.request("POST", "/apis/authentication.k8s.io/v1/tokenreviews",
                                 {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
                                  "spec": {"token": token}})
    assert status == 201, body
    result: dict[str, Any] = body["status"]
    return result


def test_kubectl_create_token_for_a_new_serviceaccount_reviews_as_it(ks: KubeServe) -> None:
    ks.kubectl("create", "serviceaccount", "robot", "-n", "team-a")
    token = ks.kubectl("create", "token", "robot", "-n", "team-a").stdout.strip()
    status = review(ks, token)
    assert status["authenticated"] is True
    assert status["user"]["username"] == "system:serviceaccount:team-a:robot"
    assert "system:serviceaccounts:team-a" in status["user"]["groups"]
    uid = ks.kubectl_json("get", "serviceaccount", "robot", "-n", "team-a")["metadata"]["uid"]
    assert status["user"]["uid"] == uid


def test_create_token_options_and_errors(ks: KubeServe) -> None:
    answer = json.loads(ks.kubectl("create", "token", "default", "-n", "team-b", "--duration=2h",
                                   "--audience=gateway", "-o", "json").stdout)
    assert (answer["spec"]["audiences"], answer["spec"]["expirationSeconds"]) == (["gateway"], 7200)
    missing = ks.kubectl("create", "token", "ghost", "-n", "team-a", check=False)
    assert missing.returncode != 0 and 'serviceaccounts "ghost" not found' in missing.stderr
    short = ks.kubectl("create", "token", "default", "-n", "team-a", "--duration=1m", check=False)
    assert short.returncode != 0 and "spec.expirationSeconds" in short.stderr
    garbage = review(ks, "not-a-token")
    assert garbage["authenticated"] is False and garbage["error"]


def test_every_namespace_has_a_default_serviceaccount(ks: KubeServe) -> None:
    ks.kubectl("create", "namespace", "fresh")
    eventually(lambda: ks.kubectl("get", "serviceaccount", "default", "-n", "fresh", check=False).returncode == 0)
    token = ks.kubectl("create", "token", "default", "-n", "fresh").stdout.strip()
    assert review(ks, token)["user"]["username"] == "system:serviceaccount:fresh:default"


def test_token_secret_is_filled_and_its_token_reviews(ks: KubeServe) -> None:
    ks.kubectl("create", "serviceaccount", "robot", "-n", "team-a", check=False)  # may exist from another test
    ks.kubectl("apply", "-f", "-", input=TOKEN_SECRET)

    def filled() -> dict[str, Any] | None:
        obj: dict[str, Any] = ks.kubectl_json("get", "secret", "robot-token", "-n", "team-a")
        return obj if "token" in (obj.get("data") or {}) else None

    secret = eventually(filled, timeout=15)
    data = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    assert data["namespace"] == "team-a"
    assert data["ca.crt"] == ks.ca.read_text()
    sa_uid = ks.kubectl_json("get", "serviceaccount", "robot", "-n", "team-a")["metadata"]["uid"]
    assert secret["metadata"]["annotations"]["kubernetes.io/service-account.uid"] == sa_uid
    assert review(ks, data["token"])["user"]["username"] == "system:serviceaccount:team-a:robot"


def test_deleted_serviceaccount_tokens_stop_authenticating(ks: KubeServe) -> None:
    ks.kubectl("create", "serviceaccount", "temp", "-n", "team-b")
    token = ks.kubectl("create", "token", "temp", "-n", "team-b").stdout.strip()
    ks.kubectl("apply", "-f", "-", input=TOKEN_SECRET.replace("robot", "temp").replace("team-a", "team-b"))
    secret_token = eventually(lambda: (ks.kubectl_json("get", "secret", "temp-token", "-n", "team-b")
                                       .get("data") or {}).get("token"), timeout=15)
    assert review(ks, base64.b64decode(secret_token).decode())["authenticated"] is True
    ks.kubectl("delete", "serviceaccount", "temp", "-n", "team-b")
    status = review(ks, token)
    assert status["authenticated"] is False and "deleted" in status["error"]
    assert review(ks, base64.b64decode(secret_token).decode())["authenticated"] is False
    eventually(lambda: ks.kubectl("get", "secret", "temp-token", "-n", "team-b", check=False).returncode != 0,
               timeout=15)


def test_serviceaccount_tokens_are_not_api_credentials(ks: KubeServe) -> None:
    # No RBAC in embedded mode: an SA token accepted by the API server would be an admin credential.
    token = ks.kubectl("create", "token", "default", "-n", "team-a").stdout.strip()
    status, _, _ = ks.request("GET", "/api/v1/namespaces/team-a/pods", token=token)
    assert status == 401


async def test_gateway_token_authenticator_against_the_server(ks: KubeServe) -> None:
    token_a = ks.kubectl("create", "token", "default", "-n", "team-a").stdout.strip()
    client = await ApiClient.open(ClientConfig.from_kubeconfig(str(ks.kubeconfig)))
    try:
        authn = TokenAuthenticator(client)
        assert (await authn.authorize(True, f"Bearer {token_a}", "team-a")).status == 200
        other = await authn.authorize(True, f"Bearer {token_a}", "team-b")
        assert other.status == 403 and "kubectl create token default -n team-b" in other.message
        missing = await authn.authorize(True, None, "team-a")
        assert (missing.status, missing.www_authenticate) == (401, "Bearer")
        assert (await authn.authorize(True, "Bearer garbage", "team-a")).status == 401
        assert (await authn.authorize(True, f"Bearer {ks.token}", "team-b")).status == 200  # the admin
        assert (await authn.authorize(False, None, "team-a")).status == 200
    finally:
        await client.close()
