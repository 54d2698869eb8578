"""The pod sandbox: a pod's directory, its volumes, its hosts file and how its containers are isolated.

What Kubernetes gets from a pause container and volume plugins, kubeserve gets from a directory per pod
(`pods/<uid>/`, see docs/design/embedded-node.md): `sandbox.json` records the pod's loopback IP and the
isolation mode, `hosts` is the /etc/hosts its containers see, `volumes/<name>/` holds emptyDir, secret,
configMap and downwardAPI contents. PVCs and hostPaths are host directories used in place.

Isolation is one of two modes: "mount-namespace" (an unprivileged user + mount namespace in which the launch
bind-mounts each volume at its mountPath and the hosts file over /etc/hosts) where the OS allows it, else
"path-rewrite" (mountPath prefixes in the container's argv and env are rewritten to host directories;
readOnly cannot be enforced and /etc/hosts is the host's).
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import os
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from kubeserve.api.quantity import parse_quantity
from kubeserve.api.validation import dns1123_label
from kubeserve.atomicfile import write_atomic
from kubeserve.client import Obj
from kubeserve.node.kubelet import process

ISOLATIONS = ("mount-namespace", "path-rewrite")
NODE_IP = "127.0.0.1"
SHM_ROOT = Path("/dev/shm")
CLUSTER_DOMAIN = "cluster.local"


class SandboxError(Exception):
    def __init__(self, message: str, reason: str = "FailedMount") -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class Lookups:
    secret: Callable[[str, str], Obj | None]
    config_map: Callable[[str, str], Obj | None]
    pvc_path: Callable[[str, str], Path | None]
    services: Callable[[], list[Obj]]


@dataclass(frozen=True)
class Sandbox:
    pod_dir: Path
    ip: str
    isolation: str
    volumes: dict[str, Path]

    @property
    def hosts_path(self) -> Path:
        return self.pod_dir / "hosts"


def detect_isolation(setting: str) -> str:
    if setting in ISOLATIONS:
        return setting
    if setting != "auto":
        raise ValueError(f"isolation must be auto, mount-namespace or path-rewrite, not {setting!r}")
    probe = ["unshare", "--user", "--map-root-user", "--mount", "true"]
    return "mount-namespace" if shutil.which("unshare") and process.command_succeeds(probe) else "path-rewrite"


def shm_dir(uid: str) -> Path:
    return SHM_ROOT / f"kubeserve-{uid}"


def remove_sandbox(pod_dir: Path, uid: str) -> None:
    """Deletes what prepare_sandbox made, including memory-backed emptyDirs outside the pod directory."""
    shutil.rmtree(shm_dir(uid), ignore_errors=True)
    shutil.rmtree(pod_dir, ignore_errors=True)


def prepare_sandbox(pod: Obj, pod_dir: Path, ip: str, lookups: Lookups, isolation: str) -> Sandbox:
    meta = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    for index, volume in enumerate(spec.get("volumes") or []):  # before any name becomes a path
        _check_volume_name(volume.get("name"), f"spec.volumes[{index}].name")
    pod_dir.mkdir(parents=True, exist_ok=True)
    _private_dir(pod_dir / "volumes")
    (pod_dir / "containers").mkdir(exist_ok=True)
    record = {"namespace": meta.get("namespace", "default"), "name": meta.get("name"), "uid": meta.get("uid"),
              "ip": ip, "isolation": isolation}
    write_atomic(pod_dir / "sandbox.json", json.dumps(record, indent=1).encode(), 0o644)
    volumes: dict[str, Path] = {}
    for volume in spec.get("volumes") or []:
        volumes[volume["name"]] = _materialize(pod, pod_dir, ip, volume, lookups)
    sandbox = Sandbox(pod_dir=pod_dir, ip=ip, isolation=isolation, volumes=volumes)
    write_hosts(sandbox, pod, lookups.services())
    return sandbox


# -- volumes ----------------------------------------------------------------------------------------------

def materialize_volume(pod: Obj, sandbox: Sandbox, volume: Obj, lookups: Lookups) -> Path:
    """(Re)writes one volume of a prepared sandbox, e.g. a secret volume after its Secret changed; files whose
    content and mode did not change are left alone, so readers never see a needless replacement."""
    _check_volume_name(volume.get("name"), "spec.volumes[].name")
    return _materialize(pod, sandbox.pod_dir, sandbox.ip, volume, lookups)


def _check_volume_name(name: Any, field_path: str) -> None:
    """A volume's name becomes a directory (volumes/<name>): anything but a DNS-1123 label ("../x", "a/b")
    could reach outside the pod's folder, so it is refused before the file system is touched."""
    problems = dns1123_label(name) if isinstance(name, str) else ["must be a string"]
    if problems:
        raise SandboxError(f'MountVolume.SetUp failed: {field_path}: Invalid value: "{name}": {"; ".join(problems)}')


