"""`python -m kubeserve.storage URI DEST [URI DEST…]`: the storage initializer, as KServe's
storage-initializer container is invoked (source URI and destination pairs), plus the options of
`kubeserve storage pull`."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from kubeserve.storage.command import FetchRequest, run_fetch
from kubeserve.storage.settings import SettingsError, settings_from_env


def parse(argv: list[str]) -> FetchRequest:
    parser = argparse.ArgumentParser(prog="python -m kubeserve.storage",
                                     description="Place a model at a destination directory (the storage initializer).")
    parser.add_argument("args", nargs="+", metavar="URI DEST",
                        help="source URI and destination pairs; only DEST with --storage-key")
    parser.add_argument("--storage-key", help="data-connection Secret (InferenceService storage.key)")
    parser.add_argument("--storage-path", help="path in the data connection's bucket (storage.path)")
    parser.add_argument("--pull-secret", action="append", default=[],
                        help="kubernetes.io/dockerconfigjson Secret for oci:// (repeatable)")
    parser.add_argument("-n", "--namespace", help="namespace of the Secrets and claims (default: the context's)")
    parser.add_argument("--kubeconfig", help="kubeconfig for Secret and claim lookups (default: $KUBECONFIG)")
    parser.add_argument("--no-cache", action="store_true", help="download straight to DEST, bypassing the cache")
    parser.add_argument("--progress", choices=("auto", "bar", "log", "none"), default="auto")
    ns = parser.parse_args(argv)
    args: list[str] = ns.args
    pairs: tuple[tuple[str, Path], ...]
    if ns.storage_key:
        if len(args) != 1:
            parser.error("with --storage-key give only DEST")
        pairs = (("", Path(args[0])),)
    else:
        if len(args) % 2:
            parser.error("expected URI DEST pairs")
        pairs = tuple((args[i], Path(args[i + 1])) for i in range(0, len(args), 2))
    return FetchRequest(pairs=pairs, kubeconfig=ns.kubeconfig, namespace=ns.namespace, storage_key=ns.storage_key,
                        storage_path=ns.storage_path, pull_secrets=tuple(ns.pull_secret), no_cache=ns.no_cache,
                        progress=ns.progress)


def main(argv: list[str] | None = None) -> int:
    request = parse(sys.argv[1:] if argv is None else argv)
    try:
        settings = settings_from_env(os.environ)
    except SettingsError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return run_fetch(request, os.environ, settings)


if __name__ == "__main__":
    sys.exit(main())
