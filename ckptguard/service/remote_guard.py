"""One guarded object-store prefix: polled, planned, and deleted from by one guard only.

The counterpart of `guard.Guard` for a URL: no descriptor, lock or watch, but a poll
timer (`settle_at`, the time the daemon loop next gives it a turn), backoff when the store
cannot be read, and an election (`election.Election`) so that of several guards of the
same prefix, on any hosts, one deletes while the others plan and say who holds the lease.
Reports, metric memory and the problem log are the local guard's.
"""

from __future__ import annotations

import time
from typing import Any

from ckptguard.core.decisions import Plan, Status
from ckptguard.core.model import Inventory
from ckptguard.engine.cycle import Cycle, Look, cycle, memory_after
from ckptguard.service.context import Context
from ckptguard.service.election import Election, executor_for, stop_unless_holding
from ckptguard.service.events import Words
from ckptguard.service.memory import GuardMemory
from ckptguard.service.reports import Problems, Reports
from ckptguard.service.settings import GuardSpec
from ckptguard.store.local.cache import IntegrityCache
from ckptguard.store.remote.lease import CONDITIONAL, LeaseObject
from ckptguard.store.remote.location import RemoteError, describe
from ckptguard.store.remote.store import RemoteStore
from ckptguard.store.remote.trash import empty_trash

# The longest wait between tries while the store cannot be read, in poll intervals.
BACKOFF_POLLS = 10
MAX_BACKOFF = 300.0
TRASH_EVERY = 300.0  # seconds between looks for trash to empty


class RemoteGuard:
    def __init__(self, spec: GuardSpec, words: Words, log: Any) -> None:
        self.spec = spec
        self._log = log
        self.problems = Problems(log, spec.path)
        self.reports = Reports(log, words, self.problems)
        self.memory = GuardMemory(log, self.problems)
        self.cache = IntegrityCache()
        self.store: RemoteStore | None = None
        self.election: Election | None = None
        self.last_plan: Plan | None = None
        self.last_inventory: Inventory | None = None
        self.writers_unknown = self.closes_lost = False  # no watcher: nothing to lose
        self.failures = 0
        self._poll_at = 0.0  # monotonic: the next listing
        self._trash_at = 0.0

    @property
    def key(self) -> str:
        return self.spec.path

    @property
    def is_open(self) -> bool:
        return self.store is not None

    @property
    def real_path(self) -> str:
        """What its status and history are kept under: the URL (no path to resolve)."""
        return self.spec.path

    @property
    def settle_at(self) -> float | None:
        """When the daemon loop should next give this guard a turn: its next poll, or
        sooner when the lease needs renewing or may be taken over."""
        due = self._poll_at
        if self.election is not None:
            due = min(due, self.election.next_due())
        return due

    @settle_at.setter
    def settle_at(self, value: float | None) -> None:
        """The loop clears it when the time came; the turn itself sets the next one."""

    def open(self, context: Context, *, at_start: bool = False) -> bool:
        if self.store is not None:
            return True
        try:
            self.store = RemoteStore.open(
                self.spec.path, cache=self.cache, trash_for=self.spec.trash_for
            )
        except RemoteError as error:
            self._unavailable(context, str(error))
            return False
        if context.executor.deletes:  # a dry run never takes the lease from a real guard
            self.election = self._elect(context, self.store)
        context.log.info("polling", path=self.spec.path, every=context.settings.poll_interval)
        return True

    def _elect(self, context: Context, store: RemoteStore) -> Election | None:
        """The election of this prefix's deleter, where the store has conditional writes."""
        if store.where.scheme in CONDITIONAL:
            lease = LeaseObject(store.fs, store.where)
            return Election(lease, context.settings.lease_time, context.log)
        context.log.warning(
            "no_lease",
            path=self.spec.path,
            consequence="no election: run one guard for this prefix",
        )
        return None

    def close(self) -> None:
        if self.election is not None:
            self.election.release()
            self.election = None
        if self.store is not None:
            self.store.close()
            self.store = None
        self.last_plan = self.last_inventory = None
        self.reports.forget()

    def short_of_space(self, context: Context) -> bool:
        return False  # no free space to run short of

    def cycle(self, context: Context, changed: set[str] | None = None) -> bool:
        """Elect, list, plan and (holding the lease) delete; True if a cycle was done."""
        if not self.open(context) or self.store is None:
            return False
        try:
            done = self._run(context, self.store)
        except Exception as error:  # noqa: BLE001 - the store's trouble: reported, retried
            self._unavailable(context, describe(error))
            return False
        if self.failures:
            context.log.info("store_available", path=self.spec.path, after_failures=self.failures)
        self.failures = 0
        self._poll_at = time.monotonic() + context.settings.poll_interval
        previous, self.last_plan = self.last_plan, done.plan
        self.reports.cycle(done.plan, done.outcome.results, previous)
        context.observed(self.spec, done)
        if done.outcome.with_status(Status.SKIPPED):
            self._poll_at = time.monotonic()  # changed under us: look again at once
        return True

    def _run(self, context: Context, store: RemoteStore) -> Cycle:
        if self.election is not None:
            self.election.step()
        spec, state_dir = self.spec, context.settings.state_dir
        known = self.memory.known(spec.metrics_file, state_dir, spec.path)
        done = cycle(
            store,
            spec.layout,
            spec.policy,
            executor_for(self.election, context.executor),
            now=context.clock(),
            metrics=known,
            look=Look(
                previous=self.last_inventory,
                previous_plan=self.last_plan,
                progress=context.progress,
            ),
            should_stop=stop_unless_holding(self.election, context.should_stop),
            shared=context.shared(spec),
        )
        self.last_inventory = done.inventory
        if known is not None:
            self.memory.memory = memory_after(done.assessment, done.outcome)
            self.memory.save(state_dir, spec.path)
        self._empty_trash(context, store)
        return done

    def _may_delete(self) -> bool:
        return self.election is None or self.election.may_delete()

    def _empty_trash(self, context: Context, store: RemoteStore) -> None:
        if store.trash_for is None or not context.executor.deletes or not self._may_delete():
            return
        if time.monotonic() < self._trash_at:
            return
        self._trash_at = time.monotonic() + TRASH_EVERY
        gone = empty_trash(store.fs, store.where, store.trash_for, context.clock())
        if gone:
            context.log.info("trash_emptied", path=self.spec.path, objects=gone)

    def _unavailable(self, context: Context, error: str) -> None:
        """Say once that the store cannot be used (until it can again); try again later."""
        if not self.failures:
            context.log.warning(
                "store_unavailable",
                path=self.spec.path,
                error=error,
                action="nothing deleted; retrying with backoff",
            )
        self._back_off(context)

    def _back_off(self, context: Context) -> float:
        """Wait longer after each failure in a row, up to ten polls (at most 5 minutes)."""
        self.failures += 1
        poll = context.settings.poll_interval
        ceiling = max(poll, min(MAX_BACKOFF, poll * BACKOFF_POLLS))
        delay = float(min(poll * 2.0 ** (self.failures - 1), ceiling))
        self._poll_at = time.monotonic() + delay
        return delay
