"""Inventory and executor against real files: what a scan sees, and what a deletion touches.

Every test builds a real directory in `tmp_path`, with `.keras`-style zips written by
`support`, and drives `scan`, `survey`, `Deleter` and `AuditExecutor` through a real
directory file descriptor. Files are back-dated with `os.utime` instead of waiting for
the settle window.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from support import (
    KERAS,
    OLD,
    UNREACHABLE,
    keras_bytes,
    name_of,
    plan_for,
    snapshot,
    text,
    write_checkpoint,
    write_truncated,
    zip_bytes,
)

from ckptguard.core.decisions import Action, ReasonCode, Result, State, Status
from ckptguard.core.layouts import Content
from ckptguard.core.model import Checkpoint, Integrity, Inventory, Kind, Policy
from ckptguard.core.planner import plan
from ckptguard.engine.cycle import survey
from ckptguard.engine.executors import AuditExecutor, Deleter
from ckptguard.store.local.directory import LocalStore
from ckptguard.store.local.entries import identity_of, open_directory
from ckptguard.store.local.look import check_regular
from ckptguard.store.local.openfiles import holders
from ckptguard.store.local.scan import scan


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A valid checkpoint outside the guarded directory, the target of forged symlinks."""
    directory = tmp_path / "elsewhere"
    directory.mkdir()
    return write_checkpoint(directory, 424242, mtime=OLD)


def inventory_of(models: Path, fd: int) -> Inventory:
    return scan(fd, str(models), KERAS)


def entries(models: Path, fd: int) -> dict[str, Checkpoint]:
    return {c.name: c for c in inventory_of(models, fd).checkpoints}


def write_steps(models: Path, steps: range | list[int]) -> None:
    for index, step in enumerate(steps):
        write_checkpoint(models, step, mtime=OLD + index)


def step_results(outcome_results: tuple[Result, ...]) -> dict[int, Status]:
    return {r.decision.checkpoint.step: r.status for r in outcome_results}


# --- scan ----------------------------------------------------------------------------


def test_complete_zip_is_a_valid_regular_checkpoint(models: Path, dir_fd: int) -> None:
    """A complete Keras-style zip is REGULAR, VALID, unpinned, with its real size and blocks."""
    path = write_checkpoint(models, 500, mtime=OLD)
    (checkpoint,) = inventory_of(models, dir_fd).checkpoints
    st = path.stat()
    assert checkpoint.name == path.name
    assert checkpoint.step == 500
    assert checkpoint.kind is Kind.REGULAR
    assert checkpoint.integrity is Integrity.VALID
    assert not checkpoint.pinned
    assert checkpoint.size == st.st_size
    assert checkpoint.freeable == st.st_blocks * 512 > 0


@pytest.mark.parametrize("keep_fraction", [0.05, 0.5, 0.99], ids=["5pct", "half", "99pct"])
def test_truncated_zip_is_invalid(models: Path, dir_fd: int, keep_fraction: float) -> None:
    """A zip cut short anywhere (its central directory is written last) is INVALID."""
    write_truncated(models, 700, keep_fraction=keep_fraction, mtime=OLD)
    (checkpoint,) = inventory_of(models, dir_fd).checkpoints
    assert checkpoint.kind is Kind.REGULAR
    assert checkpoint.integrity is Integrity.INVALID


def test_zip_missing_its_last_byte_is_invalid(models: Path, dir_fd: int) -> None:
    """Losing only the final byte of the end-of-central-directory record makes it INVALID."""
    (models / name_of(700)).write_bytes(keras_bytes()[:-1])
    (checkpoint,) = inventory_of(models, dir_fd).checkpoints
    assert checkpoint.integrity is Integrity.INVALID


def test_zero_byte_forged_newest_is_invalid_and_frees_nothing(models: Path, dir_fd: int) -> None:
    """A zero-byte `checkpoint_step_999999999.keras` is INVALID with nothing to free."""
    forged = models / name_of(999_999_999)
    forged.touch()
    os.utime(forged, (OLD, OLD))
    (checkpoint,) = inventory_of(models, dir_fd).checkpoints
    assert checkpoint.step == 999_999_999
    assert checkpoint.integrity is Integrity.INVALID
    assert checkpoint.size == 0
    assert checkpoint.freeable == 0


