"""The router's side of the Route API: each Route's `status.ingress` and port annotation, kept to `admit`'s verdicts.

Like OpenShift's router, the gateway is the one writer of `status.ingress` for its router name: host,
routerName, wildcardPolicy, routerCanonicalHostname and the `Admitted` condition the guide's troubleshooting
command reads (`kubectl get route <name> -o jsonpath='{.status.ingress[0].conditions[?(@.type=="Admitted")]}'`).
Entries other routers wrote are kept. A refused Route also gets a Warning Event with the same reason and
message, so `kubectl describe route` says what to do.

When the router cannot listen on 443 (or 80 for plain-HTTP Routes) the Route carries the annotation
`kubeserve.io/router-port`, which `kubectl get route` shows after the host and the InferenceService
controller puts in `status.url`; it is removed again when the standard port is in use.

Every change to a Route, Service or InferenceService recomputes all verdicts (host claims depend on every
Route) and writes only what changed; a condition's lastTransitionTime moves only when its status flips.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from kubeserve.api import errors
from kubeserve.client import ApiClient, EventRecorder, Informer, Obj, object_key
from kubeserve.client.background import cancel_and_wait
from kubeserve.client.controller import now_rfc3339
from kubeserve.gateway.admission import Admission, AdmissionSettings, admit

log = logging.getLogger(__name__)

ROUTER_PORT_ANNOTATION = "kubeserve.io/router-port"  # the name `kubeserve.api.printers` reads
RETRY_SECONDS = 5.0


def route_ingress(route: Obj, verdict: Admission, settings: AdmissionSettings, now: str) -> list[Obj]:
    """The Route's `status.ingress` with this router's entry first (where the guide's `ingress[0]` looks)."""
    ingresses = [i for i in (route.get("status") or {}).get("ingress") or [] if isinstance(i, dict)]
    ours: Obj = next((i for i in ingresses if i.get("routerName") == settings.router_name), {})
    old: Obj = next((c for c in ours.get("conditions") or [] if c.get("type") == "Admitted"), {})
    status = "True" if verdict.admitted else "False"
    condition: Obj = {"type": "Admitted", "status": status}
    if not verdict.admitted:
        condition["reason"] = verdict.reason
        condition["message"] = verdict.message
    flipped = old.get("status") != status or not old.get("lastTransitionTime")
    condition["lastTransitionTime"] = now if flipped else old["lastTransitionTime"]
    entry: Obj = {"host": verdict.host, "routerName": settings.router_name,
                  "conditions": [condition],
                  "wildcardPolicy": str((route.get("spec") or {}).get("wildcardPolicy") or "None"),
                  "routerCanonicalHostname": settings.canonical_hostname}
    return [entry, *(i for i in ingresses if i.get("routerName") != settings.router_name)]


def router_port(route: Obj, settings: AdmissionSettings) -> str | None:
    """The annotation's value: the port the Route is served on where it is not the standard one, else None."""
    if (route.get("spec") or {}).get("tls"):
        return None if settings.https_port == 443 else str(settings.https_port)
    return None if settings.http_port == 80 else str(settings.http_port)


class RouteAdmitter:
    """Admits Routes and writes their status. The informers may be shared (the proxy reads the same ones):
    `start` starts any not yet running, and their owner stops them."""

    def __init__(self, client: ApiClient, routes: Informer, services: Informer, inference_services: Informer,
                 settings: AdmissionSettings, *, clock: Callable[[], str] = now_rfc3339) -> None:
        self.client = client
        self.routes = routes
        self.services = services
        self.inference_services = inference_services
        self.settings = settings
        self.clock = clock
        self.kind = client.kind("route.openshift.io/v1", "Route")
        self.recorder = EventRecorder(client, f"router-{settings.router_name}")
        self.verdicts: dict[tuple[str, str], Admission] = {}
        """The last verdicts, for the proxy to serve only admitted Routes."""
        # (namespace, name) -> (resourceVersion the write was based on, what was written): a Route the
        # informer has not yet seen updated is not written twice
        self._written: dict[tuple[str, str], tuple[str, list[Obj]]] = {}
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        for informer in (self.routes, self.services, self.inference_services):
            informer.add_handler(lambda old, new: self._changed.set())
            informer.start()
        for informer in (self.routes, self.services, self.inference_services):
            await informer.wait_synced()
        await self.sync()
        self._task = asyncio.get_running_loop().create_task(self._follow(), name="route admitter")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None

    async def _follow(self) -> None:
        while True:
            await self._changed.wait()
            self._changed.clear()
            try:
                await self.sync()
            except Exception:
                # The API server away or a write refused: try again soon; the verdicts are recomputed anyway.
                log.warning("writing Route status failed; retrying in %.0fs", RETRY_SECONDS, exc_info=True)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), RETRY_SECONDS)
                self._changed.set()

    async def sync(self) -> None:
        """Recompute every verdict and write what changed."""
        routes = self.routes.list()
        self.verdicts = admit(routes, self.services.list(), self.inference_services.list(), self.settings)
        now = self.clock()
        for key in [k for k in self._written if k not in self.verdicts]:
            del self._written[key]
        for route in routes:
            key = object_key(route)
            await self._write(route, self.verdicts[key], now)

    async def _write(self, route: Obj, verdict: Admission, now: str) -> None:
        namespace, name = object_key(route)
        meta = route.get("metadata") or {}
        rv = str(meta.get("resourceVersion") or "")
        ingress = route_ingress(route, verdict, self.settings, now)
        current = (route.get("status") or {}).get("ingress")
        if ingress != current and self._written.get((namespace, name)) != (rv, ingress):
            try:
                await self.client.patch_status(self.kind, namespace, name, {"ingress": ingress})
            except errors.NotFound:
                return
            self._written[(namespace, name)] = (rv, ingress)
            if not verdict.admitted and _refusal(current, self.settings) != (verdict.reason, verdict.message):
                await self.recorder.record({**route, "apiVersion": "route.openshift.io/v1", "kind": "Route"},
                                           "Warning", verdict.reason, verdict.message)
        port = router_port(route, self.settings)
        if (meta.get("annotations") or {}).get(ROUTER_PORT_ANNOTATION) != port:
            with contextlib.suppress(errors.NotFound):
                await self.client.patch(self.kind, namespace, name,
                                        {"metadata": {"annotations": {ROUTER_PORT_ANNOTATION: port}}})


def _refusal(ingress: object, settings: AdmissionSettings) -> tuple[str, str] | None:
    """(reason, message) of this router's earlier refusal, so a refusal is told once."""
    for entry in ingress if isinstance(ingress, list) else []:
        if not isinstance(entry, dict) or entry.get("routerName") != settings.router_name:
            continue
        for condition in entry.get("conditions") or []:
            if condition.get("type") == "Admitted" and condition.get("status") == "False":
                return str(condition.get("reason") or ""), str(condition.get("message") or "")
    return None
