"""The composition root: settings in, components built and wired, the CLI's actions carried out.

The only module that knows every component. Settings come from flags, then `KUBESERVE_*` environment
variables, then defaults, and are frozen before anything starts.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import ctypes
import ipaddress
import logging
import os
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

import psutil
import uvloop

from kubeserve.api import errors
from kubeserve.apiserver.app import ApiServer, ApiServerSettings
from kubeserve.apiserver.pki import Pki, ensure_pki, ensure_token, server_ssl_context
from kubeserve.apiserver.request import WriteOptions
from kubeserve.apiserver.tokens import SERVICE_ACCOUNT_KEY, TokenSigner
from kubeserve.cli.app import StorageOptions, build_cli
from kubeserve.cli.kubeconfig import build_kubeconfig, merge_kubeconfig, write_kubeconfig
from kubeserve.client import ApiClient, ClientConfig, EventRecorder
from kubeserve.controllers.manager import ServingControllers
from kubeserve.gateway.services import ServiceProxy
from kubeserve.node.accelerators import accelerator_profile, detect
from kubeserve.node.kubelet.images import ImageCatalog
from kubeserve.node.kubelet.kubelet import Kubelet, KubeletSettings
from kubeserve.node.kubelet.process import ProcessManager
from kubeserve.node.kubelet.sandbox import detect_isolation
from kubeserve.node.kubelet.server import KubeletServer
from kubeserve.node.nodestatus import NodeStatusReporter
from kubeserve.node.scheduler import Scheduler
from kubeserve.node.serviceaccounts import ServiceAccountControllers
from kubeserve.node.settings import NodeSettings, settings_from_env
from kubeserve.node.volumes import LocalPathProvisioner
from kubeserve.node.workloads import WorkloadControllers
from kubeserve.storage.settings import STORAGE_ENV_KEYS, SettingsError, StorageSettings
from kubeserve.storage.settings import settings_from_env as storage_settings_from_env

log = logging.getLogger("kubeserve")
T = TypeVar("T")

PR_SET_PDEATHSIG = 1  # prctl(2)
DEFAULT_NAMESPACES = ("default", "kube-system", "kube-public", "redhat-ods-applications")
ACCELERATOR_NAMESPACE = "redhat-ods-applications"


@dataclass(frozen=True)
class Home:
    """The data directory layout ($KUBESERVE_HOME)."""

    root: Path

    @property
    def database(self) -> Path:
        return self.root / "kubeserve.db"

    @property
    def pki(self) -> Path:
        return self.root / "pki"

    @property
    def token(self) -> Path:
        return self.root / "token"

    @property
    def kubeconfig(self) -> Path:
        return self.root / "kubeconfig"

    @property
    def pid_file(self) -> Path:
        return self.root / "kubeserve.pid"

    @property
    def log_file(self) -> Path:
        return self.root / "kubeserve.log"

    @property
    def port_file(self) -> Path:
        return self.root / "api-port"

    @property
    def pods(self) -> Path:
        return self.root / "pods"

    @property
    def volumes(self) -> Path:
        return self.root / "volumes"

    @property
    def images(self) -> Path:
        return self.root / "images"

    @property
    def router_ports(self) -> Path:
        """"<https port> <http port>", written by the gateway once it listens."""
        return self.root / "router-ports"


@dataclass(frozen=True)
class KubeletConfig:
    """The kubelet's settings, from `KUBESERVE_*` variables (docs/node.md)."""

    pod_network: str = "127.10.0.0/16"
    isolation: str = "auto"
    image_catalog: Path | None = None
    backoff_seconds: float = 10.0
    keep_pods: bool = False  # leave pods running on shutdown (they are adopted on the next start)
    port: int = 0  # the kubelet's endpoint for logs/exec/port-forward; 0 picks a free port


