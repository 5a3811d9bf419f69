"""Attacks by someone who can write into a guarded directory (or near it): each must fail.

The attacker's tools are the ones a local user has: creating, renaming, linking and
forging files, and swapping directories for symlinks. Every test builds the attack on
real files and checks both that nothing outside the guarded directory (and no real
checkpoint) is touched, and that the refusal is visible in the log.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs
from support import (
    KERAS,
    KERAS_TEMPLATE,
    NO_SPACE_RULE,
    NOBODY,
    OLD,
    UNREACHABLE,
    events_named,
    fill,
    free_bytes,
    is_json,
    keras_bytes,
    name_of,
    plan_for,
    run_cli,
    settings_for,
    snapshot,
    steps_in,
    wait_cycles,
    wait_for,
    wait_passes,
    write_old,
    zip_bytes,
)

from ckptguard.core.decisions import Action, ReasonCode, Status
from ckptguard.engine.executors import Deleter
from ckptguard.service.events import log_outcome
from ckptguard.store.local import lock
from ckptguard.store.local.directory import LocalStore
from ckptguard.store.local.entries import open_directory
from ckptguard.store.local.lock import LOCK_NAME
from ckptguard.store.local.scan import scan


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A directory next to the guarded one: nothing in it may ever be touched."""
    directory = tmp_path / "outside"
    directory.mkdir()
    return directory


# --- races between planning and deleting ----------------------------------------------------


def test_checkpoint_swapped_for_symlink_after_planning_is_not_followed(
    models: Path, outside: Path
) -> None:
    """A planned checkpoint replaced by a symlink to an outside file: skipped and logged."""
    for step in range(1, 5):
        write_old(models, step)
    target = write_old(outside, 1)
    before = snapshot(target)
    fd = open_directory(str(models))
    try:
        plan = plan_for(models, fd, keep=1)
        assert sorted(d.checkpoint.step for d in plan.deletions) == [1, 2, 3]
        victim = models / name_of(1)
        victim.unlink()
        victim.symlink_to(target)
        with capture_logs() as logs:
            outcome = Deleter().apply(plan, LocalStore(fd))
            log_outcome(outcome)
    finally:
        os.close(fd)
    assert snapshot(target) == before, "the file outside the directory was touched"
    assert victim.is_symlink(), "the attacker's symlink itself must be left alone"
    assert steps_in(models) == [1, 4], "the plan's other deletions must still happen"
    (skipped,) = events_named(logs, "deletion_skipped")
    assert skipped["path"] == str(victim) and skipped["step"] == 1
    assert "symlink" in skipped["detail"]


def test_newest_renamed_over_planned_deletion_is_not_deleted(models: Path) -> None:
    """The newest checkpoint renamed onto a planned name is not deleted: identity re-check."""
    for step in range(1, 5):
        write_old(models, step)
    newest = models / name_of(4)
    newest_bytes = newest.read_bytes()
    fd = open_directory(str(models))
    try:
        plan = plan_for(models, fd, keep=1)
        assert sorted(d.checkpoint.step for d in plan.deletions) == [1, 2, 3]
        os.rename(newest, models / name_of(1))  # same size, same name as the planned one
        with capture_logs() as logs:
            log_outcome(Deleter().apply(plan, LocalStore(fd)))
    finally:
        os.close(fd)
    assert (models / name_of(1)).read_bytes() == newest_bytes, "the newest data was deleted"
    (skipped,) = events_named(logs, "deletion_skipped")
    assert skipped["step"] == 1 and "changed since it was planned" in skipped["detail"]
    assert sorted(e["step"] for e in events_named(logs, "deleted")) == [2, 3]


# --- the directory itself, or a parent, swapped for a symlink -------------------------------


def bait(directory: Path) -> dict[str, tuple[bytes, int, int]]:
    """Fill `directory` with old checkpoints and a canary; return their snapshots."""
    directory.mkdir(parents=True)
    for step in range(1, 6):
        write_old(directory, step)
    (directory / "canary.txt").write_text("must survive")
    return {p.name: snapshot(p) for p in directory.iterdir()}


