"""The daemon loop in a thread against real directories: events, rescans, directory trouble."""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from pathlib import Path

import pytest
from structlog.testing import capture_logs
from support import (
    OLD,
    TEMPLATE,
    keras_bytes,
    settings_for,
    steps_in,
    wait_for,
    write_checkpoint,
)

from ckptguard.core.layouts import layout_for
from ckptguard.engine.executors import AuditExecutor
from ckptguard.service.watcher import WATCHDOG_LOGGER


def write_slowly(path: Path, data: bytes, *, chunks: int, pause: float, during=None) -> None:
    """Write `data` into its final path in pieces, as Keras streams a zip, calling `during`."""
    size = len(data) // chunks + 1
    with path.open("wb") as handle:
        for start in range(0, len(data), size):
            handle.write(data[start : start + size])
            handle.flush()
            if during is not None:
                during()
            time.sleep(pause)  # the trainer's pace, not synchronisation


def test_start_handles_files_created_while_down(tmp_path: Path, start_daemon) -> None:
    """Checkpoints written while no daemon ran are pruned by the first scan, before READY."""
    for step in range(100, 700, 100):
        write_checkpoint(tmp_path, step)
    start_daemon(settings_for(tmp_path, keep=2))
    assert steps_in(tmp_path) == [500, 600]


def test_slow_writer_keeps_in_progress_and_newest(tmp_path: Path, start_daemon) -> None:
    """While a save is written over ~2 s nothing it needs is deleted; keep-N holds after close."""
    for step in (100, 200, 300):
        write_checkpoint(tmp_path, step)
    start_daemon(settings_for(tmp_path, keep=2))
    assert steps_in(tmp_path) == [200, 300]
    target = tmp_path / TEMPLATE.format(step=400)

    def still_there() -> None:
        assert target.exists(), "the checkpoint being written was deleted"
        assert (tmp_path / TEMPLATE.format(step=300)).exists(), "newest complete was deleted"

    write_slowly(target, keras_bytes(400_000), chunks=20, pause=0.1, during=still_there)
    wait_for(lambda: steps_in(tmp_path) == [300, 400], timeout=5, message="keep-2 after close")


def test_keep_n_holds_after_every_close(tmp_path: Path, start_daemon) -> None:
    """Each close is followed, within a bounded time, by keep-N holding again."""
    start_daemon(settings_for(tmp_path, keep=3))
    for step in range(1, 11):
        write_checkpoint(tmp_path, step * 100)
        expected = [s * 100 for s in range(max(1, step - 2), step + 1)]
        wait_for(lambda e=expected: steps_in(tmp_path) == e, timeout=5, message=f"keep-3 at {step}")


def test_non_matching_files_are_left_alone(tmp_path: Path, start_daemon) -> None:
    """Keras' temp files, renamed-out pins and other files are never touched."""
    others = ["tmpab12cd34", "best_model.keras", "checkpoint_step_7.keras.bak", "notes.txt"]
    for name in others:
        (tmp_path / name).write_bytes(b"x")
    for step in range(1, 6):
        write_checkpoint(tmp_path, step)
    start_daemon(settings_for(tmp_path, keep=1))
    assert steps_in(tmp_path) == [5]
    assert all((tmp_path / name).exists() for name in others)


def test_pin_sidecar_protects_checkpoint(tmp_path: Path, start_daemon) -> None:
    """A `<name>.keep` sidecar pins a checkpoint however old it gets."""
    write_checkpoint(tmp_path, 1)
    (tmp_path / (TEMPLATE.format(step=1) + ".keep")).touch()
    start_daemon(settings_for(tmp_path, keep=1))
    for step in range(2, 6):
        write_checkpoint(tmp_path, step)
    wait_for(lambda: steps_in(tmp_path) == [1, 5], timeout=5, message="only the pin and newest")


def test_lost_events_are_recovered_by_overflow_rescan(tmp_path: Path, start_daemon) -> None:
    """When watchdog reports an inotify overflow, a full rescan restores keep-N."""
    daemon = start_daemon(settings_for(tmp_path, keep=1, rescan_interval=3600))
    for observer in daemon.observers.values():
        observer.unschedule_all()  # from here on, events are lost as in an overflow
    for step in range(1, 5):
        write_checkpoint(tmp_path, step)
    assert steps_in(tmp_path) == [1, 2, 3, 4]
    logging.getLogger(WATCHDOG_LOGGER).warning(
        "Inotify queue overflowed; filesystem events were lost"
    )
    wait_for(lambda: steps_in(tmp_path) == [4], timeout=5, message="rescan after overflow")


