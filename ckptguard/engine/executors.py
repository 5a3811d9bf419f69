"""Carrying out a plan through a store. Dry-run is not a flag: it is the choice of executor.

`AuditExecutor` deletes nothing and reports what `Deleter` would do; `Deleter` asks the
store to delete each planned checkpoint, in the plan's order (what matters most first),
and asks `should_stop` between deletions, never during one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from ckptguard.core.decisions import Outcome, Plan, Result, Status
from ckptguard.store.base import Store


class Executor(Protocol):
    # Whether it really deletes (False: an audit, a dry run).
    deletes: bool

    def apply(
        self, plan: Plan, store: Store, *, should_stop: Callable[[], bool] | None = None
    ) -> Outcome: ...


class AuditExecutor:
    """Deletes nothing; every planned deletion becomes a `WOULD_DELETE` result."""

    deletes = False

    def apply(
        self, plan: Plan, store: Store, *, should_stop: Callable[[], bool] | None = None
    ) -> Outcome:
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
    """Deletes the planned checkpoints that are still as planned (see the store's `delete`)."""

    deletes = True

    def apply(
        self, plan: Plan, store: Store, *, should_stop: Callable[[], bool] | None = None
    ) -> Outcome:
        results: list[Result] = []
        for decision in plan.deletions:
            if should_stop is not None and should_stop():
                results.append(Result(decision, Status.SKIPPED, "stopping"))
                continue
            results.append(store.delete(decision))
        return Outcome(plan, tuple(results))