def test_forged_newest_files_do_not_push_real_checkpoints_out(models: Path, dir_fd: int) -> None:
    """With keep=2, forged zero-byte/truncated/non-Keras 'newest' files leave the 2 real ones."""
    write_steps(models, [100, 200, 300])
    (models / name_of(999_999_999)).touch()
    write_truncated(models, 999_999_998, mtime=OLD)
    (models / name_of(999_999_997)).write_bytes(_plain_zip())
    for step in (999_999_999, 999_999_997):
        os.utime(models / name_of(step), (OLD, OLD))
    result = plan_for(models, dir_fd, keep=2)
    actions = {d.checkpoint.step: (d.state, d.action) for d in result.decisions}
    assert actions[300] == (State.COMPLETE, Action.KEEP)
    assert actions[200] == (State.COMPLETE, Action.KEEP)
    assert actions[100] == (State.COMPLETE, Action.DELETE)
    for step in (999_999_997, 999_999_998, 999_999_999):
        assert actions[step] == (State.CORRUPT, Action.KEEP)


def _plain_zip() -> bytes:
    return zip_bytes({"notes.txt": "not a model"})


def test_zip_that_is_not_a_keras_model_is_invalid(models: Path, dir_fd: int) -> None:
    """A well-formed zip without config.json/metadata.json is not a checkpoint: INVALID."""
    (models / name_of(300)).write_bytes(_plain_zip())
    (checkpoint,) = inventory_of(models, dir_fd).checkpoints
    assert checkpoint.integrity is Integrity.INVALID


def test_symlink_to_outside_file_is_reported_never_followed_or_counted(
    models: Path, dir_fd: int, outside: Path
) -> None:
    """A checkpoint-named symlink to an outside file is SYMLINK, unchecked, freeable 0."""
    write_steps(models, [100])
    (models / name_of(999)).symlink_to(outside)
    found = entries(models, dir_fd)
    link = found[name_of(999)]
    assert link.kind is Kind.SYMLINK
    assert link.integrity is Integrity.UNCHECKED  # its target was never opened
    assert link.freeable == 0
    assert link.identity.inode == os.lstat(models / name_of(999)).st_ino
    assert link.identity.inode != outside.stat().st_ino


def test_symlink_to_outside_file_is_never_counted_or_deleted(
    models: Path, dir_fd: int, outside: Path
) -> None:
    """keep=1 under an unreachable free-space target: the symlink is IGNORED, kept, untouched."""
    write_steps(models, [100, 200])
    link = models / name_of(999)
    link.symlink_to(outside)
    before = snapshot(outside)
    result = plan_for(models, dir_fd, keep=1, min_free=UNREACHABLE)
    decisions = {d.checkpoint.step: d for d in result.decisions}
    assert decisions[999].state is State.IGNORED
    assert decisions[999].action is Action.KEEP
    assert decisions[200].action is Action.KEEP  # still the newest valid: the link never counted
    outcome = Deleter().apply(result, LocalStore(dir_fd))
    assert 999 not in step_results(outcome.results)
    assert link.is_symlink()
    assert snapshot(outside) == before


def test_content_check_never_reads_through_a_symlink(
    models: Path, dir_fd: int, tmp_path: Path
) -> None:
    """A checkpoint moved out and replaced by a symlink to itself (same identity) is not read."""
    path = write_checkpoint(models, 100, mtime=OLD)
    identity = identity_of(os.stat(path))
    moved = tmp_path / "moved.keras"
    path.rename(moved)
    path.symlink_to(moved)
    assert check_regular(dir_fd, path.name, identity, Content.KERAS_ZIP) is None
    # vanished entirely
    assert check_regular(dir_fd, name_of(555), identity, Content.KERAS_ZIP) is None


