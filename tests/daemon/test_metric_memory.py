"""Keep-best survives a metrics file that loses rows: a CSVLogger log truncated by a resumed
run, across daemon restarts, and with a state directory that cannot be written."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs
from support import (
    LOG,
    TEMPLATE,
    CsvLoggerFile,
    Mounts,
    can_mount_tmpfs,
    fill,
    free_bytes,
    keep_best_args,
    settings_for,
    six_epochs,
    steps_in,
    wait_cycles,
    wait_for,
    write_checkpoint,
)

from ckptguard.service.settings import Settings

needs_tmpfs = pytest.mark.skipif(can_mount_tmpfs() is not None, reason=str(can_mount_tmpfs()))


@pytest.fixture
def trained(models: Path) -> Iterator[CsvLoggerFile]:
    """Six epochs saved as checkpoint_step_{1..6}.keras, logged to training.log."""
    logger = six_epochs(models)
    yield logger
    logger.close()


@pytest.fixture
def trained_by_thread(trained: CsvLoggerFile, start_daemon: Any) -> Iterator[CsvLoggerFile]:
    """`trained` beside a daemon thread: its log is closed before the daemon fixture looks
    for descriptors left open (reopened during the test, it may hold another number)."""
    yield trained
    trained.close()


def test_truncated_csvlogger_log_keeps_the_best(
    models: Path, trained: CsvLoggerFile, guard_running
) -> None:
    """A resumed run truncates training.log; the best checkpoint stays through later saves."""
    with guard_running(*keep_best_args(models)) as guard:
        assert steps_in(models) == [2, 5, 6]
        trained.start()  # the resumed run's on_train_begin: the log is now empty
        assert (models / LOG).stat().st_size == 0
        write_checkpoint(models, 7)
        wait_for(lambda: 5 not in steps_in(models), message="checkpoint 5 deleted")
        assert steps_in(models) == [2, 6, 7]
        trained.epoch_end(6, {"loss": 0.95, "val_loss": 0.9})
        write_checkpoint(models, 8)
        wait_for(lambda: 6 not in steps_in(models), message="checkpoint 6 deleted")
        assert steps_in(models) == [2, 7, 8]
    events = guard.events()
    assert guard.exit_code == 0
    lost = [e for e in events if e["event"] == "metrics_rows_lost"]
    assert len(lost) == 1, lost
    assert lost[0]["metrics_file"] == str(models / LOG)


def test_memory_survives_a_restart(
    tmp_path: Path, models: Path, trained: CsvLoggerFile, guard_running
) -> None:
    """Values read by one daemon are read back from --state-dir by the next one."""
    state = tmp_path / "state"
    args = keep_best_args(models, "--state-dir", str(state))
    with guard_running(*args):
        assert steps_in(models) == [2, 5, 6]
    (state_file,) = state.glob("dir-*.json")  # the metric memory (verdicts are kept apart)
    assert json.loads(state_file.read_text())["directory"] == str(models.resolve())
    # While no guard runs, training resumes: the log is truncated and step 7 saved.
    trained.start()
    write_checkpoint(models, 7)
    with guard_running(*args):
        assert steps_in(models) == [2, 6, 7]
        write_checkpoint(models, 8)
        wait_for(lambda: 6 not in steps_in(models), message="checkpoint 6 deleted")
        assert steps_in(models) == [2, 7, 8]
    # Nothing of the guard's own in the guarded directory.
    names = {p.name for p in models.iterdir()} - {TEMPLATE.format(step=s) for s in (2, 7, 8)}
    assert names == {LOG}


def metrics_settings(models: Path, state_dir: Path | None, **options: float) -> Settings:
    settings = settings_for(models, keep=2, settle=0.0, **options)
    guard = replace(
        settings.guards[0],
        metrics_file=str(models / LOG),
        policy=replace(settings.guards[0].policy, keep_best=1, metric="val_loss"),
    )
    return replace(
        settings, guards=(guard,), state_dir=None if state_dir is None else str(state_dir)
    )


def rows_lost(logs: list[dict[str, Any]]) -> int:
    return sum(1 for e in logs if e["event"] == "metrics_rows_lost")


def test_rows_lost_is_logged_once_per_truncation(
    tmp_path: Path, models: Path, trained_by_thread: CsvLoggerFile, start_daemon
) -> None:
    """metrics_rows_lost is logged when a truncation takes rows, not on every cycle after."""
    with capture_logs() as logs:
        daemon = start_daemon(metrics_settings(models, tmp_path / "state", rescan_interval=1))
        trained_by_thread.start()
        write_checkpoint(models, 7)
        wait_for(lambda: steps_in(models) == [2, 6, 7], message="checkpoint 5 deleted")
        wait_cycles(daemon, 2)
        assert rows_lost(logs) == 1
        # The new run logs epoch 6 (checkpoint 7), then is restarted once more.
        trained_by_thread.epoch_end(6, {"loss": 0.95, "val_loss": 0.9})
        write_checkpoint(models, 8)
        wait_for(lambda: steps_in(models) == [2, 7, 8], message="checkpoint 6 deleted")
        trained_by_thread.start()
        write_checkpoint(models, 9)
        wait_for(lambda: steps_in(models) == [2, 8, 9], message="checkpoint 7 deleted")
        # The cycle that deleted 7 logs the loss after its deletions: wait for it, then
        # for more cycles, which must not log it again.
        wait_for(lambda: rows_lost(logs) >= 2, message="the second truncation logged")
        wait_cycles(daemon, 2)
    lost = [e for e in logs if e["event"] == "metrics_rows_lost"]
    assert len(lost) == 2, lost
    assert lost[1]["checkpoints"] == [TEMPLATE.format(step=s) for s in (2, 7)]


@pytest.fixture
def state_fs(tmp_path: Path, mounts: Mounts) -> Path:
    """A 64 KiB tmpfs for the state directory."""
    return mounts.tmpfs(tmp_path / "state-fs", 64 * 1024)


@pytest.mark.root
@needs_tmpfs
@pytest.mark.parametrize("trouble", ["full", "read-only"])
def test_unwritable_state_dir_never_stops_deletions(
    models: Path, trained_by_thread: CsvLoggerFile, state_fs: Path, start_daemon, trouble: str
) -> None:
    """A state directory on a full or read-only filesystem: deletions happen, one warning."""
    import subprocess

    state = state_fs / "ckptguard"
    state.mkdir()
    if trouble == "full":
        fill(state_fs / "filler")
        assert free_bytes(state_fs) == 0
    else:
        subprocess.run(["mount", "-o", "remount,ro", str(state_fs)], check=True)
    with capture_logs() as logs:
        daemon = start_daemon(metrics_settings(models, state, rescan_interval=1))
        assert steps_in(models) == [2, 5, 6]
        trained_by_thread.start()
        write_checkpoint(models, 7)
        wait_for(lambda: steps_in(models) == [2, 6, 7], message="checkpoint 5 deleted")
        wait_cycles(daemon, 2)
    failures = [e for e in logs if e["event"] == "state_write_failed"]
    assert len(failures) == 1, failures
    expected = "No space left on device" if trouble == "full" else "Read-only file system"
    assert expected in failures[0]["error"]
    assert [e["event"] for e in logs].count("deleted") == 4  # 1, 3, 4, then 5
    assert not any(p.name.endswith(".tmp") for p in state.iterdir())
    assert os.listdir(state) == []
