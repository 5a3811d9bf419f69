"""One guarded directory: held open, locked and watched, and one cycle at a time over it.

A guard owns everything of its directory: the descriptor (through a `LocalStore`), the
lock, the watch, the content cache, what it saw of saves in progress, its metric memory
and its problem log. Directory trouble never raises out of it: it is logged once, and
the directory is waited for, looked at again, or left to another guard.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from typing import Any

from watchdog.observers.api import BaseObserver, ObservedWatch

from ckptguard.core.decisions import Plan, Status
from ckptguard.core.model import Inventory
from ckptguard.engine.cycle import Cycle, Look, cycle, memory_after
from ckptguard.service import locking
from ckptguard.service.context import Context
from ckptguard.service.election import (
    Election,
    directory_election,
    executor_for,
    stop_unless_holding,
)
from ckptguard.service.events import Words
from ckptguard.service.memory import GuardMemory
from ckptguard.service.reports import Problems, Reports
from ckptguard.service.saves import Observations, Writes
from ckptguard.service.settings import GuardSpec
from ckptguard.service.verdicts import KeptVerdicts
from ckptguard.service.watcher import watch_directory
from ckptguard.store.local.cache import IntegrityCache
from ckptguard.store.local.directory import LocalStore
from ckptguard.store.local.mounts import read_only

_DIRECTORY_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class Guard:
    def __init__(self, spec: GuardSpec, words: Words, log: Any) -> None:
        self.spec = spec
        self.problems = Problems(log, spec.path)
        self.reports = Reports(log, words, self.problems)
        self.memory = GuardMemory(log, self.problems)
        self.cache = IntegrityCache()
        self.writes = Writes()
        self.observations = Observations()
        self.store: LocalStore | None = None
        self.dir_id: tuple[int, int] | None = None
        # Where the path led when first opened; a later open must lead to the same place.
        self.real_path: str | None = None
        self.lock_fd: int | None = None
        self.watch: ObservedWatch | None = None
        self.observer: BaseObserver | None = None
        self.last_plan: Plan | None = None
        self.last_inventory: Inventory | None = None
        self.next_retry = 0.0
        # When (monotonic) a save in progress will have settled and must be judged.
        self.settle_at: float | None = None
        # Whether saves may be in progress that the watcher has not seen written.
        self.writers_unknown = True
        self.closes_lost = False  # events were lost: recorded writes may have closed
        # Guards on several hosts sharing the directory elect one deleter (--lease).
        self.election: Election | None = None
        self.verdicts = KeptVerdicts(self.problems)

    @property
    def key(self) -> str:
        return self.spec.path

    @property
    def is_open(self) -> bool:
        return self.store is not None

    # -- opening, verifying, closing ---------------------------------------------------------

    def open(self, context: Context, *, at_start: bool = False) -> bool:
        """Make sure the directory is open, locked and watched; False while it cannot be."""
        if self.store is not None:
            return True
        now = time.monotonic()
        if not at_start and now < self.next_retry:
            return False
        self.next_retry = now + min(context.settings.free_check_interval, 5.0)
        real = os.path.realpath(self.spec.path)
        fd = self._open_directory(real)
        if fd is None:
            return False
        try:
            lock_fd = locking.take(
                fd, self.spec.path, self.problems, at_start=at_start, wait=context.wait_lock
            )
        except BaseException:
            os.close(fd)
            raise
        if lock_fd is None:
            os.close(fd)
            return False
        self._opened(fd, real, lock_fd)
        watched = watch_directory(context, self.key, real, self.spec.layout, self.writes)
        self.watch, self.observer = watched if watched is not None else (None, None)
        self.verdicts.load(context.settings.state_dir, real, self.cache)
        return True

    def _open_directory(self, real: str) -> int | None:
        if self.real_path is not None and real != self.real_path:
            self.problems.report(
                "directory_moved",
                resolves_to=real,
                expected=self.real_path,
                action="not following; send SIGHUP to accept the new location",
            )
            return None
        try:
            return os.open(real, _DIRECTORY_FLAGS)
        except FileNotFoundError:
            self.problems.report("directory_missing", action="waiting for it to appear")
        except OSError as error:
            self.problems.report("directory_unavailable", error=error.strerror, errno=error.errno)
        return None

    def _opened(self, fd: int, real: str, lock_fd: int) -> None:
        st = os.fstat(fd)
        self.store = LocalStore(fd, self.spec.path, self.cache)
        self.dir_id, self.lock_fd, self.real_path = (st.st_dev, st.st_ino), lock_fd, real
        self.problems.forget()
        if read_only(fd):
            # The lock works there too: say so now, not at the first deletion that fails.
            self.problems.report(
                "directory_read_only",
                consequence="deletions there fail",
                hint="under systemd, is the directory in ReadWritePaths=?",
            )

    def still_there(self, log: Any) -> bool:
        """Whether the path still names the directory held; closes the guard if not."""
        try:
            st = os.stat(self.real_path or self.spec.path, follow_symlinks=False)
            same = (st.st_dev, st.st_ino) == self.dir_id
        except OSError:
            same = False
        if not same:
            log.warning("directory_replaced", path=self.spec.path, action="waiting for it")
            self.close()
        return same

    def check_retargeted(self) -> None:
        """Say (once) that the path now leads elsewhere: a symlinked --dir was retargeted.

        The directory held stays guarded; following a path that changed under us is for
        a reload to accept, since whoever swapped a parent could point it anywhere.
        """
        now_leads_to = os.path.realpath(self.spec.path)
        if now_leads_to != self.real_path:
            self.problems.report(
                "directory_retargeted",
                resolves_to=now_leads_to,
                guarding=self.real_path,
                action="still guarding the old directory; send SIGHUP to follow the path",
            )
        else:
            self.problems.solved("directory_retargeted")

    def close(self) -> None:
        if self.watch is not None and self.observer is not None:
            with contextlib.suppress(KeyError, OSError):  # the watch died with its directory
                self.observer.unschedule(self.watch)
        self.watch = self.observer = None
        locking.release(self.lock_fd)
        self.lock_fd = None
        if self.store is not None:
            self.store.close()
            self.store = None
        self.last_plan = self.last_inventory = None
        self.reports.forget()
        self.writers_unknown = True  # unwatched from now until reopened
        if self.election is not None:
            self.election.release()
            self.election = None

    # -- cycles ------------------------------------------------------------------------------

    def cycle(self, context: Context, changed: set[str] | None = None) -> bool:
        """Look, plan and apply for this directory; True if a cycle was completed.

        With `changed` (from events) only those entries are looked at again, on top of the
        last inventory: a save in a directory of 10,000 other files then costs a few
        stats, not a listing. Full listings stay the truth: at start, every rescan
        interval, after lost events, and whenever there is no inventory to build on.
        """
        if not self._ready(context, full=changed is None):
            return False
        try:
            done = self._run(context, changed)
        except OSError as error:
            self.problems.report("scan_failed", error=f"{error.strerror}", errno=error.errno)
            return False
        except Exception as error:  # noqa: BLE001 - one directory's trouble must not stop the rest
            self.problems.report("cycle_failed", error=repr(error), exc_info=True)
            return False
        self.problems.solved("scan_failed", "cycle_failed")
        previous, self.last_plan = self.last_plan, done.plan
        self.reports.cycle(done.plan, done.outcome.results, previous)
        context.observed(self.spec, done)
        if done.outcome.with_status(Status.SKIPPED):
            context.wake(self.key, None)  # it changed under us: look again on the next pass
        return True

    def _ready(self, context: Context, *, full: bool) -> bool:
        """Open, still the directory held, and locked (or guarding without the lock)."""
        if not self.open(context) or self.store is None:
            return False
        if not self.still_there(context.log):
            return False
        if full:
            self.check_retargeted()
        if self.lock_fd == locking.UNLOCKED:
            self.lock_fd = locking.retake(self.store.dir_fd, self.spec.path, context.log)
            if self.lock_fd is None:
                self.close()
                return False
        return True

    def _run(self, context: Context, changed: set[str] | None) -> Cycle:
        assert self.store is not None
        spec, state_dir = self.spec, context.settings.state_dir
        known = self.memory.known(spec.metrics_file, state_dir, self._real())
        look = Look(
            changed=changed if self.last_inventory is not None else None,
            previous=self.last_inventory,
            previous_plan=self.last_plan,
            prepare=self._observe,
            progress=context.progress,
        )
        self._elect(context)
        done = cycle(
            self.store,
            spec.layout,
            spec.policy,
            executor_for(self.election, context.executor),
            now=context.clock(),
            metrics=known,
            look=look,
            should_stop=stop_unless_holding(self.election, context.should_stop),
            shared=context.shared(spec),
        )
        self.last_inventory = done.inventory
        self.settle_at = Observations.next_settle(
            done.plan, spec.policy.settle_seconds, time.monotonic(), self.writes
        )
        if self.election is not None:  # renew, or watch for a takeover, in time
            self.settle_at = min(self.settle_at or math.inf, self.election.next_due())
        if changed is None:
            self.verdicts.keep(state_dir, self._real(), self.cache)
        if known is not None:
            # After the deletions: a state write of ours must never delay one.
            self.memory.memory = memory_after(done.assessment, done.outcome)
            self.memory.report_rows(spec.path, done.assessment, known.path)
            self.memory.save(state_dir, self._real())
        return done

    def _elect(self, context: Context) -> None:
        """A shared directory's turn in its election (`--lease`); a dry run never takes it."""
        if self.election is None and context.executor.deletes:
            self.election = directory_election(self.spec, context.settings.lease_time, context.log)
        if self.election is not None:
            self.election.step()

    def _observe(self, inventory: Inventory) -> Inventory:
        """What the guard itself saw: writes not yet closed, and how long each is quiet."""
        if (self.writers_unknown or self.closes_lost) and self.store is not None:
            if self.closes_lost:  # what /proc shows is confirmed, the rest in doubt
                self.writes.doubt(window=self.spec.policy.settle_seconds)
            self.writers_unknown = self.closes_lost = False
            self.writes.learn(self.store.holders(inventory))
        settle = self.spec.policy.settle_seconds
        return self.observations.stamp(inventory, time.monotonic(), self.writes, settle=settle)

    def _real(self) -> str:
        return self.real_path or os.path.realpath(self.spec.path)

    def short_of_space(self, context: Context) -> bool:
        """Whether free space fell below the target since the last plan (other processes
        fill disks too); a shortfall nothing can fix is left to the periodic rescan."""
        if self.store is None or not self.still_there(context.log):
            return True  # retries opening, rate-limited
        last = self.last_plan
        try:
            free = self.store.disk().free
        except OSError as error:
            self.problems.report("free_check_failed", error=error.strerror)
            return False
        short = last is None or free + last.in_flight_credit < last.target_free
        unchanged = last is not None and last.shortfall > 0 and free == last.disk.free
        return short and not unchanged
