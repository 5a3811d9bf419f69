"""Disk quotas that limit the writer, read with quotactl(2) where the filesystem keeps them.

The writer is taken to be the guarded directory's owner (user quota) and group (group
quota), and the directory's project ID (project quota, as `chattr -p` or xfs_quota set
it; ext4 and XFS). The quota that binds is the one with the least room left under its
hard block limit; `disk_state` then compares free space against the smaller of it and
the filesystem's. Any failure (quotas off, not supported, not permitted) means no quota.

quotactl_fd(2) (Linux 5.14) needs only a descriptor of the directory; older kernels get
quotactl(2) with the block device /proc/self/mountinfo names.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import fcntl
import functools
import os
import platform
import struct
import time
from collections.abc import Callable

from ckptguard.core.model import Quota

_Q_GETQUOTA = 0x800007
_KINDS = (("user", 0), ("group", 1), ("project", 2))
_DQBLK = struct.Struct("=8QI")  # struct if_dqblk: limits in 1 KiB blocks, space in bytes
_QIF_BLIMITS = 1
_QIF_SPACE = 4
_BLOCK = 1024
# quotactl_fd's number in the generic syscall table (x86_64 and arm64 alike).
_QUOTACTL_FD = 443 if platform.machine() in ("x86_64", "aarch64") else None
# quotactl's answers for a filesystem that keeps no such quota (off, or not supported).
_QUOTAS_OFF = frozenset({errno.ESRCH, errno.ENOSYS, errno.ENOTTY, errno.EINVAL, errno.ENOTBLK})
_FS_IOC_FSGETXATTR = 0x801C581F  # struct fsxattr; fsx_projid at offset 12


def _libc() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    except OSError:
        return None


_LIBC = _libc()


# Kinds of quota a filesystem does not keep (off or unsupported), by device, until when
# (monotonic) to believe it: free space is read before and after every deletion, and
# asking again each time would cost more than the deletion. Quotas switched on later
# are seen within a minute.
_OFF_FOR = 60.0
_off: dict[tuple[int, int], float] = {}


def binding_quota(dir_fd: int) -> Quota | None:
    """The quota with the least room left for the writer of the directory, or None."""
    st = os.fstat(dir_fd)
    ids = {"user": st.st_uid, "group": st.st_gid, "project": project_id(dir_fd)}
    found = []
    now = time.monotonic()
    for kind, number in _KINDS:
        owner = ids[kind]
        if owner is None or (kind == "project" and owner == 0):
            continue
        if _off.get((st.st_dev, number), 0.0) > now:
            continue
        quota = _get(dir_fd, kind, number, owner)
        if quota is not None:
            found.append(quota)
    return min(found, key=lambda q: q.free, default=None)


def project_id(fd: int) -> int | None:
    """The directory's project ID (FS_IOC_FSGETXATTR), or None where there is none."""
    buffer = bytearray(28)
    try:
        fcntl.ioctl(fd, _FS_IOC_FSGETXATTR, buffer)
    except OSError:
        return None
    return int(struct.unpack_from("=I", buffer, 12)[0])


def _get(dir_fd: int, kind: str, number: int, owner: int) -> Quota | None:
    buffer = ctypes.create_string_buffer(_DQBLK.size)
    command = (_Q_GETQUOTA << 8) | number
    if not _call(dir_fd, command, owner, buffer):
        if ctypes.get_errno() in _QUOTAS_OFF:
            _off[(os.fstat(dir_fd).st_dev, number)] = time.monotonic() + _OFF_FOR
        return None
    hard, _soft, used, *_rest, valid = _DQBLK.unpack(buffer.raw)
    if not valid & _QIF_BLIMITS or not valid & _QIF_SPACE or hard == 0:
        return None  # no limit set: nothing binds
    return Quota(kind=kind, id=owner, limit=hard * _BLOCK, used=used)


# Which calls this kernel lacks (ENOSYS): a kernel does not gain a system call while we
# run, and without this every look would read /proc/self/mountinfo again for nothing.
_MISSING: set[str] = set()


def _call(dir_fd: int, command: int, owner: int, buffer: ctypes.Array[ctypes.c_char]) -> bool:
    if _LIBC is None:
        return False
    if _QUOTACTL_FD is not None and "quotactl_fd" not in _MISSING:
        syscall: Callable[..., int] = _LIBC.syscall
        if syscall(_QUOTACTL_FD, dir_fd, command, owner, buffer) == 0:
            return True
        if ctypes.get_errno() != errno.ENOSYS:
            return False
        _MISSING.add("quotactl_fd")  # a kernel before 5.14: quotactl with the device
    if "quotactl" in _MISSING:
        return False
    device = _device_of(dir_fd)
    if device is None:
        return False
    quotactl: Callable[..., int] = _LIBC.quotactl
    if quotactl(command, os.fsencode(device), owner, buffer) == 0:
        return True
    if ctypes.get_errno() == errno.ENOSYS:  # a kernel built without quota support
        _MISSING.add("quotactl")
    return False


def _device_of(fd: int) -> str | None:
    """The block device the mount holding `fd` was made from (mountinfo's source)."""
    return _device_named(os.fstat(fd).st_dev)


@functools.lru_cache(maxsize=64)  # a device number names one block device while we run
def _device_named(device: int) -> str | None:
    wanted = f"{os.major(device)}:{os.minor(device)}"
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as mounts:
            for line in mounts:
                fields = line.split()
                if len(fields) > 7 and fields[2] == wanted and "-" in fields[6:]:
                    source = fields[fields.index("-", 6) + 2]
                    return source if source.startswith("/dev/") else None
    except (OSError, ValueError, IndexError):
        return None
    return None
