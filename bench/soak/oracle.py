"""What the soak itself believes about DIR: the writers' checkpoints, complete or not, and pins.

The soak is an oracle independent of ckptguard: it keeps its own copy of the Keras member
names and its own completeness check, and imports nothing from the `ckptguard` package,
so that a bug there cannot hide itself by being shared with the check that should catch it.
"""

from __future__ import annotations

import os
import stat
import zipfile
from pathlib import Path

from bench.soak.steps import PIN, writer_step

KERAS_MEMBERS = frozenset({"metadata.json", "config.json"})

Ident = tuple[int, int, int]  # (ino, size, mtime_ns)
Entry = tuple[Ident, "bool | None"]  # identity, complete (None: changed while read)


def complete_at(dir_fd: int, name: str, ident: Ident) -> bool | None:
    """Whether `name` is a complete Keras archive; None if it changed while we looked."""
    try:
        fd = os.open(
            name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dir_fd
        )
    except OSError:
        return None
    with os.fdopen(fd, "rb") as handle:
        st = os.fstat(fd)
        if (st.st_ino, st.st_size, st.st_mtime_ns) != ident:
            return None
        try:
            with zipfile.ZipFile(handle) as archive:
                members = set(archive.namelist())
        except Exception:  # noqa: BLE001 - anything unreadable is simply not complete
            members = set()
        st = os.fstat(fd)
        if (st.st_ino, st.st_size, st.st_mtime_ns) != ident:
            return None  # written to while we read it
    return members >= KERAS_MEMBERS


class Surveyor:
    """Lists DIR: each writer checkpoint (a regular file) with its identity and whether it is
    complete, and the steps pinned; a file unchanged since the last survey is not reread."""

    def __init__(self) -> None:
        self.known: dict[tuple[int, Ident], bool] = {}

    def survey(self, dir_fd: int) -> tuple[dict[int, Entry], frozenset[int]]:
        entries: dict[int, Entry] = {}
        pins = set()
        known: dict[tuple[int, Ident], bool] = {}
        for name in os.listdir(dir_fd):
            if name.endswith(PIN):
                step = writer_step(name[: -len(PIN)])
                if step is not None:
                    pins.add(step)
                continue
            step = writer_step(name)
            if step is None:
                continue
            try:
                st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            except FileNotFoundError:
                continue
            if not stat.S_ISREG(st.st_mode):
                continue
            ident = (st.st_ino, st.st_size, st.st_mtime_ns)
            complete = self.known.get((step, ident))
            if complete is None:
                complete = complete_at(dir_fd, name, ident)
            if complete is not None:
                known[(step, ident)] = complete
            entries[step] = (ident, complete)
        self.known = known
        return entries, frozenset(pins)


def survey(directory: Path) -> tuple[dict[int, Entry], frozenset[int]]:
    """One survey of `directory`, from scratch."""
    dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        return Surveyor().survey(dir_fd)
    finally:
        os.close(dir_fd)