def test_directory_named_like_a_checkpoint_is_reported_not_entered(
    models: Path, dir_fd: int
) -> None:
    """A directory named like a checkpoint is DIRECTORY, never deleted; its contents untouched."""
    write_steps(models, [100, 200, 300])
    inner = models / name_of(9000)
    inner.mkdir()
    write_checkpoint(inner, 1, mtime=OLD)
    found = entries(models, dir_fd)
    assert found[name_of(9000)].kind is Kind.DIRECTORY
    assert found[name_of(9000)].freeable == 0
    result = plan_for(models, dir_fd, keep=1, min_free=UNREACHABLE)
    Deleter().apply(result, LocalStore(dir_fd))
    assert (inner / name_of(1)).is_file()
    assert sorted(p.name for p in models.iterdir()) == [name_of(300), name_of(9000)]


def test_fifo_named_like_a_checkpoint_is_other_and_scan_does_not_block(
    models: Path, dir_fd: int
) -> None:
    """A FIFO named like a checkpoint is OTHER; the scan never opens it (would block)."""
    os.mkfifo(models / name_of(100))
    (checkpoint,) = inventory_of(models, dir_fd).checkpoints
    assert checkpoint.kind is Kind.OTHER
    assert checkpoint.integrity is Integrity.UNCHECKED


def test_hard_linked_checkpoint_frees_nothing(models: Path, dir_fd: int, tmp_path: Path) -> None:
    """A checkpoint with a second hard link (here outside DIR) has freeable 0."""
    path = write_checkpoint(models, 100, mtime=OLD)
    os.link(path, tmp_path / "backup.keras")
    (checkpoint,) = inventory_of(models, dir_fd).checkpoints
    assert checkpoint.integrity is Integrity.VALID
    assert checkpoint.size == path.stat().st_size
    assert checkpoint.freeable == 0
    assert checkpoint.reclaimable == 0


def test_pin_sidecar_pins_its_checkpoint_only(models: Path, dir_fd: int) -> None:
    """`<name>.keep` pins that checkpoint; the sidecar, or a sidecar alone, is no entry."""
    write_steps(models, [100, 200])
    (models / (name_of(100) + ".keep")).touch()
    (models / (name_of(555) + ".keep")).touch()  # pins nothing: no such checkpoint
    found = entries(models, dir_fd)
    assert set(found) == {name_of(100), name_of(200)}
    assert found[name_of(100)].pinned
    assert not found[name_of(200)].pinned


def test_names_outside_the_template_are_not_entries(models: Path, dir_fd: int) -> None:
    """Renamed, temp, signed, empty-step, non-ASCII-digit and over-64-bit names are ignored."""
    data = keras_bytes()
    for name in (
        "checkpoint_step_100.keras.bak",
        "kept_checkpoint_step_200.keras",
        "checkpoint_step_-1.keras",
        "checkpoint_step_.keras",
        "checkpoint_step_\uff11\uff12.keras",
        f"checkpoint_step_{2**64}.keras",
        "tmpab12cd34",
    ):
        (models / name).write_bytes(data)
    write_steps(models, [2**64 - 1])
    assert [c.step for c in inventory_of(models, dir_fd).checkpoints] == [2**64 - 1]


def test_inventory_is_ordered_by_parsed_step_not_mtime_or_name(models: Path, dir_fd: int) -> None:
    """Entries come in numeric step order even when mtimes and name order disagree; each
    step written lower than the one before starts a run, whose newest stays."""
    steps = [1000, 900, 100, 20]
    for index, step in enumerate(steps):  # the smallest step gets the newest mtime
        write_checkpoint(models, step, mtime=OLD + index)
    assert [c.step for c in inventory_of(models, dir_fd).checkpoints] == [20, 100, 900, 1000]
    result = plan_for(models, dir_fd, keep=1)
    assert result.deletions == ()
    assert [(r.first_step, r.last_step) for r in result.runs] == [
        (1000, 1000),
        (900, 900),
        (100, 100),
        (20, 20),
    ]


# --- Deleter ------------------------------------------------------------------------