@dataclass(frozen=True)
class Settings:
    home: Home
    api: ApiServerSettings
    node: NodeSettings
    kubelet: KubeletConfig
    storage: StorageSettings
    serving_controllers: bool = True
    """Run kubeserve's InferenceService controller (KUBESERVE_SERVING_CONTROLLERS=0 leaves InferenceServices
    to another controller, such as KServe's own, running against kubeserve's API)."""
    gateway: bool = True
    """Run the gateway process that admits and serves Routes (KUBESERVE_GATEWAY=0 leaves Routes to another
    router)."""


def load_settings(home: str | None = None, port: int | None = None) -> Settings:
    root = Path(home or os.environ.get("KUBESERVE_HOME") or Path.home() / ".kubeserve").expanduser().resolve()
    home_ = Home(root)
    env_port = os.environ.get("KUBESERVE_API_PORT")
    if port is None and env_port:
        port = int(env_port)
    if port is None and home_.port_file.exists():
        port = int(home_.port_file.read_text().strip() or 6443)
    api = ApiServerSettings(
        host=os.environ.get("KUBESERVE_API_HOST", "127.0.0.1"),
        port=port or 6443,
        database=home_.database,
        bookmark_interval=float(os.environ.get("KUBESERVE_BOOKMARK_SECONDS", "30")),
        compact_keep=int(os.environ.get("KUBESERVE_COMPACT_KEEP", "20000")),
        compact_interval=float(os.environ.get("KUBESERVE_COMPACT_SECONDS", "60")),
        service_network=os.environ.get("KUBESERVE_SERVICE_NETWORK", "127.96.0.0/16"),
        route_domain=os.environ.get("KUBESERVE_APPS_DOMAIN") or "apps.localhost",
    )
    env = os.environ
    try:
        node = settings_from_env(env)
        storage = storage_settings_from_env({**env, "KUBESERVE_HOME": str(home_.root)})
    except (ValueError, SettingsError) as exc:
        raise SystemExit(f"kubeserve: {exc}") from exc
    kubelet = KubeletConfig(
        pod_network=_setting(env, "KUBESERVE_POD_NETWORK", "127.10.0.0/16", _pod_network),
        isolation=_setting(env, "KUBESERVE_ISOLATION", "auto", _isolation),
        image_catalog=Path(env.get("KUBESERVE_IMAGE_CATALOG") or home_.root / "images.yaml"),
        backoff_seconds=_setting(env, "KUBESERVE_BACKOFF_SECONDS", "10", _positive_seconds),
        keep_pods=env.get("KUBESERVE_KEEP_PODS", "") not in ("", "0", "false"),
        port=_setting(env, "KUBESERVE_KUBELET_PORT", "0", _port),
    )
    serving = _setting(env, "KUBESERVE_SERVING_CONTROLLERS", "1", _switch)
    gateway = _setting(env, "KUBESERVE_GATEWAY", "1", _switch)
    return Settings(home=home_, api=api, node=node, kubelet=kubelet, storage=storage, serving_controllers=serving,
                    gateway=gateway)


def _setting(env: Mapping[str, str], name: str, default: str, parse: Callable[[str], T]) -> T:
    """One `KUBESERVE_*` value, parsed; a bad one stops start-up with a message naming the variable."""
    raw = env.get(name) or default
    try:
        return parse(raw)
    except ValueError as exc:
        raise SystemExit(f"kubeserve: {name}={raw!r} is not valid: {exc}") from None


def _switch(text: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "true", "on", "yes"):
        return True
    if value in ("0", "false", "off", "no"):
        return False
    raise ValueError(f"{text!r}: expected 1 or 0 (on/off)")


def _pod_network(text: str) -> str:
    try:
        network = ipaddress.IPv4Network(text)
    except ValueError as exc:
        raise ValueError(f"{exc}; give a loopback /16 such as 127.10.0.0/16") from None
    if network.prefixlen != 16 or not network.is_loopback:
        raise ValueError("give a loopback /16 such as 127.10.0.0/16")
    return text