def _private_dir(path: Path) -> Path:
    """`path` as a directory only its owner may enter (0700), whatever the umask or an older kubeserve made."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path.stat().st_mode & 0o777 != 0o700:
        path.chmod(0o700)
    return path


def _fail(volume: str, why: str) -> SandboxError:
    return SandboxError(f'MountVolume.SetUp failed for volume "{volume}" : {why}')


def _materialize(pod: Obj, pod_dir: Path, ip: str, volume: Obj, lookups: Lookups) -> Path:
    name = str(volume["name"])
    namespace = str((pod.get("metadata") or {}).get("namespace", "default"))
    local = pod_dir / "volumes" / name
    if "emptyDir" in volume:
        if (volume.get("emptyDir") or {}).get("medium") == "Memory" and os.access(SHM_ROOT, os.W_OK):
            # /dev/shm is world-readable: the pod's folder there is private, like pods/<uid>/volumes.
            local = _private_dir(shm_dir(str((pod.get("metadata") or {}).get("uid")))) / name
        local.mkdir(parents=True, exist_ok=True)
        return local
    if "persistentVolumeClaim" in volume:
        claim = volume["persistentVolumeClaim"].get("claimName", "")
        path = lookups.pvc_path(namespace, str(claim))
        if path is None:
            raise _fail(name, f'persistentvolumeclaim "{claim}" is not bound to a volume yet; check '
                              f"`kubectl describe pvc {claim} -n {namespace}`")
        path.mkdir(parents=True, exist_ok=True)
        return path
    if "hostPath" in volume:
        source = volume["hostPath"]
        path = Path(source.get("path", ""))
        if source.get("type") in ("DirectoryOrCreate",) or (not path.exists() and not source.get("type")):
            path.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            raise _fail(name, f"hostPath type check failed: {path} does not exist")
        return path
    if "secret" in volume:
        _write_files(local, _secret_files(name, namespace, volume["secret"], lookups), volume["secret"])
        return local
    if "configMap" in volume:
        _write_files(local, _config_map_files(name, namespace, volume["configMap"], lookups), volume["configMap"])
        return local
    if "downwardAPI" in volume:
        _write_files(local, _downward_files(name, pod, ip, volume["downwardAPI"]), volume["downwardAPI"])
        return local
    if "projected" in volume:
        files: dict[str, tuple[bytes, int | None]] = {}
        for source in volume["projected"].get("sources") or []:
            if "secret" in source:
                files.update(_secret_files(name, namespace, source["secret"], lookups))
            elif "configMap" in source:
                files.update(_config_map_files(name, namespace, source["configMap"], lookups))
            elif "downwardAPI" in source:
                files.update(_downward_files(name, pod, ip, source["downwardAPI"]))
            # serviceAccountToken: embedded kubeserve issues no projected tokens; the file is left out
        _write_files(local, files, volume["projected"])
        return local
    kinds = sorted(k for k in volume if k != "name")
    raise _fail(name, f"kubeserve does not support the {', '.join(kinds) or 'empty'} volume type; "
                      "use emptyDir, persistentVolumeClaim, hostPath, secret, configMap, downwardAPI or projected")


def _decode(data: dict[str, Any] | None) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for key, value in (data or {}).items():
        try:
            out[key] = base64.b64decode(str(value or ""), validate=False)
        except binascii.Error:
            out[key] = str(value).encode()
    return out


def _select(volume: str, kind: str, source: Obj, data: dict[str, bytes]) -> dict[str, tuple[bytes, int | None]]:
    items = source.get("items")
    if not items:
        return {key: (value, None) for key, value in data.items()}
    out: dict[str, tuple[bytes, int | None]] = {}
    for item in items:
        key = item.get("key", "")
        if key not in data:
            if source.get("optional"):
                continue
            raise _fail(volume, f"{kind} references non-existent config key: {key}")
        out[item.get("path") or key] = (data[key], item.get("mode"))
    return out


def _secret_files(volume: str, namespace: str, source: Obj, lookups: Lookups) -> dict[str, tuple[bytes, int | None]]:
    secret_name = source.get("secretName") or source.get("name") or ""
    secret = lookups.secret(namespace, secret_name)
    if secret is None:
        if source.get("optional"):
            return {}
        raise _fail(volume, f'secret "{secret_name}" not found')
    data = _decode(secret.get("data"))
    data.update({k: str(v).encode() for k, v in (secret.get("stringData") or {}).items()})
    return _select(volume, "secret", source, data)


def _config_map_files(volume: str, namespace: str, source: Obj,
                      lookups: Lookups) -> dict[str, tuple[bytes, int | None]]:
    cm_name = source.get("name") or ""
    config_map = lookups.config_map(namespace, cm_name)
    if config_map is None:
        if source.get("optional"):
            return {}
        raise _fail(volume, f'configmap "{cm_name}" not found')
    data = {k: str(v).encode() for k, v in (config_map.get("data") or {}).items()}
    data.update(_decode(config_map.get("binaryData")))
    return _select(volume, "configmap", source, data)


def _downward_files(volume: str, pod: Obj, ip: str, source: Obj) -> dict[str, tuple[bytes, int | None]]:
    out: dict[str, tuple[bytes, int | None]] = {}
    for item in source.get("items") or []:
        try:
            if "fieldRef" in item:
                value = field_value(pod, ip, item["fieldRef"].get("fieldPath", ""), volume_format=True)
            else:
                ref = item.get("resourceFieldRef") or {}
                value = resource_value(pod, ref.get("containerName", ""), ref.get("resource", ""), ref.get("divisor"))
        except ValueError as exc:
            raise _fail(volume, str(exc)) from exc
        out[item.get("path", "")] = (value.encode(), item.get("mode"))
    return out


def _write_files(root: Path, files: dict[str, tuple[bytes, int | None]], source: Obj) -> None:
    default_mode = source.get("defaultMode")
    default_mode = 0o644 if default_mode is None else int(default_mode)
    root.mkdir(parents=True, exist_ok=True)
    wanted: set[Path] = set()
    for rel, (content, mode) in files.items():
        target = (root / rel).resolve()
        if root.resolve() not in target.parents:
            raise SandboxError(f"volume file path {rel!r} escapes the volume")
        target.parent.mkdir(parents=True, exist_ok=True)
        file_mode = default_mode if mode is None else int(mode)
        if not _same_file(target, content, file_mode):
            write_atomic(target, content, file_mode)
        wanted.add(target)
    # A Secret or ConfigMap that lost a key loses the file too, as kubelet's atomic writer does.
    for path in sorted(root.rglob("*"), reverse=True):
        if path.is_file() and path.resolve() not in wanted:
            path.unlink()
        elif path.is_dir() and not any(path.iterdir()):
            path.rmdir()


def _same_file(path: Path, content: bytes, mode: int) -> bool:
    try:
        return (path.stat().st_mode & 0o7777) == mode and path.read_bytes() == content
    except OSError:
        return False


# -- downward API -----------------------------------------------------------------------------------------

def _subscript(field_path: str, prefix: str) -> str | None:
    if field_path.startswith(prefix + "['") and field_path.endswith("']"):
        return field_path[len(prefix) + 2:-2]
    return None


def field_value(pod: Obj, ip: str, field_path: str, volume_format: bool = False) -> str:
    """A downward API fieldRef, as kubelet resolves it. Raises ValueError for an unsupported path."""
    meta = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    simple = {
        "metadata.name": meta.get("name", ""),
        "metadata.namespace": meta.get("namespace", "default"),
        "metadata.uid": meta.get("uid", ""),
        "spec.nodeName": spec.get("nodeName", ""),
        "spec.serviceAccountName": spec.get("serviceAccountName", "default"),
        "status.podIP": ip,
        "status.podIPs": ip,
        "status.hostIP": NODE_IP,
        "status.hostIPs": NODE_IP,
    }
    if field_path in simple:
        return str(simple[field_path] or "")
    for prefix in ("metadata.labels", "metadata.annotations"):
        values = meta.get(prefix.split(".")[1]) or {}
        key = _subscript(field_path, prefix)
        if key is not None:
            return str(values.get(key, ""))
        if field_path == prefix and volume_format:
            return "".join(f"{k}={json.dumps(str(v))}\n" for k, v in sorted(values.items()))
    raise ValueError(f"unsupported fieldPath: {field_path}")


def resource_value(pod: Obj, container_name: str, resource: str, divisor: Any = None) -> str:
    """A resourceFieldRef: the container's limit or request in units of divisor, rounded up; a missing limit
    reads as the node's capacity, a missing request as the limit (or 0), as in Kubernetes."""
    containers = (pod.get("spec") or {}).get("containers") or []
    container = next((c for c in containers if c.get("name") == container_name), containers[0] if containers else {})
    resources = container.get("resources") or {}
    kind, _, what = resource.partition(".")
    if kind not in ("limits", "requests") or what not in ("cpu", "memory", "ephemeral-storage"):
        raise ValueError(f"unsupported resource: {resource}")
    limits = resources.get("limits") or {}
    requests = resources.get("requests") or {}
    raw = (limits if kind == "limits" else requests).get(what)
    if raw is None and kind == "requests":
        raw = limits.get(what)
    amount: Fraction
    if raw is not None:
        amount = parse_quantity(raw)
    elif kind == "requests":
        amount = Fraction(0)
    else:
        amount = Fraction(_capacity(what))
    unit = parse_quantity(divisor) if divisor not in (None, "", 0, "0") else Fraction(1)
    return str(math.ceil(amount / unit))