def test_periodic_rescan_without_any_event(tmp_path: Path, start_daemon) -> None:
    """With no events at all, the periodic rescan alone enforces the policy."""
    daemon = start_daemon(settings_for(tmp_path, keep=1, rescan_interval=0.2))
    for observer in daemon.observers.values():
        observer.unschedule_all()
    for step in range(1, 4):
        write_checkpoint(tmp_path, step)
    wait_for(lambda: steps_in(tmp_path) == [3], timeout=5, message="periodic rescan")


def test_missing_directory_is_waited_for(tmp_path: Path, start_daemon) -> None:
    """A directory that does not exist yet is logged once, then guarded when it appears."""
    guarded = tmp_path / "models"
    with capture_logs() as logs:
        start_daemon(settings_for(guarded, keep=1, free_check_interval=0.05))
        guarded.mkdir()
        for step in range(1, 4):
            write_checkpoint(guarded, step)
        wait_for(lambda: steps_in(guarded) == [3], timeout=5, message="guarding after mkdir")
    assert sum(1 for e in logs if e["event"] == "directory_missing") == 1


def test_deleted_and_recreated_directory_is_guarded_again(tmp_path: Path, start_daemon) -> None:
    """After the directory is removed and made again, the guard resumes on the new one."""
    guarded = tmp_path / "models"
    guarded.mkdir()
    start_daemon(settings_for(guarded, keep=1, free_check_interval=0.05))
    shutil.rmtree(guarded)
    guarded.mkdir()
    for step in range(1, 4):
        write_checkpoint(guarded, step)
    wait_for(lambda: steps_in(guarded) == [3], timeout=5, message="guarding the new directory")


def test_one_bad_directory_does_not_stop_the_others(tmp_path: Path, start_daemon) -> None:
    """A directory that is unusable is reported while the other directories are guarded."""
    good, missing = tmp_path / "good", tmp_path / "missing"
    good.mkdir()
    for step in range(1, 4):
        write_checkpoint(good, step)
    start_daemon(settings_for(good, missing, keep=1))
    assert steps_in(good) == [3]


def test_dry_run_deletes_nothing_and_logs_each_decision_once(tmp_path: Path, start_daemon) -> None:
    """--dry-run logs every would-delete once, however many cycles run, and deletes nothing."""
    for step in range(1, 6):
        write_checkpoint(tmp_path, step)
    with capture_logs() as logs:
        daemon = start_daemon(
            settings_for(tmp_path, keep=2, rescan_interval=0.05), executor=AuditExecutor()
        )
        wait_for(lambda: daemon.cycles >= 5, timeout=5, message="several cycles")
    assert steps_in(tmp_path) == [1, 2, 3, 4, 5]
    would = sorted(e["step"] for e in logs if e["event"] == "would_delete")
    assert would == [1, 2, 3]
    assert not [e for e in logs if e["event"] == "deleted"]


def test_reload_applies_new_policy(tmp_path: Path, start_daemon) -> None:
    """A reload with a valid new config takes effect at once."""
    for step in range(1, 5):
        write_checkpoint(tmp_path, step)
    new = settings_for(tmp_path, keep=1)
    daemon = start_daemon(settings_for(tmp_path, keep=3), load_settings=lambda: new)
    assert steps_in(tmp_path) == [2, 3, 4]
    daemon.request_reload()
    wait_for(lambda: steps_in(tmp_path) == [4], timeout=5, message="keep-1 after reload")


def test_stop_request_ends_the_loop_promptly(tmp_path: Path, start_daemon) -> None:
    """request_stop (what SIGTERM does) ends run() without waiting for a timer."""
    daemon = start_daemon(settings_for(tmp_path, rescan_interval=3600, free_check_interval=3600))
    started = time.monotonic()
    daemon.request_stop()
    wait_for(
        lambda: not any(t.name == "ckptguard-daemon-under-test" for t in threading.enumerate()),
        timeout=5,
        message="daemon thread to end",
    )
    assert time.monotonic() - started < 5


def test_polling_mode_enforces_policy(tmp_path: Path, start_daemon) -> None:
    """With --poll (as on NFS) the polling observer's events drive the same decisions."""
    with capture_logs() as logs:
        start_daemon(settings_for(tmp_path, keep=1, poll=True))
        for step in range(1, 4):
            write_checkpoint(tmp_path, step)
        wait_for(lambda: steps_in(tmp_path) == [3], timeout=10, message="keep-1 by polling")
    assert any(e["event"] == "watching" and e["mode"] == "poll" for e in logs)


