"""What the daemon tells beyond its log: status files, history, metrics and warnings.

Everything here happens after a cycle's deletions, and nothing here may delay or stop
one: a write that fails (a full disk, a read-only state directory) is counted in
`ckptguard_errors_total`, logged once until it works again, and tried again next time.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from ckptguard import __version__
from ckptguard.core.decisions import Notice, Status
from ckptguard.core.history import deletion_reason, warning_record
from ckptguard.core.measures import Counters, families
from ckptguard.core.units import format_age
from ckptguard.engine.cycle import Cycle
from ckptguard.service import history
from ckptguard.service.events import Words
from ckptguard.service.guard import Guard
from ckptguard.service.hooks import WarningHook
from ckptguard.service.locking import StartupError
from ckptguard.service.outlook import Limits, Outlook
from ckptguard.service.remote_guard import RemoteGuard
from ckptguard.service.settings import GuardSpec, Settings
from ckptguard.service.state import place
from ckptguard.service.status_files import StatusFiles, refresh_period

# Free space is sampled between cycles at most this often (seconds).
SAMPLE_EVERY = 1.0


class Telemetry:
    def __init__(
        self,
        settings: Settings,
        *,
        log: Any,
        words: Callable[[GuardSpec], Words],
        dry_run: bool,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self._log = log
        self._words = words
        self._dry_run = dry_run
        self._clock = clock
        self.started = clock()
        self.outlooks: dict[str, Outlook] = {}
        self.counters = Counters()
        self._lock = threading.Lock()  # the hook's thread counts too
        # The writes of ours now failing, each logged when it began to fail.
        self._failing: dict[tuple[str, str], str] = {}
        self._exporter: Any = None
        self.hook: WarningHook | None = None
        self.files = StatusFiles(
            settings.runtime_dir,
            every=refresh_period(settings.free_check_interval, settings.rescan_interval),
            dry_run=dry_run,
            started=self.started,
        )

    @property
    def limits(self) -> Limits:
        return Limits(self.settings.warn_before, self.settings.stale_after)

    def start(self) -> None:
        """Listen for scrapes and start the hook's worker; StartupError if the address
        cannot be had."""
        settings = self.settings
        if settings.metrics_textfile is not None or settings.metrics_listen is not None:
            from ckptguard.service.metrics import Exporter  # prometheus_client, only now

            self._exporter = Exporter(
                textfile=settings.metrics_textfile, listen=settings.metrics_listen
            )
            try:
                self._exporter.start()
            except OSError as error:
                host, port = settings.metrics_listen or ("", 0)
                raise StartupError(
                    f"--metrics-listen {host}:{port}: {error.strerror or error}"
                ) from None
            if settings.metrics_listen is not None:
                host = settings.metrics_listen[0]
                self._log.info("metrics_listening", host=host, port=self._exporter.port)
        if settings.on_warning is not None:
            self.hook = WarningHook(
                settings.on_warning,
                timeout=settings.on_warning_timeout,
                log=self._log,
                counted=lambda kind: self.count("", kind),
            )

    @property
    def port(self) -> int | None:
        """The port metrics are served on (the one chosen when asked for port 0)."""
        return None if self._exporter is None else self._exporter.port

    def count(self, key: str, kind: str, by: int = 1) -> None:
        with self._lock:
            self.counters.errors[(key, kind)] = self.counters.errors.get((key, kind), 0) + by

    # -- what the guards report --------------------------------------------------------

    def cycled(self, spec: GuardSpec, done: Cycle) -> None:
        """A guard completed a cycle (its deletions are done): count, and keep history."""
        outlook = self.outlooks.setdefault(spec.path, Outlook())
        seen = outlook.rhythm.seen
        records = outlook.cycled(done, wall=self._clock(), monotonic=time.monotonic())
        self._count_cycle(spec.path, done, outlook.rhythm.seen - seen)
        self._keep(spec.path, records)

    def _count_cycle(self, key: str, done: Cycle, saves: int) -> None:
        counters = self.counters
        with self._lock:
            counters.saves[key] = counters.saves.get(key, 0) + saves
            counters.freed.setdefault(key, 0)
            for result in done.outcome.results:
                if result.status is Status.DELETED:
                    reason = (key, deletion_reason(result.decision))
                    counters.deletions[reason] = counters.deletions.get(reason, 0) + 1
                    counters.freed[key] += result.decision.checkpoint.reclaimable
                elif result.status is Status.FAILED:
                    failed = (key, "deletion_failed")
                    counters.errors[failed] = counters.errors.get(failed, 0) + 1

    def _keep(self, key: str, records: list[dict[str, Any]]) -> None:
        state_dir = self.settings.state_dir
        if not records or state_dir is None:
            return
        problem = history.append(state_dir, place(key), records)
        self._outcome(key, "history_write", problem, consequence="not in the history")

    def _outcome(
        self, key: str, kind: str, problem: str | None, *, consequence: str, path: str = ""
    ) -> None:
        """Count and log (once) a write of ours that failed; forget it once one works."""
        if problem is None:
            self._failing.pop((key, kind), None)
            return
        self.count(key, kind)
        if (key, kind) not in self._failing:
            self._failing[(key, kind)] = problem
            self._log.warning(
                f"{kind}_failed", path=path or key, error=problem, consequence=consequence
            )

    # -- once per pass of the loop -----------------------------------------------------

    def after_pass(self, guards: Mapping[str, Guard | RemoteGuard]) -> None:
        """Sample free space, raise or clear warnings, then write status and metrics."""
        wall, monotonic = self._clock(), time.monotonic()
        for key, guard in guards.items():
            outlook = self.outlooks.setdefault(key, Outlook())
            self._sample(guard, outlook, monotonic)
            raised, cleared = outlook.warnings(self.limits, wall)
            for warning in raised:
                self._raise(guard.spec, warning, wall)
            for warning in cleared:
                self._log.info("warning_cleared", directory=key, code=warning.code)
                self._keep(key, [warning_record(key, warning, wall, cleared=True)])
        self.publish(guards, wall)

    def _sample(self, guard: Guard | RemoteGuard, outlook: Outlook, monotonic: float) -> None:
        if guard.store is None or outlook.plan is None or isinstance(guard, RemoteGuard):
            return  # an object store has no free space to sample
        if outlook.last_sample is not None and monotonic - outlook.last_sample < SAMPLE_EVERY:
            return
        try:
            free = guard.store.disk().free
        except OSError:
            return  # the guard's own free-space check says so
        outlook.sampled(free, monotonic=monotonic)

    def _raise(self, spec: GuardSpec, warning: Notice, wall: float) -> None:
        message = self._words(spec).notice(warning)
        facts = dict(warning.params)
        self._log.warning(warning.code, directory=spec.path, message=message, **facts)
        self._keep(spec.path, [{**warning_record(spec.path, warning, wall), "message": message}])
        if self.hook is not None:
            self.hook.offer(
                {
                    "warning": warning.code,
                    "dir": spec.path,
                    "time": wall,
                    "host": socket.gethostname(),
                    "message": message,
                    **facts,
                }
            )

    def publish(self, guards: Mapping[str, Guard | RemoteGuard], wall: float) -> None:
        """Write the status file of each directory that changed (and all of them once
        they are due again), then the metrics (the endpoint serves them from memory, so a
        failed textfile write is tried again at the next change)."""
        documents, changed = [], False
        self.files.begin()
        for key, guard in guards.items():
            outlook = self.outlooks.setdefault(key, Outlook())
            document = outlook.document(self.limits, wall)
            dirty = outlook.dirty and document is not None  # a look, a sample or a warning
            if dirty:
                outlook.dirty, changed = False, True
            if document is not None:
                documents.append(document)
            self._status_written(key, *self.files.update(key, guard, document, wall, changed=dirty))
        if self._exporter is not None and changed:
            with self._lock:
                found = families(
                    documents, self.counters, version=__version__, dry_run=self._dry_run
                )
            problem = self._exporter.publish(found)
            self._outcome(
                "",
                "metrics_write",
                problem,
                consequence="the metrics textfile is stale",
                path=self.settings.metrics_textfile or "",
            )

    def refresh(self, guards: Mapping[str, Guard | RemoteGuard]) -> None:
        """During long work: write the status files again if they are due (and only then:
        this is asked between deletions)."""
        if not self.files.begin():
            return
        wall = self._clock()
        for key, guard in guards.items():
            outlook = self.outlooks.setdefault(key, Outlook())
            document = outlook.document(self.limits, wall)
            self._status_written(key, *self.files.update(key, guard, document, wall, changed=False))

    def _status_written(self, key: str, tried: bool, problem: str | None) -> None:
        # A file not due is no write that worked: a failure stays logged once.
        if tried:
            self._outcome(key, "status_write", problem, consequence="`ckptguard status` is stale")

    def words(self) -> str:
        """The raised warnings, for the STATUS= line."""
        parts = []
        for key, outlook in self.outlooks.items():
            name = os.path.basename(key) or key
            for code, warning in outlook.raised.items():
                if code == "time_to_full":
                    parts.append(
                        f"{name} fails its free-space target in ~{format_age(warning['seconds'])}"
                    )
                else:
                    parts.append(
                        f"{name} has no new checkpoint for {format_age(warning['quiet_for'])}"
                    )
        return "; ".join(parts)

    # -- reload and stop -------------------------------------------------------------

    def reloaded(self, settings: Settings, kept: set[str]) -> None:
        """New settings; what is known of directories no longer guarded is dropped."""
        for key in set(self.outlooks) - kept:
            del self.outlooks[key]
            self.files.forget(key)
        self.settings = settings
        self.files.every = refresh_period(settings.free_check_interval, settings.rescan_interval)

    def close(self) -> None:
        self.files.close()
        if self.hook is not None:
            self.hook.close()
        if self._exporter is not None:
            self._exporter.close()
