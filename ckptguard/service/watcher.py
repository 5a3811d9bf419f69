"""Filesystem events as wake-up hints. Nothing here scans, plans or deletes.

Each guarded directory gets a watchdog handler that calls `wake(key)` for events on
names that can matter: checkpoints (and, for directory checkpoints, anything inside
them), their pin sidecars, "latest" pointer files, and the directory itself. With
inotify, writes to a checkpoint are recorded (`saves.Writes`) until the file is closed,
so a save in progress is known as such through whatever path its writer uses; only the
first write of a save wakes the loop; a changed modification time wakes it too (it decides
the write order). Our own read-only opens raise no event we ask for.
Lost events (inotify queue overflow, which watchdog only logs) ask for a full rescan.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING

import structlog
from watchdog.events import (
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
    FileAttribEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer
from watchdog.observers.polling import PollingObserver

from ckptguard.core.layouts import POINTER_FILES, Layout
from ckptguard.core.model import Unit
from ckptguard.core.naming import PIN_SUFFIX
from ckptguard.service.saves import Writes
from ckptguard.store.local.mounts import polling_reason

if TYPE_CHECKING:
    from watchdog.observers.api import BaseObserver, ObservedWatch

    from ckptguard.service.context import Context

WATCHED_EVENTS = [
    DirCreatedEvent,
    FileCreatedEvent,
    FileClosedEvent,
    FileMovedEvent,
    FileDeletedEvent,
    DirDeletedEvent,
    DirMovedEvent,
]
# With inotify, writes too: a modification not yet followed by a close is a save in
# progress. Polling sees no closes, so it does without. And attribute changes: a
# modification time set after the save (`cp -p`, `touch`) changes the write order.
WRITE_EVENTS = [*WATCHED_EVENTS, FileModifiedEvent, FileAttribEvent]
WATCHDOG_ROOT_LOGGER = "watchdog"
WATCHDOG_LOGGER = "watchdog.observers.inotify_c"
REWATCH_WARNING = r"Callback with id .* already exists for watch"


class WakeHandler(FileSystemEventHandler):
    """Wakes the daemon for `key` when an event concerns a checkpoint or the directory.

    `wake(key, name)` gets the name of the directory entry concerned (a checkpoint's, a
    group member's, a pointer file's), or None when only a full look will do (the
    directory itself was deleted or moved).
    """

    def __init__(
        self,
        key: str,
        watched_path: str,
        layout: Layout,
        wake: Callable[[str, str | None], None],
        writes: Writes | None = None,
    ) -> None:
        self._key = key
        self._watched = os.fsdecode(watched_path)
        self._layout = layout
        self._wake = wake
        self._writes = writes

    def on_any_event(self, event: FileSystemEvent) -> None:
        if isinstance(event, FileModifiedEvent):
            self._on_write(os.fsdecode(event.src_path))
            return
        # An attribute change (times, mode, links) asks for a look, but ends no write.
        ends_write = not isinstance(event, FileAttribEvent)
        for index, raw in enumerate((event.src_path, getattr(event, "dest_path", ""))):
            if not raw:
                continue
            path = os.fsdecode(raw)
            if path == self._watched:
                self._wake(self._key, None)
                continue
            relative = os.path.relpath(path, self._watched)
            if relative.startswith(".."):
                continue
            # Inside a directory checkpoint, the event concerns that checkpoint.
            entry = relative.split(os.sep, 1)[0]
            name = entry.removesuffix(PIN_SUFFIX)  # a pin concerns its checkpoint
            key = self._layout.key_of(name)
            if key is not None and self._writes is not None and index == 0 and ends_write:
                # Closed after writing, deleted or moved away: no longer written here.
                self._writes.closed(key, relative)
            if (
                name in POINTER_FILES
                or key is not None
                or self._layout.template.step_of(name) is not None  # a group's pin
            ):
                self._wake(self._key, name)

    def _on_write(self, path: str) -> None:
        if self._writes is None:
            return
        relative = os.path.relpath(path, self._watched)
        entry = relative.split(os.sep, 1)[0]
        key = self._layout.key_of(entry)
        if key is not None and self._writes.written(key, relative):
            self._wake(self._key, entry)


def started_observer(kind: str) -> BaseObserver:
    """A running watchdog observer of a kind ("inotify" or "poll"), shared by the guards."""
    observer: BaseObserver = PollingObserver(timeout=1.0) if kind == "poll" else Observer()
    observer.daemon = True  # its thread never keeps the process from exiting
    observer.start()
    return observer


def watch_directory(
    context: Context, key: str, real: str, layout: Layout, writes: Writes
) -> tuple[ObservedWatch, BaseObserver] | None:
    """Watch directory `real` (inotify, or polling where inotify sees nothing or `--poll`
    says so) for the guard of `key`; None, said once, when it cannot be watched."""
    reason = "--poll" if context.settings.poll else polling_reason(real)
    kind = "poll" if reason else "inotify"
    observer = context.observer(kind)
    # Polling sees no closes: it cannot tell a save in progress by its writes.
    handler = WakeHandler(key, real, layout, context.wake, None if reason else writes)
    try:
        # A directory checkpoint is complete when a file inside it appears: watch inside.
        watch = observer.schedule(
            handler,
            real,
            recursive=layout.unit is Unit.DIRECTORY,
            event_filter=WATCHED_EVENTS if reason else WRITE_EVENTS,
        )
    except OSError as error:
        context.log.warning(
            "watch_failed", path=key, error=error.strerror, action="relying on periodic rescans"
        )
        return None
    extra = {"reason": reason} if reason else {}
    context.log.info("watching", path=key, mode=kind, **extra)
    return watch, observer


class WatchdogLogBridge(logging.Handler):
    """Takes over watchdog's own log records.

    They become structlog events (so a JSON log stays JSON), and the one that reports an
    inotify queue overflow, which watchdog only logs, calls `on_overflow`.
    """

    def __init__(self, on_overflow: Callable[[], None]) -> None:
        super().__init__(level=logging.WARNING)
        self._on_overflow = on_overflow

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if "overflow" in message.lower():
            self._on_overflow()
            return
        structlog.get_logger("ckptguard").warning("watchdog", message=message, logger=record.name)


def install_overflow_detector(on_overflow: Callable[[], None]) -> Callable[[], None]:
    """Attach the bridge to watchdog's loggers; returns the function that removes it.

    Also silences a warning watchdog's recursive inotify watch raises from its own thread
    when a directory is created and renamed at once (Orbax's temporary directories): it
    re-registers the same callback, which is harmless, but a warning turned into an
    error there would end the thread and with it every event.
    """
    warnings.filterwarnings("ignore", message=REWATCH_WARNING, category=RuntimeWarning)
    logger = logging.getLogger(WATCHDOG_ROOT_LOGGER)
    bridge = WatchdogLogBridge(on_overflow)
    logger.addHandler(bridge)
    return lambda: logger.removeHandler(bridge)
