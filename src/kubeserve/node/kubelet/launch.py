"""From a container spec to the argv, environment and working directory of a local process.

Kubernetes' rules, applied as kubelet applies them: `command` replaces the image's ENTRYPOINT and drops its
CMD, `args` replace CMD; the environment is envFrom (in order) then env, later entries winning, with
`$(VAR)` expanded in env values from earlier variables and in command and args from the final environment
(`$$` escapes, unresolvable references stay literal); service-link variables (`<SVC>_SERVICE_HOST`, Docker
links) for the pod's namespace unless `enableServiceLinks: false`, and KUBERNETES_SERVICE_HOST/PORT always.

Catalog images may write `{pod_ip}` in their entrypoint and cmd; it becomes the pod's loopback IP, because
a program binding 0.0.0.0 would collide with its own replicas. Every container also gets
`KUBESERVE_POD_IP` (the built-in test server binds it) and `HOSTNAME` (the pod's hostname).

Volume mounts are realised by the isolation mode (see sandbox.py): under "mount-namespace" the argv is
`unshare --user --map-root-user --mount --propagation private -- /bin/sh -c '<mounts>; exec "$@"' sh <cmd>`
(without --fork unshare execs, so the container's pid is the shim's child); under "path-rewrite" every
mountPath prefix in argv, env values and the working directory is replaced by its host directory, and
`KUBESERVE_PATH_REWRITE` holds the mapping as JSON.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from kubeserve.api.validation import dns1123_label
from kubeserve.client import Obj
from kubeserve.node.kubelet.images import PulledImage
from kubeserve.node.kubelet.sandbox import Lookups, Sandbox, field_value, pod_hostname, resource_value
from kubeserve.node.kubelet.shim import START_ERROR_EXIT, START_ERROR_MARKER

# Where a missing mountPath parent may be covered by a tmpfs inside the mount namespace: directories whose
# host contents a container has no business seeing anyway. Anywhere else we would have to create
# directories on the host's real file system, which a container must never do.
TMPFS_ANCESTORS = ("/mnt", "/media", "/srv", "/opt/app-root", "/data", "/models")
HOST_ENV_KEYS = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "USER", "LOGNAME",
                 "LD_LIBRARY_PATH", "SSL_CERT_FILE", "SSL_CERT_DIR")
PID_PLACEHOLDER = "{pid}"  # in Launch.enter; the shim substitutes the container's pid


class ConfigError(Exception):
    reason = "CreateContainerConfigError"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Launch:
    argv: tuple[str, ...]
    env: dict[str, str]
    cwd: str | None
    stdin: bool
    enter: tuple[str, ...]        # may contain PID_PLACEHOLDER; state.json holds the substituted prefix
    stdin_once: bool = False


def check_container_name(pod: Obj, container: Obj) -> None:
    """A container's name becomes a directory (pods/<uid>/containers/<name>): anything but a DNS-1123 label
    ("../x", "a/b") could reach outside the pod's folder, so it is refused before the file system is touched."""
    name = container.get("name")
    problems = dns1123_label(name) if isinstance(name, str) else ["must be a string"]
    if not problems:
        return
    spec = pod.get("spec") or {}
    field_path = "name"
    for kind in ("initContainers", "containers"):
        for index, candidate in enumerate(spec.get(kind) or []):
            if candidate is container:
                field_path = f"spec.{kind}[{index}].name"
    raise ConfigError(f'{field_path}: Invalid value: "{name}": {"; ".join(problems)}')


# -- $(VAR) expansion (a port of k8s.io/kubernetes/third_party/forked/golang/expansion) ---------------------

def expand(text: str, *contexts: Mapping[str, str]) -> str:
    out: list[str] = []
    checkpoint = 0
    cursor = 0
    while cursor < len(text):
        if text[cursor] == "$" and cursor + 1 < len(text):
            out.append(text[checkpoint:cursor])
            nxt = text[cursor + 1]
            advance = 1
            if nxt == "$":
                out.append("$")
            elif nxt == "(":
                close = text.find(")", cursor + 2)
                if close == -1:
                    out.append("$(")
                else:
                    name = text[cursor + 2:close]
                    advance = close - cursor
                    out.append(next((ctx[name] for ctx in contexts if name in ctx), f"$({name})"))
            else:
                out.append("$" + nxt)
            cursor += advance
            checkpoint = cursor + 1
        cursor += 1
    return "".join(out) + text[checkpoint:]


