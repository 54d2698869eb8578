"""A small HTTP server to run as a pod: `python -m kubeserve.runtimes.testserver [--port N] [--host H]`.

The image catalog maps `kubeserve/http-test-server` (and `ghcr.io/kubeserve/http-test-server`) to it, so
tests and demos exercise pods, probes, Services, restarts and OOM kills without a model server.

It binds `--host` if given, else the pod's own loopback IP (`KUBESERVE_POD_IP`, which the kubelet sets in
every container; then `POD_IP`, then 0.0.0.0): replicas share one machine, so binding 0.0.0.0 would collide.

Endpoints: `/` (JSON: hostname, podIP, message from $MESSAGE, version from $VERSION), `/healthz`, `/ready`
(503 after `POST /ready/off`, 200 again after `POST /ready/on`), `/env/<NAME>`, `/alloc?mb=N` (allocates
and holds N MiB, touching every page), `/crash?code=N` (exits with N), `/sleep?s=N`. One log line per request
on stdout. SIGTERM lets in-flight requests finish, then exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import sys
from collections.abc import Awaitable, Callable

from aiohttp import web

VERSION = "1"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def log(line: str) -> None:
    print(line, flush=True)


class State:
    def __init__(self) -> None:
        self.ready = True
        self.held: list[bytes] = []
        self.exit_code: int | None = None


def build_app(state: State) -> web.Application:
    @web.middleware
    async def access_log(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            log(f'{request.remote} "{request.method} {request.path_qs}" {exc.status}')
            raise
        log(f'{request.remote} "{request.method} {request.path_qs}" {response.status}')
        return response

    async def index(request: web.Request) -> web.Response:
        return web.json_response({
            "hostname": os.environ.get("HOSTNAME") or socket.gethostname(),
            "podIP": os.environ.get("KUBESERVE_POD_IP") or os.environ.get("POD_IP", ""),
            "message": os.environ.get("MESSAGE", ""),
            "version": os.environ.get("VERSION", VERSION),
        })

    async def healthz(request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def ready(request: web.Request) -> web.Response:
        if request.method == "POST":
            state.ready = request.match_info.get("switch", "on") != "off"
        return web.Response(text="ready\n" if state.ready else "not ready\n", status=200 if state.ready else 503)

    async def env(request: web.Request) -> web.Response:
        value = os.environ.get(request.match_info["name"])
        if value is None:
            raise web.HTTPNotFound(text=f"{request.match_info['name']} is not set\n")
        return web.Response(text=value)

    async def alloc(request: web.Request) -> web.Response:
        megabytes = int(request.query.get("mb", "1"))
        state.held.append(b"\x01" * (megabytes << 20))  # bytes of a non-zero value: every page is written
        total = sum(len(b) for b in state.held) >> 20
        return web.json_response({"allocatedMiB": megabytes, "heldMiB": total})

    async def crash(request: web.Request) -> web.Response:
        state.exit_code = int(request.query.get("code", "1"))
        log(f"crashing with exit code {state.exit_code}")
        asyncio.get_running_loop().call_later(0.05, os._exit, state.exit_code)
        return web.Response(text=f"exiting with {state.exit_code}\n")

    async def sleep(request: web.Request) -> web.Response:
        seconds = float(request.query.get("s", "1"))
        await asyncio.sleep(seconds)
        return web.Response(text=f"slept {seconds}s\n")

    app = web.Application(middlewares=[access_log])
    app.router.add_get("/", index)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/ready", ready)
    app.router.add_post("/ready/{switch}", ready)
    app.router.add_get("/env/{name}", env)
    app.router.add_route("*", "/alloc", alloc)
    app.router.add_route("*", "/crash", crash)
    app.router.add_get("/sleep", sleep)
    return app


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="kubeserve.runtimes.testserver", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=None, help="default: $PORT or 8080")
    parser.add_argument("--host", default=None, help="default: $KUBESERVE_POD_IP, else $POD_IP, else 0.0.0.0")
    return parser.parse_args(argv)


async def serve(host: str, port: int) -> None:
    stop = asyncio.Event()
    state = State()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    runner = web.AppRunner(build_app(state), handle_signals=False, shutdown_timeout=60, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    log(f"kubeserve test server {VERSION} listening on http://{host}:{port}")
    await stop.wait()
    log("SIGTERM received: finishing in-flight requests")
    await runner.cleanup()  # stops accepting, waits for running handlers (up to shutdown_timeout)
    log("stopped")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    host = args.host or os.environ.get("KUBESERVE_POD_IP") or os.environ.get("POD_IP") or "0.0.0.0"
    port = args.port if args.port is not None else int(os.environ.get("PORT") or 8080)
    asyncio.run(serve(host, port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
