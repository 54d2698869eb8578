"""restore(): a kubelet that starts again picks up each container's run where the disk says it is."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from kubeserve.node.kubelet.adoption import restore
from kubeserve.node.kubelet.launch import Launch
from kubeserve.node.kubelet.podstate import ContainerState, PodState
from kubeserve.node.kubelet.podstatus import Exit
from kubeserve.node.kubelet.process import ProcessManager
from unit.node.kubelet.kubelet_world import Obj


def pod(restart_count: int) -> Obj:
    return {"metadata": {"name": "p", "namespace": "default", "uid": "uid-1"},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]},
            "status": {"phase": "Running",
                       "containerStatuses": [{"name": "c", "restartCount": restart_count, "state": {}}]}}


async def test_runs_started_while_the_api_was_not_told_keep_their_numbers(tmp_path: Path) -> None:
    pm = ProcessManager(tmp_path)
    true = Launch(argv=("true",), env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")}, cwd=None, stdin=False,
                  enter=())
    for run in (0, 1, 2):  # the kubelet crashed before status said anything past restartCount 0
        rc = pm.start("uid-1", "c", run, true, None, None)
        while pm.exit_status(rc) is None:
            await asyncio.sleep(0.02)
    exits: list[Exit] = []

    def on_exit(_pod: Obj, _ps: PodState, cs: ContainerState, ended: Exit, _now: float) -> None:
        cs.exit = ended
        exits.append(ended)

    cs = restore(pod(0), pm, tmp_path, on_exit, 0.0).containers["c"]
    assert (cs.run, cs.ran) == (2, True)  # the next start is run 3: no log or exit record is overwritten
    assert [e.run for e in exits] == [2]

    cs = restore(pod(5), pm, tmp_path, on_exit, 0.0).containers["c"]
    assert cs.run == 5  # the API knows more than the disk (a wiped pod directory): its count stands
