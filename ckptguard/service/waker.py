"""Waking the daemon's loop from watcher threads and signal handlers alike.

A self-pipe: `poke` is one non-blocking `write`, which takes no lock, so a signal
handler may call it even while the main thread is in the middle of anything.
"""

from __future__ import annotations

import contextlib
import os
import select


class Waker:
    def __init__(self) -> None:
        self._read_fd, self._write_fd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)

    def poke(self) -> None:
        # A full pipe already holds a wake-up; a closed one means we are shutting down.
        with contextlib.suppress(OSError):
            os.write(self._write_fd, b"\0")

    def wait(self, timeout: float) -> None:
        """Sleep until poked or `timeout` seconds pass; then forget every pending poke."""
        try:
            select.select([self._read_fd], [], [], max(0.0, timeout))
        except InterruptedError:  # pragma: no cover - select is retried by Python (PEP 475)
            return
        with contextlib.suppress(BlockingIOError):
            while os.read(self._read_fd, 4096):
                pass

    def close(self) -> None:
        for fd in (self._read_fd, self._write_fd):
            with contextlib.suppress(OSError):
                os.close(fd)
