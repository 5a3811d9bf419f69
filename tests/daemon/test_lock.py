"""The directory lock as a running guard leaves it: nothing written, nothing held for writing."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from support import Mounts, can_mount_tmpfs, write_checkpoint

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(can_mount_tmpfs() is not None, reason=str(can_mount_tmpfs())),
]


@pytest.fixture
def fs(tmp_path: Path, mounts: Mounts) -> Path:
    """A real 4 MiB tmpfs holding three checkpoints, unmounted at the end."""
    where = mounts.tmpfs(tmp_path / "mnt", 4 << 20)
    for step in range(1, 4):
        write_checkpoint(where, step)
    return where


def remount(where: Path, mode: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["mount", "-o", f"remount,{mode}", str(where)], capture_output=True, text=True, check=False
    )


def test_guarded_tmpfs_can_be_remounted_read_only(fs: Path, guard_running) -> None:
    """While a guard runs, `mount -o remount,ro` of the guarded filesystem succeeds (no EBUSY)."""
    with guard_running("--dir", str(fs), "--keep", "3") as guard:
        done = remount(fs, "ro")
        try:
            assert done.returncode == 0, done.stderr
        finally:
            back = remount(fs, "rw")
        assert back.returncode == 0, back.stderr
        assert guard.proc.poll() is None, "the guard died of the remount"
    assert guard.exit_code == 0, guard.log_text()


def test_start_and_stop_create_nothing_in_the_guarded_directory(fs: Path, guard_running) -> None:
    """A guard that starts, runs and stops leaves the directory's listing as it found it."""
    before = sorted(os.listdir(fs))
    with guard_running("--dir", str(fs), "--keep", "3") as guard:
        assert sorted(os.listdir(fs)) == before
    assert guard.exit_code == 0, guard.log_text()
    assert sorted(os.listdir(fs)) == before
