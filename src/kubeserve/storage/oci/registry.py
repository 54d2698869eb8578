"""An OCI distribution API client: one registry, one repository, pull or push.

It owns the transport decisions:
- HTTPS with the registry's CA from containers-certs.d directories, without verification for registries
  marked insecure;
- plain HTTP after HTTPS found no TLS server, for registries marked insecure (as containers/image does) and
  loopback ones, never after a certificate was not trusted;
- Basic or Bearer auth answered from the 401 challenge;
- a couple of retries on connection errors.

Status codes become StorageErrors here, with the registry and image in the message.
"""

from __future__ import annotations

import base64
import ssl
import threading
import time
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import InsecureRequestWarning

from kubeserve.storage.errors import AccessDenied, ModelNotFound, StorageError, TransferError
from kubeserve.storage.oci.auth import Credentials, parse_challenge
from kubeserve.storage.oci.reference import api_host, is_loopback

RETRIES = 3
TIMEOUT = (10.0, 60.0)


class _TLSAdapter(HTTPAdapter):
    """Trusts the system store plus a registry's own CA (`<certs.d>/<host[:port]>/ca.crt`); for a registry
    marked insecure, trusts anything (containers-registries.conf: insecure skips TLS verification)."""

    def __init__(self, ca_files: list[Path], pool: int, verify: bool) -> None:
        self.ca_files = ca_files
        self.verify = verify
        super().__init__(pool_connections=2, pool_maxsize=pool)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        if self.ca_files or not self.verify:
            context = ssl.create_default_context()
            for ca in self.ca_files:
                context.load_verify_locations(cafile=str(ca))
            if not self.verify:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            kwargs["ssl_context"] = context
        super().init_poolmanager(*args, **kwargs)


