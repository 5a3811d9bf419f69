"""Which filesystem holds a directory, and whether inotify can be trusted there.

inotify sees only changes made through this kernel: on NFS, CIFS, Lustre or FUSE
another host (or the FUSE daemon) can change files silently, so we poll there.
"""

from __future__ import annotations

import os

import psutil

NETWORK_FILESYSTEMS = frozenset(
    {
        "nfs",
        "nfs4",
        "cifs",
        "smb3",
        "smbfs",
        "lustre",
        "9p",
        "ceph",
        "glusterfs",
        "gpfs",
        "beegfs",
        "afs",
        "ocfs2",
        "gfs2",
        "virtiofs",
        "fuse",
    }
)


def filesystem_type(path: str) -> str | None:
    """The type of the mount holding `path` (the longest mount point prefix), if known."""
    real = os.path.realpath(path)
    best: tuple[int, str] | None = None
    try:
        partitions = psutil.disk_partitions(all=True)
    except OSError:
        return None
    for partition in partitions:
        mount = partition.mountpoint.rstrip("/") or "/"
        inside = real == mount or real.startswith(mount + "/") or mount == "/"
        if inside and (best is None or len(mount) > best[0]):
            best = (len(mount), partition.fstype)
    return best[1] if best else None


def polling_reason(path: str) -> str | None:
    """Why `path` must be polled rather than watched with inotify, or None."""
    fstype = filesystem_type(path)
    if fstype is None:
        return None
    if fstype in NETWORK_FILESYSTEMS or fstype.startswith("fuse."):
        return f"{fstype} filesystem: inotify misses changes made elsewhere"
    return None
