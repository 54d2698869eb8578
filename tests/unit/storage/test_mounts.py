"""Finding the same directory through another mount (hard links refuse to cross mounts)."""

import pytest

from kubeserve.storage.mounts import alias_on_mount_of, mount_of, parse_mountinfo

# The init container's view: / is the host's root filesystem (8:1), /mnt a tmpfs, /mnt/models a bind mount
# of the pod's emptyDir directory on the root filesystem.
MOUNTINFO = """\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
40 22 0:50 / /mnt rw,relatime - tmpfs tmpfs rw
41 40 8:1 /root/.kubeserve/pods/abc/volumes/model-dir /mnt/models rw,relatime - ext4 /dev/sda1 rw
42 22 8:2 / /data rw,relatime - ext4 /dev/sdb1 rw
43 22 8:1 /srv/with\\040space /mnt2 rw - ext4 /dev/sda1 rw
"""


def test_parse_unescapes_octal():
    mounts = parse_mountinfo(MOUNTINFO)
    assert mounts[4].root == "/srv/with space"
    assert mounts[2].mount_point == "/mnt/models"


@pytest.mark.parametrize(("path", "mount_point"), [
    ("/mnt/models/x", "/mnt/models"), ("/mnt/models", "/mnt/models"), ("/mnt/other", "/mnt"),
    ("/root/.kubeserve/models", "/"), ("/data/m", "/data"), ("/datax", "/"),
])
def test_mount_of_longest_prefix(path, mount_point):
    mount = mount_of(parse_mountinfo(MOUNTINFO), path)
    assert mount is not None and mount.mount_point == mount_point


@pytest.mark.parametrize(("path", "other", "alias"), [
    # The emptyDir reached through the root mount, where the cache is: links work there.
    ("/mnt/models/.tmp", "/root/.kubeserve/models/entries/k/model",
     "/root/.kubeserve/pods/abc/volumes/model-dir/.tmp"),
    ("/mnt/models", "/root/.kubeserve/models", "/root/.kubeserve/pods/abc/volumes/model-dir"),
    # Same mount: the path itself.
    ("/root/a", "/root/b", "/root/a"),
    # A tmpfs or another device: no alias.
    ("/mnt/other", "/root/cache", None),
    ("/data/x", "/root/cache", None),
    # The other mount is a bind of a directory that does not contain the path.
    ("/root/x", "/mnt/models/y", None),
    ("/srv/with space/m", "/mnt2/y", "/mnt2/m"),
])
def test_alias(path, other, alias):
    assert alias_on_mount_of(parse_mountinfo(MOUNTINFO), path, other) == alias
