"""The daemon's side of the status files: when each is written, and what it holds beyond
the directory's status (the guard's own facts and its part in a lease election).

A directory's file is written when something changed (a look, a sample, a warning, the
lease), and at least every `every` seconds while the loop turns, even when idle: its
`updated` time is what `ckptguard status --alive` judges a guard alive by. A file is
written before the guard's first look too (`status` null), so a guard that cannot reach
its directory or bucket yet still shows that it runs.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any, Protocol

from ckptguard import __version__
from ckptguard.service.election import Election
from ckptguard.service.state import place
from ckptguard.service.status import remove_status, write_status

# The least time between two writes of an unchanged status file (seconds), however
# often the loop turns: a loop period of 0.1 s must not mean ten writes a second.
LEAST_REFRESH = 1.0


class Guarded(Protocol):
    """What a status file needs of a guard (a directory's or an object store's)."""

    @property
    def real_path(self) -> str | None: ...

    @property
    def election(self) -> Election | None: ...


def refresh_period(free_check_interval: float, rescan_interval: float) -> float:
    """How often an unchanged status is written again: every turn of an idle loop (it
    turns at least every free-space check and every rescan), at most once a second."""
    return max(LEAST_REFRESH, min(free_check_interval, rescan_interval))


class StatusFiles:
    def __init__(
        self,
        runtime_dir: str | None,
        *,
        every: float,
        dry_run: bool,
        started: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.runtime_dir = runtime_dir
        self.every = every
        self._dry_run = dry_run
        self._started = started
        self._clock = clock
        self._next = clock()  # when (monotonic) every file is due again
        self._due = False
        self._leases: dict[str, dict[str, Any] | None] = {}
        self.written: dict[str, str] = {}  # guarded path -> real path of its status file

    def begin(self) -> bool:
        """A round of writes starts: whether it is time to write the unchanged ones too."""
        now = self._clock()
        self._due = self.runtime_dir is not None and now >= self._next
        if self._due:
            self._next = now + self.every
        return self._due

    def update(
        self,
        key: str,
        guard: Guarded,
        status: dict[str, Any] | None,
        wall: float,
        *,
        changed: bool,
    ) -> tuple[bool, str | None]:
        """Write `key`'s file if it changed, its lease facts changed, or it is due:
        whether it was written (tried), and a message if that failed."""
        if self.runtime_dir is None:
            return False, None
        lease = None if guard.election is None else guard.election.status_facts()
        fresh = key not in self._leases or lease != self._leases[key]
        if not (changed or self._due or fresh):
            return False, None
        self._leases[key] = lease
        real = guard.real_path or place(key)
        self.written[key] = real
        facts = {
            "pid": os.getpid(),
            "since": self._started,
            "updated": wall,
            "refresh_every": self.every,
            "dry_run": self._dry_run,
            "version": __version__,
            "lease": lease,
        }
        return True, write_status(self.runtime_dir, real, {"guard": facts, "status": status})

    def forget(self, key: str) -> None:
        """`key` is no longer guarded: its file goes."""
        self._leases.pop(key, None)
        real = self.written.pop(key, None)
        if real is not None and self.runtime_dir is not None:
            remove_status(self.runtime_dir, real)

    def close(self) -> None:
        for key in list(self.written):
            self.forget(key)
