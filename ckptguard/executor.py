"""Carrying out a plan. The only module that deletes anything.

Dry-run is not a flag here: it is `AuditExecutor`, which reports what `Deleter` would do.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from typing import Protocol

from ckptguard.inventory import disk_state, entry_exists, identity_of, kind_of
from ckptguard.model import Decision, Kind, Outcome, Plan, Result, Status
from ckptguard.naming import pin_name


class Executor(Protocol):
    def apply(self, plan: Plan, dir_fd: int) -> Outcome: ...


class AuditExecutor:
    """Deletes nothing; every planned deletion becomes a `WOULD_DELETE` result."""

    def apply(self, plan: Plan, dir_fd: int) -> Outcome:
        results = []
        free = plan.disk.free  # projected, as if each deletion happened in turn
        for decision in plan.deletions:
            after = free + decision.checkpoint.reclaimable
            results.append(
                Result(decision, Status.WOULD_DELETE, free_before=free, free_after=after)
            )
            free = after
        return Outcome(plan, tuple(results))


class Deleter:
    """Deletes planned checkpoints through the directory's file descriptor.

    Right before each `unlinkat` the entry is stat'ed again without following links; it
    is deleted only if it is still the regular file the plan was made from (device,
    inode, size, mtime) and has not been pinned since. `should_stop` is asked between
    deletions, never during one.
    """

    def __init__(self, should_stop: Callable[[], bool] | None = None) -> None:
        self._should_stop = should_stop

    def apply(self, plan: Plan, dir_fd: int) -> Outcome:
        results: list[Result] = []
        for decision in plan.deletions:
            if self._should_stop is not None and self._should_stop():
                results.append(Result(decision, Status.SKIPPED, "stopping"))
                continue
            results.append(delete_one(decision, dir_fd))
        return Outcome(plan, tuple(results))


def delete_one(decision: Decision, dir_fd: int) -> Result:
    """Delete one planned checkpoint if it is still what was planned; never raises OSError."""
    try:
        return _delete_checked(decision, dir_fd)
    except OSError as error:
        return Result(decision, Status.FAILED, _describe(error))


def _delete_checked(decision: Decision, dir_fd: int) -> Result:
    checkpoint = decision.checkpoint
    name = checkpoint.name
    try:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return Result(decision, Status.SKIPPED, "already gone")
    except OSError as error:
        return Result(decision, Status.FAILED, _describe(error))
    if kind_of(st.st_mode) is not Kind.REGULAR:
        return Result(decision, Status.SKIPPED, f"now a {kind_of(st.st_mode).value}: not touched")
    if identity_of(st) != checkpoint.identity:
        return Result(decision, Status.SKIPPED, "changed since it was planned: not touched")
    if entry_exists(dir_fd, pin_name(name)):
        return Result(decision, Status.SKIPPED, f"pinned by {pin_name(name)} since planned")
    free_before = disk_state(dir_fd).free
    try:
        os.unlink(name, dir_fd=dir_fd)
    except FileNotFoundError:
        return Result(decision, Status.SKIPPED, "already gone")
    except OSError as error:
        return Result(decision, Status.FAILED, _describe(error), free_before=free_before)
    return Result(
        decision, Status.DELETED, free_before=free_before, free_after=disk_state(dir_fd).free
    )


def _describe(error: OSError) -> str:
    code = errno.errorcode.get(error.errno or 0, "E?")
    return f"{code}: {error.strerror}"
