"""Real filesystems made for a test: a small tmpfs."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path


def can_mount_tmpfs() -> str | None:
    """None when this process may mount a tmpfs, else the reason it may not."""
    if os.geteuid() != 0:
        return "needs root to mount a small tmpfs"
    import shutil as _shutil

    if _shutil.which("mount") is None or _shutil.which("umount") is None:
        return "mount/umount not installed"
    return None


class Tmpfs:
    """A real tmpfs of `size` bytes mounted on `where`, unmounted by `close()`."""

    def __init__(self, where: Path, size: int) -> None:
        where.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(where)],
            check=True,
            capture_output=True,
        )
        self.path = where

    def free(self) -> int:
        st = os.statvfs(self.path)
        return st.f_bavail * st.f_frsize

    def close(self) -> None:
        subprocess.run(["umount", "-l", str(self.path)], check=False, capture_output=True)