def test_daemon_keeps_best_from_name_fields(tmp_path: Path, start_daemon) -> None:
    """The daemon applies keep-best as checkpoints arrive."""
    from dataclasses import replace

    from ckptguard.core.naming import Template

    settings = settings_for(tmp_path, keep=1)
    guard = settings.guards[0]
    guard = replace(
        guard,
        layout=layout_for("keras", Template.parse("ckpt_{step}_val_loss_{val_loss}.keras")),
        policy=replace(guard.policy, keep_best=1, metric="val_loss", metric_mode="min"),
    )
    start_daemon(replace(settings, guards=(guard,)))
    for step, loss in {100: 0.5, 200: 0.02, 300: 0.3, 400: 0.1, 500: 0.2}.items():
        (tmp_path / f"ckpt_{step}_val_loss_{loss}.keras").write_bytes(keras_bytes())
    wait_for(
        lambda: (
            sorted(p.name for p in tmp_path.glob("ckpt_*"))
            == ["ckpt_200_val_loss_0.02.keras", "ckpt_500_val_loss_0.2.keras"]
        ),
        timeout=5,
        message="the best and the newest",
    )


def test_signal_requests_take_no_lock(tmp_path: Path) -> None:
    """Stop and reload requests work even while the loop holds its lock (as in a signal handler)."""
    from ckptguard.service.daemon import Daemon

    daemon = Daemon(settings_for(tmp_path))
    try:
        with daemon.requests.lock:  # a signal may arrive while the main thread holds it
            daemon.request_reload()
            daemon.request_stop()
        assert daemon.requests.stopping and daemon.requests.reload
    finally:
        daemon.requests.close()


def test_bad_metrics_file_is_logged_once_and_guarding_goes_on(tmp_path: Path, start_daemon) -> None:
    """A metrics file anyone could write garbage into never stops the daemon."""
    from dataclasses import replace

    (tmp_path / "m.csv").write_text('step,val_loss\n1,"' + "x" * 200_000 + '"\n')
    settings = settings_for(tmp_path, keep=1, rescan_interval=0.05)
    guard = replace(
        settings.guards[0],
        metrics_file=str(tmp_path / "m.csv"),
        policy=replace(settings.guards[0].policy, keep_best=1, metric="val_loss"),
    )
    with capture_logs() as logs:
        daemon = start_daemon(replace(settings, guards=(guard,)))
        for step in range(1, 4):
            write_checkpoint(tmp_path, step)
        wait_for(lambda: steps_in(tmp_path) == [3], timeout=5, message="keep-1 still enforced")
        wait_for(lambda: daemon.cycles >= 10, timeout=5, message="more cycles")
    assert sum(1 for e in logs if e["event"] == "metrics_unavailable") == 1


def test_changes_no_event_reports_do_not_leave_stale_plans(tmp_path: Path, start_daemon) -> None:
    """A checkpoint touched without a watched event (utime) is still pruned on the next save."""
    start_daemon(settings_for(tmp_path, keep=1, rescan_interval=3600, free_check_interval=3600))
    first = write_checkpoint(tmp_path, 1)
    wait_for(lambda: steps_in(tmp_path) == [1], timeout=5, message="first seen")
    os.utime(first, (1_000_000, 1_000_000))  # IN_ATTRIB: not among the watched events
    write_checkpoint(tmp_path, 2)
    wait_for(lambda: steps_in(tmp_path) == [2], timeout=5, message="keep-1 despite the touch")


def test_watchdog_rewatch_warning_cannot_end_its_thread() -> None:
    """watchdog warns from its own thread when a new directory is renamed at once; the
    warning is harmless, but raised as an error it ended the thread and every event."""
    import warnings

    from ckptguard.service.watcher import install_overflow_detector

    remove = install_overflow_detector(lambda: None)
    try:
        warnings.warn(
            "Callback with id '1' already exists for watch <Watch wd=4>. It will be Overwritten.",
            RuntimeWarning,
            stacklevel=1,
        )
        with pytest.raises(RuntimeWarning):  # every other warning is still an error here
            warnings.warn("something else", RuntimeWarning, stacklevel=1)
    finally:
        remove()


def test_a_modification_time_set_after_the_save_is_seen_at_once(models: Path, start_daemon) -> None:
    """`touch -d` or `cp -p` sets a checkpoint's time after its save was looked at: the
    time decides the write order, so the guard looks again at once, not at the next rescan,
    and decides as `audit` would (here: an old step back-dated is no new run)."""
    for index, step in enumerate((10, 20, 30, 40, 50)):
        write_checkpoint(models, step, mtime=OLD + index)
    daemon = start_daemon(settings_for(models, keep=3, rescan_interval=3600))
    assert steps_in(models) == [30, 40, 50]
    copied = write_checkpoint(models, 5)  # a lower step written now: a new run, kept
    (guard,) = daemon.guards.values()
    wait_for(
        lambda: (
            guard.last_inventory is not None
            and copied.name in {c.name for c in guard.last_inventory.checkpoints}
        ),
        message="the save looked at",
    )
    assert steps_in(models) == [5, 30, 40, 50]
    os.utime(copied, (OLD - 60, OLD - 60))  # now the oldest written of one run
    wait_for(lambda: steps_in(models) == [30, 40, 50], message="keep-3 after the new time")