# -- environment ------------------------------------------------------------------------------------------

def _env_name(name: str) -> str:
    return name.upper().replace("-", "_")


def service_env(services: list[Obj]) -> dict[str, str]:
    """kubelet's envvars.FromServices for the given Services, in order."""
    out: dict[str, str] = {}
    for svc in services:
        spec = svc.get("spec") or {}
        cluster_ip = spec.get("clusterIP")
        ports = spec.get("ports") or []
        if not cluster_ip or cluster_ip == "None" or not ports:
            continue
        prefix = _env_name((svc.get("metadata") or {}).get("name", ""))
        out[f"{prefix}_SERVICE_HOST"] = cluster_ip
        out[f"{prefix}_SERVICE_PORT"] = str(ports[0].get("port"))
        for port in ports:
            if port.get("name"):
                out[f"{prefix}_SERVICE_PORT_{_env_name(port['name'])}"] = str(port.get("port"))
        for index, port in enumerate(ports):
            protocol = str(port.get("protocol") or "TCP")
            address = f"{protocol.lower()}://{cluster_ip}:{port.get('port')}"
            if index == 0:
                out[f"{prefix}_PORT"] = address
            port_prefix = f"{prefix}_PORT_{port.get('port')}_{protocol.upper()}"
            out[port_prefix] = address
            out[f"{port_prefix}_PROTO"] = protocol.lower()
            out[f"{port_prefix}_PORT"] = str(port.get("port"))
            out[f"{port_prefix}_ADDR"] = cluster_ip
    return out


def services_for_pod(pod: Obj, services: list[Obj]) -> list[Obj]:
    """The master service always; the pod's namespace's Services unless enableServiceLinks is false."""
    namespace = (pod.get("metadata") or {}).get("namespace", "default")
    links = (pod.get("spec") or {}).get("enableServiceLinks", True) is not False
    chosen = []
    for svc in services:
        meta = svc.get("metadata") or {}
        if (svc.get("spec") or {}).get("type") == "ExternalName":
            continue
        is_master = meta.get("namespace") == "default" and meta.get("name") == "kubernetes"
        if is_master or (links and meta.get("namespace", "default") == namespace):
            chosen.append(svc)
    return chosen


def _secret_data(secret: Obj) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in (secret.get("data") or {}).items():
        try:
            out[key] = base64.b64decode(str(value or "")).decode("utf-8", "replace")
        except (binascii.Error, ValueError):
            out[key] = str(value)
    out.update({k: str(v) for k, v in (secret.get("stringData") or {}).items()})
    return out


def _source_data(kind: str, namespace: str, name: str, lookups: Lookups) -> dict[str, str] | None:
    if kind == "Secret":
        secret = lookups.secret(namespace, name)
        return None if secret is None else _secret_data(secret)
    config_map = lookups.config_map(namespace, name)
    return None if config_map is None else {k: str(v) for k, v in (config_map.get("data") or {}).items()}


def container_env(pod: Obj, container: Obj, ip: str, lookups: Lookups) -> dict[str, str]:
    """The environment Kubernetes gives the container (without what the runtime and image add)."""
    namespace = (pod.get("metadata") or {}).get("namespace", "default")
    svc_env = service_env(services_for_pod(pod, lookups.services()))
    env: dict[str, str] = {}
    for source in container.get("envFrom") or []:
        kind, ref = ("ConfigMap", source["configMapRef"]) if source.get("configMapRef") else \
            ("Secret", source.get("secretRef") or {})
        data = _source_data(kind, namespace, ref.get("name", ""), lookups)
        if data is None:
            if ref.get("optional"):
                continue
            raise ConfigError(f'{kind.lower()} "{ref.get("name", "")}" not found')
        prefix = source.get("prefix") or ""
        for key, value in data.items():
            if key and "=" not in key:
                env[prefix + key] = value
    for var in container.get("env") or []:
        name = var.get("name", "")
        value = var.get("value")
        if value:
            env[name] = expand(str(value), env, svc_env)
            continue
        value_from = var.get("valueFrom")
        if not value_from:
            env[name] = ""
            continue
        resolved = _value_from(pod, container, ip, namespace, value_from, lookups)
        if resolved is not None:
            env[name] = resolved
    for key, value in svc_env.items():
        env.setdefault(key, value)
    return env


