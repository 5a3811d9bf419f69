"""One guard per directory: taking the directory's lock, or guarding without it.

Guarding comes first: a lock held by a process that is no guard (anyone who can read a
directory can flock it), or a fallback lock file with no room to be created, leaves the
guard running without the lock, taking it as soon as it can.
"""

from __future__ import annotations

from typing import Any

from ckptguard.service.reports import Problems
from ckptguard.store.local import lock

# The lock fd of a guard that runs without its lock.
UNLOCKED = -1


class StartupError(Exception):
    """The daemon cannot start as asked (e.g. another guard holds a directory)."""


def take(fd: int, path: str, problems: Problems, *, at_start: bool, wait: bool) -> int | None:
    """The lock's fd, UNLOCKED, or None while it cannot be had (retried later)."""
    try:
        return lock.acquire(fd)
    except lock.LockHeld as held:
        if at_start and not wait:
            raise StartupError(
                f"--dir {path}: already guarded by {held.holder} (use --wait-lock to wait)"
            ) from None
        problems.report("lock_held", holder=held.holder, action="waiting for it")
        return None
    except lock.UntrustedHolder as held:
        # Anyone who can read DIR can flock it: obeying them would let them stop the guard.
        problems.report(
            "lock_held_by_untrusted_process",
            holder=held.holder,
            action="guarding without the lock",
        )
        return UNLOCKED
    except lock.LockUnavailable as error:
        if error.no_space:
            problems.report(
                "lock_deferred",
                error=str(error),
                action="guarding unlocked until there is room for the lock file",
            )
            return UNLOCKED
        problems.report("lock_unavailable", error=str(error))
        return None


def retake(fd: int, path: str, log: Any) -> int | None:
    """Try again for the lock guarding went on without: its fd, UNLOCKED while still no
    guard holds it (or there is still no room), None if another guard took it."""
    try:
        return lock.acquire(fd)
    except lock.LockHeld as held:
        log.warning(
            "lock_taken", path=path, holder=held.holder, action="leaving the directory to it"
        )
        return None
    except (lock.UntrustedHolder, lock.LockUnavailable):
        return UNLOCKED


def release(lock_fd: int | None) -> None:
    if lock_fd is not None and lock_fd != UNLOCKED:
        lock.release(lock_fd)
