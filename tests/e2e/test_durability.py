"""Acceptance test 5: durability. Every write the server acknowledged survives SIGKILL mid-write.

A dedicated server (its own home, so killing it disturbs no other test) takes concurrent raw HTTPS POSTs
from writer threads, which record every name answered 201 with its resourceVersion. The server is killed
with SIGKILL while writes are in flight and restarted on the same home. Then: every acknowledged object is
there as acknowledged, resourceVersions only ever went up (across the restart too), a watch resumed from a
resourceVersion taken before a restart replays what followed it and goes on to see live writes, and a watch
from a resourceVersion older than the compacted history gets 410 Expired, before and after a restart.
The server runs with a short history (KUBESERVE_COMPACT_KEEP / KUBESERVE_COMPACT_SECONDS) so compaction
happens within the test.
"""

from __future__ import annotations

import http.client
import json
import signal
import ssl
import threading
import time
import urllib.error
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from harness import KubeServe, eventually, free_port, start_kubeserve

pytestmark = pytest.mark.e2e


NS = "durable"
CM_PATH = f"/api/v1/namespaces/{NS}/configmaps"
COMPACT_KEEP = 25
SERVER_ENV = {"KUBESERVE_COMPACT_KEEP": str(COMPACT_KEEP), "KUBESERVE_COMPACT_SECONDS": "0.2"}


@dataclass
class Server:
    home: Path
    port: int
    current: KubeServe
    restarts: int = 0
    logs: list[str] = field(default_factory=list)

    def restart(self, sig: int = signal.SIGKILL) -> None:
        self.kill(sig)
        self.current = start_kubeserve(self.home, self.port, env=SERVER_ENV)
        self.restarts += 1

    def kill(self, sig: int = signal.SIGKILL) -> None:
        process = self.current.process
        if process.poll() is None:
            process.send_signal(sig)
            process.wait(15)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    home = tmp_path_factory.mktemp("durable-home")
    port = free_port()
    srv = Server(home, port, start_kubeserve(home, port, env=SERVER_ENV))
    status, body, _ = srv.current.request("POST", "/api/v1/namespaces", {"metadata": {"name": NS}})
    assert status == 201, body
    yield srv
    srv.current.stop()


def configmap(name: str, **data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}


def create(server: KubeServe, name: str) -> dict[str, Any]:
    status, body, _ = server.request("POST", CM_PATH, configmap(name, v=name))
    assert status == 201, body
    assert isinstance(body, dict)
    return body


def list_configmaps(server: KubeServe) -> tuple[dict[str, dict[str, Any]], int]:
    status, body, _ = server.request("GET", CM_PATH)
    assert status == 200, body
    return {o["metadata"]["name"]: o for o in body["items"]}, int(body["metadata"]["resourceVersion"])


class Watch:
    """A raw watch request, read one event (line) at a time."""

    def __init__(self, server: KubeServe, query: str, read_timeout: float = 10.0) -> None:
        context = ssl.create_default_context(cafile=str(server.ca))
        self.conn = http.client.HTTPSConnection("127.0.0.1", server.port, context=context, timeout=read_timeout)
        self.conn.request("GET", f"{CM_PATH}?watch=true&{query}", headers={"Authorization": f"Bearer {server.token}"})
        self.response = self.conn.getresponse()

    def next(self) -> dict[str, Any]:
        line = self.response.readline()
        assert line, "the watch ended"
        event: dict[str, Any] = json.loads(line)
        return event

    def next_change(self) -> dict[str, Any]:
        while True:
            event = self.next()
            if event["type"] != "BOOKMARK":
                return event

    def close(self) -> None:
        self.conn.close()


# ---- writes survive SIGKILL -------------------------------------------------------------------------------


@dataclass
class Writer:
    server: KubeServe
    prefix: str
    stop: threading.Event
    acked: list[tuple[str, int]] = field(default_factory=list)  # (name, resourceVersion), in ack order
    failures: list[str] = field(default_factory=list)  # anything but 201 while the server was up

    def run(self) -> None:
        i = 0
        while not self.stop.is_set():
            name = f"{self.prefix}-{i}"
            i += 1
            try:
                status, body, _ = self.server.request("POST", CM_PATH, configmap(name, v=name, pad="x" * 512))
            except (urllib.error.URLError, OSError, http.client.HTTPException):
                return  # the server was killed: this write may or may not have landed; it was not acknowledged
            if status == 201:
                self.acked.append((name, int(body["metadata"]["resourceVersion"])))
            else:
                self.failures.append(f"{name}: {status} {body}")