@pytest.mark.parametrize("swapped", ["directory", "parent"])
def test_directory_or_parent_swapped_for_symlink_is_not_followed(
    tmp_path: Path, swapped: str, start_daemon
) -> None:
    """DIR (or its parent) renamed away and replaced by a symlink: the target is never pruned."""
    guarded = tmp_path / "parent" / "models"
    guarded.mkdir(parents=True)
    for step in range(1, 4):
        write_old(guarded, step)
    settings = settings_for(guarded, keep=1, rescan_interval=3600, free_check_interval=0.02)
    with capture_logs() as logs:
        daemon = start_daemon(settings)
        assert steps_in(guarded) == [3]
        target = tmp_path / "evil" / "models"
        expected = bait(target)
        if swapped == "directory":
            os.rename(guarded, tmp_path / "parent" / "moved-away")
            guarded.symlink_to(target)
        else:
            os.rename(tmp_path / "parent", tmp_path / "moved-away")
            (tmp_path / "parent").symlink_to(target.parent)
        wait_for(
            lambda: events_named(logs, "directory_moved"), timeout=10, message="directory_moved"
        )
        wait_passes(daemon, 20)  # many chances to (wrongly) follow the new path
    assert {p.name: snapshot(p) for p in target.iterdir()} == expected
    moved = events_named(logs, "directory_moved")
    assert len(moved) == 1 and moved[0]["resolves_to"] == str(target)
    assert events_named(logs, "directory_replaced")


# --- forged "newest" checkpoints ------------------------------------------------------------

FUTURE = time.time() + 10 * 365 * 86400


def forge(directory: Path) -> dict[str, tuple[bytes, int, int]]:
    """Real checkpoints 10..50 plus forged 'newest' files; returns snapshots of the forgeries."""
    for index, step in enumerate(range(10, 60, 10)):
        os.utime(write_old(directory, step), (OLD + index, OLD + index))
    forged = [
        write_old(directory, 1000, b""),  # zero bytes
        write_old(directory, 1001, os.urandom(5000)),  # garbage
        write_old(directory, 1002, not_a_model()),  # a valid zip that is not a Keras model
        write_old(directory, 1003, os.urandom(5000)),  # garbage, dated in the future below
        write_old(directory, 2**64 + 1),  # a complete model whose step is beyond 64 bits
    ]
    os.utime(forged[3], (FUTURE, FUTURE))
    # A symlink named like the newest checkpoint, to a complete model outside the directory.
    decoy = directory.parent / "decoy.keras"
    decoy.write_bytes(keras_bytes())
    link = directory / name_of(2000)
    link.symlink_to(decoy)
    os.utime(link, (OLD, OLD), follow_symlinks=False)
    os.mkfifo(directory / name_of(3000))  # opening it for a content check would block
    # A complete checkpoint of an old step whose mtime claims that it is the newest file.
    os.utime(write_old(directory, 5), (FUTURE, FUTURE))
    return {p.name: snapshot(p) for p in [*forged, decoy]}


def not_a_model() -> bytes:
    return zip_bytes({"readme.txt": "not a model"})


def assert_untouched(directory: Path, forged: dict[str, tuple[bytes, int, int]]) -> None:
    for name, snap in forged.items():
        where = directory.parent if name == "decoy.keras" else directory
        assert snapshot(where / name) == snap, f"{name} was touched"
    assert (directory / name_of(2000)).is_symlink(), "the symlink was deleted"
    assert (directory / name_of(3000)).is_fifo(), "the FIFO was deleted"


def real_steps(directory: Path) -> list[int]:
    """The steps of the real run (10, 20, ...), leaving out the forged step 5."""
    return [s for s in steps_in(directory) if 10 <= s <= 60]


def test_forged_newest_checkpoints_push_nothing_out_under_prune(models: Path) -> None:
    """`prune --execute --keep 3` with forged newest files deletes only by the real steps.

    A complete old step dated in the future is the newest written: a run of its own,
    kept, which takes no slot of the real run's.
    """
    forged = forge(models)
    done = run_cli("prune", "--dir", str(models), "--keep", "3", "--min-free", "0", "--execute")
    assert done.returncode == 0, done.stderr
    assert real_steps(models) == [30, 40, 50]
    assert 5 in steps_in(models)
    assert_untouched(models, forged)


