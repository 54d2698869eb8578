"""Starting a command inside a running container for `kubectl exec`: through the container's `enter` prefix
(which joins its namespaces), with its environment and working directory, in a session of its own so that a
signal to the exec'd command never reaches kubeserve. With a TTY the command gets a pseudo-terminal as its
controlling terminal and stdin/stdout/stderr.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import signal
import struct
import termios
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ContainerContext:
    """What `state.json` says about how to run something in a container."""

    enter: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    cwd: str | None = None
    pid: int | None = None
    stdin_fifo: str | None = None

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> ContainerContext:
        return cls(enter=tuple(str(a) for a in state.get("enter") or ()), env=_env(state.get("env")),
                   cwd=state.get("cwd") or None, pid=state.get("pid"), stdin_fifo=state.get("stdin") or None)


def _env(raw: Any) -> dict[str, str]:
    """state.json's env as a dict: a mapping, `["K=V"]`, or `[{"name","value"}]`."""
    if isinstance(raw, Mapping):
        return {str(k): str(v) for k, v in raw.items()}
    env: dict[str, str] = {}
    for item in raw or ():
        if isinstance(item, str) and "=" in item:
            key, _, value = item.partition("=")
            env[key] = value
        elif isinstance(item, Mapping) and "name" in item:
            env[str(item["name"])] = str(item.get("value", ""))
    return env


@dataclass
class Execution:
    """A started command: the process and, with a TTY, the terminal's master side."""

    process: asyncio.subprocess.Process
    master_fd: int | None = None

    def resize(self, width: int, height: int) -> None:
        if self.master_fd is not None:
            with contextlib.suppress(OSError):
                fcntl.ioctl(self.master_fd, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))

    def terminate(self) -> None:
        """Kill the command's whole session (its process group): the client that asked for it is gone."""
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signal.SIGKILL)

    def close(self) -> None:
        if self.master_fd is not None:
            with contextlib.suppress(OSError):
                os.close(self.master_fd)
            self.master_fd = None


def _controlling_terminal() -> None:  # runs in the child, after setsid
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


async def spawn(context: ContainerContext, command: Sequence[str], *, stdin: bool, tty: bool) -> Execution:
    """Start `command` in the container. Raises OSError (e.g. FileNotFoundError) when it cannot start."""
    argv = [*context.enter, *command]
    env = {**{"PATH": os.environ.get("PATH", "/usr/bin:/bin")}, **context.env}
    cwd = context.cwd if context.cwd and os.path.isdir(context.cwd) else None
    if tty:
        master, slave = os.openpty()
        try:
            process = await asyncio.create_subprocess_exec(
                *argv, stdin=slave, stdout=slave, stderr=slave, env={"TERM": "xterm", **env}, cwd=cwd,
                start_new_session=True, preexec_fn=_controlling_terminal)
        except BaseException:
            os.close(master)
            raise
        finally:
            os.close(slave)
        return Execution(process, master)
    process = await asyncio.create_subprocess_exec(
        *argv, stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env, cwd=cwd, start_new_session=True)
    return Execution(process)