def _isolation(text: str) -> str:
    if text not in ("auto", "mount-namespace", "path-rewrite"):
        raise ValueError("use auto, mount-namespace or path-rewrite")
    return text


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError("use a number of seconds above 0, such as 10") from None
    if not value > 0:
        raise ValueError("use a number of seconds above 0, such as 10")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ValueError("use a port number from 1 to 65535, or 0 for any free port") from None
    if not 0 <= value <= 65535:
        raise ValueError("use a port number from 1 to 65535, or 0 for any free port")
    return value


def prepare_home(settings: Settings) -> tuple[Pki, str]:
    """Create the data directory, PKI, token and kubeconfig (idempotent)."""
    home = settings.home
    home.root.mkdir(parents=True, exist_ok=True)
    # Private: the database holds every Secret, and pods/ holds secret volumes and env.
    if home.root.stat().st_uid == os.getuid():
        home.root.chmod(0o700)
    pki = ensure_pki(home.pki)
    token = ensure_token(home.token)
    config = build_kubeconfig(server_url(settings), pki.ca_cert, token)
    write_kubeconfig(home.kubeconfig, config)
    home.port_file.write_text(str(settings.api.port))
    return pki, token


def server_url(settings: Settings) -> str:
    return f"https://{settings.api.host}:{settings.api.port}"


def bootstrap(server: ApiServer) -> None:
    """What a user of the guide expects to find on a fresh cluster: its namespaces, and an
    AcceleratorProfile for each kind of accelerator this machine has (none on a CPU-only machine)."""
    objects = server.objects
    registry = objects.registry
    ns_kind = registry.by_kind("", "v1", "Namespace")
    profile_kind = registry.by_kind("dashboard.opendatahub.io", "v1", "AcceleratorProfile")
    assert ns_kind is not None and profile_kind is not None
    opts = WriteOptions(field_manager="kubeserve")
    for name in DEFAULT_NAMESPACES:
        with contextlib.suppress(errors.AlreadyExists):
            objects.create(ns_kind, "", {"metadata": {"name": name}}, opts)
    for accelerator in detect():
        with contextlib.suppress(errors.AlreadyExists):
            objects.create(profile_kind, ACCELERATOR_NAMESPACE,
                           accelerator_profile(accelerator, ACCELERATOR_NAMESPACE), opts)
        log.info("detected %d x %s (%s)", accelerator.count, accelerator.display_name, accelerator.resource)


class RecentLog(logging.Handler):
    """The last lines kubeserve logged, kept in memory: the node log (`kubectl get --raw
    /api/v1/nodes/NODE/proxy/logs?query=kubelet`, the MCP server's nodes_log) in the foreground too."""

    def __init__(self, keep: int = 2000) -> None:
        super().__init__(logging.INFO)
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        self._lines: collections.deque[str] = collections.deque(maxlen=keep)

    def emit(self, record: logging.LogRecord) -> None:
        self._lines.append(self.format(record))

    def lines(self) -> list[str]:
        return list(self._lines)


