"""`python -m kubeserve.controllers [--kubeconfig FILE] [--context NAME]`: run the serving controllers against a
real Kubernetes cluster (where KServe's CRDs are installed), exactly as `kubeserve up` runs them embedded."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
from pathlib import Path

from kubeserve.client import ApiClient, ClientConfig
from kubeserve.controllers.manager import ServingControllers


async def run(config: ClientConfig) -> None:
    client = await ApiClient.open(config)
    controllers = ServingControllers(client)
    try:
        await controllers.start()
        await asyncio.Event().wait()
    finally:
        await controllers.stop()
        await client.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m kubeserve.controllers", description=__doc__)
    default = os.environ.get("KUBECONFIG", "").split(os.pathsep)[0] or str(Path.home() / ".kube" / "config")
    parser.add_argument("--kubeconfig", default=default)
    parser.add_argument("--context", default=None)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(run(ClientConfig.from_kubeconfig(args.kubeconfig, args.context)))


if __name__ == "__main__":
    main()
