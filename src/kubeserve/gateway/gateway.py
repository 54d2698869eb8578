"""The gateway process's parts wired together: informers → route table, admission, listeners, proxy.

Like OpenShift's router, one process watches Routes, Services, EndpointSlices and InferenceServices through
the API, admits Routes (writing their status), and serves them. The route table is rebuilt from the
informers' caches after any change (coalesced: a burst of EndpointSlice updates during a rollout costs one
rebuild), so requests never wait for the API server.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
import ssl
import time
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from kubeserve.client import ApiClient, Informer
from kubeserve.client.background import cancel_and_wait
from kubeserve.gateway import auth, lb, metrics
from kubeserve.gateway.admission import AdmissionSettings
from kubeserve.gateway.listeners import TlsListener, listening_socket
from kubeserve.gateway.proxy import Proxy, ProxySettings
from kubeserve.gateway.routes import RouteTable, build_table
from kubeserve.gateway.routestatus import RouteAdmitter
from kubeserve.gateway.tls import CertificateStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GatewaySettings:
    ca_cert: Path
    ca_key: Path
    host: str = "127.0.0.1"
    https_ports: tuple[int, ...] = (443, 8443, 0)  # the first one that binds; 0 is any free port
    http_ports: tuple[int, ...] = (80, 8080, 0)
    domain: str = "apps.localhost"
    router_name: str = "default"
    policy: str = "prefix"
    session_header: str = "x-session-id"
    ports_file: Path | None = None  # where the bound ports are written ("https http"), for the CLI
    admit: bool = True  # False: only serve Routes another router (of the same name) admitted; write no status


class Gateway:
    def __init__(self, client: ApiClient, settings: GatewaySettings) -> None:
        self.client = client
        self.settings = settings
        self.routes = Informer(client, client.kind("route.openshift.io/v1", "Route"))
        self.services = Informer(client, client.kind("v1", "Service"))
        self.slices = Informer(client, client.kind("discovery.k8s.io/v1", "EndpointSlice"))
        self.isvcs = Informer(client, client.kind("serving.kserve.io/v1beta1", "InferenceService"))
        self.certs = CertificateStore(settings.ca_cert, settings.ca_key)
        self.metrics = metrics.GatewayMetrics()
        self.balancer = lb.Balancer(lb.BalancerSettings(policy=settings.policy))
        self._table = RouteTable()
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._upstream_contexts: dict[str, ssl.SSLContext] = {}
        self.proxy: Proxy | None = None
        self.admitter: RouteAdmitter | None = None
        self.tls: TlsListener | None = None
        self.plain: asyncio.Server | None = None
        self.https_port = 0
        self.http_port = 0

    async def start(self) -> None:
        https_sock, self.https_port = _bind_first(self.settings.host, self.settings.https_ports)
        http_sock, self.http_port = _bind_first(self.settings.host, self.settings.http_ports)
        if self.settings.ports_file is not None:
            self.settings.ports_file.write_text(f"{self.https_port} {self.http_port}\n")
        authenticator = auth.TokenAuthenticator(self.client)
        self.proxy = Proxy(ProxySettings(self.https_port, self.http_port, self.settings.session_header),
                           lambda: self._table, self.balancer, self.metrics, authenticator, self._upstream_context)
        await self.proxy.start()
        server = web.Server(self.proxy.handle, access_log=None)  # a log line per request costs ~10% CPU
        self.tls = TlsListener(https_sock, server, self._server_context(), self._passthrough,
                               lambda endpoint: self.balancer.connect_failed(endpoint, time.monotonic()))
        self.tls.start()
        loop = asyncio.get_running_loop()
        self.plain = await loop.create_server(server, sock=http_sock)
        for informer in (self.routes, self.services, self.slices, self.isvcs):
            informer.add_handler(lambda old, new: self._changed.set())
            informer.start()
        for informer in (self.routes, self.services, self.slices, self.isvcs):
            await informer.wait_synced()
        self._rebuild()
        if self.settings.admit:
            self.admitter = RouteAdmitter(
                self.client, self.routes, self.services, self.isvcs,
                AdmissionSettings(router_name=self.settings.router_name, domain=self.settings.domain,
                                  https_port=self.https_port, http_port=self.http_port))
            await self.admitter.start()
        self._task = loop.create_task(self._follow(), name="gateway route table")
        log.info("gateway listening on https://%s:%d and http://%s:%d (Routes under *.%s)", self.settings.host,
                 self.https_port, self.settings.host, self.http_port, self.settings.domain)

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        if self.admitter is not None:
            await self.admitter.stop()
        if self.tls is not None:
            await self.tls.stop()
        if self.plain is not None:
            self.plain.close()
        if self.proxy is not None:
            await self.proxy.stop()
        for informer in (self.routes, self.services, self.slices, self.isvcs):
            with contextlib.suppress(Exception):
                await informer.stop()

    async def _follow(self) -> None:
        while True:
            await self._changed.wait()
            self._changed.clear()
            self._rebuild()
            await asyncio.sleep(0.01)  # coalesce bursts (a rollout changes several slices at once)

    def _rebuild(self) -> None:
        self._table = build_table(self.routes.list(), self.services.list(), self.slices.list(),
                                  self.isvcs.list(), self.settings.router_name)
        present = {e for entries in self._table.by_host.values() for entry in entries for e in entry.endpoints}
        self.balancer.forget(present)

    # -- TLS -----------------------------------------------------------------------------------------------

    def _server_context(self) -> ssl.SSLContext:
        base = self.certs.for_host("localhost")
        base.sni_callback = self._pick_certificate
        return base

    def _pick_certificate(self, connection: ssl.SSLObject, server_name: str | None,
                          _context: ssl.SSLContext) -> int | None:
        if not server_name:
            return None
        entries = self._table.by_host.get(server_name.lower())
        try:
            entry = entries[0] if entries else None
            if entry is not None and entry.certificate and entry.key:
                connection.context = self.certs.for_route(entry.certificate, entry.key, entry.ca_certificate)
            else:
                connection.context = self.certs.for_host(server_name.lower())
        except ValueError as exc:
            log.warning("TLS for %s: %s; serving kubeserve's certificate instead", server_name, exc)
            connection.context = self.certs.for_host(server_name.lower())
        return None

    def _passthrough(self, sni: str | None) -> list[str] | None:
        if not sni:
            return None
        for entry in self._table.by_host.get(sni.lower(), ()):
            if entry.termination == "passthrough":
                return list(entry.endpoints)
        return None

    def _upstream_context(self, destination_ca: str) -> ssl.SSLContext:
        context = self._upstream_contexts.get(destination_ca)
        if context is None:
            context = ssl.create_default_context()
            if destination_ca:
                context.load_verify_locations(cadata=destination_ca)
            else:
                context.load_verify_locations(cafile=str(self.settings.ca_cert))
            self._upstream_contexts[destination_ca] = context
        return context


def _bind_first(host: str, ports: tuple[int, ...]) -> tuple[socket.socket, int]:
    errors = []
    for port in ports:
        try:
            sock = listening_socket(host, port)
        except OSError as exc:
            errors.append(f"{port}: {exc.strerror or exc}")
            if exc.errno not in (errno.EACCES, errno.EADDRINUSE, errno.EPERM):
                break
            continue
        return sock, int(sock.getsockname()[1])
    raise SystemExit(f"kubeserve gateway: cannot listen on {host} ({'; '.join(errors)})")

