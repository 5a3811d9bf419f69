"""The long-running guard: start, loop, stop, over one `Guard` per directory.

One thread runs the loop; watchdog's threads and signal handlers only ask (`Requests`),
which takes no lock the loop could hold, so a signal can never deadlock it. One wait on
a self-pipe is both the sleep and the switch. Events are hints: a full look runs at
start, every `rescan_interval`, and whenever events may have been lost; free space is
read again every `free_check_interval`; a save in progress is looked at again when its
settle window ends.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from watchdog.observers.api import BaseObserver

from ckptguard import __version__
from ckptguard.core.planner import SharedBudget
from ckptguard.engine.executors import Deleter, Executor
from ckptguard.service.context import Context
from ckptguard.service.events import CODES, Words, get_logger
from ckptguard.service.guard import Guard
from ckptguard.service.notify import Notifier
from ckptguard.service.reload import carried_over
from ckptguard.service.remote_guard import RemoteGuard
from ckptguard.service.reports import ready_facts, warn_if_blind_to_open_files
from ckptguard.service.requests import Asked, Requests
from ckptguard.service.settings import GuardSpec, Settings, SettingsError, shared_budget
from ckptguard.service.status_line import status_line
from ckptguard.service.telemetry import Telemetry
from ckptguard.service.watcher import install_overflow_detector, started_observer
from ckptguard.store.remote.location import is_remote

EXIT_OK = 0


class Daemon:
    """Guards every directory of `settings` until asked to stop.

    `executor` decides what a deletion is (`AuditExecutor` for a dry run); `words` names
    each directory's reasons as its options were set; `load_settings` reads the
    configuration again on reload.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        executor: Executor | None = None,
        words: Callable[[GuardSpec], Words] = lambda spec: CODES,
        load_settings: Callable[[], Settings] | None = None,
        wait_lock: bool = False,
        notifier: Notifier | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.executor = executor if executor is not None else Deleter()
        self._words = words
        self._load_settings = load_settings
        self._notifier = notifier if notifier is not None else Notifier()
        self._log = get_logger()
        self.requests = Requests()
        self.guards: dict[str, Guard | RemoteGuard] = {}
        self.observers: dict[str, BaseObserver] = {}
        self.telemetry = Telemetry(
            settings, log=self._log, words=words, dry_run=not self.executor.deletes, clock=clock
        )
        self.context = self._new_context(clock=clock, wait_lock=wait_lock)
        self._status = ""
        self._next_ping = time.monotonic() if self._notifier.watchdog_interval else float("inf")
        self.cycles = 0  # completed directory cycles
        self.passes = 0  # turns of the loop
        self.ready = threading.Event()  # set once the first look at every directory is done

    def _new_context(self, *, clock: Callable[[], float], wait_lock: bool) -> Context:
        """What every guard shares with this daemon: settings, log, executor and clock, and
        the daemon's own answers (wake-ups, watchers, watchdog pings, stop requests)."""
        return Context(
            settings=self.settings,
            log=self._log,
            executor=self.executor,
            clock=clock,
            wake=self.wake,
            observer=self._observer,
            progress=self._progress,
            should_stop=self._between_deletions,
            wait_lock=wait_lock,
            shared=self._shared,
            observed=self.telemetry.cycled,
        )

    # -- asked from other threads and signal handlers -------------------------------------

    def wake(self, key: str, name: str | None = None) -> None:
        """A watcher saw entry `name` (None: anything) change in directory `key`."""
        self.requests.changed(key, name)

    def request_rescan(self) -> None:
        self.requests.ask_rescan()

    def request_reload(self) -> None:
        """Safe in a signal handler: a flag and a pipe write, no lock."""
        self.requests.ask_reload()

    def request_stop(self) -> None:
        """Safe in a signal handler: a flag and a pipe write, no lock."""
        self.requests.ask_stop()

    def on_events_lost(self) -> None:
        self._log.warning("events_lost", action="full rescan")
        for guard in list(self.guards.values()):
            guard.closes_lost = True  # closes and writes may be among the lost
        self.request_rescan()

    # -- the lifecycle ----------------------------------------------------------------------

    def run(self) -> int:
        """Guard until asked to stop; returns the exit code."""
        remove_detector = install_overflow_detector(self.on_events_lost)
        try:
            self.startup()
            self.main_loop()
        finally:
            self.shutdown()
            remove_detector()
            self.requests.close()
        return EXIT_OK

    def startup(self) -> None:
        """Open, lock and watch every directory, look at each once, then say READY=1."""
        self._log.info(
            "started",
            version=__version__,
            directories=[g.path for g in self.settings.guards],
            dry_run=not self.executor.deletes,
        )
        self.telemetry.start()
        warn_if_blind_to_open_files(self._log)
        for spec in self.settings.guards:
            self.guards[spec.path] = self._new_guard(spec)
        for guard in self.guards.values():
            guard.open(self.context, at_start=True)
        self._cycle_all()
        self.telemetry.after_pass(self.guards)
        facts = [ready_facts(g.spec.path, g.last_plan, g.is_open) for g in self.guards.values()]
        self._log.info("ready", directories=facts)
        self._notifier.ready(self._status_line())
        self.ready.set()

    def main_loop(self) -> None:
        now = time.monotonic()
        next_rescan = now + self.settings.rescan_interval
        next_free_check = now + self.settings.free_check_interval
        while not self.requests.stopping:
            deadline = min(next_rescan, next_free_check, self._next_ping, self._next_settle())
            self.requests.wait(deadline - time.monotonic())
            if self.requests.stopping:
                break
            asked = self.requests.take()
            if asked.reload:
                self._reload()
            now = time.monotonic()
            full = asked.reload or asked.rescan or now >= next_rescan
            if now >= next_rescan:
                next_rescan = now + self.settings.rescan_interval
            self._serve(asked, full=full, now=now)
            if now >= next_free_check:
                next_free_check = now + self.settings.free_check_interval
                self._free_check(exclude=set(self.guards) if full else set(asked.changed))
            self._ping_if_due()
            self.telemetry.after_pass(self.guards)
            self._update_status()
            self.passes += 1

    def shutdown(self) -> None:
        self._notifier.stopping()
        for observer in self.observers.values():
            observer.stop()
        for observer in self.observers.values():
            observer.join(timeout=10)  # a watch stuck on a dead mount must not keep us
        self.observers.clear()
        for guard in self.guards.values():
            guard.close()
        self.telemetry.close()
        self._notifier.close()
        self._log.info("stopped")

    # -- one turn of the loop -----------------------------------------------------------------

    def _serve(self, asked: Asked, *, full: bool, now: float) -> None:
        changed = asked.changed
        for key, guard in self.guards.items():
            if guard.settle_at is not None and now >= guard.settle_at:
                guard.settle_at = None
                changed.setdefault(key, set())  # look at the known checkpoints again
        if full:
            self._cycle_all()
            return
        for key, names in changed.items():
            named = self.guards.get(key)
            if named is not None:
                self._cycle(named, names)

    def _new_guard(self, spec: GuardSpec) -> Guard | RemoteGuard:
        """A directory's guard, or an object-store prefix's (polled; see remote_guard)."""
        kind = RemoteGuard if is_remote(spec.path) else Guard
        return kind(spec, self._words(spec), self._log)

    def _cycle(self, guard: Guard | RemoteGuard, changed: set[str] | None = None) -> None:
        if guard.cycle(self.context, changed):
            self.cycles += 1

    def _cycle_all(self) -> None:
        for guard in self.guards.values():
            self._cycle(guard)
            self._ping_if_due()
        self._update_status()

    def _free_check(self, exclude: set[str]) -> None:
        for key, guard in self.guards.items():
            if key not in exclude and guard.short_of_space(self.context):
                self._cycle(guard)

    def _next_settle(self) -> float:
        # A remote guard's settle_at is its next poll (or lease renewal).
        times = [g.settle_at for g in self.guards.values() if g.settle_at is not None]
        return min(times, default=float("inf"))

    def _between_deletions(self) -> bool:
        """Asked before each deletion: a long batch keeps the watchdog fed and stops on request."""
        self._progress()
        return self.requests.stopping

    def _progress(self) -> None:
        """During long work: feed the watchdog, and keep the status files fresh."""
        self._ping_if_due()
        self.telemetry.refresh(self.guards)

    def _ping_if_due(self) -> None:
        """Keep systemd's watchdog fed during long work, not only between loop turns."""
        interval = self._notifier.watchdog_interval
        if interval and time.monotonic() >= self._next_ping:
            self._notifier.watchdog()
            self._next_ping = time.monotonic() + interval

    def _observer(self, kind: str) -> BaseObserver:
        if kind not in self.observers:
            self.observers[kind] = started_observer(kind)
        return self.observers[kind]

    # -- reload and status ------------------------------------------------------------------

    def _reload(self) -> None:
        if self._load_settings is None:
            return
        self._notifier.reloading()
        try:
            new = self._load_settings()
        except SettingsError as error:
            self._log.error(
                "reload_rejected", problems=error.problems, action="keeping the old config"
            )
            self._notifier.ready(self._status_line())
            return
        old = self.guards
        self.guards = {
            spec.path: self._carry_over(old.pop(spec.path, None), spec, new) for spec in new.guards
        }
        for guard in old.values():
            guard.close()
        self.telemetry.reloaded(new, set(self.guards))
        self.settings = self.context.settings = new
        self._log.info("reloaded", directories=list(self.guards))
        self._notifier.ready(self._status_line())

    def _carry_over(
        self, guard: Guard | RemoteGuard | None, spec: GuardSpec, new: Settings
    ) -> Guard | RemoteGuard:
        """The guard of `spec` after a reload: kept where nothing it depends on changed."""
        kept = carried_over(guard, spec, self._words(spec), repoll=new.poll != self.settings.poll)
        return kept if kept is not None else self._new_guard(spec)

    def _shared(self, spec: GuardSpec) -> SharedBudget | None:
        return shared_budget(spec, [(g.spec, g.last_inventory) for g in self.guards.values()])

    def _status_line(self) -> str:
        text = status_line(self.guards.values(), deletes=self.executor.deletes)
        warned = self.telemetry.words()
        return f"{text}; warning: {warned}" if warned else text

    def _update_status(self) -> None:
        status = self._status_line()
        if status != self._status:
            self._status = status
            self._notifier.status(status)
