"""Entries of a directory, seen through its descriptor: never following a link."""

from __future__ import annotations

import errno
import os
import stat

from ckptguard.core.model import DiskState, FileIdentity, Kind
from ckptguard.store.local.quota import binding_quota


def open_directory(path: str) -> int:
    """A file descriptor for `path`, which must be a directory (symlinks to one are allowed)."""
    return os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)


def identity_of(st: os.stat_result) -> FileIdentity:
    return FileIdentity(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def kind_of(mode: int) -> Kind:
    if stat.S_ISREG(mode):
        return Kind.REGULAR
    if stat.S_ISLNK(mode):
        return Kind.SYMLINK
    if stat.S_ISDIR(mode):
        return Kind.DIRECTORY
    return Kind.OTHER


def disk_state(dir_fd: int) -> DiskState:
    """Free space as an unprivileged writer (the trainer) sees it: root's reserve excluded,
    and no more than a quota that limits the writer leaves (see `quota`)."""
    vfs = os.fstatvfs(dir_fd)
    total, free = vfs.f_blocks * vfs.f_frsize, vfs.f_bavail * vfs.f_frsize
    quota = binding_quota(dir_fd)
    if quota is None:
        return DiskState(total=total, free=free)
    return DiskState(total=total, free=min(free, quota.free), quota=quota, fs_free=free)


def entry_exists(dir_fd: int, name: str) -> bool:
    """Whether `name` exists in the directory (as anything; never followed)."""
    try:
        os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    except OSError as error:
        if error.errno == errno.ENAMETOOLONG:
            return False  # such an entry cannot exist: e.g. a pin sidecar of a long name
        raise
    return True


def regular_size(fd: int, name: str) -> int:
    try:
        return os.stat(name, dir_fd=fd, follow_symlinks=False).st_size
    except OSError:
        return 0


def regular_in(fd: int, name: str) -> bool:
    try:
        return stat.S_ISREG(os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode)
    except OSError:
        return False


def directory_in(fd: int, name: str) -> bool:
    """Whether `name` is a directory (never through a link) in the directory `fd`."""
    try:
        return stat.S_ISDIR(os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode)
    except OSError:
        return False
