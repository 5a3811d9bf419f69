"""The long-running guard: wake -> scan -> plan -> apply, for every guarded directory.

One thread runs the loop; watchdog's threads only call `wake`, and signal handlers only
set flags. One wait on a self-pipe (`Waker.wait(timeout)`) is both the sleep and the
switch, and poking it takes no lock, so a signal can never deadlock the loop.
Events are hints: a full rescan runs at start, every `rescan_interval`, and whenever
events may have been lost; free space is re-read every `free_check_interval`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver, ObservedWatch
from watchdog.observers.polling import PollingObserver

from ckptguard import __version__
from ckptguard.core.model import Inventory, Plan, Status, Unit
from ckptguard.core.recall import MetricMemory
from ckptguard.core.units import format_size
from ckptguard.engine.cycle import Assessment, KnownMetrics, assess, memory_after, without_deleted
from ckptguard.engine.executors import AuditExecutor, Deleter, Executor
from ckptguard.face.config import ConfigError, GuardSpec, Settings
from ckptguard.service.events import get_logger, log_new_run, log_result, log_shortfall
from ckptguard.service.notify import Notifier
from ckptguard.service.saves import Observations, Writes
from ckptguard.service.state import load_memory, save_memory
from ckptguard.service.waker import Waker
from ckptguard.service.watcher import (
    WATCHED_EVENTS,
    WRITE_EVENTS,
    WakeHandler,
    install_overflow_detector,
)
from ckptguard.store.local import lock
from ckptguard.store.local.metrics import MetricsError, MetricsSource
from ckptguard.store.local.mounts import polling_reason
from ckptguard.store.local.openfiles import hidden_processes, with_holders
from ckptguard.store.local.scan import IntegrityCache, disk_state, refresh, scan

EXIT_OK, EXIT_USAGE = 0, 2
# lock_fd of a guard that runs without its lock: a process that is no guard holds it, or
# the disk is too full to create the fallback lock file. Guarding comes first; the lock is
# taken as soon as it can be.
UNLOCKED = -1


class StartupError(Exception):
    """The daemon cannot start as asked (e.g. another guard holds a directory)."""


@dataclass
class Guard:
    """The shell's state for one guarded directory; the decisions live in the engine."""

    spec: GuardSpec
    dir_fd: int | None = None
    dir_id: tuple[int, int] | None = None
    # Where the path led when first opened; a later open must lead to the same place.
    real_path: str | None = None
    lock_fd: int | None = None
    watch: ObservedWatch | None = None
    observer: BaseObserver | None = None
    cache: IntegrityCache = field(default_factory=IntegrityCache)
    last_plan: Plan | None = None
    last_inventory: Inventory | None = None
    # The last logged problem per event name, so each is logged once until it changes.
    problems: dict[str, str] = field(default_factory=dict)
    next_retry: float = 0.0
    reported: set[tuple[Any, ...]] = field(default_factory=set)
    metrics: MetricsSource | None = None
    # Saves in progress as the watcher and the guard's own clock see them.
    writes: Writes = field(default_factory=Writes)
    observations: Observations = field(default_factory=Observations)
    # When (monotonic) a save in progress will have settled and must be judged.
    settle_at: float | None = None
    # Whether saves may be in progress that the watcher has not seen written.
    writers_unknown: bool = True
    # Metric values read before (None until loaded from the state directory), and the
    # memory as last written there (None: write it on the next cycle).
    memory: MetricMemory | None = None
    saved: MetricMemory | None = None
    # Checkpoints whose rows the metrics file lost or changed, as last logged.
    rows_lost: frozenset[str] = frozenset()
    rows_changed: frozenset[str] = frozenset()

    @property
    def key(self) -> str:
        return self.spec.path