def test_acknowledged_writes_survive_sigkill(server: Server) -> None:
    old = server.current
    stop = threading.Event()
    writers = [Writer(old, f"w{n}", stop) for n in range(6)]
    threads = [threading.Thread(target=w.run, daemon=True) for w in writers]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 60
    while sum(len(w.acked) for w in writers) < 300 and time.monotonic() < deadline:
        time.sleep(0.05)
    # kill while every writer is mid-loop, i.e. with requests in flight
    assert all(t.is_alive() for t in threads)
    server.kill(signal.SIGKILL)
    assert old.process.returncode == -signal.SIGKILL
    for t in threads:
        t.join(30)
    stop.set()
    assert not any(t.is_alive() for t in threads)
    for w in writers:
        assert not w.failures, w.failures
    acked = [a for w in writers for a in w.acked]
    assert len(acked) >= 300, len(acked)

    # resourceVersions went up: per writer in order, and no two acknowledged writes share one
    for w in writers:
        rvs = [rv for _, rv in w.acked]
        assert rvs == sorted(rvs) and len(set(rvs)) == len(rvs), rvs
    assert len({rv for _, rv in acked}) == len(acked)

    server.restart()
    stored, list_rv = list_configmaps(server.current)
    missing = [name for name, _ in acked if name not in stored]
    assert not missing, f"{len(missing)} acknowledged writes lost, e.g. {missing[:5]}"
    for name, rv in acked:
        obj = stored[name]
        assert obj["metadata"]["resourceVersion"] == str(rv), (name, rv, obj["metadata"])
        assert obj["data"]["v"] == name
        assert obj["metadata"]["uid"]
    max_acked = max(rv for _, rv in acked)
    assert list_rv >= max_acked

    # after the restart, revisions continue above everything acknowledged before it
    after = create(server.current, "after-kill")
    assert int(after["metadata"]["resourceVersion"]) > max(list_rv, max_acked)
    # names that were in flight when the server died are either fully there or absent, never half-written
    for obj in stored.values():
        assert obj["data"]["v"] == obj["metadata"]["name"]
    # and the server is healthy: updates of surviving objects work
    name, rv = acked[0]
    status, body, _ = server.current.request("PATCH", f"{CM_PATH}/{name}", {"data": {"v": "patched"}},
                                             "application/merge-patch+json")
    assert status == 200, body
    assert int(body["metadata"]["resourceVersion"]) > int(after["metadata"]["resourceVersion"])


def test_watch_resumes_across_a_restart(server: Server) -> None:
    _, start_rv = list_configmaps(server.current)
    before = create(server.current, "resume-a")
    server.restart(signal.SIGKILL)
    between = create(server.current, "resume-b")
    assert int(between["metadata"]["resourceVersion"]) > int(before["metadata"]["resourceVersion"])

    watch = Watch(server.current, f"resourceVersion={start_rv}&allowWatchBookmarks=true&timeoutSeconds=30")
    try:
        assert watch.response.status == 200
        first, second = watch.next_change(), watch.next_change()
        assert (first["type"], first["object"]["metadata"]["name"]) == ("ADDED", "resume-a")
        assert first["object"]["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
        assert (second["type"], second["object"]["metadata"]["name"]) == ("ADDED", "resume-b")
        # a write made now, while the resumed watch is open, arrives live and in order
        live = create(server.current, "resume-c")
        status, _, _ = server.current.request("DELETE", f"{CM_PATH}/resume-a")
        assert status == 200
        third, fourth = watch.next_change(), watch.next_change()
        assert (third["type"], third["object"]["metadata"]["name"]) == ("ADDED", "resume-c")
        assert third["object"]["metadata"]["resourceVersion"] == live["metadata"]["resourceVersion"]
        assert (fourth["type"], fourth["object"]["metadata"]["name"]) == ("DELETED", "resume-a")
        rvs = [int(e["object"]["metadata"]["resourceVersion"]) for e in (first, second, third, fourth)]
        assert rvs == sorted(rvs) and len(set(rvs)) == 4, rvs
    finally:
        watch.close()


def _assert_expired(server: KubeServe, resource_version: str) -> None:
    watch = Watch(server, f"resourceVersion={resource_version}&timeoutSeconds=5")
    try:
        status = watch.response.status
        if status == 200:  # the apiserver's way: a 200 watch whose first event is an ERROR with the 410 Status
            event = watch.next()
            assert event["type"] == "ERROR", event
            body = event["object"]
        else:
            body = json.loads(watch.response.read())
            assert status == 410, body
        assert body["kind"] == "Status" and body["code"] == 410 and body["reason"] in ("Expired", "Gone"), body
        assert "too old resource version" in body["message"], body
    finally:
        watch.close()


def test_watch_from_compacted_history_is_410(server: Server) -> None:
    for i in range(COMPACT_KEEP + 10):
        create(server.current, f"compact-{i}")
    _, rv = list_configmaps(server.current)

    def compacted() -> bool:
        watch = Watch(server.current, "resourceVersion=2&timeoutSeconds=1")
        try:
            return watch.response.status == 410 or (watch.response.status == 200 and watch.next()["type"] == "ERROR")
        finally:
            watch.close()

    eventually(compacted, timeout=15, interval=0.2)
    _assert_expired(server.current, "2")

    # the compacted history stays compacted after a restart, and recent history is still served
    server.restart(signal.SIGKILL)
    _assert_expired(server.current, "2")
    recent = Watch(server.current, f"resourceVersion={rv}&timeoutSeconds=10")
    try:
        assert recent.response.status == 200
        created = create(server.current, "after-compaction")
        event = recent.next_change()
        assert event["type"] == "ADDED" and event["object"]["metadata"]["name"] == "after-compaction"
        assert event["object"]["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]
    finally:
        recent.close()


def test_server_logs_have_no_traceback(server: Server) -> None:
    log = (server.home / "server.log").read_text(errors="replace")
    assert server.restarts >= 3
    assert "Traceback" not in log, log[-5000:]
    assert "unhandled error" not in log, log[-5000:]
