"""Faults the daemon must survive, each one made real and checked from the outside.

Failed deletions, a full disk, SIGKILL, a directory deleted or unmounted, lost events:
every test breaks the world for real (immutable files, read-only and full mounts,
unmounts, a tiny inotify queue) and checks that the guard carries on and that the policy
holds again afterwards, with no state carried over from before the fault.
"""

from __future__ import annotations

import fcntl
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
from structlog.testing import capture_logs
from support import (
    NO_SPACE_RULE,
    NOBODY,
    OLD,
    events_named,
    fill,
    fill_inodes,
    free_bytes,
    immutable,
    is_json,
    keras_bytes,
    name_of,
    needs_root,
    run_cli,
    settings_for,
    steps_in,
    umount,
    wait_cycles,
    wait_for,
    write_checkpoint,
    write_old,
)

from ckptguard.core.decisions import Status
from ckptguard.core.layouts import layout_for
from ckptguard.core.model import Policy
from ckptguard.engine.cycle import survey
from ckptguard.engine.executors import Deleter
from ckptguard.store.local import lock
from ckptguard.store.local.directory import LocalStore
from ckptguard.store.local.entries import open_directory
from ckptguard.store.local.lock import LOCK_NAME

MiB = 1 << 20


# --- deletions that fail ----------------------------------------------------------------------


def test_immutable_checkpoint_fails_once_and_the_rest_proceeds(models: Path, start_daemon) -> None:
    """EPERM on one deletion: logged once over many rescans; other deletions still happen."""
    for step in range(1, 5):
        write_old(models, step)
    with immutable(models / name_of(2)):
        settings = settings_for(
            models, keep=1, min_free=NO_SPACE_RULE, rescan_interval=0.02, free_check_interval=3600
        )
        with capture_logs() as logs:
            daemon = start_daemon(settings)
            assert steps_in(models) == [2, 4], "the plan's other deletions must still happen"
            wait_cycles(daemon, 30)
            write_old(models, 5)
            write_old(models, 6)
            wait_for(lambda: steps_in(models) == [2, 6], timeout=5, message="still guarding")
            wait_cycles(daemon, 30)
    failed = events_named(logs, "deletion_failed")
    assert len(failed) == 1, f"logged {len(failed)} times over {daemon.cycles} cycles"
    assert failed[0]["step"] == 2 and failed[0]["detail"].startswith("EPERM")
    assert sorted(e["step"] for e in events_named(logs, "deleted")) == [1, 3, 4, 5]


def test_read_only_mount_makes_prune_report_erofs(models: Path, tmp_path: Path, mounts) -> None:
    """`prune --execute` on a read-only bind mount: EROFS per deletion, exit 1, no traceback."""
    for step in range(1, 4):
        write_old(models, step)
    read_only = mounts.bind_read_only(models, tmp_path / "ro")
    done = run_cli("prune", "--dir", str(read_only), "--keep", "1", "--min-free", "0", "--execute")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert "some deletions failed" in done.stderr
    failures = [line for line in done.stderr.splitlines() if '"deletion_failed"' in line]
    assert len(failures) == 2 and all("EROFS" in line for line in failures)
    assert steps_in(models) == [1, 2, 3]


def test_read_only_directory_is_locked_and_each_failure_logged_once(
    models: Path, tmp_path: Path, mounts, start_daemon
) -> None:
    """A read-only directory is locked (a flock writes nothing) and said to be read-only at
    start; each EROFS is logged once, and the other directories are pruned."""
    for step in range(1, 4):
        write_old(models, step)
    read_only = mounts.bind_read_only(models, tmp_path / "ro")
    writable = tmp_path / "writable"
    writable.mkdir()
    for step in range(1, 4):
        write_old(writable, step)
    settings = settings_for(
        read_only, writable, keep=1, min_free=NO_SPACE_RULE, rescan_interval=0.02
    )
    with capture_logs() as logs:
        daemon = start_daemon(settings)
        assert steps_in(writable) == [3]
        assert lock_is_held(read_only)
        wait_cycles(daemon, 30)
        for step in range(4, 7):
            write_old(writable, step)
        wait_for(lambda: steps_in(writable) == [6], timeout=5, message="others still guarded")
    failed = events_named(logs, "deletion_failed")
    assert sorted(e["step"] for e in failed) == [1, 2], failed
    assert all(e["path"].startswith(f"{read_only}/") for e in failed)
    assert all(e["detail"].startswith("EROFS") for e in failed)
    assert not [e for e in logs if e["event"].startswith("lock_")], logs
    (warned,) = events_named(logs, "directory_read_only")
    assert warned["path"] == str(read_only) and "ReadWritePaths" in warned["hint"]
    assert steps_in(models) == [1, 2, 3]


