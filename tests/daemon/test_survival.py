"""The headline claim: training into a disk that fits ~2.5 checkpoints survives under the guard."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from support import (
    TRAINER,
    can_mount_tmpfs,
    free_bytes,
    settings_for,
    wait_for,
    write_checkpoint,
)

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(can_mount_tmpfs() is not None, reason=str(can_mount_tmpfs())),
]

PAYLOAD = 1 << 20  # 1 MiB checkpoints
FS_SIZE = int(2.5 * PAYLOAD)  # the size of the `small_fs` fixture's tmpfs


def train(directory: Path, saves: int = 20) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            str(TRAINER),
            "--dir",
            str(directory),
            "--saves",
            str(saves),
            "--size",
            str(PAYLOAD),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_training_dies_of_enospc_without_the_guard(small_fs: Path) -> None:
    """Without ckptguard the third save fails with ENOSPC, as in the original incident."""
    result = train(small_fs)
    assert result.returncode == 28, result.stderr
    assert "No space left on device" in result.stderr


def test_training_completes_under_the_guard_with_defaults(small_fs: Path, guard_running) -> None:
    """Under `ckptguard run --dir D` with default options, all 20 saves complete."""
    with guard_running("--dir", str(small_fs)) as guard:
        result = train(small_fs)
    log = guard.log_text()
    assert result.returncode == 0, result.stderr + log
    assert guard.exit_code == 0
    remaining = sorted(p.name for p in small_fs.glob("checkpoint_step_*.keras"))
    assert remaining and remaining[-1] == "checkpoint_step_2000.keras"


def test_room_is_made_when_a_save_begins(small_fs: Path, start_daemon) -> None:
    """When another process ate the reserve, a save beginning frees room before any byte."""
    payload = 700 * 1024
    first = write_checkpoint(small_fs, 1, payload_size=payload)
    write_checkpoint(small_fs, 2, payload_size=payload)
    start_daemon(settings_for(small_fs, rescan_interval=3600, free_check_interval=3600))
    assert first.exists(), "1x free was met: nothing to delete yet"
    # Another job fills the disk; its file does not match, so nothing wakes the guard.
    (small_fs / "dataset.bin").write_bytes(bytes(600 * 1024))
    assert free_bytes(small_fs) < first.stat().st_size
    with (small_fs / "checkpoint_step_3.keras").open("wb"):
        wait_for(lambda: not first.exists(), timeout=5, message="room made at file creation")