def test_deleter_deletes_through_the_directory_fd_not_the_path(tmp_path: Path) -> None:
    """After DIR is renamed away, deletions land in the fd's directory, not the new DIR path."""
    models = tmp_path / "models"
    models.mkdir()
    write_steps(models, [100, 200, 300, 400])
    fd = open_directory(str(models))
    try:
        result = plan_for(models, fd, keep=2)
        moved = tmp_path / "moved"
        models.rename(moved)
        models.mkdir()
        for step in (100, 200, 300, 400):  # same names, different files
            (models / name_of(step)).write_bytes((moved / name_of(step)).read_bytes())
        outcome = Deleter().apply(result, LocalStore(fd))
    finally:
        os.close(fd)
    assert step_results(outcome.results) == {100: Status.DELETED, 200: Status.DELETED}
    assert sorted(p.name for p in moved.iterdir()) == [name_of(300), name_of(400)]
    assert len(list(models.iterdir())) == 4


def test_deleter_reports_free_space_before_and_after_each_deletion(
    models: Path, dir_fd: int
) -> None:
    """Every DELETED result carries measured free bytes before and after the unlink."""
    write_steps(models, [100, 200, 300])
    outcome = Deleter().apply(plan_for(models, dir_fd, keep=1), LocalStore(dir_fd))
    assert [r.status for r in outcome.results] == [Status.DELETED, Status.DELETED]
    for result in outcome.results:
        assert result.free_before is not None
        assert result.free_after is not None
        assert result.detail == ""


def _rewrite_bigger(path: Path) -> None:
    path.write_bytes(keras_bytes(payload_size=8192))


def _touch_mtime(path: Path) -> None:
    os.utime(path, (OLD - 100, OLD - 100))


def _replace_same_size_and_mtime(path: Path) -> None:
    st = path.stat()
    fresh = path.with_name("fresh.tmp")
    fresh.write_bytes(path.read_bytes())
    os.utime(fresh, ns=(st.st_atime_ns, st.st_mtime_ns))
    fresh.replace(path)


@pytest.mark.parametrize(
    "change",
    [_rewrite_bigger, _touch_mtime, _replace_same_size_and_mtime],
    ids=["rewritten-bigger", "mtime-changed", "new-inode-same-size-mtime"],
)
def test_deleter_skips_an_entry_changed_since_planning(
    models: Path, dir_fd: int, change: Callable[[Path], None]
) -> None:
    """An entry whose device/inode/size/mtime changed after planning is SKIPPED and kept."""
    write_steps(models, [100, 200, 300])
    result = plan_for(models, dir_fd, keep=1)
    target = models / name_of(100)
    change(target)
    after_change = snapshot(target)
    outcome = Deleter().apply(result, LocalStore(dir_fd))
    by_step = {r.decision.checkpoint.step: r for r in outcome.results}
    assert by_step[100].status is Status.SKIPPED
    assert "changed since it was planned" in by_step[100].detail
    assert by_step[200].status is Status.DELETED
    assert snapshot(target) == after_change


def test_deleter_skips_an_entry_replaced_by_a_symlink_to_an_outside_file(
    models: Path, dir_fd: int, outside: Path
) -> None:
    """A planned file swapped for a symlink to an outside file: SKIPPED; link and target stay."""
    write_steps(models, [100, 200, 300])
    result = plan_for(models, dir_fd, keep=1)
    target = models / name_of(100)
    target.unlink()
    target.symlink_to(outside)
    before = snapshot(outside)
    outcome = Deleter().apply(result, LocalStore(dir_fd))
    by_step = {r.decision.checkpoint.step: r for r in outcome.results}
    assert by_step[100].status is Status.SKIPPED
    assert "symlink" in by_step[100].detail
    assert target.is_symlink()
    assert snapshot(outside) == before
    assert by_step[200].status is Status.DELETED