def test_checkpoint_deleted_by_someone_else_first_is_skipped(models: Path) -> None:
    """ENOENT (deleted first by another process) is a skip, and the other deletions happen."""
    for step in range(1, 5):
        write_old(models, step)
    fd = open_directory(str(models))
    try:
        policy = Policy(keep=1, min_free=NO_SPACE_RULE)
        plan = survey(
            LocalStore(fd, str(models)), layout_for("keras"), policy, now=time.time()
        ).plan
        (models / name_of(2)).unlink()
        outcome = Deleter().apply(plan, LocalStore(fd))
    finally:
        os.close(fd)
    statuses = {r.decision.checkpoint.step: (r.status, r.detail) for r in outcome.results}
    assert statuses == {
        1: (Status.DELETED, ""),
        2: (Status.SKIPPED, "already gone"),
        3: (Status.DELETED, ""),
    }
    assert not outcome.failed
    assert steps_in(models) == [4]


# --- a completely full filesystem -----------------------------------------------------------


def lock_is_held(path: Path) -> bool:
    """Whether a flock is held on `path`, a file or a directory (looking takes it an instant)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


@pytest.mark.parametrize(
    "filled_by",
    ["filler blocks", "filler blocks and inodes", "checkpoints blocks and inodes"],
)
def test_full_filesystem_daemon_starts_and_frees_space(
    tmp_path: Path, filled_by: str, mounts, spawn
) -> None:
    """No byte (or inode) left, logs on the same disk: the daemon starts locked, frees space."""
    fs = mounts.tmpfs(tmp_path / "fs", 4 * MiB, nr_inodes=64)
    models = fs / "models"
    models.mkdir()
    log_path = fs / "ckptguard.log"
    log_path.touch()
    for step in range(1, 4):
        write_old(models, step, keras_bytes(MiB))
    if filled_by.startswith("filler"):
        fill(fs / "dataset.bin")
    else:  # the save that died of ENOSPC left a truncated checkpoint behind
        fill(models / name_of(4))
        os.utime(models / name_of(4), (OLD, OLD))
    if "inodes" in filled_by:
        fill_inodes(fs)
    assert free_bytes(fs) == 0
    needed = (models / name_of(3)).stat().st_blocks * 512

    daemon = spawn("--dir", str(models), log_path=log_path)
    daemon.expect_ready()
    assert lock_is_held(models), "the directory lock needs no room"
    # The truncated save is judged corrupt once the guard has watched it stay quiet for
    # the settle window (10 s): its modification time alone does not tell.
    wait_for(lambda: free_bytes(fs) >= needed, timeout=30, message="room for the next save")
    assert 3 in steps_in(models) and 1 not in steps_in(models)
    assert LOCK_NAME not in os.listdir(models)
    assert daemon.stop() == 0
    text = daemon.log_text()
    assert "Traceback" not in text
    assert {1} <= {e["step"] for e in daemon.events_named("deleted")}, text
    assert daemon.events_named("stopped"), text


@pytest.mark.parametrize("full", ["blocks", "blocks and inodes"])
def test_fallback_lock_file_on_a_full_filesystem(tmp_path: Path, full: str, mounts) -> None:
    """The fallback lock file: with no inode it is deferred (no_space), with no block it is
    taken without its holder record."""
    fs = mounts.tmpfs(tmp_path / "fs", MiB, nr_inodes=64)
    models = fs / "models"
    models.mkdir()
    fill(fs / "dataset.bin")
    if "inodes" in full:
        fill_inodes(fs)
    dir_fd = os.open(models, os.O_RDONLY | os.O_DIRECTORY)
    try:
        if "inodes" in full:
            with pytest.raises(lock.LockUnavailable) as deferred:
                lock.acquire_file(dir_fd)
            assert deferred.value.no_space, deferred.value
            assert not (models / LOCK_NAME).exists()
        else:
            held = lock.acquire_file(dir_fd)
            try:
                assert lock_is_held(models / LOCK_NAME)
                assert (models / LOCK_NAME).stat().st_size == 0, "a record with no room for it"
            finally:
                lock.release(held)
    finally:
        os.close(dir_fd)


# --- SIGKILL at random moments --------------------------------------------------------------


def test_sigkill_at_random_moments_then_restart_restores_policy(models: Path, spawn) -> None:
    """Ten SIGKILLs at random moments while a trainer saves; a restart alone restores keep-3."""
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    written: list[int] = []
    consistent = threading.Lock()
    stop = threading.Event()

    def trainer() -> None:
        step = 0
        while not stop.is_set():
            step += 1
            with consistent:
                write_checkpoint(models, step)
                written.append(step)
            time.sleep(0.01)  # the trainer's pace

    thread = threading.Thread(target=trainer, name="trainer")
    thread.start()
    try:
        for _ in range(10):
            daemon = spawn("--dir", str(models), "--keep", "3", "--min-free", "0")
            # Starting takes ~0.5 s: this kills it while starting, scanning, deleting or idle.
            time.sleep(rng.uniform(0.2, 1.2))
            daemon.proc.kill()
            daemon.proc.wait()
            with consistent:  # the daemon is dead; the trainer is between saves
                newest = written[-1]
                present = set(steps_in(models))
            assert {newest - 2, newest - 1, newest} <= present, f"seed {seed}"
    finally:
        stop.set()
        thread.join()
    assert len(written) > 10
    final = spawn("--dir", str(models), "--keep", "3", "--min-free", "0")
    final.expect_ready()
    assert steps_in(models) == written[-3:], f"seed {seed}"
    assert final.stop() == 0


# --- the directory deleted and recreated, or unmounted and mounted again ---------------------


def recreate(guarded: Path, how: str, request: pytest.FixtureRequest) -> None:
    if how == "remount":
        umount(guarded)
        request.getfixturevalue("mounts").tmpfs(guarded, MiB)
    else:
        shutil.rmtree(guarded)
        guarded.mkdir()


@pytest.mark.parametrize(
    ("how", "rescan_interval"),
    [
        ("rmtree", 3600.0),
        ("remount", 3600.0),
        pytest.param(
            "rmtree",
            0.05,
            id="rmtree-rescan-as-often-as-free-check",
        ),
    ],
)
def test_directory_deleted_or_remounted_is_guarded_again(
    tmp_path: Path, how: str, rescan_interval: float, request, start_daemon
) -> None:
    """The directory removed (or its filesystem unmounted) and made again: guarding resumes."""
    guarded = tmp_path / "models"
    if how == "remount":
        request.getfixturevalue("mounts").tmpfs(guarded, MiB)
    else:
        guarded.mkdir()
    settings = settings_for(
        guarded,
        keep=1,
        min_free=NO_SPACE_RULE,
        rescan_interval=rescan_interval,
        free_check_interval=0.05,
    )
    with capture_logs() as logs:
        start_daemon(settings)
        for step in range(1, 4):
            write_old(guarded, step)
        wait_for(lambda: steps_in(guarded) == [3], timeout=5, message="keep-1 before")
        recreate(guarded, how, request)
        for step in range(1, 4):
            write_old(guarded, step)
        wait_for(lambda: steps_in(guarded) == [3], timeout=5, message="keep-1 on the new one")
    assert events_named(logs, "directory_replaced")


# --- lost events ---------------------------------------------------------------------------

QUEUE = Path("/proc/sys/fs/inotify/max_queued_events")


def test_inotify_overflow_is_detected_and_rescanned(models: Path, spawn) -> None:
    """A real inotify overflow (queue of 16) is logged and answered by an immediate rescan."""
    needs_root()
    write_old(models, 1)
    original = QUEUE.read_text()
    try:
        QUEUE.write_text("16\n")
    except OSError as error:
        pytest.skip(f"cannot lower fs.inotify.max_queued_events here: {error}")
    try:  # the limit is copied into each inotify instance when it is created
        daemon = spawn(
            "--dir",
            str(models),
            "--keep",
            "1",
            "--min-free",
            "0",
            "--rescan-interval",
            "3600",
            "--free-check-interval",
            "3600",
        )
        daemon.expect_ready()
    finally:
        QUEUE.write_text(original)
    os.kill(daemon.proc.pid, signal.SIGSTOP)
    try:
        for index in range(20):  # 40 irrelevant events fill the queue of 16...
            (models / f"noise-{index}.txt").write_bytes(b"x")
        for step in range(2, 7):  # ...so the events of these checkpoints are lost
            write_old(models, step)
    finally:
        os.kill(daemon.proc.pid, signal.SIGCONT)
    wait_for(lambda: daemon.events_named("events_lost"), timeout=10, message="events_lost")
    wait_for(lambda: steps_in(models) == [6], timeout=5, message="keep-1 by the rescan")
    assert daemon.stop() == 0


def test_a_close_lost_with_the_events_is_not_a_save_for_ever(models: Path, spawn) -> None:
    """A save the guard knew as being written, closed while events were lost: once no
    writer shows in /proc, it is believed finished after one settle window of quiet
    (not an hour), and keep-1 applies."""
    needs_root()
    write_old(models, 1)
    save = open(models / name_of(2), "wb")  # noqa: SIM115 - closed while the guard is stopped
    save.write(keras_bytes(4096))
    save.flush()
    original = QUEUE.read_text()
    try:
        QUEUE.write_text("16\n")
    except OSError as error:
        save.close()
        pytest.skip(f"cannot lower fs.inotify.max_queued_events here: {error}")
    try:  # /proc shows the writer at start: step 2 is known as being written
        daemon = spawn(
            "--dir", str(models), "--keep", "1", "--min-free", "0", "--settle", "1",
            "--rescan-interval", "3600", "--free-check-interval", "3600",
        )  # fmt: skip
        daemon.expect_ready()
    finally:
        QUEUE.write_text(original)
    assert steps_in(models) == [1, 2]
    os.kill(daemon.proc.pid, signal.SIGSTOP)
    try:
        for index in range(20):  # 40 irrelevant events fill the queue of 16...
            (models / f"noise-{index}.txt").write_bytes(b"x")
        save.close()  # ...so the close of the save is lost
    finally:
        os.kill(daemon.proc.pid, signal.SIGCONT)
    wait_for(lambda: daemon.events_named("events_lost"), timeout=10, message="events_lost")
    wait_for(lambda: steps_in(models) == [2], timeout=10, message="keep-1 after the settle")
    assert daemon.stop() == 0


# --- the log itself ----------------------------------------------------------------------------

# `ckptguard run`, with watchdog logging one of its own messages once the daemon is ready.
# Watchdog really does, at random: "InotifyEmitter.queue_events() called when the thread
# is inactive" when a watch is stopped (at shutdown, or when a directory is closed) while
# its emitter thread is between two reads.
WATCHDOG_SPEAKS = """
import logging, sys
from ckptguard.service import daemon
start = daemon.Daemon.startup
def speaking_start(self):
    start(self)
    logging.getLogger("watchdog.observers.inotify").error(
        "InotifyEmitter.queue_events() called when the thread is inactive"
    )
