"""Reading a metrics file from disk: never through a link, never blocking on a FIFO, and
keeping the last good table when a read fails (see `core.metrics` for what is read).
"""

from __future__ import annotations

import csv
import os
import stat

from ckptguard.core.metrics import MetricsTable, parse

MAX_BYTES = 64 * 2**20  # a metrics file larger than this is not a metrics file


class MetricsError(Exception):
    """The metrics file cannot be read or understood."""


def load(path: str) -> MetricsTable:
    """Read `path` (CSV, trainer_state.json or JSON lines, told apart by content)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as handle:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise MetricsError(f"{path}: not a regular file")
            data = handle.read(MAX_BYTES + 1)
    except OSError as error:
        raise MetricsError(f"{path}: {error.strerror}") from None
    if len(data) > MAX_BYTES:
        raise MetricsError(f"{path}: larger than {MAX_BYTES} bytes")
    try:
        return parse(data.decode("utf-8", "replace"))
    # The file may be half-written, or written by anyone who can write to DIR.
    except (ValueError, TypeError, AttributeError, RecursionError, csv.Error) as error:
        raise MetricsError(f"{path}: not a metrics file: {error}") from None


class MetricsSource:
    """A metrics file, re-read only when it changes; the last good table survives errors.

    A trainer rewriting its log must not make the best checkpoints lose their protection
    for a moment, so a read that fails keeps the previous table.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._seen: tuple[int, int, int] | None = None
        self._table: MetricsTable | None = None

    def table(self) -> MetricsTable | None:
        """The current table; raises MetricsError only if it was never readable."""
        try:
            st = os.stat(self.path, follow_symlinks=False)
            key = (st.st_ino, st.st_size, st.st_mtime_ns)
            if key != self._seen:
                self._table = load(self.path)
                self._seen = key
        except (OSError, MetricsError) as error:
            if self._table is None:
                raise MetricsError(str(error)) from None
        return self._table
