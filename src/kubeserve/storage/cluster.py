"""What the standalone storage command needs from the cluster: Secrets (a data connection for
`--storage-key`, a `kubernetes.io/dockerconfigjson` pull secret for `--pull-secret`) and a claim's directory
for pvc://. In a pod none of this is used: the controller passes credentials as environment variables and
mounts claims, as KServe does."""

from __future__ import annotations

import asyncio
import base64
import json
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from kubeserve.storage.errors import CredentialsError
from kubeserve.storage.types import Progress

if TYPE_CHECKING:  # the HTTP client (aiohttp) is imported only when a lookup happens: most pulls need none
    from kubeserve.client.rest import ApiClient

T = TypeVar("T")


def kubeconfig_path(explicit: str | None, env: dict[str, str]) -> str:
    if explicit:
        return explicit
    first = env.get("KUBECONFIG", "").split(os.pathsep)[0]
    return first or str(Path.home() / ".kube" / "config")


class ClusterAccess:
    """Synchronous, one short connection per call: the storage command is a plain program, not a service."""

    def __init__(self, kubeconfig: str, namespace: str | None) -> None:
        from kubeserve.client.rest import ClientConfig
        try:
            self.config = ClientConfig.from_kubeconfig(kubeconfig)
        except (OSError, KeyError, StopIteration, TypeError, ValueError) as err:
            raise CredentialsError(f"cannot read the kubeconfig {kubeconfig} ({err!r}): pass --kubeconfig or "
                                   "set KUBECONFIG (e.g. export KUBECONFIG=$(kubeserve kubeconfig))") from None
        self.namespace = namespace or self.config.namespace

    def _run(self, action: Callable[[ApiClient], Awaitable[T]]) -> T:
        from kubeserve.client.rest import ApiClient

        async def main() -> T:
            client = await ApiClient.open(self.config)
            try:
                return await action(client)
            finally:
                await client.close()
        return asyncio.run(main())

    def secret_data(self, name: str, purpose: str) -> dict[str, str]:
        async def get(client: ApiClient) -> dict[str, Any] | None:
            return await client.get_or_none(client.kind("v1", "Secret"), self.namespace, name)
        secret = self._run(get)
        if secret is None:
            raise CredentialsError(f"secret {name!r} not found in namespace {self.namespace!r} ({purpose}): "
                                   f"create it, or pass -n with the namespace that holds it")
        data = {key: base64.b64decode(value).decode("utf-8", "replace")
                for key, value in (secret.get("data") or {}).items()}
        data.update(secret.get("stringData") or {})
        return data

    def pull_secret_auths(self, name: str) -> dict[str, Any]:
        """The `auths` of a dockerconfigjson (or legacy dockercfg) Secret."""
        data = self.secret_data(name, "an image pull secret")
        if ".dockerconfigjson" in data:
            try:
                auths = json.loads(data[".dockerconfigjson"]).get("auths", {})
            except (ValueError, AttributeError):
                raise CredentialsError(f"secret {name!r}: .dockerconfigjson is not valid JSON") from None
        elif ".dockercfg" in data:
            try:
                auths = json.loads(data[".dockercfg"])
            except ValueError:
                raise CredentialsError(f"secret {name!r}: .dockercfg is not valid JSON") from None
        else:
            raise CredentialsError(f"secret {name!r} has no .dockerconfigjson key: create it with `kubectl create "
                                   "secret docker-registry NAME --docker-server=… --docker-username=… "
                                   "--docker-password=…`")
        if not isinstance(auths, dict):
            raise CredentialsError(f"secret {name!r}: `auths` must be an object")
        return auths

    def copy_to_claim(self, claim: str, local: Path, dest_path: str, progress: Progress, *, via_pod: bool,
                      kubeconfig: str) -> None:
        from kubeserve.storage.claims import copy_to_claim

        async def copy(client: ApiClient) -> None:
            await copy_to_claim(client, self.namespace, claim, local, dest_path, progress, via_pod=via_pod,
                                kubeconfig=kubeconfig)
        self._run(copy)

    def claim_directory(self, claim: str) -> Path:
        from kubeserve.storage.claims import claim_directory

        async def find(client: ApiClient) -> Path:
            return await claim_directory(client, self.namespace, claim)
        return self._run(find)
