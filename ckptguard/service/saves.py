"""What the daemon itself sees of saves in progress, with no help from /proc or clocks.

- `Writes`: entries the watcher saw written and not yet closed. inotify watches inodes, so
  a save through a bind mount, a container's path or another mount of the same directory
  raises the same events; no ptrace rights are needed.
- `Observations`: how long the guard has seen each checkpoint unchanged (size and mtime),
  by its own monotonic clock. A file server whose clock lags, or a writer that pauses,
  cannot make a save look settled sooner than the guard has watched it stay the same.
"""

from __future__ import annotations

import threading
import time
from dataclasses import replace

from ckptguard.core.decisions import Plan, State
from ckptguard.core.model import Checkpoint, FileIdentity, Integrity, Inventory, Unit

# A close the watcher missed must not keep a checkpoint "being written" for ever: after
# this long unchanged, the flag is dropped. After events were lost, a flag no new write
# or /proc confirms is in doubt, and lasts only one settle window of quiet.
STALE_WRITE_SECONDS = 3600.0


class Writes:
    """Checkpoint keys with files written and not closed since; safe across threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: dict[str, set[str]] = {}
        self._doubted: set[str] = set()
        self._doubt_until = 0.0  # monotonic

    def written(self, key: str, path: str, *, confirmed: bool = False) -> bool:
        """Record a write to `path` of checkpoint `key`; True if `key` was not being written.

        Soon after events were lost, the watcher may still be handing on writes read
        before the loss, whose closes were lost: a write seen then is in doubt too,
        unless `confirmed` (/proc shows the writer)."""
        with self._lock:
            if confirmed or time.monotonic() >= self._doubt_until:
                self._doubted.discard(key)
            elif key not in self._open:
                self._doubted.add(key)
            paths = self._open.setdefault(key, set())
            fresh = not paths
            paths.add(path)
            return fresh

    def doubt(self, window: float) -> None:
        """Events were lost: the closes of what is recorded may be among them, and of
        what is handed on within `window` seconds."""
        with self._lock:
            self._doubted = set(self._open)
            self._doubt_until = time.monotonic() + window

    def doubted(self, key: str) -> bool:
        with self._lock:
            return key in self._doubted

    def closed(self, key: str, path: str) -> None:
        """`path` was closed after writing, deleted or moved away."""
        with self._lock:
            paths = self._open.get(key)
            if paths is not None:
                paths.discard(path)
                if not paths:
                    del self._open[key]
                    self._doubted.discard(key)

    def forget(self, key: str) -> None:
        with self._lock:
            self._open.pop(key, None)
            self._doubted.discard(key)

    def keys(self) -> frozenset[str]:
        with self._lock:
            return frozenset(self._open)

    def learn(self, inventory: Inventory) -> None:
        """Saves already being written when the watch began (or after lost events): the
        watcher saw none of their writes, /proc may show their writers. Each is then
        known as written until the watcher sees it closed."""
        for checkpoint in inventory.checkpoints:
            if checkpoint.writing and checkpoint.unit is not Unit.DIRECTORY:
                for name in [p.name for p in checkpoint.parts] or [checkpoint.name]:
                    self.written(checkpoint.name, name, confirmed=True)


def _settled(checkpoint: Checkpoint) -> bool:
    """Passed its content check with bytes in it: how long it was quiet changes nothing."""
    return (
        checkpoint.integrity is Integrity.VALID and checkpoint.size > 0 and not checkpoint.writing
    )


class Observations:
    """Since when (monotonic) each checkpoint has looked the same to the guard."""

    def __init__(self) -> None:
        self._since: dict[str, tuple[FileIdentity, float]] = {}

    def stamp(
        self, inventory: Inventory, now: float, writes: Writes | None, *, settle: float
    ) -> Inventory:
        """The inventory with `quiet_for` and `writing` as the guard has seen them."""
        writing = writes.keys() if writes is not None else frozenset()
        since: dict[str, tuple[FileIdentity, float]] = {}
        stamped = []
        for checkpoint in inventory.checkpoints:
            seen = self._since.get(checkpoint.name)
            first = seen[1] if seen is not None and seen[0] == checkpoint.identity else now
            since[checkpoint.name] = (checkpoint.identity, first)
            quiet = now - first
            is_writing = checkpoint.name in writing
            if is_writing and writes is not None and quiet >= _expiry(writes, checkpoint, settle):
                writes.forget(checkpoint.name)
                is_writing = False
            if _settled(checkpoint) and not is_writing:
                stamped.append(checkpoint)  # complete whatever its quiet: no copy needed
                continue
            stamped.append(
                replace(checkpoint, quiet_for=quiet, writing=checkpoint.writing or is_writing)
            )
        self._since = since
        return replace(inventory, checkpoints=tuple(stamped))

    @staticmethod
    def next_settle(
        plan: Plan, settle_seconds: float, now: float, writes: Writes | None = None
    ) -> float | None:
        """When (monotonic) the first save in progress that nobody writes (or whose
        writing is in doubt) will have been quiet for the settle window, so that it can be
        judged; None if there is none."""
        doubted = writes.doubted if writes is not None else lambda name: False
        waits = [
            settle_seconds - d.checkpoint.quiet_for
            for d in plan.decisions
            if d.state is State.IN_PROGRESS
            and (not d.checkpoint.writing or doubted(d.checkpoint.name))
            and d.checkpoint.quiet_for is not None
            and d.checkpoint.quiet_for < settle_seconds
        ]
        return now + max(0.0, min(waits)) if waits else None


def _expiry(writes: Writes, checkpoint: Checkpoint, settle: float) -> float:
    return settle if writes.doubted(checkpoint.name) else STALE_WRITE_SECONDS
