"""When a file was created (its birth time), read with statx(2) where the kernel keeps it.

Saves that overlap (asynchronous checkpointing) can finish out of step order: the lower
step's file is then modified last although it was created first. Its birth time tells
such a save from the first save of a restarted run, whose file is created after the
earlier run's last one was written. Python's os.stat has no birth time on Linux, so
statx is called through the C library; where it is missing, or the filesystem keeps no
birth time (NFS, older kernels), the answer is None and the caller goes by mtime alone.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import struct
from collections.abc import Callable

_AT_SYMLINK_NOFOLLOW = 0x100
_AT_STATX_DONT_SYNC = 0x4000  # never wait for a network filesystem to answer
_STATX_BTIME = 0x800
_BUFFER = 256  # sizeof(struct statx)
_BTIME_OFFSET = 80  # stx_btime: { __s64 tv_sec; __u32 tv_nsec; ... }


def _load() -> Callable[..., int] | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        function: Callable[..., int] = libc.statx
    except (OSError, AttributeError):
        return None
    return function


_statx = _load()


def birth_ns(dir_fd: int, name: str) -> int | None:
    """The birth time of entry `name` of the open directory, in ns; None if unknown."""
    if _statx is None:
        return None
    buffer = ctypes.create_string_buffer(_BUFFER)
    flags = _AT_SYMLINK_NOFOLLOW | _AT_STATX_DONT_SYNC
    if _statx(dir_fd, os.fsencode(name), flags, _STATX_BTIME, buffer) != 0:
        return None
    (mask,) = struct.unpack_from("<I", buffer.raw, 0)
    if not mask & _STATX_BTIME:
        return None
    seconds, nanoseconds = struct.unpack_from("<qI", buffer.raw, _BTIME_OFFSET)
    return int(seconds) * 1_000_000_000 + int(nanoseconds)