class RegistryClient:
    def __init__(self, registry: str, repository: str, *, insecure: bool, credentials: Credentials | None,
                 certs_dirs: tuple[Path, ...] = (), pool: int = 8, push: bool = False,
                 auth_hint: str = "the auth file") -> None:
        self.registry = registry
        self.repository = repository
        self.credentials = credentials
        self.auth_hint = auth_hint
        self.scope = f"repository:{repository}:{'pull,push' if push else 'pull'}"
        host = api_host(registry)
        # HTTPS first always; plain HTTP only after HTTPS failed for a reason other than trust, and only for
        # registries marked insecure or on loopback (where a local test or cache registry usually has no TLS).
        self.schemes = ["https", "http"] if insecure or is_loopback(registry) else ["https"]
        self.insecure = insecure
        self.host = host
        self.session = requests.Session()
        # Per request, not on the session: requests lets REQUESTS_CA_BUNDLE override a session's verify=False.
        self.verify: bool | None = False if insecure else None
        if insecure:
            warnings.filterwarnings("ignore", category=InsecureRequestWarning)  # the user asked for it
        ca_files = [d / registry / "ca.crt" for d in certs_dirs if (d / registry / "ca.crt").is_file()]
        adapter = _TLSAdapter(ca_files, pool, verify=not insecure)
        self.session.mount("https://", adapter)
        self.session.mount("http://", HTTPAdapter(pool_connections=2, pool_maxsize=pool))
        self._lock = threading.Lock()
        self._authorization: str | None = None

    @property
    def image(self) -> str:
        return f"{self.registry}/{self.repository}"

    def url(self, path: str) -> str:
        return f"{self.schemes[0]}://{self.host}/v2/{self.repository}/{path}"

    def close(self) -> None:
        self.session.close()

    def request(self, method: str, path_or_url: str, *, headers: Mapping[str, str] | None = None,
                stream: bool = False, data: Any = None, retry: bool = True) -> requests.Response:
        """Send with auth (answering one challenge) and retries; return any response with a status < 500
        for the caller to judge, or raise TransferError/AccessDenied."""
        for attempt in range(RETRIES if retry else 1):
            try:
                url = path_or_url if "://" in path_or_url else self.url(path_or_url)
                response = self._send(method, url, headers, stream, data)
                if response.status_code == 401:
                    challenge = response.headers.get("WWW-Authenticate", "")
                    response.close()
                    self._authenticate(challenge)
                    response = self._send(method, url, headers, stream, data)
                    if response.status_code == 401:
                        response.close()
                        raise self._refused(401)
                if response.status_code >= 500 and attempt < RETRIES - 1 and retry:
                    response.close()
                    time.sleep(0.2 * (attempt + 1))
                    continue
                return response
            except requests.exceptions.SSLError as err:
                untrusted = "CERTIFICATE_VERIFY_FAILED" in str(err) or "certificate verify failed" in str(err)
                if len(self.schemes) > 1 and not untrusted:
                    self.schemes.pop(0)  # not TLS at all: fall back to http as containers/image does
                    continue
                why = "its certificate is not trusted" if untrusted else _reason(err)
                raise TransferError(f"TLS to registry {self.registry} failed ({why}): put its CA in "
                                    f"$KUBESERVE_HOME/certs.d/{self.registry}/ca.crt (or /etc/containers/certs.d), "
                                    "or mark it insecure in registries.conf") from None
            except requests.exceptions.ConnectionError as err:
                if len(self.schemes) > 1:
                    self.schemes.pop(0)
                    continue
                if attempt == RETRIES - 1 or not retry:
                    raise TransferError(f"cannot reach registry {self.registry} for {self.image}: "
                                        f"{_reason(err)}") from None
                time.sleep(0.2 * (attempt + 1))
            except requests.exceptions.RequestException as err:
                if attempt == RETRIES - 1 or not retry:
                    raise TransferError(f"registry {self.registry} failed for {self.image}: {_reason(err)}") from None
                time.sleep(0.2 * (attempt + 1))
        raise TransferError(f"registry {self.registry} kept failing for {self.image} after {RETRIES} tries")

    def _send(self, method: str, url: str, headers: Mapping[str, str] | None, stream: bool,
              data: Any) -> requests.Response:
        merged = dict(headers or {})
        with self._lock:
            if self._authorization:
                merged["Authorization"] = self._authorization
        if hasattr(data, "seek"):
            data.seek(0)
        return self.session.request(method, url, headers=merged, stream=stream, data=data, timeout=TIMEOUT,
                                    allow_redirects=True, verify=self.verify)

    def _authenticate(self, header: str) -> None:
        challenge = parse_challenge(header)
        if challenge is None or challenge.scheme not in ("basic", "bearer"):
            raise AccessDenied(f"registry {self.registry} asks for {header or 'authentication'} for {self.image}, "
                               "which kubeserve cannot answer (it speaks Basic and Bearer)")
        creds = self.credentials
        if challenge.scheme == "basic":
            if creds is None:
                raise self._missing()
            token = base64.b64encode(f"{creds.username}:{creds.password}".encode()).decode()
            auth = f"Basic {token}"
        else:
            auth = "Bearer " + self._token(challenge.params)
        with self._lock:
            self._authorization = auth

    def _token(self, params: Mapping[str, str]) -> str:
        realm = params.get("realm")
        if not realm:
            raise AccessDenied(f"registry {self.registry} sent a Bearer challenge without a realm for {self.image}")
        query = {"service": params.get("service", ""), "scope": self.scope}
        creds = self.credentials
        auth = (creds.username, creds.password) if creds else None
        try:
            response = self.session.get(realm, params=query, auth=auth, timeout=TIMEOUT, verify=self.verify)
        except requests.exceptions.RequestException as err:
            raise TransferError(f"token server {realm} of registry {self.registry} failed: {_reason(err)}") from None
        with response:
            if response.status_code in (401, 403):
                raise self._refused(response.status_code, f"token server {realm}")
            if response.status_code != 200:
                raise TransferError(f"token server {realm} of registry {self.registry} answered "
                                    f"{response.status_code} for {self.image}")
            try:
                body = response.json()
                token = body.get("token") or body.get("access_token")
            except (ValueError, AttributeError):
                token = None
        if not isinstance(token, str) or not token:
            raise TransferError(f"token server {realm} of registry {self.registry} returned no token")
        return token

    def _missing(self) -> StorageError:
        return AccessDenied(f"registry {self.registry} requires credentials for {self.image} and none were found "
                            f"in {self.auth_hint}: give the InferenceService a pull secret (imagePullSecrets / "
                            "--pull-secret) or set REGISTRY_AUTH_FILE")

    def _refused(self, status: int, who: str | None = None) -> StorageError:
        who = who or f"registry {self.registry}"
        if self.credentials is None:
            return self._missing()
        verb = "refused the credentials" if status == 401 else "denied access with the credentials"
        return AccessDenied(f"{who} {verb} for {self.image} ({status}): check the pull secret / auth file "
                            f"{self.credentials.source} (user {self.credentials.username!r})")

    def check(self, response: requests.Response, what: str) -> None:
        """Raise the StorageError for a non-2xx response about `what` (e.g. `image x:tag`)."""
        status = response.status_code
        if status < 300:
            return
        detail = _error_detail(response)
        response.close()
        if status == 401:
            raise self._refused(401)
        if status == 403:
            raise AccessDenied(f"registry {self.registry} denied access to {what} (403{detail}): the credentials in "
                               f"{self.auth_hint} lack pull rights for {self.repository}")
        if status == 404:
            raise ModelNotFound(f"{what} not found on registry {self.registry} (404{detail}): check the "
                                "repository and tag, or push the modelcar "
                                "(`kubeserve modelcar build DIR IMAGE --push`)")
        raise TransferError(f"registry {self.registry} answered {status}{detail} for {what}")


def _error_detail(response: requests.Response) -> str:
    try:
        errors = response.json().get("errors") or []
        codes = ", ".join(str(e.get("code")) for e in errors if isinstance(e, dict))
        return f" {codes}" if codes else ""
    except (ValueError, AttributeError):
        return ""


def _reason(err: Exception) -> str:
    text = str(err)
    for marker in ("Connection refused", "Name or service not known", "timed out", "No route to host"):
        if marker in text:
            return marker.lower()
    return text[:200]
