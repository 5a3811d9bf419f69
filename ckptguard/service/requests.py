"""What watcher threads and signal handlers ask of the loop, and the wait that hears it.

Asking sets a flag (or records the entry an event named) and pokes a self-pipe; it never
waits for the loop, so a signal handler may ask at any moment. The loop takes all that
was asked at once (`take`), read then cleared: a request arriving in between is served
by the very pass that follows.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from ckptguard.service.waker import Waker

# Per directory: the entry names events named, or None for "look at everything".
Changed = dict[str, set[str] | None]


@dataclass(frozen=True)
class Asked:
    changed: Changed
    rescan: bool
    reload: bool


class Requests:
    def __init__(self) -> None:
        # Guards `_changed`, written by watcher threads; flags need no lock.
        self.lock = threading.Lock()
        self._changed: Changed = {}
        self.stopping = False
        self.reload = False
        self.rescan = False
        self._waker = Waker()

    def changed(self, key: str, name: str | None = None) -> None:
        """Entry `name` (None: anything) of directory `key` changed."""
        with self.lock:
            if name is None:
                self._changed[key] = None
            else:
                names = self._changed.setdefault(key, set())
                if names is not None:
                    names.add(name)
        self._waker.poke()

    def ask_rescan(self) -> None:
        self.rescan = True
        self._waker.poke()

    def ask_reload(self) -> None:
        """Safe in a signal handler: a flag and a pipe write, no lock."""
        self.reload = True
        self._waker.poke()

    def ask_stop(self) -> None:
        """Safe in a signal handler: a flag and a pipe write, no lock."""
        self.stopping = True
        self._waker.poke()

    def wait(self, timeout: float) -> None:
        """Sleep until asked something or `timeout` seconds pass."""
        self._waker.wait(timeout)

    def take(self) -> Asked:
        with self.lock:
            changed, self._changed = self._changed, {}
        asked = Asked(changed, self.rescan, self.reload)
        self.rescan = self.reload = False
        return asked

    def close(self) -> None:
        self._waker.close()