class EmbeddedNode:
    """The components that make the API server a one-node cluster, started after it and stopped before it.

    Each is a plain API client; this is the only place that knows them all."""

    def __init__(self, settings: Settings, client: ApiClient, token: str, recent_log: RecentLog) -> None:
        self.settings = settings
        self.client = client
        self.processes = ProcessManager(settings.home.pods)
        self.kubelet_server = KubeletServer(client, settings.home.pods, port=settings.kubelet.port, token=token,
                                            node_name=settings.node.name, node_log=recent_log.lines)
        self.kubelet: Kubelet | None = None
        self.others: list[Any] = []

    async def start(self) -> None:
        settings, client = self.settings, self.client
        home = settings.home
        for directory in (home.pods, home.volumes, home.images):
            directory.mkdir(parents=True, exist_ok=True)
        isolation = detect_isolation(settings.kubelet.isolation)
        kubelet_port = await self.kubelet_server.start()
        node_settings = replace(settings.node, kubelet_port=kubelet_port)
        self.others = [
            NodeStatusReporter(client, node_settings, home.root),
            LocalPathProvisioner(client, home.volumes),
            WorkloadControllers(client),
            Scheduler(client, node_settings.name, node_settings.resource_policy),
            ServiceProxy(client),
            ServiceAccountControllers(client, TokenSigner.load(home.pki / SERVICE_ACCOUNT_KEY).legacy_token,
                                      Pki.in_directory(home.pki).ca_cert.read_text()),
        ]
        for component in self.others:
            await component.start()
        kubelet_settings = KubeletSettings(
            node_name=node_settings.name, pods_dir=home.pods, pod_cidr_prefix=pod_prefix(settings.kubelet.pod_network),
            inventory=node_settings.inventory, isolation=isolation, backoff_base=settings.kubelet.backoff_seconds)
        images = ImageCatalog(home.images, settings.kubelet.image_catalog, storage_environment(settings))
        recorder = EventRecorder(client, "kubelet", node_settings.name)
        self.kubelet = Kubelet(client, kubelet_settings, self.processes, images, recorder)
        await self.kubelet.start()
        log.info("node %s ready: isolation %s, pod network %s, kubelet on 127.0.0.1:%d", node_settings.name,
                 isolation, settings.kubelet.pod_network, kubelet_port)

    async def stop(self) -> None:
        if self.kubelet is not None:
            await self.kubelet.stop(kill=not self.settings.kubelet.keep_pods)
        for component in reversed(self.others):
            with contextlib.suppress(Exception):
                await component.stop()
        await self.kubelet_server.stop()


class GatewayProcess:
    """The gateway (`python -m kubeserve.gateway`) as its own process, so proxied requests never queue behind
    the API server's or the kubelet's work on this event loop. Its bound ports land in `router-ports`."""

    def __init__(self, settings: Settings, pki: Pki) -> None:
        self.settings, self.pki = settings, pki
        self.process: subprocess.Popen[bytes] | None = None

    async def start(self) -> None:
        home = self.settings.home
        with contextlib.suppress(FileNotFoundError):
            self.settings.home.router_ports.unlink()
        log_out = (home.root / "gateway.log").open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "kubeserve.gateway", "--kubeconfig", str(home.kubeconfig),
             "--ca-cert", str(self.pki.ca_cert), "--ca-key", str(self.pki.ca_key),
             "--ports-file", str(self.settings.home.router_ports), "--domain", self.settings.api.route_domain],
            stdout=log_out, stderr=log_out, stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)
        log_out.close()
        for _ in range(300):  # the ports file is written once both listeners are bound
            if self.settings.home.router_ports.exists() or self.process.poll() is not None:
                break
            await asyncio.sleep(0.05)
        if self.process.poll() is not None:
            log.error("the gateway exited (%s); Routes are not served: see %s", self.process.returncode,
                      home.root / "gateway.log")

    async def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        for _ in range(100):
            if self.process.poll() is not None:
                return
            await asyncio.sleep(0.05)
        self.process.kill()
        self.process.wait()


