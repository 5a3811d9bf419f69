"""Pointer files frameworks keep to name their latest checkpoint, and reading small files.

Pointer files (see `layouts.POINTER_FILES`) are read without following links, only when
regular and small; what they name is protected from deletion. They can only protect,
never cause a deletion, so a forged one costs at most one checkpoint kept too many.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field, replace

from ckptguard.core.layouts import POINTER_FILES
from ckptguard.core.model import Checkpoint, Integrity

MAX_POINTER_BYTES = 4096
# Reading what anyone may have put in DIR: never through a link, never blocking on a FIFO.
READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


def read_head(dir_fd: int, name: str, size: int) -> bytes | None:
    """The first `size` bytes of a regular file (never following a link); None otherwise."""
    return _read_regular(dir_fd, name, size)


def read_small(dir_fd: int, name: str, limit: int) -> bytes | None:
    """At most `limit` bytes of a regular file, never following a link; None otherwise.

    None too for a file larger than `limit`, or one that vanished or turned into a
    directory since it was listed (anyone may swap entries under our feet).
    """
    data = _read_regular(dir_fd, name, limit + 1)
    return data if data is not None and len(data) <= limit else None


def _read_regular(dir_fd: int, name: str, size: int) -> bytes | None:
    """Up to `size` bytes from the start of `name` if it is a regular file; never raises."""
    try:
        fd = os.open(name, READ_FLAGS, dir_fd=dir_fd)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        chunks: list[bytes] = []
        offset = 0
        while offset < size:
            chunk = os.pread(fd, min(size - offset, 2**20), offset)
            if not chunk:
                break
            chunks.append(chunk)
            offset += len(chunk)
        return b"".join(chunks)
    except OSError:
        return None
    finally:
        os.close(fd)


@dataclass(frozen=True)
class Pointers:
    """What the "latest" pointer files name: entry names and steps, with the file's name."""

    names: dict[str, str]
    steps: dict[int, str]
    # When each pointer file was last written (mtime, ns), by its name.
    written: dict[str, int] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.names or self.steps)


def read_pointers(dir_fd: int) -> Pointers:
    """Read every pointer file present; unreadable or odd ones name nothing."""
    names: dict[str, str] = {}
    steps: dict[int, str] = {}
    written: dict[str, int] = {}
    for pointer in POINTER_FILES:
        try:
            st = os.stat(pointer, dir_fd=dir_fd, follow_symlinks=False)
        except OSError:
            continue
        written[pointer] = st.st_mtime_ns
        if stat.S_ISLNK(st.st_mode):
            try:
                target = os.readlink(pointer, dir_fd=dir_fd)
            except OSError:
                continue
            names.setdefault(_last_component(target), pointer)
            continue
        if pointer == "last.ckpt" or not stat.S_ISREG(st.st_mode):
            continue  # Lightning's regular last.ckpt is a copy: it names nothing
        data = read_small(dir_fd, pointer, MAX_POINTER_BYTES)
        if data is not None:
            parse_pointer(pointer, data, names, steps)
    return Pointers(names, steps, written)


def parse_pointer(pointer: str, data: bytes, names: dict[str, str], steps: dict[int, str]) -> None:
    """Add what the pointer file `pointer`, holding `data`, names (a file or object alike)."""
    text = data.decode("utf-8", "replace")
    if pointer == "latest_checkpointed_iteration.txt":
        if text.strip().isascii() and text.strip().isdigit():
            steps.setdefault(int(text.strip()), pointer)
    elif pointer == "checkpoint":
        for line in text.splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model_checkpoint_path":
                names.setdefault(_last_component(value.strip().strip('"')), pointer)
    elif text.strip():
        names.setdefault(_last_component(text.strip()), pointer)


def _last_component(target: str) -> str:
    return os.path.basename(target.rstrip("/"))


def declared(checkpoint: Checkpoint, pointers: Pointers, pointer: str | None) -> Checkpoint:
    """The checkpoint, no longer complete if modified after `pointer` was last written.

    DeepSpeed and Megatron write their pointer file last, once every rank has saved: a
    checkpoint modified since is a save the framework has not declared complete yet
    (the next look, after the pointer names it, finds it complete). One the pointer
    names, and any written before it, are judged by their content. Without the pointer
    file, content alone decides.
    """
    if pointer is None or pointer not in pointers.written:
        return checkpoint
    if checkpoint.integrity not in (Integrity.VALID, Integrity.UNCHECKED):
        return checkpoint
    if checkpoint.protected_by == pointer:
        return checkpoint
    if checkpoint.mtime_ns <= pointers.written[pointer]:
        return checkpoint
    return replace(checkpoint, integrity=Integrity.INVALID)


def protected_by(checkpoint: Checkpoint, pointers: Pointers) -> str | None:
    """The pointer file that names `checkpoint` (by its name, a part's name, or its step)."""
    for name in (checkpoint.name, *(p.name for p in checkpoint.parts)):
        if name in pointers.names:
            return pointers.names[name]
    return pointers.steps.get(checkpoint.step)
