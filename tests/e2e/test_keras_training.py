"""The headline claim with a real job: Keras 3 (PyTorch backend) training into a too-small disk.

train_keras.py saves `checkpoint_step_{step}.keras` every 10 of 120 batches (12 saves of about
2.1 MB) through a Keras callback, into a real tmpfs that holds two and a half checkpoints.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from support import can_mount_tmpfs, tail

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.root,
    pytest.mark.skipif(can_mount_tmpfs() is not None, reason=str(can_mount_tmpfs())),
    pytest.mark.timeout(600),
]

# What one checkpoint of train_keras.py's model weighs (Keras 3.15: h5 weights plus Adam's
# slots, stored uncompressed). Each test checks the real size against the disk, so a Keras
# release that changes it much fails with a clear message instead of testing something else.
CHECKPOINT_SIZE = 2_145_695
# Room for two and a half checkpoints: one complete kept while the next is written, never three
# (the size of the `small_fs` fixture's tmpfs).
FS_SIZE = int(2.5 * CHECKPOINT_SIZE)
SAVES = 12
LAST = "checkpoint_step_120.keras"


TRAIN_SCRIPT = Path(__file__).resolve().parent / "train_keras.py"


def missing_e2e_extra() -> str | None:
    """None when keras and torch are installed, else why the e2e tests are skipped."""
    missing = [name for name in ("keras", "torch") if importlib.util.find_spec(name) is None]
    if missing:
        return f"{' and '.join(missing)} not installed: pip install -e '.[e2e]'"
    return None


@pytest.fixture(scope="module")
def keras_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment of every Keras subprocess: PyTorch backend, CPU only, a private home."""
    # find_spec rather than importorskip: torch is never imported into the test process
    # (seconds, hundreds of MB, and import-time warnings that `filterwarnings = error` would
    # turn into failures); the training subprocess proves it imports.
    reason = missing_e2e_extra()
    if reason:
        pytest.skip(reason)
    return {
        **os.environ,
        "KERAS_BACKEND": "torch",
        "KERAS_HOME": str(tmp_path_factory.mktemp("keras_home")),
        "CUDA_VISIBLE_DEVICES": "",
    }


@pytest.fixture
def keras_script(keras_env: dict[str, str]) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run `train_keras.py ARGS` in a fresh interpreter with the Keras environment."""

    def run(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, str(TRAIN_SCRIPT), *args],
            capture_output=True,
            text=True,
            env=keras_env,
            timeout=timeout,
            check=False,
        )

    return run


def checkpoints(directory: Path) -> list[Path]:
    return sorted(
        directory.glob("checkpoint_step_*.keras"), key=lambda p: int(p.stem.rsplit("_", 1)[1])
    )


def assert_fs_fits_two_not_three(size: int) -> None:
    assert 2 * size < FS_SIZE < 3 * size, (
        f"a checkpoint is now {size} bytes, not about {CHECKPOINT_SIZE}: "
        "update CHECKPOINT_SIZE so that the tmpfs holds 2.5 checkpoints"
    )


def test_training_dies_of_enospc_without_the_guard(
    small_fs: Path, keras_script: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    """Without ckptguard the third `model.save` fails with ENOSPC and the training dies."""
    result = keras_script("train", "--dir", str(small_fs))

    assert result.returncode != 0, "training survived a disk too small for its checkpoints"
    assert "No space left on device" in result.stderr, tail(result.stderr, 40)
    assert "Errno 28" in result.stderr, tail(result.stderr, 40)
    names = [p.name for p in checkpoints(small_fs)]
    assert names == [
        "checkpoint_step_10.keras",
        "checkpoint_step_20.keras",
        "checkpoint_step_30.keras",
    ], names
    assert_fs_fits_two_not_three((small_fs / names[0]).stat().st_size)


def test_training_completes_under_the_guard(
    small_fs: Path, keras_script: Callable[..., subprocess.CompletedProcess[str]], guard_running
) -> None:
    """Under `ckptguard run --dir D` all 12 saves succeed and the newest checkpoint loads."""
    with guard_running("--dir", str(small_fs)) as guard:
        result = keras_script("train", "--dir", str(small_fs))
    log = guard.log_text()

    assert result.returncode == 0, tail(result.stderr, 40) + "\n--- ckptguard:\n" + tail(log, 40)
    assert guard.exit_code == 0, tail(log, 40)
    trained = json.loads(result.stdout.splitlines()[-1])
    assert trained["saves"] == SAVES

    remaining = checkpoints(small_fs)
    assert 1 <= len(remaining) <= 3, [p.name for p in remaining]
    newest = remaining[-1]
    assert newest.name == LAST
    assert_fs_fits_two_not_three(newest.stat().st_size)
    deleted = [e for e in guard.events() if e["event"] == "deleted"]
    assert len(deleted) == SAVES - len(remaining), tail(log, 40)

    loaded = keras_script("check", "--checkpoint", str(newest))
    assert loaded.returncode == 0, tail(loaded.stderr, 40)
    checked = json.loads(loaded.stdout.splitlines()[-1])
    # The newest checkpoint is the trained model itself: same predictions, well above chance.
    flat = [value for row in checked["predictions"] for value in row]
    expected = [value for row in trained["predictions"] for value in row]
    assert flat == pytest.approx(expected, abs=1e-5)
    assert checked["accuracy"] > 0.5
