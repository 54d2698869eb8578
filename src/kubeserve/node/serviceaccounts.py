"""kube-controller-manager's ServiceAccount controllers for the embedded node.

Two loops, as in Kubernetes: every active Namespace gets a `default` ServiceAccount (so
`kubectl create token default -n NS` works everywhere), and every Secret of type
`kubernetes.io/service-account-token` annotated `kubernetes.io/service-account.name: SA` is filled with a
long-lived token for that ServiceAccount (`token`, no expiry, as the legacy token controller writes),
`ca.crt` and `namespace`, and annotated with the ServiceAccount's uid. A token Secret whose ServiceAccount
is gone (or was recreated with another uid) is deleted, as Kubernetes does, so its token stops working.

Signing needs the API server's key, which only the composition root may hand over: `issue` is that seam.
"""

from __future__ import annotations

import base64
import contextlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from kubeserve.api import errors
from kubeserve.client import ApiClient, Controller, Informer, Key, Obj, Result
from kubeserve.client.informer import start_informers

log = logging.getLogger(__name__)

SECRET_TYPE = "kubernetes.io/service-account-token"
NAME_ANNOTATION = "kubernetes.io/service-account.name"
UID_ANNOTATION = "kubernetes.io/service-account.uid"
DEFAULT_ACCOUNT = "default"

#: (namespace, serviceaccount name, serviceaccount uid, secret name) -> a signed long-lived token
IssueToken = Callable[[str, str, str, str], str]

_KINDS = {
    "namespaces": ("v1", "Namespace"),
    "serviceaccounts": ("v1", "ServiceAccount"),
    "secrets": ("v1", "Secret"),
}


@dataclass(frozen=True)
class TokenSecretPlan:
    """What to do with one token Secret: nothing, delete it, or merge-patch it (and whether to mint a token)."""

    delete: bool = False
    patch: Obj | None = None
    needs_token: bool = False


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def plan_token_secret(secret: Obj, account: Obj | None, ca_crt: str) -> TokenSecretPlan:
    """Decide how to bring a Secret of type service-account-token in line with its ServiceAccount (pure)."""
    meta = secret.get("metadata") or {}
    if secret.get("type") != SECRET_TYPE or meta.get("deletionTimestamp"):
        return TokenSecretPlan()
    annotations = meta.get("annotations") or {}
    if not annotations.get(NAME_ANNOTATION):
        return TokenSecretPlan()  # the API server would refuse it in Kubernetes; here it is simply left alone
    if account is None:
        return TokenSecretPlan(delete=True)
    uid = str((account.get("metadata") or {}).get("uid", ""))
    recorded = annotations.get(UID_ANNOTATION)
    if recorded and recorded != uid:
        return TokenSecretPlan(delete=True)  # made for an earlier ServiceAccount of the same name
    data = secret.get("data") or {}
    patch_data: dict[str, str] = {}
    if data.get("ca.crt") != _b64(ca_crt):
        patch_data["ca.crt"] = _b64(ca_crt)
    namespace = str(meta.get("namespace", ""))
    if data.get("namespace") != _b64(namespace):
        patch_data["namespace"] = _b64(namespace)
    needs_token = not data.get("token")
    if not patch_data and not needs_token and recorded == uid:
        return TokenSecretPlan()
    patch: Obj = {"metadata": {"annotations": {UID_ANNOTATION: uid}, "resourceVersion": meta.get("resourceVersion")}}
    if patch_data:
        patch["data"] = patch_data
    return TokenSecretPlan(patch=patch, needs_token=needs_token)