def _die_with_parent() -> None:
    """In the gateway's child before exec: SIGTERM it when kubeserve dies, even by SIGKILL (Linux's
    PR_SET_PDEATHSIG), so a crashed kubeserve leaves no router holding its ports."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def storage_environment(settings: Settings) -> dict[str, str]:
    """What the storage initializer image gets: this kubeserve's home (cache, registries.conf, certs.d) and
    the storage settings kubeserve was started with."""
    env = {key: value for key, value in os.environ.items() if key in STORAGE_ENV_KEYS}
    env["KUBESERVE_HOME"] = str(settings.home.root)
    env.setdefault("KUBESERVE_MODEL_CACHE", str(settings.home.root / "models"))
    return env


def pod_prefix(network: str) -> str:
    """`127.10.0.0/16` → `127.10`: pods get addresses in a loopback /16 (checked by `_pod_network`)."""
    return ".".join(str(ipaddress.IPv4Network(network).network_address).split(".")[:2])


async def serve(settings: Settings) -> None:
    pki, token = prepare_home(settings)
    api_settings = ApiServerSettings(**{**settings.api.__dict__, "tokens": (token,),
                                        "service_account_key": settings.home.pki / SERVICE_ACCOUNT_KEY})
    server = ApiServer(api_settings, server_ssl_context(pki))
    try:
        await server.start()
    except OSError as exc:
        server.store.close()
        raise SystemExit(f"kubeserve: cannot listen on {settings.api.host}:{settings.api.port}: {exc.strerror}. "
                         "Is another kubeserve running? Use --port or KUBESERVE_API_PORT.") from exc
    bootstrap(server)
    client = await ApiClient.open(ClientConfig(server=server_url(settings), token=token, ca_file=str(pki.ca_cert)))
    recent_log = RecentLog()
    logging.getLogger().addHandler(recent_log)
    node = EmbeddedNode(settings, client, token, recent_log)
    serving = ServingControllers(client) if settings.serving_controllers else None
    gateway = GatewayProcess(settings, pki) if settings.gateway else None
    try:
        await node.start()
        if serving is not None:
            await serving.start()
        if gateway is not None:
            await gateway.start()
        settings.home.pid_file.write_text(str(os.getpid()))
        log.info("kubeserve API server listening on %s (kubeconfig: %s)", server_url(settings),
                 settings.home.kubeconfig)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
    finally:
        if gateway is not None:
            await gateway.stop()
        if serving is not None:
            await serving.stop()
        await node.stop()
        await client.close()
        await server.stop()
        with contextlib.suppress(FileNotFoundError):
            if settings.home.pid_file.read_text().strip() == str(os.getpid()):
                settings.home.pid_file.unlink()


def kill_leftover_pods(settings: Settings) -> None:
    """After the server is gone (even by SIGKILL), no pod process may outlive `kubeserve down`."""
    if not settings.home.pods.is_dir() or settings.kubelet.keep_pods:
        return
    processes = ProcessManager(settings.home.pods)
    for pod_dir in settings.home.pods.iterdir():
        if pod_dir.is_dir():
            processes.kill_all(pod_dir.name)


def _ready(settings: Settings) -> bool:
    context = ssl.create_default_context(cafile=str(Pki.in_directory(settings.home.pki).ca_cert))
    try:
        with urllib.request.urlopen(f"{server_url(settings)}/readyz", timeout=2, context=context) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError, ssl.SSLError):
        return False


def _pid(settings: Settings) -> int | None:
    """The running server's pid, or None. A killed server may linger as a zombie where nothing reaps it, and
    its pid may be reused: only a live kubeserve process counts."""
    try:
        pid = int(settings.home.pid_file.read_text().strip())
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE or "kubeserve" not in " ".join(process.cmdline()):
            return None
        return pid
    except (FileNotFoundError, ValueError, psutil.Error):
        return None


class Actions:
    """What the CLI's commands do; the CLI module only parses arguments and prints."""

    def up(self, home: str | None, port: int | None, detach: bool, timeout: float) -> int:
        settings = load_settings(home, port)
        if _pid(settings) is not None:
            print(f"kubeserve is already running (pid {_pid(settings)}); kubeconfig: {settings.home.kubeconfig}")
            return 0
        if not detach:
            logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
            # uvloop (libuv) roughly halves the event loop's cost per proxied connection (bench/services.py).
            uvloop.run(serve(settings))
            return 0
        prepare_home(settings)
        env = {**os.environ, "KUBESERVE_HOME": str(settings.home.root), "KUBESERVE_API_PORT": str(settings.api.port)}
        with open(settings.home.log_file, "ab") as log_out:
            process = subprocess.Popen([sys.executable, "-m", "kubeserve", "up"], stdout=log_out, stderr=log_out,
                                       stdin=subprocess.DEVNULL, env=env, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                tail = settings.home.log_file.read_text(errors="replace").splitlines()[-15:]
                print("kubeserve failed to start:\n" + "\n".join(tail), file=sys.stderr)
                return 1
            if _ready(settings) and _pid(settings) is not None:  # the pid file: every component has started
                print(f"kubeserve is up at {server_url(settings)}")
                print(f"export KUBECONFIG={settings.home.kubeconfig}")
                return 0
            time.sleep(0.2)
        print(f"kubeserve did not answer within {timeout:.0f}s; see {settings.home.log_file}", file=sys.stderr)
        return 1

    def down(self, home: str | None, timeout: float) -> int:
        settings = load_settings(home)
        pid = _pid(settings)
        if pid is None:
            print("kubeserve is not running")
            return 0
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if _pid(settings) is None:
                break
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(FileNotFoundError):
            settings.home.pid_file.unlink()
        kill_leftover_pods(settings)
        print("kubeserve stopped")
        return 0

    def status(self, home: str | None) -> int:
        settings = load_settings(home)
        pid = _pid(settings)
        ready = pid is not None and _ready(settings)
        print(f"home:       {settings.home.root}")
        state = "ready" if ready else "not running" if pid is None else "starting"
        print(f"api server: {server_url(settings)} ({state})")
        print(f"kubeconfig: {settings.home.kubeconfig}")
        ports = settings.home.router_ports.read_text().split() if pid is not None and (
            settings.home.router_ports.exists()) else []
        if len(ports) == 2:
            print(f"routes:     https://*.{settings.api.route_domain}:{ports[0]} "
                  f"and http on port {ports[1]} (CA: {Pki.in_directory(settings.home.pki).ca_cert})")
        if pid is not None:
            print(f"pid:        {pid}")
        return 0 if ready else 1

    def ca(self, home: str | None) -> int:
        """The CA file that signs the API server's and the Routes' certificates (curl --cacert)."""
        settings = load_settings(home)
        pki, _ = prepare_home(settings)
        print(pki.ca_cert)
        return 0

    def kubeconfig(self, home: str | None, merge: bool) -> int:
        settings = load_settings(home)
        pki, token = prepare_home(settings)
        if merge:
            target = Path(os.environ.get("KUBECONFIG", "").split(os.pathsep)[0] or Path.home() / ".kube" / "config")
            merge_kubeconfig(target, build_kubeconfig(server_url(settings), pki.ca_cert, token))
            print(f"added context kubeserve to {target}")
        print(settings.home.kubeconfig)
        return 0


    def storage_pull(self, uri: str | None, dest: Path, options: StorageOptions) -> int:
        from kubeserve.storage.command import FetchRequest, run_fetch
        settings = load_settings()
        request = FetchRequest(pairs=((uri or "", dest),), kubeconfig=options.kubeconfig,
                               namespace=options.namespace, storage_key=options.storage_key,
                               storage_path=options.storage_path, pull_secrets=options.pull_secrets,
                               no_cache=options.no_cache, progress=options.progress)
        return run_fetch(request, os.environ, settings.storage)

    def modelcar_build(self, model_dir: Path, image: str, push: bool, output: Path | None, compression: str,
                       options: StorageOptions) -> int:
        from kubeserve.storage.command import run_modelcar_build
        return run_modelcar_build(model_dir, image, push=push, output=output, compression=compression,
                                  kubeconfig=options.kubeconfig, namespace=options.namespace,
                                  pull_secrets=options.pull_secrets, progress=options.progress, env=os.environ,
                                  settings=load_settings().storage)

    def pvc_cp(self, source: Path, target: str, options: StorageOptions, helper_pod: bool) -> int:
        from kubeserve.storage.command import run_pvc_cp
        return run_pvc_cp(source, target, kubeconfig=options.kubeconfig, namespace=options.namespace,
                          via_pod=helper_pod, progress=options.progress, env=os.environ)


    def demo_model(self, dest: Path, seed: int) -> int:
        from kubeserve.runtimes.demomodel import DemoModelError, build_demo_model
        try:
            path = build_demo_model(dest, seed=seed)
        except DemoModelError as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
        print(f"demo model written to {path}")
        return 0


def cli_entry() -> None:
    build_cli(Actions())()