daemon.Daemon.startup = speaking_start
from ckptguard.face.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_watchdog_messages_do_not_break_the_json_log(models: Path, spawn) -> None:
    """With --log-format json every stderr line is JSON, even what watchdog logs itself."""
    guard = spawn("--dir", str(models), entry=("-c", WATCHDOG_SPEAKS))
    try:
        guard.listener.wait_for("READY=1")
    finally:
        guard.stop(timeout=10)
    stderr = guard.log_text()
    assert guard.exit_code == 0, stderr
    not_json = [line for line in stderr.splitlines() if line.strip() and not is_json(line)]
    assert not not_json, stderr


# --- open-file detection as a non-root user --------------------------------------------------


def test_non_root_daemon_warns_that_open_file_detection_is_limited(spawn) -> None:
    """Run as nobody on nobody's directory: it guards, and logs open_file_detection_limited."""
    needs_root()
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is needed to drop to nobody")
    as_nobody = ("setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups")
    probe = subprocess.run(
        [*as_nobody, sys.executable, "-c", "import ckptguard"],
        capture_output=True,
        text=True,
        check=False,
    )
    if probe.returncode != 0:
        # A checkout under a private directory (mktemp -d makes them 0700) is out of reach.
        why = (probe.stderr.strip().splitlines() or ["no output"])[-1]
        pytest.skip(f"nobody cannot run ckptguard from {sys.prefix}: {why}")
    base = Path(tempfile.mkdtemp(prefix="ckptguard-nobody-"))
    try:
        base.chmod(0o755)
        models = base / "models"
        models.mkdir()
        for step in range(1, 4):
            write_old(models, step)
        os.chown(models, NOBODY, NOBODY)
        daemon = spawn("--dir", str(models), "--keep", "1", prefix=as_nobody)
        daemon.expect_ready()
        assert steps_in(models) == [3]
        assert lock_is_held(models)
        assert daemon.stop() == 0
        (limited,) = daemon.events_named("open_file_detection_limited")
        assert limited["hidden_processes"] > 0
    finally:
        shutil.rmtree(base)