def _capacity(resource: str) -> int:
    if resource == "cpu":
        return os.cpu_count() or 1
    if resource == "memory":
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return shutil.disk_usage("/").total


# -- the hosts file ---------------------------------------------------------------------------------------

def pod_hostname(pod: Obj) -> str:
    spec = pod.get("spec") or {}
    return str(spec.get("hostname") or (pod.get("metadata") or {}).get("name", ""))[:63]


def hosts_content(pod: Obj, ip: str, services: Iterable[Obj]) -> str:
    meta = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    namespace = meta.get("namespace", "default")
    hostname = pod_hostname(pod)
    lines = ["# Kubernetes-managed hosts file (kubeserve).",
             "127.0.0.1\tlocalhost",
             "::1\tlocalhost ip6-localhost ip6-loopback",
             "fe00::0\tip6-localnet",
             "fe00::0\tip6-mcastprefix",
             "fe00::1\tip6-allnodes",
             "fe00::2\tip6-allrouters"]
    if spec.get("subdomain"):
        lines.append(f"{ip}\t{hostname}.{spec['subdomain']}.{namespace}.svc.{CLUSTER_DOMAIN}\t{hostname}")
    else:
        lines.append(f"{ip}\t{hostname}")
    aliases = spec.get("hostAliases") or []
    if aliases:
        lines.append("\n# Entries added by HostAliases.")
        lines.extend(f"{a.get('ip')}\t{chr(9).join(a.get('hostnames') or [])}" for a in aliases)
    service_lines = []
    for svc in sorted(services, key=lambda s: ((s.get("metadata") or {}).get("namespace", ""),
                                               (s.get("metadata") or {}).get("name", ""))):
        cluster_ip = (svc.get("spec") or {}).get("clusterIP")
        if not cluster_ip or cluster_ip == "None":
            continue
        svc_meta = svc.get("metadata") or {}
        name, svc_ns = svc_meta.get("name", ""), svc_meta.get("namespace", "default")
        names = [f"{name}.{svc_ns}.svc.{CLUSTER_DOMAIN}", f"{name}.{svc_ns}.svc", f"{name}.{svc_ns}"]
        if svc_ns == namespace:
            names.append(name)
        service_lines.append(f"{cluster_ip}\t{' '.join(names)}")
    if service_lines:
        lines.append("\n# Services (kubeserve: cluster DNS as a hosts file).")
        lines.extend(service_lines)
    return "\n".join(lines) + "\n"


def write_hosts(sandbox: Sandbox, pod: Obj, services: list[Obj]) -> None:
    """Rewrites the file in place (same inode), so containers that bind-mounted it see the change."""
    content = hosts_content(pod, sandbox.ip, services).encode()
    path = sandbox.hosts_path
    if not path.exists():
        path.write_bytes(content)
        return
    with open(path, "r+b") as handle:
        if handle.read() == content:
            return
        handle.seek(0)
        handle.write(content)
        handle.truncate()
