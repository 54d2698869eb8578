"""An acknowledged write must survive the writer being killed with SIGKILL mid-stream.

The writer runs in a subprocess and prints each revision only after `create` returned, so every
printed line is a write the store acknowledged; after the kill, all of them must be in the file.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from kubeserve.store.sqlite import SqliteStore
from kubeserve.store.types import Key

WRITER = textwrap.dedent(
    """
    import sys
    from kubeserve.store.sqlite import SqliteStore
    from kubeserve.store.types import Key

    store = SqliteStore(sys.argv[1])
    padding = "x" * 2000
    i = 0
    while True:
        obj = store.create(Key("", "configmaps", "crash", f"cm-{i}"), {"data": {"pad": padding}})
        print(f"cm-{i} {obj['metadata']['resourceVersion']}", flush=True)
        i += 1
    """
)


@pytest.mark.skipif(sys.platform == "win32", reason="needs SIGKILL")
def test_acknowledged_writes_survive_sigkill(tmp_path: Path) -> None:
    db = tmp_path / "crash.sqlite"
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(db)], stdout=subprocess.PIPE, text=True, bufsize=1
    )
    acked: dict[str, int] = {}
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            name, rev = line.split()
            acked[name] = int(rev)
            if len(acked) >= 200:
                os.kill(proc.pid, signal.SIGKILL)
                break
        # Lines already in the pipe were acknowledged before the kill too.
        for line in proc.stdout:
            if line.strip():
                name, rev = line.split()
                acked[name] = int(rev)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)
        if proc.stdout is not None:
            proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL, "the writer died before being killed"
    assert len(acked) >= 200

    store = SqliteStore(db)
    try:
        assert store.revision >= max(acked.values())
        for cm, acked_rev in acked.items():
            obj = store.get(Key("", "configmaps", "crash", cm))
            assert obj is not None, f"acknowledged write {cm} at revision {acked_rev} was lost"
            assert obj["metadata"]["resourceVersion"] == str(acked_rev)
        revisions = [e.revision for e in store.events_since(0, "", "configmaps")]
        assert revisions == list(range(1, store.revision + 1))
    finally:
        store.close()
