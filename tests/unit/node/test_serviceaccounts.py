"""The ServiceAccount controllers: the token Secret plan (a table) and both loops against the real API server."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from kubeserve.client import ApiClient
from kubeserve.node.serviceaccounts import (
    NAME_ANNOTATION,
    SECRET_TYPE,
    UID_ANNOTATION,
    ServiceAccountControllers,
    TokenSecretPlan,
    plan_token_secret,
)
from unit.node.inproc_api import api_client, eventually

CA = "-----BEGIN CERTIFICATE-----\nca\n-----END CERTIFICATE-----\n"
ACCOUNT = {"metadata": {"name": "robot", "namespace": "a", "uid": "u1"}}


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def secret(annotations: dict[str, str] | None = None, data: dict[str, str] | None = None,
           type_: str = SECRET_TYPE, **meta: Any) -> dict[str, Any]:
    return {"type": type_, "data": data or {}, "metadata": {
        "name": "robot-token", "namespace": "a", "resourceVersion": "7",
        "annotations": {NAME_ANNOTATION: "robot"} if annotations is None else annotations, **meta}}


FILLED = {"token": "eyJ", "ca.crt": b64(CA), "namespace": b64("a")}


@pytest.mark.parametrize(("obj", "account", "expected"), [
    (secret(type_="Opaque"), ACCOUNT, TokenSecretPlan()),
    (secret(annotations={}), ACCOUNT, TokenSecretPlan()),
    (secret(deletionTimestamp="2025-01-01T00:00:00Z"), None, TokenSecretPlan()),
    (secret(), None, TokenSecretPlan(delete=True)),
    (secret({NAME_ANNOTATION: "robot", UID_ANNOTATION: "old"}), ACCOUNT, TokenSecretPlan(delete=True)),
    (secret({NAME_ANNOTATION: "robot", UID_ANNOTATION: "u1"}, FILLED), ACCOUNT, TokenSecretPlan()),
    (secret(), ACCOUNT, TokenSecretPlan(patch={
        "metadata": {"annotations": {UID_ANNOTATION: "u1"}, "resourceVersion": "7"},
        "data": {"ca.crt": b64(CA), "namespace": b64("a")}}, needs_token=True)),
    (secret({NAME_ANNOTATION: "robot", UID_ANNOTATION: "u1"}, {**FILLED, "ca.crt": b64("old ca")}), ACCOUNT,
     TokenSecretPlan(patch={"metadata": {"annotations": {UID_ANNOTATION: "u1"}, "resourceVersion": "7"},
                            "data": {"ca.crt": b64(CA)}})),
])
def test_plan_token_secret(obj: dict[str, Any], account: dict[str, Any] | None, expected: TokenSecretPlan) -> None:
    assert plan_token_secret(obj, account, CA) == expected


def _issue(namespace: str, name: str, uid: str, secret_name: str) -> str:
    return f"token-for-{namespace}-{name}-{uid}-{secret_name}"


async def _get(client: ApiClient, kind: str, ns: str, name: str) -> dict[str, Any] | None:
    return await client.get_or_none(client.kind("v1", kind), ns, name)


async def test_default_accounts_and_token_secrets() -> None:
    async with api_client("a") as client:
        controllers = ServiceAccountControllers(client, _issue, CA)
        await controllers.start()
        try:
            sa_kind, secret_kind = client.kind("v1", "ServiceAccount"), client.kind("v1", "Secret")
            assert await eventually(lambda: _get(client, "ServiceAccount", "a", "default"))
            await client.create(client.kind("v1", "Namespace"), "", {"metadata": {"name": "late"}})
            assert await eventually(lambda: _get(client, "ServiceAccount", "late", "default"))
            await client.delete(sa_kind, "late", "default")  # deleting `default` brings it back
            assert await eventually(lambda: _get(client, "ServiceAccount", "late", "default"))

            account = await client.create(sa_kind, "a", {"metadata": {"name": "robot"}})
            await client.create(secret_kind, "a", {
                "metadata": {"name": "robot-token", "annotations": {NAME_ANNOTATION: "robot"}}, "type": SECRET_TYPE})

            async def filled() -> dict[str, Any] | None:
                obj = await _get(client, "Secret", "a", "robot-token")
                return obj if obj and (obj.get("data") or {}).get("token") else None

            obj = await eventually(filled)
            uid = account["metadata"]["uid"]
            assert base64.b64decode(obj["data"]["token"]).decode() == f"token-for-a-robot-{uid}-robot-token"
            assert base64.b64decode(obj["data"]["ca.crt"]).decode() == CA
            assert base64.b64decode(obj["data"]["namespace"]).decode() == "a"
            assert obj["metadata"]["annotations"][UID_ANNOTATION] == uid

            await client.delete(sa_kind, "a", "robot")  # the token Secret goes with its ServiceAccount

            async def gone() -> bool:
                return await _get(client, "Secret", "a", "robot-token") is None

            assert await eventually(gone)
        finally:
            await controllers.stop()
