"""Container spec → argv/env/cwd: Kubernetes' command, env and expansion rules, mounts and path rewriting."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from kubeserve.node.kubelet.images import PulledImage
from kubeserve.node.kubelet.launch import (
    ConfigError,
    Mount,
    build_launch,
    command_line,
    container_env,
    expand,
    mount_script,
    rewrite_paths,
    service_env,
)
from kubeserve.node.kubelet.sandbox import Lookups, Sandbox

Obj = dict[str, Any]


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def lookups(secrets: dict[str, Obj] | None = None, config_maps: dict[str, Obj] | None = None,
            services: list[Obj] | None = None) -> Lookups:
    return Lookups(secret=lambda ns, name: (secrets or {}).get(f"{ns}/{name}"),
                   config_map=lambda ns, name: (config_maps or {}).get(f"{ns}/{name}"),
                   pvc_path=lambda ns, name: None,
                   services=lambda: list(services or []))


def pod(containers: list[Obj] | None = None, **spec: Any) -> Obj:
    return {"metadata": {"name": "web-1", "namespace": "default", "uid": "u-1", "labels": {"app": "web"},
                         "annotations": {"note": "hi"}},
            "spec": {"nodeName": "node-a", "containers": containers or [{"name": "c"}], **spec}}


def image(entrypoint: tuple[str, ...] = (), cmd: tuple[str, ...] = (), env: dict[str, str] | None = None,
          workdir: str | None = None) -> PulledImage:
    return PulledImage(image="img:1", entrypoint=entrypoint, cmd=cmd, env=env or {}, workdir=workdir)


def svc(name: str, namespace: str, ip: str | None, ports: list[Obj]) -> Obj:
    spec: Obj = {"ports": ports}
    if ip:
        spec["clusterIP"] = ip
    return {"metadata": {"name": name, "namespace": namespace}, "spec": spec}


@pytest.mark.parametrize(("text", "expected"), [
    ("$(A)", "a"),
    ("x-$(A)-$(B)", "x-a-b"),
    ("$(MISSING)", "$(MISSING)"),
    ("$$(A)", "$(A)"),
    ("$$$(A)", "$a"),
    ("$$", "$"),
    ("$A", "$A"),
    ("$(A", "$(A"),
    ("tail$", "tail$"),
    ("$()", "$()"),
    ("$(SVC)", "s"),
])
def test_expand_follows_kubernetes(text: str, expected: str) -> None:
    assert expand(text, {"A": "a", "B": "b"}, {"SVC": "s", "A": "shadowed"}) == expected


@pytest.mark.parametrize(("command", "args", "entrypoint", "cmd", "expected"), [
    (None, None, ("ep",), ("c1", "c2"), ["ep", "c1", "c2"]),
    (["run"], None, ("ep",), ("c1",), ["run"]),
    (None, ["a1"], ("ep",), ("c1",), ["ep", "a1"]),
    (["run"], ["a1", "a2"], ("ep",), ("c1",), ["run", "a1", "a2"]),
    (None, None, (), ("sh",), ["sh"]),
    (None, ["--host={pod_ip}"], ("srv", "--bind={pod_ip}"), (), ["srv", "--bind=127.10.0.2", "--host={pod_ip}"]),
    (["echo", "$(GREETING)", "$$(GREETING)"], None, (), (), ["echo", "hello", "$(GREETING)"]),
])
def test_command_and_args_combine_as_in_kubernetes(command: list[str] | None, args: list[str] | None,
                                                   entrypoint: tuple[str, ...], cmd: tuple[str, ...],
                                                   expected: list[str]) -> None:
    container: Obj = {"name": "c"}
    if command is not None:
        container["command"] = command
    if args is not None:
        container["args"] = args
    assert command_line(container, image(entrypoint, cmd), "127.10.0.2", {"GREETING": "hello"}) == expected


def test_no_command_at_all_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="no command specified"):
        command_line({"name": "c"}, image(), "127.10.0.2", {})


def test_env_order_envfrom_then_env_with_expansion() -> None:
    secrets = {"default/creds": {"data": {"TOKEN": b64("t0k"), "USER": b64("bob")}}}
    config_maps = {"default/cfg": {"data": {"MODE": "fast", "USER": "cm-user", "bad=key": "x"}}}
    container = {
        "name": "c",
        "envFrom": [{"configMapRef": {"name": "cfg"}}, {"secretRef": {"name": "creds"}, "prefix": "S_"},
                    {"secretRef": {"name": "absent", "optional": True}}],
        "env": [
            {"name": "MODE", "value": "slow"},
            {"name": "URL", "value": "http://$(USER):$(S_TOKEN)@host/$(MODE)/$(NOPE)"},
            {"name": "ESCAPED", "value": "$$(MODE)"},
            {"name": "LATER", "value": "$(AFTER)"},
            {"name": "AFTER", "value": "x"},
            {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
            {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
            {"name": "PASS", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "TOKEN"}}},
            {"name": "OPT", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "nope", "optional": True}}},
            {"name": "EMPTY"},
        ],
    }
    env = container_env(pod([container]), container, "127.10.0.2", lookups(secrets, config_maps))
    assert env["MODE"] == "slow"
    assert env["USER"] == "cm-user"
    assert env["S_USER"] == "bob"
    assert env["URL"] == "http://cm-user:t0k@host/slow/$(NOPE)"
    assert env["ESCAPED"] == "$(MODE)"
    assert env["LATER"] == "$(AFTER)"
    assert (env["POD"], env["IP"], env["APP"], env["PASS"], env["EMPTY"]) == ("web-1", "127.10.0.2", "web", "t0k", "")
    assert "OPT" not in env
    assert "bad=key" not in env
    assert list(env)[:3] == ["MODE", "USER", "S_TOKEN"]


@pytest.mark.parametrize(("entry", "message"), [
    ({"envFrom": [{"secretRef": {"name": "x"}}]}, 'secret "x" not found'),
    ({"envFrom": [{"configMapRef": {"name": "x"}}]}, 'configmap "x" not found'),
    ({"env": [{"name": "A", "valueFrom": {"secretKeyRef": {"name": "x", "key": "k"}}}]}, 'secret "x" not found'),
    ({"env": [{"name": "A", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "k"}}}]},
     "couldn't find key k in Secret default/creds"),
    ({"env": [{"name": "A", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "k"}}}]},
     "couldn't find key k in ConfigMap default/cfg"),
    ({"env": [{"name": "A", "valueFrom": {"fieldRef": {"fieldPath": "spec.bogus"}}}]},
     "unsupported fieldPath: spec.bogus"),
])
def test_missing_references_are_config_errors(entry: Obj, message: str) -> None:
    container = {"name": "c", **entry}
    found = lookups({"default/creds": {"data": {}}}, {"default/cfg": {"data": {}}})
    with pytest.raises(ConfigError) as info:
        container_env(pod([container]), container, "127.10.0.2", found)
    assert info.value.message == message
    assert info.value.reason == "CreateContainerConfigError"


def test_resource_field_ref_rounds_up_by_divisor() -> None:
    container = {"name": "c", "resources": {"limits": {"cpu": "500m", "memory": "64Mi"}},
                 "env": [{"name": "CPU", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}},
                         {"name": "MEM", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory",
                                                                            "divisor": "1Mi"}}},
                         {"name": "REQ", "valueFrom": {"resourceFieldRef": {"resource": "requests.memory"}}}]}
    env = container_env(pod([container]), container, "127.10.0.2", lookups())
    assert (env["CPU"], env["MEM"], env["REQ"]) == ("1", "64", str(64 * 2**20))


def test_service_links_follow_kubelet() -> None:
    env = service_env([svc("my-db", "default", "127.96.0.12", [{"name": "pg", "port": 5432}, {"port": 9187,
                                                                                             "protocol": "TCP"}])])
    assert env == {
        "MY_DB_SERVICE_HOST": "127.96.0.12", "MY_DB_SERVICE_PORT": "5432", "MY_DB_SERVICE_PORT_PG": "5432",
        "MY_DB_PORT": "tcp://127.96.0.12:5432",
        "MY_DB_PORT_5432_TCP": "tcp://127.96.0.12:5432", "MY_DB_PORT_5432_TCP_PROTO": "tcp",
        "MY_DB_PORT_5432_TCP_PORT": "5432", "MY_DB_PORT_5432_TCP_ADDR": "127.96.0.12",
        "MY_DB_PORT_9187_TCP": "tcp://127.96.0.12:9187", "MY_DB_PORT_9187_TCP_PROTO": "tcp",
        "MY_DB_PORT_9187_TCP_PORT": "9187", "MY_DB_PORT_9187_TCP_ADDR": "127.96.0.12",
    }


@pytest.mark.parametrize(("links", "expect_web"), [(None, True), (False, False)])
def test_service_env_scope(links: bool | None, expect_web: bool) -> None:
    services = [svc("kubernetes", "default", "127.96.0.1", [{"name": "https", "port": 443}]),
                svc("web", "team", "127.96.0.20", [{"port": 80}]),
                svc("other", "elsewhere", "127.96.0.21", [{"port": 80}]),
                svc("headless", "team", "None", [{"port": 80}])]
    spec: Obj = {} if links is None else {"enableServiceLinks": links}
    p = pod(**spec)
    p["metadata"]["namespace"] = "team"
    container = {"name": "c", "env": [{"name": "URL", "value": "http://$(WEB_SERVICE_HOST)"}]}
    env = container_env(p, container, "127.10.0.2", lookups(services=services))
    assert env["KUBERNETES_SERVICE_HOST"] == "127.96.0.1"
    assert env["KUBERNETES_SERVICE_PORT"] == "443"
    assert ("WEB_SERVICE_HOST" in env) is expect_web
    assert env["URL"] == ("http://127.96.0.20" if expect_web else "http://$(WEB_SERVICE_HOST)")
    assert "OTHER_SERVICE_HOST" not in env and "HEADLESS_SERVICE_HOST" not in env


def sandbox(tmp_path: Path, isolation: str, volumes: dict[str, Path] | None = None) -> Sandbox:
    return Sandbox(pod_dir=tmp_path, ip="127.10.0.2", isolation=isolation, volumes=volumes or {})


def test_build_launch_path_rewrite(tmp_path: Path) -> None:
    models = tmp_path / "pvc"
    models.mkdir()
    container = {"name": "c", "args": ["--model=/mnt/models/llm", "/mnt/models2", "x/mnt/models"],
                 "workingDir": "/mnt/models",
                 "env": [{"name": "HF_HOME", "value": "/mnt/models/cache"}, {"name": "ME", "value": "me"}],
                 "volumeMounts": [{"name": "m", "mountPath": "/mnt/models"}]}
    launch = build_launch(pod([container]), container, image(("serve",), (), {"PATH": "/venv/bin"}),
                          sandbox(tmp_path, "path-rewrite", {"m": models}), lookups(), {"CUDA_VISIBLE_DEVICES": "0"},
                          host_env={"PATH": "/usr/bin", "HOME": "/root", "SECRET_HOST_VAR": "x"})
    assert launch.argv == ("serve", f"--model={models}/llm", "/mnt/models2", "x/mnt/models")
    assert launch.cwd == str(models)
    assert launch.env["HF_HOME"] == f"{models}/cache"
    assert launch.env["PATH"] == "/venv/bin"
    assert launch.env["HOME"] == "/root"
    assert "SECRET_HOST_VAR" not in launch.env
    assert launch.env["HOSTNAME"] == "web-1"
    assert launch.env["KUBESERVE_POD_IP"] == "127.10.0.2"
    assert launch.env["CUDA_VISIBLE_DEVICES"] == "0"
    assert json.loads(launch.env["KUBESERVE_PATH_REWRITE"]) == {"/mnt/models": str(models)}
    assert launch.enter == ()


def test_rewrite_prefers_the_longest_mount_path() -> None:
    mapping = {"/data": "/h/d", "/data/sub": "/h/s"}
    assert rewrite_paths("/data/sub/x /data/y /datax", mapping) == "/h/s/x /h/d/y /datax"


def test_build_launch_mount_namespace_wraps_in_unshare(tmp_path: Path) -> None:
    vol = tmp_path / "vol"
    vol.mkdir()
    container = {"name": "c", "command": ["cat", "/mnt/models/f"], "stdin": True,
                 "volumeMounts": [{"name": "m", "mountPath": "/mnt/models", "readOnly": True}]}
    launch = build_launch(pod([container]), container, image(), sandbox(tmp_path, "mount-namespace", {"m": vol}),
                          lookups(), {}, host_env={})
    assert launch.argv[:10] == ("unshare", "--user", "--map-root-user", "--mount", "--propagation", "private",
                                "--", "/bin/sh", "-c", launch.argv[9])
    assert launch.argv[10:] == ("sh", "cat", "/mnt/models/f")
    script = launch.argv[9]
    assert f"mount --bind {vol} /mnt/models" in script
    assert "mount -o remount,ro,bind /mnt/models" in script
    assert f"mount --bind {tmp_path / 'hosts'} /etc/hosts" in script
    assert script.endswith('exec "$@"')
    assert launch.enter[:3] == ("nsenter", "--target", "{pid}")
    assert launch.stdin is True


def test_mount_script_covers_missing_parents_with_tmpfs_only_where_allowed(tmp_path: Path) -> None:
    existing = {"/", "/mnt", "/dev/shm", "/etc"}
    src = tmp_path / "v"
    src.mkdir()
    ok = mount_script([Mount(src, "/dev/shm", False), Mount(src, "/mnt/models", False),
                       Mount(src, "/mnt/models/sub", False)], None, "/mnt/models", exists=existing.__contains__)
    lines = ok.split("; ")
    assert "mount -t tmpfs -o mode=0755 kubeserve /mnt" in lines
    assert lines.index("mount -t tmpfs -o mode=0755 kubeserve /mnt") < lines.index("mkdir -p /mnt/models")
    assert f"mount --bind {src} /dev/shm" in lines
    assert "mkdir -p /mnt/models/sub" in lines
    assert "cd /mnt/models" in lines
    with pytest.raises(ConfigError, match="will not create directories under / on the host"):
        mount_script([Mount(src, "/workspace/cache", False)], None, None, exists=existing.__contains__)


def test_subpath_selects_inside_the_volume_and_refuses_escapes(tmp_path: Path) -> None:
    vol = tmp_path / "vol"
    vol.mkdir()
    container: Obj = {"name": "c", "command": ["x"],
                 "volumeMounts": [{"name": "m", "mountPath": "/mnt/cfg", "subPath": "sub/dir"}]}
    launch = build_launch(pod([container]), container, image(), sandbox(tmp_path, "path-rewrite", {"m": vol}),
                          lookups(), {}, host_env={})
    assert json.loads(launch.env["KUBESERVE_PATH_REWRITE"]) == {"/mnt/cfg": str(vol / "sub/dir")}
    assert (vol / "sub/dir").is_dir()
    container["volumeMounts"][0]["subPath"] = "../etc"
    with pytest.raises(ConfigError, match="relative path inside the volume"):
        build_launch(pod([container]), container, image(), sandbox(tmp_path, "path-rewrite", {"m": vol}),
                     lookups(), {}, host_env={})