class Daemon:
    def __init__(
        self,
        settings: Settings,
        *,
        load_settings: Callable[[], Settings] | None = None,
        dry_run: bool = False,
        wait_lock: bool = False,
        notifier: Notifier | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self._load_settings = load_settings
        self._dry_run = dry_run
        self._wait_lock = wait_lock
        self._notifier = notifier if notifier is not None else Notifier()
        self._clock = clock
        self._log = get_logger()
        # Set by signal handlers and other threads: plain flags and the waker, no locks.
        self._stopping = False
        self._reload_requested = False
        self._rescan_requested = False
        self._waker = Waker()
        self._mutex = threading.Lock()  # guards _dirty, written by watcher threads only
        # Directories with events: the checkpoint names they named, or None for "look at all".
        self._dirty: dict[str, set[str] | None] = {}
        self._guards: dict[str, Guard] = {}
        self._observers: dict[str, BaseObserver] = {}
        self._status = ""
        self._next_ping = time.monotonic() if self._notifier.watchdog_interval else float("inf")
        self.cycles = 0  # completed directory cycles
        self.passes = 0  # turns of the loop
        self.ready = threading.Event()  # set once the first scan of every directory is done

    # -- called from other threads and signal handlers: set flags, wake the loop ----------

    def wake(self, key: str, name: str | None = None) -> None:
        """A watcher saw checkpoint `name` (None: anything) change in directory `key`."""
        with self._mutex:
            if name is None:
                self._dirty[key] = None
            else:
                names = self._dirty.setdefault(key, set())
                if names is not None:
                    names.add(name)
        self._waker.poke()

    def request_rescan(self) -> None:
        self._rescan_requested = True
        self._waker.poke()

    def request_reload(self) -> None:
        """Safe in a signal handler: a flag and a pipe write, no lock."""
        self._reload_requested = True
        self._waker.poke()

    def request_stop(self) -> None:
        """Safe in a signal handler: a flag and a pipe write, no lock."""
        self._stopping = True
        self._waker.poke()

    def on_events_lost(self) -> None:
        self._log.warning("events_lost", action="full rescan")
        for guard in list(self._guards.values()):
            guard.writers_unknown = True  # closes and writes may be among the lost
        self.request_rescan()

    # -- the loop ---------------------------------------------------------------------------

    def run(self) -> int:
        """Guard until asked to stop; returns the exit code."""
        remove_detector = install_overflow_detector(self.on_events_lost)
        try:
            self._start()
            self._loop()
        finally:
            self._shutdown()
            remove_detector()
            self._waker.close()
        return EXIT_OK

    def _executor(self) -> Executor:
        return AuditExecutor() if self._dry_run else Deleter(should_stop=self._between_deletions)

    def _between_deletions(self) -> bool:
        """Asked before each deletion: a long batch keeps the watchdog fed and stops on request."""
        self._ping_if_due()
        return self._stopping

    def _start(self) -> None:
        self._log.info(
            "started",
            version=__version__,
            directories=[g.path for g in self.settings.guards],
            dry_run=self._dry_run,
        )
        hidden = hidden_processes()
        if hidden:
            self._log.warning(
                "open_file_detection_limited",
                hidden_processes=hidden,
                consequence="checkpoints those processes hold open count as freeable",
                hint="run as root with CAP_SYS_PTRACE, or as the user running the training",
            )
        for spec in self.settings.guards:
            self._guards[spec.path] = Guard(spec)
        for guard in self._guards.values():
            self._open(guard, at_start=True)
        self._cycle_all()
        self._notifier.ready(self._status_line())
        self.ready.set()

    def _loop(self) -> None:
        settings = self.settings
        now = time.monotonic()
        next_rescan = now + settings.rescan_interval
        next_free_check = now + settings.free_check_interval
        while not self._stopping:
            deadline = min(next_rescan, next_free_check, self._next_ping, self._next_settle())
            self._waker.wait(deadline - time.monotonic())
            if self._stopping:
                break
            with self._mutex:
                dirty, self._dirty = self._dirty, {}
            # Read, then clear: a request arriving in between is served by this very pass.
            rescan_all, reload = self._rescan_requested, self._reload_requested
            self._rescan_requested = self._reload_requested = False
            if reload:
                self._do_reload()
                rescan_all = True
            now = time.monotonic()
            for key, settling in self._guards.items():
                if settling.settle_at is not None and now >= settling.settle_at:
                    settling.settle_at = None
                    dirty.setdefault(key, set())  # look at the known checkpoints again
            if now >= next_rescan:
                rescan_all = True
                next_rescan = now + self.settings.rescan_interval
            if rescan_all:
                self._cycle_all()
            else:
                for key, names in dirty.items():
                    guard = self._guards.get(key)
                    if guard is not None:
                        self._cycle(guard, names)
            if now >= next_free_check:
                next_free_check = now + self.settings.free_check_interval
                self._free_check(exclude=set(self._guards) if rescan_all else set(dirty))
            self._ping_if_due()
            self._update_status()
            self.passes += 1

    @staticmethod
    def _learn_writers(guard: Guard, inventory: Inventory) -> None:
        """Saves already being written when the watch began (or after lost events): the
        watcher saw none of their writes, /proc may show their writers. Each is then
        known as written until the watcher sees it closed."""
        guard.writers_unknown = False
        for checkpoint in with_holders(inventory).checkpoints:
            if checkpoint.writing and checkpoint.unit is not Unit.DIRECTORY:
                for name in [p.name for p in checkpoint.parts] or [checkpoint.name]:
                    guard.writes.written(checkpoint.name, name)

    def _next_settle(self) -> float:
        times = [g.settle_at for g in self._guards.values() if g.settle_at is not None]
        return min(times, default=float("inf"))

    def _cycle_all(self) -> None:
        for guard in self._guards.values():
            self._cycle(guard)
            self._ping_if_due()
        self._update_status()

    def _ping_if_due(self) -> None:
        """Keep systemd's watchdog fed during long work, not only between loop turns."""
        interval = self._notifier.watchdog_interval
        if interval and time.monotonic() >= self._next_ping:
            self._notifier.watchdog()
            self._next_ping = time.monotonic() + interval

    def _cycle(self, guard: Guard, names: set[str] | None = None) -> None:
        """Scan, plan and apply for one directory; never raises for directory trouble.

        With `names` (from events) only those entries are looked at again, on top of the
        last inventory: a save in a directory of 10,000 other files then costs a few
        stats, not a listing. Full listings stay the truth: at start, every rescan
        interval, after lost events, and whenever there is no inventory to build on.
        """
        if not self._open(guard) or guard.dir_fd is None:
            return
        if not self._still_there(guard):
            return
        if names is None:
            self._check_retargeted(guard)
        if guard.lock_fd == UNLOCKED and not self._relock(guard):
            return
        spec = guard.spec
        try:
            if names is not None and guard.last_inventory is not None:
                inventory = refresh(
                    guard.dir_fd,
                    guard.last_inventory,
                    names,
                    spec.layout,
                    guard.cache,
                    progress=self._ping_if_due,
                )
            else:
                inventory = scan(
                    guard.dir_fd,
                    spec.path,
                    spec.layout,
                    cache=guard.cache,
                    progress=self._ping_if_due,
                )
            if guard.writers_unknown:
                self._learn_writers(guard, inventory)
            observed = guard.observations.stamp(inventory, time.monotonic(), guard.writes)
            known = self._metrics(guard)
            found = assess(observed, spec.policy, now=self._clock(), metrics=known)
            plan = found.plan
            guard.settle_at = Observations.next_settle(
                plan, spec.policy.settle_seconds, time.monotonic()
            )
            outcome = self._executor().apply(plan, guard.dir_fd)
            guard.last_inventory = without_deleted(inventory, outcome)
            if outcome.with_status(Status.SKIPPED):
                self.wake(guard.key)  # it changed under us: look again on the next pass
        except OSError as error:
            self._problem(guard, "scan_failed", error=f"{error.strerror}", errno=error.errno)
            return
        except Exception as error:  # noqa: BLE001 - one directory's trouble must not stop the rest
            self._problem(guard, "cycle_failed", error=repr(error), exc_info=True)
            return
        for event in ("scan_failed", "cycle_failed"):
            guard.problems.pop(event, None)
        self.cycles += 1
        previous, guard.last_plan = guard.last_plan, plan
        self._report(guard, outcome.results, plan, previous)
        if known is not None:
            # After the deletions: a state write of ours must never delay one.
            guard.memory = memory_after(found, outcome)
            self._report_rows(guard, found, known.path)
            self._save_memory(guard)

    def _metrics(self, guard: Guard) -> KnownMetrics | None:
        """The guard's metrics file and remembered values; trouble is logged once.

        A metrics file that cannot be read keeps its last good table, and values read
        before still rank checkpoints.
        """
        path = guard.spec.metrics_file
        if path is None:
            return None
        if guard.metrics is None or guard.metrics.path != path:
            guard.metrics = MetricsSource(path)
        if guard.memory is None:
            guard.memory = self._load_memory(guard)
        try:
            table = guard.metrics.table()
        except MetricsError as error:
            self._problem(
                guard,
                "metrics_unavailable",
                error=str(error),
                consequence="only values read before rank checkpoints until it can be read",
            )
            return KnownMetrics(path, None, guard.memory)
        guard.problems.pop("metrics_unavailable", None)
        return KnownMetrics(path, table, guard.memory)

    def _load_memory(self, guard: Guard) -> MetricMemory:
        """The values remembered in the state directory, read when guarding begins."""
        memory, problem = load_memory(self.settings.state_dir, self._real_path(guard))
        if problem is not None:
            self._problem(
                guard,
                "state_read_failed",
                error=problem,
                consequence="metric values read before this run are not used",
            )
        guard.saved = memory
        return memory

    def _save_memory(self, guard: Guard) -> None:
        """Write the memory when it changed; a failure is logged once and retried later."""
        state_dir = self.settings.state_dir
        if state_dir is None or guard.memory is None or guard.memory == guard.saved:
            return
        problem = save_memory(state_dir, self._real_path(guard), guard.memory)
        if problem is not None:
            self._problem(
                guard,
                "state_write_failed",
                error=problem,
                consequence="metric values read now are not remembered across restarts",
            )
            return
        guard.saved = guard.memory
        guard.problems.pop("state_write_failed", None)

    @staticmethod
    def _real_path(guard: Guard) -> str:
        return guard.real_path or os.path.realpath(guard.spec.path)

    def _report_rows(self, guard: Guard, found: Assessment, metrics_file: str) -> None:
        """Log once when the metrics file loses or changes rows of more checkpoints."""
        lost, changed = frozenset(found.rows_lost), frozenset(found.rows_changed)
        if lost - guard.rows_lost:
            self._log.warning(
                "metrics_rows_lost",
                path=guard.spec.path,
                metrics_file=metrics_file,
                checkpoints=sorted(lost),
                action="using the values read before",
            )
        if changed - guard.rows_changed:
            self._log.warning(
                "metrics_rows_changed",
                path=guard.spec.path,
                metrics_file=metrics_file,
                checkpoints=sorted(changed),
                action="using the values read first (the new rows are another run's?)",
            )
        guard.rows_lost, guard.rows_changed = lost, changed

    def _report(self, guard: Guard, results: Any, plan: Plan, previous: Plan | None) -> None:
        """Log each result once: a would-delete or a refusal repeated every cycle is noise."""
        current = set()
        for result in results:
            key = (
                result.status,
                result.decision.checkpoint.name,
                result.decision.checkpoint.identity,
            )
            current.add(key)
            if result.status is Status.DELETED or key not in guard.reported:
                log_result(plan, result, self._log)
        guard.reported = current
        was_short = previous is not None and previous.shortfall > 0
        if plan.shortfall and not was_short:
            log_shortfall(plan, self._log)
        elif was_short and not plan.shortfall:
            self._log.info("free_space_recovered", directory=plan.directory, free=plan.free_after)
        if len(plan.runs) > max(1, len(previous.runs) if previous is not None else 0):
            log_new_run(plan, self._log)
        suspicion = plan.warning("check_suspect")
        if suspicion is not None:
            self._problem(guard, "check_suspect", message=suspicion.text)
        else:
            guard.problems.pop("check_suspect", None)

    def _free_check(self, exclude: set[str]) -> None:
        """Other processes fill disks too: re-plan when free space fell below the target."""
        for key, guard in self._guards.items():
            if key in exclude:
                continue
            if guard.dir_fd is None or not self._still_there(guard):
                self._cycle(guard)  # retries opening, rate-limited
                continue
            last = guard.last_plan
            try:
                free = disk_state(guard.dir_fd).free
            except OSError as error:
                self._problem(guard, "free_check_failed", error=error.strerror)
                continue
            short = last is None or free + last.in_flight_credit < last.target_free
            # A shortfall nothing can fix is not re-planned every few seconds; the periodic
            # rescan still looks again.
            unchanged = last is not None and last.shortfall > 0 and free == last.disk.free
            if short and not unchanged:
                self._cycle(guard)

    # -- opening, verifying and closing directories -----------------------------------------

    def _open(self, guard: Guard, *, at_start: bool = False) -> bool:
        """Make sure the directory is open, locked and watched; False while it cannot be."""
        if guard.dir_fd is not None:
            return True
        now = time.monotonic()
        if not at_start and now < guard.next_retry:
            return False
        guard.next_retry = now + min(self.settings.free_check_interval, 5.0)
        path = guard.spec.path
        real = os.path.realpath(path)
        if guard.real_path is not None and real != guard.real_path:
            self._problem(
                guard,
                "directory_moved",
                resolves_to=real,
                expected=guard.real_path,
                action="not following; send SIGHUP to accept the new location",
            )
            return False
        try:
            fd = os.open(real, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            self._problem(guard, "directory_missing", action="waiting for it to appear")
            return False
        except OSError as error:
            self._problem(guard, "directory_unavailable", error=error.strerror, errno=error.errno)
            return False
        try:
            lock_fd = self._lock(guard, fd, at_start=at_start)
        except BaseException:
            os.close(fd)
            raise
        if lock_fd is None:
            os.close(fd)
            return False
        st = os.fstat(fd)
        guard.dir_fd, guard.dir_id, guard.lock_fd = fd, (st.st_dev, st.st_ino), lock_fd
        guard.real_path = real
        guard.problems.clear()
        if _read_only(fd):
            # The lock works there too: say so now, not at the first deletion that fails.
            self._problem(
                guard,
                "directory_read_only",
                consequence="deletions there fail",
                hint="under systemd, is the directory in ReadWritePaths=?",
            )
        self._watch(guard, real)
        return True

    def _lock(self, guard: Guard, fd: int, *, at_start: bool) -> int | None:
        """The lock's fd, UNLOCKED, or None while it cannot be had (retried later)."""
        try:
            return lock.acquire(fd)
        except lock.LockHeld as held:
            if at_start and not self._wait_lock:
                raise StartupError(
                    f"--dir {guard.spec.path}: already guarded by {held.holder} "
                    "(use --wait-lock to wait)"
                ) from None
            self._problem(guard, "lock_held", holder=held.holder, action="waiting for it")
            return None
        except lock.UntrustedHolder as held:
            # Anyone who can read DIR can flock it: obeying them would let them stop the guard.
            self._problem(
                guard,
                "lock_held_by_untrusted_process",
                holder=held.holder,
                action="guarding without the lock",
            )
            return UNLOCKED
        except lock.LockUnavailable as error:
            if error.no_space:
                self._problem(
                    guard,
                    "lock_deferred",
                    error=str(error),
                    action="guarding unlocked until there is room for the lock file",
                )
                return UNLOCKED
            self._problem(guard, "lock_unavailable", error=str(error))
            return None

    def _relock(self, guard: Guard) -> bool:
        """Try again for the lock guarding went on without; False if another guard took it."""
        assert guard.dir_fd is not None
        try:
            guard.lock_fd = lock.acquire(guard.dir_fd)
        except lock.LockHeld as held:
            self._log.warning(
                "lock_taken",
                path=guard.spec.path,
                holder=held.holder,
                action="leaving the directory to it",
            )
            self._close(guard)
            return False
        except (lock.UntrustedHolder, lock.LockUnavailable):
            pass  # still held by no guard, or still no room: carry on unlocked
        return True

    def _watch(self, guard: Guard, real: str) -> None:
        reason = "--poll" if self.settings.poll else polling_reason(real)
        kind = "poll" if reason else "inotify"
        observer = self._observer(kind)
        layout = guard.spec.layout
        writes = None if reason else guard.writes
        handler = WakeHandler(guard.key, real, layout, self.wake, writes)
        try:
            # A directory checkpoint is complete when a file inside it appears: watch inside.
            guard.watch = observer.schedule(
                handler,
                real,
                recursive=layout.unit is Unit.DIRECTORY,
                event_filter=WATCHED_EVENTS if reason else WRITE_EVENTS,
            )
            guard.observer = observer
        except OSError as error:
            self._log.warning(
                "watch_failed",
                path=guard.spec.path,
                error=error.strerror,
                action="relying on periodic rescans",
            )
            return
        self._log.info(
            "watching", path=guard.spec.path, mode=kind, **({"reason": reason} if reason else {})
        )

    def _observer(self, kind: str) -> BaseObserver:
        if kind not in self._observers:
            observer: BaseObserver = PollingObserver(timeout=1.0) if kind == "poll" else Observer()
            observer.daemon = True
            observer.start()
            self._observers[kind] = observer
        return self._observers[kind]

    def _still_there(self, guard: Guard) -> bool:
        """Whether the path still names the directory we hold; closes the guard if not."""
        try:
            st = os.stat(guard.real_path or guard.spec.path, follow_symlinks=False)
            same = (st.st_dev, st.st_ino) == guard.dir_id
        except OSError:
            same = False
        if not same:
            self._log.warning("directory_replaced", path=guard.spec.path, action="waiting for it")
            self._close(guard)
        return same

    def _check_retargeted(self, guard: Guard) -> None:
        """Say (once) that the path now leads elsewhere: a symlinked --dir was retargeted.

        The directory held stays guarded; following a path that changed under us is for
        a reload to accept, since whoever swapped a parent could point it anywhere.
        """
        now_leads_to = os.path.realpath(guard.spec.path)
        if now_leads_to != guard.real_path:
            self._problem(
                guard,
                "directory_retargeted",
                resolves_to=now_leads_to,
                guarding=guard.real_path,
                action="still guarding the old directory; send SIGHUP to follow the path",
            )
        else:
            guard.problems.pop("directory_retargeted", None)

    def _close(self, guard: Guard) -> None:
        if guard.watch is not None and guard.observer is not None:
            with contextlib.suppress(KeyError, OSError):  # the watch died with its directory
                guard.observer.unschedule(guard.watch)
        guard.watch = guard.observer = None
        if guard.lock_fd is not None and guard.lock_fd != UNLOCKED:
            lock.release(guard.lock_fd)
        guard.lock_fd = None
        if guard.dir_fd is not None:
            os.close(guard.dir_fd)
            guard.dir_fd = None
        guard.last_plan = None
        guard.last_inventory = None
        guard.reported = set()
        guard.writers_unknown = True  # unwatched from now until reopened

    def _problem(self, guard: Guard, event: str, **fields: Any) -> None:
        """Log a directory problem once, not on every retry."""
        key = repr(sorted(fields.items()))
        if guard.problems.get(event) != key:
            guard.problems[event] = key
            self._log.warning(event, path=guard.spec.path, **fields)

    # -- reload, status, shutdown -------------------------------------------------------------

    def _do_reload(self) -> None:
        if self._load_settings is None:
            return
        self._notifier.reloading()
        try:
            new = self._load_settings()
        except ConfigError as error:
            self._log.error(
                "reload_rejected", problems=error.problems, action="keeping the old config"
            )
            self._notifier.ready(self._status_line())
            return
        old_guards = self._guards
        self._guards = {}
        for spec in new.guards:
            guard = old_guards.pop(spec.path, None) or Guard(spec)
            if spec.layout != guard.spec.layout:
                # What was learnt about entries under the old layout means nothing now.
                guard.cache = IntegrityCache()
                guard.last_inventory = None
            moved = os.path.realpath(spec.path) != guard.real_path
            if spec.layout != guard.spec.layout or new.poll != self.settings.poll or moved:
                # Its watch filters on the old layout, or the path leads elsewhere now (a
                # retargeted symlink): a reload is how the new place is accepted.
                self._close(guard)
            guard.spec = spec
            guard.real_path = None if guard.dir_fd is None else guard.real_path
            guard.problems.clear()
            guard.next_retry = 0.0
            guard.saved = None  # the state directory may have changed: write it anew
            self._guards[spec.path] = guard
        for guard in old_guards.values():
            self._close(guard)
        self.settings = new
        self._log.info("reloaded", directories=list(self._guards))
        self._notifier.ready(self._status_line())

    def _status_line(self) -> str:
        plans = [g.last_plan for g in self._guards.values() if g.last_plan is not None]
        kept = sum(len(p.kept) for p in plans)
        waiting = sum(1 for g in self._guards.values() if g.dir_fd is None)
        free = ", ".join(
            f"{os.path.basename(p.directory) or p.directory} {format_size(p.free_after)} free"
            for p in plans
        )
        mode = "dry run: " if self._dry_run else ""
        text = f"{mode}guarding {len(self._guards)} directories, {kept} checkpoints kept"
        if waiting:
            text += f", {waiting} waiting"
        return f"{text}; {free}" if free else text

    def _update_status(self) -> None:
        status = self._status_line()
        if status != self._status:
            self._status = status
            self._notifier.status(status)

    def _shutdown(self) -> None:
        self._notifier.stopping()
        for observer in self._observers.values():
            observer.stop()
        for observer in self._observers.values():
            observer.join(timeout=10)  # a watch stuck on a dead mount must not keep us
        self._observers.clear()
        for guard in self._guards.values():
            self._close(guard)
        self._notifier.close()
        self._log.info("stopped")


def _read_only(fd: int) -> bool:
    try:
        return bool(os.fstatvfs(fd).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def run_daemon(
    settings: Settings,
    *,
    load_settings: Callable[[], Settings] | None = None,
    dry_run: bool = False,
    wait_lock: bool = False,
) -> int:
    """Run the daemon in the main thread with signal handlers; the `ckptguard run` command."""
    from ckptguard.face.logs import configure

    configure(settings.log_format)
    daemon = Daemon(settings, load_settings=load_settings, dry_run=dry_run, wait_lock=wait_lock)

    def on_stop(signum: int, frame: FrameType | None) -> None:
        daemon.request_stop()

    def on_reload(signum: int, frame: FrameType | None) -> None:
        daemon.request_reload()

    signal.signal(signal.SIGTERM, on_stop)
    signal.signal(signal.SIGINT, on_stop)
    signal.signal(signal.SIGHUP, on_reload)
    try:
        return daemon.run()
    except StartupError as error:
        print(f"ckptguard: error: {error}", file=sys.stderr)
        return EXIT_USAGE
