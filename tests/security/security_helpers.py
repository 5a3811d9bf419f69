"""Helpers for the attack and fault tests: a daemon in a thread, mounts, logs.

Test modules import them as `security_helpers` (never `conftest`, a name several test
directories share); conftest.py re-exports the fixtures.
"""

from __future__ import annotations

import errno
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support import TEMPLATE, daemon_threads, keras_bytes, wait_for

from ckptguard.core.model import MinFree, MinFreeUnit
from ckptguard.core.naming import Template
from ckptguard.service.daemon import Daemon

# Well outside any settle window: "old" files are judged by their content alone.
OLD = time.time() - 3600
NO_SPACE_RULE = MinFree(MinFreeUnit.BYTES, 0)


def name_of(step: int | str) -> str:
    return TEMPLATE.replace("{step}", str(step))


def steps_in(directory: Path) -> list[int]:
    """The steps of the entries in `directory` that match the default template, sorted."""
    template = Template.parse(TEMPLATE)
    steps = (template.step_of(name) for name in os.listdir(directory))
    return sorted(step for step in steps if step is not None)


def write_old(directory: Path, step: int | str, data: bytes | None = None) -> Path:
    """A file named for `step` holding `data` (a complete checkpoint by default), back-dated."""
    path = directory / name_of(step)
    path.write_bytes(keras_bytes() if data is None else data)
    os.utime(path, (OLD, OLD))
    return path


def snapshot(path: Path) -> tuple[bytes, int, int]:
    st = path.stat()
    return path.read_bytes(), st.st_mtime_ns, st.st_ino


def events_named(logs: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [e for e in logs if e.get("event") == name]


@pytest.fixture
def start_daemon() -> Iterator[Any]:
    """Start `Daemon(settings).run()` in a thread; stop it and check for leaked threads and fds."""
    with daemon_threads() as start:
        yield start


def wait_cycles(daemon: Daemon, more: int, *, timeout: float = 10.0) -> None:
    """Wait until the daemon has completed `more` further directory cycles."""
    target = daemon.cycles + more
    wait_for(lambda: daemon.cycles >= target, timeout=timeout, message=f"{more} more cycles")


def wait_passes(daemon: Daemon, more: int, *, timeout: float = 10.0) -> None:
    """Wait until the daemon's loop has turned `more` more times (each a chance to act)."""
    target = daemon.passes + more
    wait_for(lambda: daemon.passes >= target, timeout=timeout, message=f"{more} more passes")


# --- mounts --------------------------------------------------------------------------------


def needs_root() -> None:
    if os.geteuid() != 0:
        pytest.skip(f"needs root to mount (running as uid {os.geteuid()})")


def mount(*args: str) -> None:
    done = subprocess.run(["mount", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"mount {' '.join(args)} failed here: {done.stderr.strip()}")


def umount(where: Path) -> None:
    subprocess.run(["umount", "-l", str(where)], capture_output=True, check=False)


class Mounts:
    """Real mounts made by one test, all lazily unmounted when it ends."""

    def __init__(self) -> None:
        self.made: list[Path] = []

    def tmpfs(self, where: Path, size: int, *, nr_inodes: int | None = None) -> Path:
        where.mkdir(parents=True, exist_ok=True)
        options = f"size={size},mode=0755" + (f",nr_inodes={nr_inodes}" if nr_inodes else "")
        mount("-t", "tmpfs", "-o", options, "tmpfs", str(where))
        self.made.append(where)
        return where

    def bind_read_only(self, source: Path, where: Path) -> Path:
        where.mkdir(parents=True, exist_ok=True)
        mount("--bind", str(source), str(where))
        self.made.append(where)
        mount("-o", "remount,ro,bind", str(where))
        return where

    def close(self) -> None:
        for where in reversed(self.made):
            umount(where)


@pytest.fixture
def mounts() -> Iterator[Mounts]:
    """Mount tmpfs and read-only bind mounts (root only; skipped otherwise)."""
    needs_root()
    made = Mounts()
    yield made
    made.close()


def free_bytes(path: Path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def fill(path: Path, *, chunk: int = 64 * 1024) -> int:
    """Append to `path` until the filesystem refuses even one more byte; returns bytes written."""
    written = 0
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        size = chunk
        while size:
            try:
                written += os.write(fd, b"\xa5" * size)
            except OSError as error:
                if error.errno != errno.ENOSPC:
                    raise
                size //= 2
    finally:
        os.close(fd)
    return written


def fill_inodes(directory: Path) -> int:
    """Create empty files until no inode is left; returns how many were made."""
    made = 0
    while True:
        try:
            fd = os.open(directory / f"inode-filler-{made}", os.O_WRONLY | os.O_CREAT, 0o644)
        except OSError as error:
            if error.errno != errno.ENOSPC:
                raise
            return made
        os.close(fd)
        made += 1