def _value_from(pod: Obj, container: Obj, ip: str, namespace: str, value_from: Obj, lookups: Lookups) -> str | None:
    for field_name, kind in (("secretKeyRef", "Secret"), ("configMapKeyRef", "ConfigMap")):
        ref = value_from.get(field_name)
        if not ref:
            continue
        name, key, optional = ref.get("name", ""), ref.get("key", ""), bool(ref.get("optional"))
        data = _source_data(kind, namespace, name, lookups)
        if data is None:
            if optional:
                return None
            raise ConfigError(f'{kind.lower()} "{name}" not found')
        if key not in data:
            if optional:
                return None
            raise ConfigError(f"couldn't find key {key} in {kind} {namespace}/{name}")
        return data[key]
    try:
        if value_from.get("fieldRef"):
            return field_value(pod, ip, value_from["fieldRef"].get("fieldPath", ""))
        if value_from.get("resourceFieldRef"):
            ref = value_from["resourceFieldRef"]
            return resource_value(pod, ref.get("containerName") or container.get("name", ""),
                                  ref.get("resource", ""), ref.get("divisor"))
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    raise ConfigError(f"unsupported valueFrom: {sorted(value_from)}")


# -- command ----------------------------------------------------------------------------------------------

def command_line(container: Obj, image: PulledImage, ip: str, env: Mapping[str, str]) -> list[str]:
    def template(items: tuple[str, ...]) -> list[str]:
        return [item.replace("{pod_ip}", ip) for item in items]

    command = [expand(str(c), env) for c in container.get("command") or []]
    args = [expand(str(a), env) for a in container.get("args") or []]
    if command:
        argv = command + args
    elif args:
        argv = template(image.entrypoint) + args
    else:
        argv = template(image.entrypoint) + template(image.cmd)
    if not argv:
        raise ConfigError(f'no command specified: image "{image.image}" has neither entrypoint nor cmd and the '
                          "container sets no command")
    return argv


# -- volume mounts ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Mount:
    source: Path
    target: str
    read_only: bool


def resolve_mounts(container: Obj, sandbox: Sandbox, env: Mapping[str, str]) -> list[Mount]:
    mounts: list[Mount] = []
    for vm in container.get("volumeMounts") or []:
        name = vm.get("name", "")
        if name not in sandbox.volumes:
            raise ConfigError(f'volumeMount "{name}" refers to a volume the pod does not define')
        target = str(PurePosixPath(vm.get("mountPath", "")))
        if not target.startswith("/"):
            raise ConfigError(f'volumeMount "{name}": mountPath "{target}" must be absolute')
        source = sandbox.volumes[name]
        sub = vm.get("subPath") or (expand(vm["subPathExpr"], env) if vm.get("subPathExpr") else "")
        if sub:
            if sub.startswith("/") or ".." in PurePosixPath(sub).parts:
                raise ConfigError(f'volumeMount "{name}": subPath "{sub}" must be a relative path inside the volume')
            source = source / sub
            if not source.exists():
                source.mkdir(parents=True, exist_ok=True)  # as kubelet does for a missing subPath
        mounts.append(Mount(source=source, target=target, read_only=bool(vm.get("readOnly"))))
    return sorted(mounts, key=lambda m: (m.target.count("/"), m.target))