def test_deleter_skips_an_entry_replaced_by_a_directory(models: Path, dir_fd: int) -> None:
    """A planned file swapped for a directory of the same name is SKIPPED, not removed."""
    write_steps(models, [100, 200])
    result = plan_for(models, dir_fd, keep=1)
    target = models / name_of(100)
    target.unlink()
    target.mkdir()
    (outcome_result,) = Deleter().apply(result, LocalStore(dir_fd)).results
    assert outcome_result.status is Status.SKIPPED
    assert "directory" in outcome_result.detail
    assert target.is_dir()


def test_deleter_skips_an_entry_pinned_after_planning(models: Path, dir_fd: int) -> None:
    """A `.keep` sidecar created between plan and apply saves the checkpoint."""
    write_steps(models, [100, 200, 300])
    result = plan_for(models, dir_fd, keep=1)
    (models / (name_of(100) + ".keep")).touch()
    outcome = Deleter().apply(result, LocalStore(dir_fd))
    by_step = {r.decision.checkpoint.step: r for r in outcome.results}
    assert by_step[100].status is Status.SKIPPED
    assert "pinned" in by_step[100].detail
    assert (models / name_of(100)).is_file()
    assert by_step[200].status is Status.DELETED


def test_deleter_skips_entries_someone_else_deleted_and_carries_on(
    models: Path, dir_fd: int
) -> None:
    """ENOENT for one planned entry is SKIPPED 'already gone'; the others are still deleted."""
    write_steps(models, [100, 200, 300, 400])
    result = plan_for(models, dir_fd, keep=1)
    (models / name_of(200)).unlink()
    outcome = Deleter().apply(result, LocalStore(dir_fd))
    by_step = {r.decision.checkpoint.step: r for r in outcome.results}
    assert by_step[200].status is Status.SKIPPED
    assert by_step[200].detail == "already gone"
    assert by_step[100].status is Status.DELETED
    assert by_step[300].status is Status.DELETED
    assert not outcome.failed
    assert [p.name for p in models.iterdir()] == [name_of(400)]


def test_deleter_stops_between_deletions_when_asked(models: Path, dir_fd: int) -> None:
    """Once asked to stop, every remaining deletion is SKIPPED 'stopping'; nothing goes."""
    write_steps(models, [100, 200, 300])
    outcome = Deleter().apply(
        plan_for(models, dir_fd, keep=1), LocalStore(dir_fd), should_stop=lambda: True
    )
    assert [(r.status, r.detail) for r in outcome.results] == [(Status.SKIPPED, "stopping")] * 2
    assert len(list(models.iterdir())) == 3


def test_audit_executor_deletes_nothing_and_projects_free_space(models: Path, dir_fd: int) -> None:
    """AuditExecutor leaves every file; its WOULD_DELETE results chain up to plan.free_after."""
    write_steps(models, [100, 200, 300, 400])
    before = {p.name: snapshot(p) for p in models.iterdir()}
    result = plan_for(models, dir_fd, keep=1)
    outcome = AuditExecutor().apply(result, LocalStore(dir_fd))
    assert [r.status for r in outcome.results] == [Status.WOULD_DELETE] * 3
    assert {p.name: snapshot(p) for p in models.iterdir()} == before
    assert outcome.results[0].free_before == result.disk.free
    for earlier, later in zip(outcome.results, outcome.results[1:], strict=False):
        assert earlier.free_after == later.free_before
    assert outcome.results[-1].free_after == result.free_after


def _messy_directory(models: Path, outside: Path) -> None:
    write_steps(models, range(100, 1100, 100))
    (models / (name_of(300) + ".keep")).touch()
    write_truncated(models, 5000, mtime=OLD)
    (models / name_of(999_999_999)).touch()
    os.utime(models / name_of(999_999_999), (OLD, OLD))
    (models / name_of(777_777)).symlink_to(outside)
    (models / name_of(888_888)).mkdir()