def test_forged_newest_checkpoints_push_nothing_out_under_the_daemon(
    models: Path, start_daemon
) -> None:
    """The daemon, with forged newest files present, keeps the real newest N and goes on."""
    forged = forge(models)
    start_daemon(settings_for(models, keep=3, min_free=NO_SPACE_RULE))
    assert real_steps(models) == [30, 40, 50]
    os.utime(write_old(models, 60), (OLD + 10, OLD + 10))  # the real run's next save
    wait_for(
        lambda: real_steps(models) == [40, 50, 60] and 5 in steps_in(models),
        timeout=5,
        message="keep-3 over the real checkpoints after a new save",
    )
    assert_untouched(models, forged)


# --- hard links -------------------------------------------------------------------------------


def test_hard_linked_checkpoint_is_not_counted_as_freeing_space(
    models: Path, outside: Path
) -> None:
    """A checkpoint also linked outside DIR frees nothing: not in free_after, passed over."""
    for index, step in enumerate((1, 2, 3)):
        os.utime(write_old(models, step), (OLD + index, OLD + index))
    os.link(models / name_of(1), outside / "hard-link-to-step-1")
    before = snapshot(outside / "hard-link-to-step-1")
    fd = open_directory(str(models))
    try:
        plan = plan_for(models, fd, keep=3, min_free=UNREACHABLE)
        by_step = {d.checkpoint.step: d for d in plan.decisions}
        linked, second = by_step[1], by_step[2]
        assert linked.checkpoint.reclaimable == 0
        assert linked.action is Action.KEEP
        assert ReasonCode.NOTHING_TO_FREE in {r.code for r in linked.reasons}
        assert second.action is Action.DELETE and second.checkpoint.reclaimable > 0
        assert plan.free_after == plan.disk.free + second.checkpoint.reclaimable
        outcome = Deleter().apply(plan, LocalStore(fd))
    finally:
        os.close(fd)
    assert [r.decision.checkpoint.step for r in outcome.with_status(Status.DELETED)] == [2]
    assert steps_in(models) == [1, 3]
    assert snapshot(outside / "hard-link-to-step-1") == before


# --- names --------------------------------------------------------------------------------

LONG_ZEROS = b"checkpoint_step_" + b"0" * 232 + b"7.keras"
assert len(LONG_ZEROS) == 255
# (name as bytes, step it is, or None: not a checkpoint), per README "Policy".
NAMES = [
    (b"checkpoint_step_7.keras", 7),
    (b"checkpoint_step_007.keras", 7),
    (b"checkpoint_step_" + b"0" * 19 + b"7.keras", 7),  # 20 digits: still a step
    (b"checkpoint_step_" + b"0" * 20 + b"7.keras", None),  # 21 digits: too long
    (b"checkpoint_step_18446744073709551615.keras", 2**64 - 1),
    (b"checkpoint_step_18446744073709551616.keras", None),
    (b"checkpoint_step_18446744073709551617.keras", None),
    (b"checkpoint_step_+7.keras", None),
    (b"checkpoint_step_-7.keras", None),
    (b"checkpoint_step_ 7.keras", None),
    (b"checkpoint_step_.keras", None),
    ("checkpoint_step_\u0667.keras".encode(), None),  # ARABIC-INDIC DIGIT SEVEN
    ("checkpoint_step_\uff17.keras".encode(), None),  # FULLWIDTH DIGIT SEVEN
    ("checkpoint_step_\U0001d7d5.keras".encode(), None),  # MATHEMATICAL BOLD DIGIT SEVEN
    ("checkpoint_step_\u00b2.keras".encode(), None),  # SUPERSCRIPT TWO
    (b"checkpoint_step_\xff.keras", None),
    (b"checkpoint_step_7\xff.keras", None),
    (b"checkpoint_step_7.keras\xff", None),
    (b"\xffcheckpoint_step_7.keras", None),
    (b"checkpoint_step_7.keras\n", None),
    (b"\ncheckpoint_step_7.keras", None),
    (b"checkpoint_step_\n7.keras", None),
    (b"checkpoint_step_7\n.keras", None),
    (LONG_ZEROS, None),
    (b"x" * 255, None),
    (b"checkpoint_step_7.keras.keep", None),  # a pin sidecar, not a checkpoint
]


def create_bytes_name(directory: Path, name: bytes, data: bytes) -> None:
    """Create `directory/name` through a bytes path, so non-UTF-8 names are exact."""
    path = os.fsencode(directory) + b"/" + name
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.utime(path, (OLD, OLD))


