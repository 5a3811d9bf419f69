"""Where the guard keeps what it must remember between runs, never in a guarded directory.

One JSON file per guarded directory, named from a hash of the directory's real path and
holding that path too. Writes go to a temporary file in the same directory, are synced,
then renamed over the old file, so a crash leaves the old state or the new, never half
of one. Nothing here raises for I/O trouble: the caller gets a message to log once, and
carries on; a state write that fails must never delay a deletion.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
import tempfile
from collections.abc import Mapping
from typing import Any

from ckptguard.core.recall import MetricMemory, from_document, to_document
from ckptguard.store.local.cache import IntegrityCache
from ckptguard.store.remote.location import is_remote

APP = "ckptguard"
VERSION = 1
MAX_BYTES = 16 * 2**20  # a state file larger than this is not ours
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


def default_state_dir(environ: Mapping[str, str] | None = None, euid: int | None = None) -> str:
    """systemd's StateDirectory= if set, else the system's or the user's state directory."""
    env = os.environ if environ is None else environ
    given = env.get("STATE_DIRECTORY", "").split(":")[0]
    if given:
        return given
    if (os.geteuid() if euid is None else euid) == 0:
        return f"/var/lib/{APP}"
    xdg = env.get("XDG_STATE_HOME", "")
    # The XDG spec says relative paths are to be ignored.
    base = xdg if os.path.isabs(xdg) else os.path.join(os.path.expanduser("~"), ".local", "state")
    return os.path.join(base, APP)


def place(path: str) -> str:
    """What a guarded place's state, status and history are kept under: a directory's
    real path, an object store's URL (it has no path to resolve)."""
    return path if is_remote(path) else os.path.realpath(path)


def state_path(state_dir: str, directory: str, kind: str = "dir") -> str:
    """The state file of the guarded `directory` (its real path): `kind` "dir" for the
    metric memory, "verdicts" for the content verdicts."""
    digest = hashlib.sha256(os.fsencode(directory)).hexdigest()[:32]
    return os.path.join(state_dir, f"{kind}-{digest}.json")


def read_state(
    state_dir: str, directory: str, kind: str = "dir", *, trusted_only: bool = False
) -> tuple[dict[str, Any], str | None]:
    """The state kept for `directory`, and what went wrong reading it, if anything.

    No state yet (no directory, no file) is an empty state and no problem. With
    `trusted_only`, a file that someone other than us (or root) owns or may write, in a
    directory like that, is not read at all.
    """
    path = state_path(state_dir, directory, kind)
    try:
        fd = os.open(path, _READ_FLAGS)
    except FileNotFoundError:
        return {}, None
    except OSError as error:
        return {}, f"{path}: {error.strerror}"
    try:
        with os.fdopen(fd, "rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                return {}, f"{path}: not a regular file"
            if trusted_only and not _trusted(handle.fileno(), state_dir):
                return {}, f"{path}: someone else may write it: not used"
            data = handle.read(MAX_BYTES + 1)
    except OSError as error:
        return {}, f"{path}: {error.strerror}"
    if len(data) > MAX_BYTES:
        return {}, f"{path}: larger than {MAX_BYTES} bytes"
    try:
        document = json.loads(data)
    except (ValueError, RecursionError):
        return {}, f"{path}: not a state file"
    if not isinstance(document, dict) or document.get("version") != VERSION:
        return {}, f"{path}: not a state file of this version"
    if document.get("directory") != directory:
        return {}, f"{path}: kept for another directory ({document.get('directory')!r})"
    return document, None


def _trusted(fd: int, state_dir: str) -> bool:
    """Owned by us or root, and writable by no one else: the file and its directory."""
    owners = {0, os.geteuid()}
    try:
        for st in (os.fstat(fd), os.stat(state_dir)):
            if st.st_uid not in owners or st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
                return False
    except OSError:
        return False
    return True


def write_state(
    state_dir: str, directory: str, content: Mapping[str, Any], kind: str = "dir"
) -> str | None:
    """Replace the state kept for `directory` with `content`; a message if that failed."""
    path = state_path(state_dir, directory, kind)
    document = {"version": VERSION, "directory": directory, **content}
    try:
        indent = None if kind == "verdicts" else 1  # a verdict file can be large
        data = (json.dumps(document, indent=indent, allow_nan=False) + "\n").encode()
    except (TypeError, ValueError) as error:
        return f"{path}: cannot encode state: {error}"
    temporary: str | None = None
    try:
        os.makedirs(state_dir, mode=0o700, exist_ok=True)
        fd, temporary = tempfile.mkstemp(prefix=f".{kind}-", suffix=".tmp", dir=state_dir)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
        temporary = None
        _sync_directory(state_dir)
    except OSError as error:
        # The state file's name, never the temporary's: the message is logged once per text.
        return f"{path}: {error.strerror or error}"
    finally:
        if temporary is not None:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
    return None


def _sync_directory(path: str) -> None:
    """Make the rename durable; a filesystem that cannot sync directories is no failure."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def load_memory(state_dir: str | None, directory: str) -> tuple[MetricMemory, str | None]:
    """The metric values remembered for `directory`, and what went wrong reading them."""
    if state_dir is None:
        return MetricMemory(), None
    document, problem = read_state(state_dir, directory)
    try:
        return from_document(document.get("metrics", [])), problem
    except ValueError as error:
        return MetricMemory(), f"{state_path(state_dir, directory)}: {error}"


def save_memory(state_dir: str, directory: str, memory: MetricMemory) -> str | None:
    """Keep `memory` for `directory`; a message if that failed."""
    return write_state(state_dir, directory, {"metrics": to_document(memory)})


def load_verdicts(state_dir: str | None, directory: str, cache: IntegrityCache) -> str | None:
    """Seed `cache` with the verdicts kept for `directory`; what went wrong, if anything.

    A verdict file only saves time: one that is missing, malformed, or writable by
    anyone but us is not used, and a kept verdict is only used for a file whose identity
    and change time are the same.
    """
    if state_dir is None:
        return None
    document, problem = read_state(state_dir, directory, "verdicts", trusted_only=True)
    rows = document.get("verdicts", [])
    try:
        cache.seed(tuple(row) for row in rows if isinstance(row, list) and len(row) == 7)
    except (TypeError, ValueError):
        return f"{state_path(state_dir, directory, 'verdicts')}: not a verdict file"
    return problem


def save_verdicts(state_dir: str | None, directory: str, cache: IntegrityCache) -> str | None:
    """Keep the cache's file verdicts for `directory` when they changed."""
    if state_dir is None or not cache.changed:
        return None
    return write_state(state_dir, directory, {"verdicts": cache.rows()}, "verdicts")