@pytest.mark.parametrize(
    "policy",
    [
        {"keep": 3},
        {"keep": 5, "min_keep": 2, "min_free": UNREACHABLE},
        {"keep": 2, "keep_every": 400, "min_free": UNREACHABLE},
    ],
    ids=["keep-3", "unreachable-target-min-keep-2", "milestones-unreachable-target"],
)
def test_replanning_after_applying_deletes_nothing_more(
    models: Path, dir_fd: int, outside: Path, policy: dict[str, Any]
) -> None:
    """Scan, plan, delete for real, scan and plan again: the second plan deletes nothing."""
    _messy_directory(models, outside)
    first = plan_for(models, dir_fd, **policy)
    assert first.deletions, "the first plan must have work to do"
    outcome = Deleter().apply(first, LocalStore(dir_fd))
    assert {r.status for r in outcome.results} == {Status.DELETED}
    second = plan_for(models, dir_fd, **policy)
    assert second.deletions == ()
    assert outside.is_file()


# --- open files ---------------------------------------------------------------------


def test_holders_finds_a_process_holding_a_checkpoint_open(models: Path, hold_open) -> None:
    """openfiles.holders maps a held checkpoint's (dev, inode) to the holder's pid only."""
    held = write_checkpoint(models, 100, mtime=OLD)
    free = write_checkpoint(models, 200, mtime=OLD)
    proc = hold_open(held)
    key_held = (held.stat().st_dev, held.stat().st_ino)
    key_free = (free.stat().st_dev, free.stat().st_ino)
    found = holders([key_held, key_free], {held.name, free.name})
    assert proc.pid in found[key_held]
    assert os.getpid() not in found[key_held]
    assert key_free not in found


def test_survey_under_pressure_does_not_count_a_held_file_as_freeable(
    models: Path, dir_fd: int, hold_open
) -> None:
    """Under free-space pressure a checkpoint held open elsewhere is kept and not counted."""
    write_steps(models, [100, 200, 300])
    proc = hold_open(models / name_of(100))
    policy = Policy(keep=3, min_keep=1, min_free=UNREACHABLE, settle_seconds=10)
    # Without the holder check the oldest would go first: the check is what changes it.
    blind = plan(inventory_of(models, dir_fd), policy, now=time.time())
    assert [d.checkpoint.step for d in blind.deletions] == [100, 200]

    result = survey(LocalStore(dir_fd, str(models)), KERAS, policy, now=time.time()).plan
    decisions = {d.checkpoint.step: d for d in result.decisions}
    held = decisions[100]
    assert held.action is Action.KEEP
    assert proc.pid in held.checkpoint.open_by
    assert held.checkpoint.reclaimable == 0
    assert ReasonCode.OPEN_ELSEWHERE in {r.code for r in held.reasons}
    assert str(proc.pid) in " ".join(text(r) for r in held.reasons)
    assert decisions[200].action is Action.DELETE
    assert decisions[300].action is Action.KEEP
    assert result.free_after == result.disk.free + decisions[200].checkpoint.freeable
    assert result.shortfall > 0


def test_report_counts_what_was_deleted_not_what_was_planned(models: Path, dir_fd: int) -> None:
    """Deletions skipped at the last moment (pinned since) are kept in the summary, not freed."""
    from ckptguard.face.render import summary
    from ckptguard.face.table import to_table

    write_steps(models, [100, 200, 300, 400, 500])
    planned = plan_for(models, dir_fd, keep=2)
    assert sorted(d.checkpoint.step for d in planned.deletions) == [100, 200, 300]
    for step in (100, 200):
        (models / f"{name_of(step)}.keep").touch()
    outcome = Deleter().apply(planned, LocalStore(dir_fd))
    facts = summary(outcome)
    deleted = [r for r in outcome.results if r.status is Status.DELETED]
    assert [r.decision.checkpoint.step for r in deleted] == [300]
    assert (facts["delete"], facts["kept"]) == (1, 4)
    assert facts["bytes_freed"] == deleted[0].decision.checkpoint.reclaimable
    assert "4 kept, 1 deleted" in to_table(outcome, time.time())
    nothing = Deleter().apply(plan_for(models, dir_fd, keep=5), LocalStore(dir_fd))
    assert "0 to delete" in to_table(nothing, time.time())