class ServiceAccountControllers:
    """The `default` ServiceAccount per namespace and the token Secret filler, sharing one set of informers."""

    def __init__(self, client: ApiClient, issue: IssueToken, ca_crt: str, *, workers: int = 1,
                 sync_timeout: float = 60.0) -> None:
        self.client = client
        self.issue = issue
        self.ca_crt = ca_crt
        self.workers = workers
        self.sync_timeout = sync_timeout
        self.informers: dict[str, Informer] = {}
        self.sa_kind = client.kind("v1", "ServiceAccount")
        self.secret_kind = client.kind("v1", "Secret")
        self.controllers: list[Controller] = []

    async def start(self) -> None:
        self.informers = inf = await start_informers(self.client, _KINDS, self.sync_timeout)
        accounts = Controller("serviceaccount-controller", self.reconcile_namespace, workers=self.workers)
        accounts.watch_primary(inf["namespaces"])
        accounts.watch(inf["serviceaccounts"], _default_account_namespace)
        tokens = Controller("serviceaccount-token-controller", self.reconcile_secret, workers=self.workers)
        tokens.watch_primary(inf["secrets"])
        tokens.watch(inf["serviceaccounts"], self._account_secrets)
        self.controllers = [accounts, tokens]
        for controller in self.controllers:
            controller.start()

    async def stop(self) -> None:
        for controller in self.controllers:
            await controller.stop()
        for informer in self.informers.values():
            await informer.stop()
        self.informers, self.controllers = {}, []

    # ---- default ServiceAccount --------------------------------------------------------------------

    async def reconcile_namespace(self, key: Key) -> Result | None:
        namespace = self.informers["namespaces"].get("", key[1])
        if namespace is None or (namespace.get("status") or {}).get("phase") == "Terminating" \
                or namespace["metadata"].get("deletionTimestamp"):
            return None
        name = namespace["metadata"]["name"]
        if self.informers["serviceaccounts"].get(name, DEFAULT_ACCOUNT) is not None:
            return None
        # AlreadyExists: made meanwhile; Forbidden: the namespace began terminating.
        with contextlib.suppress(errors.AlreadyExists, errors.Forbidden):
            await self.client.create(self.sa_kind, name, {"metadata": {"name": DEFAULT_ACCOUNT, "namespace": name}},
                                     field_manager="serviceaccount-controller")
        return None

    # ---- token Secrets -----------------------------------------------------------------------------

    def _account_secrets(self, account: Obj) -> Iterable[Key]:
        meta = account.get("metadata") or {}
        namespace, name = meta.get("namespace", ""), meta.get("name", "")
        for secret in self.informers["secrets"].list(namespace):
            if ((secret.get("metadata") or {}).get("annotations") or {}).get(NAME_ANNOTATION) == name:
                yield namespace, secret["metadata"]["name"]

    async def reconcile_secret(self, key: Key) -> Result | None:
        namespace, name = key
        secret = self.informers["secrets"].get(namespace, name)
        if secret is None:
            return None
        account_name = ((secret["metadata"].get("annotations") or {}).get(NAME_ANNOTATION)) or ""
        account = self.informers["serviceaccounts"].get(namespace, account_name) if account_name else None
        if account is None and account_name:
            # The cache may lag a ServiceAccount created just before its Secret: ask the server before deleting.
            account = await self.client.get_or_none(self.sa_kind, namespace, account_name)
        plan = plan_token_secret(secret, account, self.ca_crt)
        if plan.delete:
            log.info("deleting token secret %s/%s: its serviceaccount %s is gone", namespace, name, account_name)
            await self.client.delete_if_exists(self.secret_kind, namespace, name,
                                               preconditions_uid=secret["metadata"].get("uid", ""))
            return None
        if plan.patch is None:
            return None
        patch = plan.patch
        if plan.needs_token and account is not None:
            uid = str(account["metadata"].get("uid", ""))
            patch.setdefault("data", {})["token"] = _b64(self.issue(namespace, account_name, uid, name))
        try:
            await self.client.patch(self.secret_kind, namespace, name, patch, field_manager="token-controller")
        except errors.Conflict:
            return Result(requeue_after=0.1)  # changed meanwhile: plan again from the new version
        return None


def _default_account_namespace(account: Obj) -> Iterable[Key]:
    meta = account.get("metadata") or {}
    if meta.get("name") == DEFAULT_ACCOUNT:  # deleting `default` recreates it, as in Kubernetes
        yield "", meta.get("namespace", "")