@pytest.mark.parametrize(("name", "step"), NAMES, ids=[repr(n)[2:-1][:40] for n, _ in NAMES])
def test_name_outcome(models: Path, name: bytes, step: int | None) -> None:
    """Each hostile name has its defined outcome: the step it is, or not a checkpoint at all."""
    create_bytes_name(models, name, keras_bytes())
    assert KERAS_TEMPLATE.step_of(os.fsdecode(name)) == step
    fd = open_directory(str(models))
    try:
        found = {c.name: c.step for c in scan(fd, str(models), KERAS).checkpoints}
    finally:
        os.close(fd)
    assert found == ({} if step is None else {os.fsdecode(name): step})


def test_leading_zero_ties_are_broken_by_name(models: Path) -> None:
    """`007` and `7` are both step 7; the tie goes by name, so `7` is the newest of the two."""
    write_old(models, "007")
    write_old(models, "7")
    write_old(models, "6")
    fd = open_directory(str(models))
    try:
        plan = plan_for(models, fd, keep=1)
        assert [d.checkpoint.name for d in plan.decisions] == [
            name_of(6),
            name_of("007"),
            name_of(7),
        ]
        Deleter().apply(plan, LocalStore(fd))
    finally:
        os.close(fd)
    assert sorted(p.name for p in models.iterdir()) == [name_of(7)]


