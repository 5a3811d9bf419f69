"""The history file: one JSON line per deletion, shortfall and warning, rotated by size.

One file per guarded directory in the state directory (`history-<hash>.jsonl`, named
like the state files). When a line would take it past `max_bytes`, the file is renamed
to `<name>.1` (replacing the older one) and a new one begins: at most twice `max_bytes`
per directory. Nothing here raises for I/O trouble, and a write that fails leaves no
half line behind: the caller gets a message to log once, and the deletions go on.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
from collections.abc import Iterable, Iterator
from typing import Any

from ckptguard.service.state import state_path

MAX_BYTES = 1 << 20
SUFFIX = ".jsonl"
_APPEND = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
_READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


def history_path(state_dir: str, directory: str) -> str:
    return state_path(state_dir, directory, "history").removesuffix(".json") + SUFFIX


def append(
    state_dir: str, directory: str, records: Iterable[dict[str, Any]], max_bytes: int = MAX_BYTES
) -> str | None:
    """Append `records` to the history of `directory`; a message if that failed."""
    data = b"".join(json.dumps(r, allow_nan=False).encode() + b"\n" for r in records)
    if not data:
        return None
    path = history_path(state_dir, directory)
    try:
        os.makedirs(state_dir, mode=0o700, exist_ok=True)
        fd = os.open(path, _APPEND, 0o600)
        try:
            size = os.fstat(fd).st_size
            if size > 0 and size + len(data) > max_bytes:
                os.close(fd)
                fd = -1
                os.replace(path, path + ".1")
                fd = os.open(path, _APPEND, 0o600)
            _write_whole(fd, data)
        except OSError:
            with contextlib.suppress(OSError):
                if fd >= 0 and os.fstat(fd).st_size == 0:
                    os.unlink(path)  # an empty file made just now: leave nothing behind
            raise
        finally:
            if fd >= 0:
                os.close(fd)
    except OSError as error:
        return f"{path}: {error.strerror or error}"
    return None


def _write_whole(fd: int, data: bytes) -> None:
    """Write all of `data` or, failing, cut the file back to where it was."""
    start = os.fstat(fd).st_size
    view = memoryview(data)
    try:
        while view:
            view = view[os.write(fd, view) :]
    except OSError:
        with contextlib.suppress(OSError):
            os.ftruncate(fd, start)  # never a half line that the next one would join
        raise


def read(state_dir: str, directory: str | None = None) -> Iterator[dict[str, Any]]:
    """The records kept (of `directory`, or of every directory), rotated files first;
    lines that are not a record are skipped."""
    if directory is not None:
        current = [history_path(state_dir, directory)]
    else:
        pattern = os.path.join(glob.escape(state_dir), f"history-*{SUFFIX}")
        current = sorted(glob.glob(pattern))
    for path in current:
        for name in (path + ".1", path):
            yield from _records(name)


def _records(path: str) -> Iterator[dict[str, Any]]:
    try:
        fd = os.open(path, _READ)
    except OSError:
        return
    with os.fdopen(fd, "rb") as handle:
        for line in handle:
            with contextlib.suppress(ValueError):
                record = json.loads(line)
                if isinstance(record, dict) and isinstance(record.get("dir"), str):
                    yield record
