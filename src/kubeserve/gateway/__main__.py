"""`python -m kubeserve.gateway`: the gateway process (OpenShift's router, for kubeserve).

`kubeserve up` starts it beside the API server; against a real cluster it runs the same way with
`--kubeconfig` and a CA of your own. Settings come from flags, then `KUBESERVE_ROUTER_*` variables.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
from pathlib import Path

from kubeserve.client import ApiClient, ClientConfig
from kubeserve.gateway.gateway import Gateway, GatewaySettings

STOP_TIMEOUT = 10.0  # seconds a shutdown may take before the process exits anyway


def _ports(text: str) -> tuple[int, ...]:
    """`443` or `443,8443,0`: the ports to try in order (0: any free port)."""
    try:
        ports = tuple(int(p) for p in text.split(",") if p.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r}: give port numbers separated by commas, such as 443,8443") from None
    if not ports or any(not 0 <= p <= 65535 for p in ports):
        raise argparse.ArgumentTypeError(f"{text!r}: ports are 0 to 65535")
    return ports


def parse(argv: list[str] | None = None) -> tuple[str, GatewaySettings]:
    env = os.environ
    parser = argparse.ArgumentParser(prog="python -m kubeserve.gateway", description=__doc__)
    default_kubeconfig = env.get("KUBECONFIG", "").split(os.pathsep)[0] or str(Path.home() / ".kube" / "config")
    parser.add_argument("--kubeconfig", default=default_kubeconfig)
    parser.add_argument("--ca-cert", required=True, type=Path, help="CA that signs Route certificates")
    parser.add_argument("--ca-key", required=True, type=Path)
    parser.add_argument("--host", default=env.get("KUBESERVE_ROUTER_HOST", "127.0.0.1"))
    parser.add_argument("--https-port", type=_ports, default=_ports(env.get("KUBESERVE_ROUTER_HTTPS_PORT",
                                                                             "443,8443,0")))
    parser.add_argument("--http-port", type=_ports, default=_ports(env.get("KUBESERVE_ROUTER_HTTP_PORT",
                                                                            "80,8080,0")))
    parser.add_argument("--domain", default=env.get("KUBESERVE_APPS_DOMAIN", "apps.localhost"))
    parser.add_argument("--policy", default=env.get("KUBESERVE_ROUTER_POLICY", "prefix"),
                        choices=("prefix", "least-request", "round-robin"))
    parser.add_argument("--session-header", default=env.get("KUBESERVE_ROUTER_SESSION_HEADER", "x-session-id"))
    parser.add_argument("--ports-file", type=Path, default=None)
    parser.add_argument("--no-admit", dest="admit", action="store_false",
                        help="serve the Routes another router admitted, writing no Route status (a second router)")
    args = parser.parse_args(argv)
    settings = GatewaySettings(ca_cert=args.ca_cert, ca_key=args.ca_key, host=args.host,
                               https_ports=args.https_port, http_ports=args.http_port, domain=args.domain,
                               policy=args.policy, session_header=args.session_header.lower(),
                               ports_file=args.ports_file, admit=args.admit)
    return args.kubeconfig, settings


async def run(kubeconfig: str, settings: GatewaySettings) -> None:
    client = await ApiClient.open(ClientConfig.from_kubeconfig(kubeconfig))
    gateway = Gateway(client, settings)
    # A signal cancels whatever the gateway is waiting for, start-up included: with the API server gone (a
    # crashed kubeserve) start() would wait for its first listings forever.
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)
    try:
        await gateway.start()
        await asyncio.Event().wait()
    except asyncio.CancelledError:
        pass
    finally:
        await asyncio.wait_for(gateway.stop(), STOP_TIMEOUT)
        await client.close()


def main() -> None:
    kubeconfig, settings = parse()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        import uvloop  # libuv: a proxied request costs less event-loop time (bench/gateway.py)
    except ImportError:
        asyncio.run(run(kubeconfig, settings))
    else:
        uvloop.run(run(kubeconfig, settings))


if __name__ == "__main__":
    main()