def test_daemon_survives_a_directory_of_hostile_names(models: Path, spawn) -> None:
    """A real daemon over every hostile name keeps running and still prunes a normal burst."""
    others = [(n, s) for n, s in NAMES if s is None]
    for name, _ in others[: len(others) // 2]:
        create_bytes_name(models, name, keras_bytes())
    write_old(models, "007")
    write_old(models, "7")
    daemon = spawn("--dir", str(models), "--keep", "2", "--min-free", "0")
    daemon.expect_ready()
    for name, _ in others[len(others) // 2 :]:  # seen by the watcher, not only the scan
        create_bytes_name(models, name, keras_bytes())
    for step in range(100, 106):
        write_old(models, step)
    # `checkpoint_step_7.keras.keep` is among the hostile names: it pins step 7.
    wait_for(lambda: steps_in(models) == [7, 104, 105], timeout=10, message="burst pruned")
    assert daemon.proc.poll() is None, daemon.log_text()
    present = set(os.listdir(os.fsencode(models)))
    assert {name for name, _ in others} <= present, "a non-checkpoint was deleted"
    assert daemon.stop() == 0
    text = daemon.log_text()
    assert "Traceback" not in text
    # Stray plain-text lines from watchdog are test_faults.py's business: see
    # test_watchdog_messages_do_not_break_the_json_log.
    ours = [line for line in text.split("\n") if line.startswith("{")]
    assert ours and all(is_json(line) for line in ours), text
    deleted = {e["path"].rsplit("/", 1)[1] for e in daemon.events_named("deleted")}
    assert deleted == {name_of("007"), *(name_of(s) for s in range(100, 104))}


LONG_PATTERN = "p" * 240 + "_{step}.keras"  # names of 248-255 bytes; their pins are longer


def test_names_whose_pin_sidecar_would_be_too_long_can_be_pruned(models: Path) -> None:
    """Checkpoints named up to 255 bytes (so `<name>.keep` cannot exist) are still pruned."""
    names = []
    for step in (1000, 1001, 1002):
        name = LONG_PATTERN.replace("{step}", str(step)).encode()
        create_bytes_name(models, name, keras_bytes())
        names.append(name.decode())
    assert len(names[0]) == 251
    done = run_cli(
        "prune", "--dir", str(models), "--pattern", LONG_PATTERN, "--keep", "1", "--execute"
    )
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 0, done.stderr
    assert sorted(os.listdir(models)) == [names[-1]]


# --- the directory lock: anyone who can read DIR can flock it ---------------------------------

# Takes an exclusive flock on the directory argv[1], with the uids argv[3] ("r,e,s") if
# given; with "hand-on" the process that took it exits and its child keeps it. Prints
# "locked", then holds the lock until stdin closes.
HOLDER = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECTORY)
if sys.argv[3] != "-":
    os.setresuid(*map(int, sys.argv[3].split(",")))
fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
if sys.argv[2] == "hand-on" and os.fork():
    os._exit(0)
print("locked", flush=True)
sys.stdin.read()
"""


@contextlib.contextmanager
def lock_holder(
    directory: Path, *, as_nobody: bool = False, setresuid: str = "-", hand_on: bool = False
) -> Iterator[int]:
    """A process holding a flock on `directory`; yields the pid that took it."""
    if as_nobody:
        # flock(1): the test's python may lie where nobody cannot reach it.
        if shutil.which("flock") is None:
            pytest.skip("flock (util-linux) is needed to hold a lock as nobody")
        command = ["flock", "--nonblock", str(directory), "sh", "-c", "echo locked; exec cat"]
    else:
        after = "hand-on" if hand_on else "hold"
        command = [sys.executable, "-c", HOLDER, str(directory), after, setresuid]
    user = NOBODY if as_nobody else None
    proc = subprocess.Popen(
        command,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        user=user,
        group=user,
        extra_groups=[] if as_nobody else None,
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        assert proc.stdout.readline() == "locked\n"
        if hand_on:
            proc.wait(timeout=10)  # reaped: no zombie left to read a uid from
        yield proc.pid
    finally:
        proc.stdin.close()
        proc.stdout.read()  # EOF once whoever holds the lock has exited
        proc.stdout.close()
        proc.wait(timeout=10)


def flock_pids(directory: Path) -> list[int]:
    """The pids /proc/locks names as holding a flock on `directory` (looking takes no lock)."""
    st = directory.stat()
    where = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    with open("/proc/locks") as locks:
        rows = [line.split() for line in locks]
    return [int(row[4]) for row in rows if row[1] == "FLOCK" and row[5] == where]


@pytest.fixture
def reachable_models() -> Iterator[Path]:
    """A directory to guard that user nobody can open (tmp_path's parents are 0700)."""
    base = Path(tempfile.mkdtemp(prefix="ckptguard-lock-"))
    try:
        base.chmod(0o755)
        directory = base / "models"
        directory.mkdir()
        yield directory
    finally:
        shutil.rmtree(base)


@pytest.mark.parametrize(
    ("as_nobody", "setresuid", "shown"),
    [(True, "-", "uid 65534"), (False, f"{NOBODY},0,0", "uid 65534/0")],
    ids=["nobody", "real-uid-nobody-effective-root"],
)
def test_directory_lock_held_by_an_untrusted_user_does_not_keep_the_guard_out(
    reachable_models: Path, as_nobody: bool, setresuid: str, shown: str, start_daemon
) -> None:
    """A flock on DIR held as nobody: the guard warns once, prunes, then takes the lock."""
    if os.geteuid() != 0:
        pytest.skip("needs root to run a process as another user")
    models = reachable_models
    for step in range(1, 4):
        write_old(models, step)
    settings = settings_for(models, keep=1, rescan_interval=0.02, free_check_interval=0.02)
    with capture_logs() as logs:
        with lock_holder(models, as_nobody=as_nobody, setresuid=setresuid) as pid:
            daemon = start_daemon(settings)
            assert steps_in(models) == [3]
            wait_cycles(daemon, 20)
            assert flock_pids(models) == [pid]
        # The holder gone, the guard takes the lock (it runs in this process).
        wait_for(lambda: flock_pids(models) == [os.getpid()], timeout=5, message="the lock taken")
        write_old(models, 4)
        wait_for(lambda: steps_in(models) == [4], timeout=5, message="keep-1 with the lock")
    (warning,) = events_named(logs, "lock_held_by_untrusted_process")
    assert warning["holder"] == f"pid {pid} ({shown})"
    assert os.listdir(models) == [name_of(4)]


def test_lock_outliving_the_process_that_took_it_does_not_keep_the_guard_out(
    models: Path, spawn
) -> None:
    """A root process flocks DIR, forks and exits: no guard does that, so it is not obeyed."""
    for step in range(1, 4):
        write_old(models, step)
    with lock_holder(models, hand_on=True) as pid:
        daemon = spawn("--dir", str(models), "--keep", "1")
        daemon.expect_ready()
        assert steps_in(models) == [3]
        assert daemon.stop() == 0
    (warning,) = daemon.events_named("lock_held_by_untrusted_process")
    assert warning["holder"] == f"pid {pid} (exited or hidden)"


def test_directory_lock_held_by_root_keeps_the_guard_out(models: Path) -> None:
    """A lock held by a trusted user is another guard's: exit 2, naming it on one line."""
    if os.geteuid() != 0:
        pytest.skip("root is the trusted holder here")
    write_old(models, 1)
    write_old(models, 2)
    with lock_holder(models) as pid:
        done = run_cli("run", "--dir", str(models), "--keep", "1", "--log-format", "json")
    assert done.returncode == 2, done.stderr
    (message,) = [line for line in done.stderr.splitlines() if not line.startswith("{")]
    assert message.startswith("ckptguard: error:") and f"pid {pid} (uid 0)" in message
    assert steps_in(models) == [1, 2]


def precious(outside: Path) -> Path:
    """A file outside DIR that no lock file may ever be written through."""
    secret = outside / "secret"
    secret.write_text("precious\n")
    return secret


def plant_lock_file(models: Path, kind: str, secret: Path | None = None) -> Path:
    """A `.ckptguard.lock` planted in `models`: a symlink to `secret`, a FIFO, a directory,
    or (`held-by-nobody`) a file owned by nobody, which the test then holds."""
    planted = models / LOCK_NAME
    if kind == "symlink":
        assert secret is not None
        planted.symlink_to(secret)
    elif kind == "fifo":
        os.mkfifo(planted)
    elif kind == "directory":
        planted.mkdir()
    else:
        planted.write_text("pid 1 on host attacker\n")
        os.chown(planted, NOBODY, NOBODY)
    return planted


@pytest.mark.parametrize("kind", ["symlink", "fifo", "directory", "held-by-nobody"])
def test_legacy_lock_files_are_left_alone(
    models: Path, outside: Path, kind: str, start_daemon
) -> None:
    """A `.ckptguard.lock` left in DIR (a symlink out, a FIFO, a held file) is not touched."""
    secret = precious(outside)
    before = snapshot(secret)
    planted = plant_lock_file(models, kind, secret)
    identity = os.lstat(planted)
    held = os.open(planted, os.O_RDONLY | os.O_NONBLOCK)  # each one held, as a guard would
    fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
    try:
        for step in range(1, 4):
            write_old(models, step)
        with capture_logs() as logs:
            start_daemon(settings_for(models, keep=1))  # READY: the FIFO did not block the start
        assert steps_in(models) == [3]
    finally:
        os.close(held)
    assert snapshot(secret) == before
    assert not [e for e in logs if e["event"].startswith("lock_")], logs
    after = os.lstat(planted)
    assert (after.st_ino, after.st_mode, after.st_mtime_ns) == (
        identity.st_ino,
        identity.st_mode,
        identity.st_mtime_ns,
    )


# --- the lock file that DIR falls back to where a directory cannot be flocked (NFS) ---------


@pytest.mark.parametrize("kind", ["symlink", "fifo", "directory"])
def test_fallback_refuses_a_hostile_lock_file(
    models: Path, outside: Path, dir_fd: int, kind: str
) -> None:
    """A lock file that is a symlink (to an outside file), a FIFO or a directory is refused."""
    secret = precious(outside)
    before = snapshot(secret)
    planted = plant_lock_file(models, kind, secret)
    with pytest.raises(lock.LockUnavailable) as refused:
        lock.acquire_file(dir_fd)  # returns at once: the FIFO does not block it
    expected = {"symlink": "symlink", "fifo": "not a regular file", "directory": LOCK_NAME}
    assert expected[kind] in str(refused.value)
    assert snapshot(secret) == before, "the outside file was written through the lock"
    assert {"symlink": planted.is_symlink, "fifo": planted.is_fifo, "directory": planted.is_dir}[
        kind
    ]()


def test_fallback_does_not_write_a_lock_file_hard_linked_outside(
    models: Path, outside: Path, dir_fd: int
) -> None:
    """A lock file hard-linked to a file outside DIR is refused; that file is not written."""
    secret = precious(outside)
    os.link(secret, models / LOCK_NAME)
    with pytest.raises(lock.LockUnavailable, match="hard links"):
        lock.acquire_file(dir_fd)
    assert secret.read_text() == "precious\n"


def test_fallback_holder_text_cannot_forge_log_lines(models: Path, dir_fd: int) -> None:
    """A held lock file whose holder record holds a newline is named on one printable line."""
    planted = models / LOCK_NAME
    planted.write_text('pid 1 on host h\n{"event": "deleted", "path": "/etc/passwd"}\n')
    planted.chmod(0o600)
    held = os.open(planted, os.O_RDWR)
    try:
        fcntl.flock(held, fcntl.LOCK_EX)
        with pytest.raises(lock.LockHeld) as taken:
            lock.acquire_file(dir_fd)
    finally:
        os.close(held)
    holder = taken.value.holder
    assert holder.startswith("pid 1 on host h") and "/etc/passwd" in holder
    assert holder.isprintable() and "\n" not in holder


@pytest.mark.parametrize("mode", [0o755, 0o1777], ids=["private", "sticky-world-writable"])
def test_fallback_replaces_a_lock_file_planted_and_held_by_another_user(
    models: Path, dir_fd: int, mode: int
) -> None:
    """A lock file planted (and flock'ed) by an unprivileged user cannot keep the guard out.

    Also in a sticky world-writable directory, where protected_regular (a systemd
    default) refuses even root an O_CREAT open of another user's file.
    """
    if os.geteuid() != 0:
        pytest.skip("needs root to plant a file owned by another user")
    os.chmod(models, mode)
    planted = plant_lock_file(models, "held-by-nobody")
    attacker = os.open(planted, os.O_RDONLY)
    fcntl.flock(attacker, fcntl.LOCK_EX | fcntl.LOCK_NB)
    try:
        held = lock.acquire_file(dir_fd)
        st = os.fstat(held)
        assert st.st_uid == os.geteuid() and st.st_mode & 0o777 == 0o600
        assert planted.read_text().startswith(f"pid {os.getpid()} on host ")
        lock.release(held)
    finally:
        os.close(attacker)
    assert planted.exists(), "released, the lock file stays for a racing guard"


# --- filling the disk to push checkpoints out -------------------------------------------------


def test_filling_the_disk_cannot_push_out_below_min_keep(
    tmp_path: Path, mounts, start_daemon
) -> None:
    """An attacker filling the disk costs checkpoints oldest first, never below --min-keep."""
    fs = mounts.tmpfs(tmp_path / "fs", 4 << 20)
    for index, step in enumerate(range(1, 5)):
        os.utime(write_old(fs, step, keras_bytes(400 * 1024)), (OLD + index, OLD + index))
    settings = settings_for(fs, keep=4, min_keep=2, free_check_interval=0.02, rescan_interval=0.02)
    filler = fs / "attacker.bin"
    with capture_logs() as logs:
        daemon = start_daemon(settings)
        assert steps_in(fs) == [1, 2, 3, 4]
        for _ in range(5):  # the attacker refills whatever the guard frees
            fill(filler)
            wait_for(
                lambda: free_bytes(fs) > 0 or events_named(logs, "free_space_shortfall"),
                timeout=5,
                message="space freed or the floor reached",
            )
            if events_named(logs, "free_space_shortfall"):
                break
        wait_cycles(daemon, 20)  # the shortfall persists: it is said once, not every cycle
    assert steps_in(fs) == [3, 4]
    assert [e["step"] for e in events_named(logs, "deleted")] == [1, 2]
    assert len(events_named(logs, "free_space_shortfall")) == 1
    assert free_bytes(fs) < 400 * 1024 and filler.stat().st_size > 0


def test_a_leased_checkpoint_does_not_stop_guarding_the_directory(models: Path) -> None:
    """A file under another process's write lease (opens fail with EAGAIN) is left alone.

    It once made every scan of the directory fail, so nothing there was ever deleted.
    """
    import subprocess
    import sys

    for step in (100, 200, 300):
        write_old(models, step)
    leased = write_old(models, 50)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, os, sys\n"
            "fd = os.open(sys.argv[1], os.O_RDONLY)\n"
            "fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_RDLCK if os.geteuid() else fcntl.F_WRLCK)\n"
            "print('held', flush=True)\n"
            "sys.stdin.read()\n",
            str(leased),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        done = run_cli("prune", "--execute", "--json", "--dir", str(models), "--keep", "2")
    finally:
        holder.communicate("")
    assert done.returncode == 0, done.stderr
    entries = {os.path.basename(e["path"]): e for e in json.loads(done.stdout)["entries"]}
    assert steps_in(models) == [50, 200, 300]
    assert entries[name_of(50)]["state"] == "ignored"
