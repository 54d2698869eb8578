"""Finding a path that reaches the same directory through another mount.

link(2) refuses (EXDEV) to hard-link across two mounts even when both are views of one filesystem, which is
exactly the init container's situation: its /mnt/models is a bind mount of the pod's emptyDir, while the
model cache is reached through the root mount. /proc/self/mountinfo says which directory of the filesystem
each mount shows (its `root` field), so the emptyDir's path through the cache's mount can be computed and
the link made there: no model byte is copied.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Mount:
    device: str
    root: str
    """The directory of the filesystem this mount shows."""
    mount_point: str


def _unescape(field: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as \ooo octal.
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and len(field[i + 1:i + 4]) == 3 and field[i + 1:i + 4].isdigit():
            out.append(chr(int(field[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def parse_mountinfo(text: str) -> list[Mount]:
    mounts = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 5:
            continue
        mounts.append(Mount(device=fields[2], root=_unescape(fields[3]), mount_point=_unescape(fields[4])))
    return mounts


def _within(path: str, base: str) -> str | None:
    """`path` relative to `base` ('' for equal), or None when it is not under it."""
    if base == "/":
        return path.lstrip("/")
    if path == base:
        return ""
    if path.startswith(base + "/"):
        return path[len(base) + 1:]
    return None


def mount_of(mounts: list[Mount], path: str) -> Mount | None:
    """The mount a resolved absolute path is on: the last-mounted of the longest matching mount points."""
    best: Mount | None = None
    best_len = -1
    for mount in mounts:
        if _within(path, mount.mount_point) is not None and len(mount.mount_point) >= best_len:
            best, best_len = mount, len(mount.mount_point)
    return best


def alias_on_mount_of(mounts: list[Mount], path: str, other: str) -> str | None:
    """A path to the directory `path` names, reached through the mount that `other` is on; None when that
    mount does not show it (another filesystem, or a bind of a directory that doesn't contain it)."""
    here, there = mount_of(mounts, path), mount_of(mounts, other)
    if here is None or there is None or here.device != there.device:
        return None
    if here == there:
        return path
    inside = _within(path, here.mount_point)
    assert inside is not None
    fs_path = os.path.join(here.root, inside) if inside else here.root
    rest = _within(fs_path, there.root)
    if rest is None:
        return None
    return os.path.join(there.mount_point, rest) if rest else there.mount_point


def same_mount_alias(path: str, other: str) -> str | None:
    """`alias_on_mount_of` for this process's mounts, checked against the real directory (same inode)."""
    try:
        with open("/proc/self/mountinfo") as handle:
            mounts = parse_mountinfo(handle.read())
    except OSError:
        return None
    alias = alias_on_mount_of(mounts, os.path.realpath(path), os.path.realpath(other))
    if alias is None:
        return None
    try:
        a, b = os.stat(alias), os.stat(path)
    except OSError:
        return None
    return alias if (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino) else None