def _within(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def _nearest_existing(path: str, exists: Callable[[str], bool]) -> str:
    current = PurePosixPath(path)
    while not exists(str(current)):
        current = current.parent
    return str(current)


def mount_script(mounts: list[Mount], hosts: Path | None, workdir: str | None,
                 exists: Callable[[str], bool] = os.path.exists) -> str:
    """The shell that runs inside the new mount namespace before exec'ing the container's command."""
    tmpfs: list[str] = []
    for index, mount in enumerate(mounts):
        if any(_within(mount.target, m.target) for m in mounts[:index]) or exists(mount.target):
            continue
        ancestor = _nearest_existing(mount.target, exists)
        if ancestor not in TMPFS_ANCESTORS:
            raise ConfigError(
                f'cannot mount a volume at "{mount.target}": it does not exist on '
                f"this machine and kubeserve will not create directories under {ancestor} on the host; create it "
                f"(mkdir -p {mount.target}) or mount under one of {', '.join(TMPFS_ANCESTORS)}")
        if ancestor not in tmpfs:
            tmpfs.append(ancestor)
    lines = ["set -e"]
    lines += [f"mount -t tmpfs -o mode=0755 kubeserve {shlex.quote(a)}" for a in tmpfs]
    for index, mount in enumerate(mounts):
        target = shlex.quote(mount.target)
        covered = any(_within(mount.target, a) for a in tmpfs) or any(
            _within(mount.target, m.target) for m in mounts[:index])
        if covered or not exists(mount.target):
            if mount.source.is_dir():
                lines.append(f"mkdir -p {target}")
            else:
                lines.append(f"mkdir -p {shlex.quote(str(PurePosixPath(mount.target).parent))}; "
                             f"[ -e {target} ] || : > {target}")
        lines.append(f"mount --bind {shlex.quote(str(mount.source))} {target}")
        if mount.read_only:
            lines.append(f"mount -o remount,ro,bind {target}")
    if hosts is not None and not any(m.target == "/etc/hosts" for m in mounts):
        lines.append(f"mount --bind {shlex.quote(str(hosts))} /etc/hosts")
    if workdir:
        lines.append(f"cd {shlex.quote(workdir)}")
    marker = START_ERROR_MARKER.decode()
    lines.append(f'command -v -- "$1" >/dev/null 2>&1 || {{ echo "{marker}exec: \\"$1\\": executable file not found '
                 f'in \\$PATH" >&2; exit {START_ERROR_EXIT}; }}')
    return "; ".join(lines) + '; exec "$@"'


def rewrite_paths(text: str, mapping: Mapping[str, str]) -> str:
    """Replaces each mountPath (longest first) where it appears as a path, not inside a longer name."""
    for mount_path in sorted(mapping, key=len, reverse=True):
        pattern = re.compile(r"(?<![\w.-])" + re.escape(mount_path.rstrip("/")) + r"(?=/|$|[^\w.-])")
        replacement = mapping[mount_path]
        text = pattern.sub(lambda _m: replacement, text)  # noqa: B023 - used at once, inside the iteration
    return text


# -- the launch -------------------------------------------------------------------------------------------

def build_launch(pod: Obj, container: Obj, image: PulledImage, sandbox: Sandbox, lookups: Lookups,
                 extra_env: dict[str, str], host_env: Mapping[str, str] | None = None) -> Launch:
    k8s_env = container_env(pod, container, sandbox.ip, lookups)
    argv = command_line(container, image, sandbox.ip, k8s_env)
    base = host_env if host_env is not None else os.environ
    env = {key: base[key] for key in HOST_ENV_KEYS if key in base}
    env.update(image.env)
    env["HOSTNAME"] = pod_hostname(pod)
    env["KUBESERVE_POD_IP"] = sandbox.ip
    env.update(extra_env)
    env.update(k8s_env)
    mounts = resolve_mounts(container, sandbox, k8s_env)
    workdir = container.get("workingDir") or image.workdir
    if sandbox.isolation == "mount-namespace":
        script = mount_script(mounts, sandbox.hosts_path, workdir)
        wrapper = ("unshare", "--user", "--map-root-user", "--mount", "--propagation", "private", "--",
                   "/bin/sh", "-c", script, "sh")
        enter: tuple[str, ...] = ("nsenter", "--target", PID_PLACEHOLDER, "--user", "--mount",
                                  "--preserve-credentials", "--wd", "--")
        return Launch(argv=(*wrapper, *argv), env=env, cwd=str(sandbox.pod_dir), stdin=bool(container.get("stdin")),
                      enter=enter, stdin_once=bool(container.get("stdinOnce")))
    mapping = {m.target: str(m.source) for m in mounts}
    if mapping:
        argv = [rewrite_paths(a, mapping) for a in argv]
        env = {k: rewrite_paths(v, mapping) for k, v in env.items()}
        env["KUBESERVE_PATH_REWRITE"] = json.dumps(mapping, sort_keys=True)
    cwd = rewrite_paths(workdir, mapping) if workdir else str(sandbox.pod_dir)
    return Launch(argv=tuple(argv), env=env, cwd=cwd, stdin=bool(container.get("stdin")), enter=(),
                  stdin_once=bool(container.get("stdinOnce")))


def describe(launch: Launch) -> dict[str, Any]:
    """The launch as JSON-able data (what the shim receives)."""
    return {"argv": list(launch.argv), "env": launch.env, "cwd": launch.cwd, "stdin": launch.stdin,
            "stdinOnce": launch.stdin_once, "enter": list(launch.enter)}
