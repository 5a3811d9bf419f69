"""Which filesystem holds a directory, whether inotify can be trusted there, and whether
it is mounted read-only.

inotify sees only changes made through this kernel: on NFS, CIFS, Lustre or FUSE
another host (or the FUSE daemon) can change files silently, so we poll there.
"""

from __future__ import annotations

import os
from typing import NamedTuple

import psutil

from ckptguard.store.local.trees import mount_id

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


def is_network(fstype: str) -> bool:
    """Whether other hosts (or a FUSE daemon) may change or lock files there too."""
    return fstype in NETWORK_FILESYSTEMS or fstype.startswith("fuse.")


def polling_reason(path: str) -> str | None:
    """Why `path` must be polled rather than watched with inotify, or None."""
    fstype = filesystem_type(path)
    if fstype is not None and is_network(fstype):
        return f"{fstype} filesystem: inotify misses changes made elsewhere"
    return None


class Mount(NamedTuple):
    """A mount as /proc/self/mountinfo describes it."""

    device: tuple[int, int]  # (major, minor) of the superblock, as /proc/locks shows it
    fstype: str


def mount_of(fd: int) -> Mount | None:
    """The mount holding the open file `fd`, from /proc/self/mountinfo; None if unknown."""
    wanted = mount_id(fd)
    if wanted is None:
        return None
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as mounts:
            for line in mounts:
                # "36 35 98:0 /mnt1 /mnt/parent rw,noatime master:1 - ext3 /dev/root rw"
                fields = line.split()
                if fields[:1] != [str(wanted)] or "-" not in fields[6:]:
                    continue
                major, _, minor = fields[2].partition(":")
                return Mount((int(major), int(minor)), fields[fields.index("-", 6) + 1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def read_only(fd: int) -> bool:
    """Whether the filesystem of the open directory `fd` is mounted read-only."""
    try:
        return bool(os.fstatvfs(fd).f_flag & os.ST_RDONLY)
    except OSError:
        return False
