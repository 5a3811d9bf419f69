"""Real filesystems made for a test: tmpfs and bind mounts, filled up, or holding a file
even root cannot delete. Each needs root; without it the test is skipped, saying why."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


def can_mount_tmpfs() -> str | None:
    """None when this process may mount a tmpfs, else the reason it may not."""
    if os.geteuid() != 0:
        return "needs root to mount a small tmpfs"
    if shutil.which("mount") is None or shutil.which("umount") is None:
        return "mount/umount not installed"
    return None


def needs_root() -> None:
    if os.geteuid() != 0:
        pytest.skip(f"needs root to mount (running as uid {os.geteuid()})")


def mount(*args: str) -> None:
    if shutil.which("mount") is None:
        pytest.skip("no mount(8) on this machine")
    done = subprocess.run(["mount", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"mount {' '.join(args)} failed here: {done.stderr.strip()}")


def umount(where: Path) -> str | None:
    """Unmount `where`; if it is busy, detach it lazily and return why it was busy."""
    done = subprocess.run(["umount", str(where)], capture_output=True, text=True, check=False)
    if done.returncode == 0:
        return None
    subprocess.run(["umount", "-l", str(where)], capture_output=True, check=False)
    return done.stderr.strip() or f"umount exited {done.returncode}"


class Mounts:
    """Real mounts made by one test, all unmounted when it ends."""

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

    def close(self) -> list[str]:
        """Unmount all, the last made first; what was busy (and detached lazily) is returned."""
        busy = []
        for where in reversed(self.made):
            why = umount(where)
            if why is not None:
                busy.append(f"umount {where}: {why}")
        self.made.clear()
        return busy


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


def chattr(flag: str, path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["chattr", flag, str(path)], capture_output=True, text=True, check=False)


@contextlib.contextmanager
def immutable(path: Path, moved_within: Path | None = None) -> Iterator[Path]:
    """`path` made immutable (`chattr +i`: even root cannot unlink it), or the test skipped
    when that is impossible here. Cleared on leaving, wherever below `moved_within` a
    rename took it."""
    if os.geteuid() != 0:
        pytest.skip("making a file undeletable for root needs root (chattr +i)")
    if shutil.which("chattr") is None:
        pytest.skip("chattr is not installed")
    done = chattr("+i", path)
    if done.returncode != 0:
        pytest.skip(f"chattr +i is not supported here: {done.stderr.strip()}")
    try:
        yield path
    finally:
        for leftover in [path] if moved_within is None else moved_within.rglob(path.name):
            chattr("-i", leftover)
