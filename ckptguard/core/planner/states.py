"""States: what each entry is at time `now`, why, and when the content check is suspect."""

from __future__ import annotations

import itertools

from ckptguard.core.decisions import Notice, Reason, ReasonCode, State, notice, reason
from ckptguard.core.model import Checkpoint, Integrity, Inventory, Policy, Unit
from ckptguard.core.naming import pin_name
from ckptguard.core.planner.draft import Draft
from ckptguard.core.runs import step_order, write_order

NS_PER_S = 1_000_000_000
# How long a directory or group save may go without a write before it counts as abandoned.
QUIET_SAVE_SECONDS = 3600.0
# This many entries written last in a row failing the content check, while older ones
# pass, make the check suspect (a format change after an upgrade).
SUSPECT_STREAK = 3


def classify(checkpoint: Checkpoint, policy: Policy, now: float) -> State:
    """The state of a checkpoint at time `now` (seconds since the epoch)."""
    if (
        checkpoint.kind is not checkpoint.unit.expected_kind
        or checkpoint.integrity is Integrity.UNREADABLE
    ):
        return State.IGNORED
    if checkpoint.pinned:
        return State.PINNED
    return integrity_state(checkpoint, policy, now)


def integrity_state(checkpoint: Checkpoint, policy: Policy, now: float) -> State:
    """Complete, in progress or corrupt, ignoring pins.

    Held open for writing means in progress, whatever the content says (an HDF5 file
    flushed mid-save looks whole). An empty file is never a complete checkpoint, even
    where the format has no content check: a forged zero-byte "newest" file must not
    push real checkpoints out.
    """
    if checkpoint.writing:
        return State.IN_PROGRESS
    # A file that passed its content check has bytes; a directory or group whose files
    # hold none (an empty marker, say) is no checkpoint, whatever its marker says.
    if checkpoint.integrity is Integrity.VALID and (
        checkpoint.size or checkpoint.unit is Unit.FILE
    ):
        return State.COMPLETE
    settling = quiet_for(checkpoint, now) < policy.settle_seconds
    if checkpoint.integrity is not Integrity.UNCHECKED or checkpoint.size == 0:
        return State.IN_PROGRESS if settling else State.CORRUPT
    return State.IN_PROGRESS if settling else State.COMPLETE


def age_of(checkpoint: Checkpoint, now: float) -> float:
    return now - checkpoint.identity.mtime_ns * 1e-9


def quiet_for(checkpoint: Checkpoint, now: float) -> float:
    """How long the entry has been unchanged: as the guard watched it, else by its mtime."""
    return age_of(checkpoint, now) if checkpoint.quiet_for is None else checkpoint.quiet_for


def resume_quiet_saves(drafts: list[Draft], now: float) -> None:
    """An unfinished directory or group newer than every complete checkpoint is a save.

    Such saves pause between files for longer than the settle window (gathering
    optimizer state, planning shards), so a short quiet does not make them abandoned;
    a newer complete checkpoint does, and so does an hour without a write.
    """
    newest_complete = max(
        (d.checkpoint.step for d in drafts if d.state is State.COMPLETE), default=-1
    )
    for draft in drafts:
        checkpoint = draft.checkpoint
        if (
            draft.state is State.CORRUPT
            and checkpoint.unit is not Unit.FILE
            and checkpoint.step > newest_complete
            and quiet_for(checkpoint, now) < QUIET_SAVE_SECONDS
        ):
            draft.state = State.IN_PROGRESS


def explain_state(draft: Draft, policy: Policy, now: float) -> None:
    """The reason an entry that is not simply complete has the state it has."""
    checkpoint, state = draft.checkpoint, draft.state
    if state is State.IGNORED and checkpoint.integrity is Integrity.UNREADABLE:
        draft.reasons.append(reason(ReasonCode.IGNORED, why="unreadable"))
    elif state is State.IGNORED:
        expected = "regular file" if checkpoint.unit is not Unit.DIRECTORY else "directory"
        draft.reasons.append(
            reason(ReasonCode.IGNORED, why="kind", expected=expected, kind=checkpoint.kind.value)
        )
    elif state is State.PINNED:
        draft.reasons.append(reason(ReasonCode.PINNED, pin=pin_name(checkpoint.name)))
    elif state is State.IN_PROGRESS:
        draft.reasons.append(_in_progress(checkpoint, policy, now))
    elif state is State.CORRUPT:
        draft.reasons.append(reason(ReasonCode.CORRUPT_LEFT))
    if checkpoint.protected_by is not None:
        draft.reasons.append(reason(ReasonCode.POINTER, pointer=checkpoint.protected_by))


def _in_progress(checkpoint: Checkpoint, policy: Policy, now: float) -> Reason:
    quiet = quiet_for(checkpoint, now)
    if checkpoint.writing:
        return reason(ReasonCode.IN_PROGRESS, why="writing")
    if quiet >= policy.settle_seconds:
        return reason(
            ReasonCode.IN_PROGRESS, why="quiet_save", quiet=quiet, unit=checkpoint.unit.value
        )
    return reason(
        ReasonCode.IN_PROGRESS,
        why="settling",
        quiet=quiet,
        settle=policy.settle_seconds,
        complete_so_far=checkpoint.integrity is not Integrity.INVALID,
        watched=checkpoint.quiet_for is not None,
    )


def suspect_check(drafts: list[Draft], policy: Policy, inventory: Inventory) -> Notice | None:
    """Warn when the content check is more likely wrong than the saves; keep what it fails
    when nothing passes it.

    When no entry passes it, the newest `min_keep` failing ones are kept whatever the
    space pressure. When the newest entries written fail it several times in a row while
    older ones pass (a format change after an upgrade), the plan warns. Empty files are
    plain garbage, never a format, and count for neither.
    """
    settled = sorted(
        (d for d in drafts if d.state is State.COMPLETE or _fails_check(d)),
        key=lambda d: write_order(d.checkpoint),
    )
    if not settled or not _fails_check(settled[-1]):
        return None
    where, preset = inventory.directory, inventory.preset
    if any(d.state is State.COMPLETE for d in settled):
        streak = list(itertools.takewhile(_fails_check, reversed(settled)))
        if len(streak) < SUSPECT_STREAK:
            return None
        return notice(
            "check_suspect", why="newest_fail", directory=where, preset=preset, count=len(streak)
        )
    newest = sorted(settled, key=lambda d: step_order(d.checkpoint))
    for draft in newest[len(newest) - policy.min_keep :] if policy.min_keep > 0 else []:
        draft.reasons.append(reason(ReasonCode.CHECK_SUSPECT))
    return notice(
        "check_suspect", why="none_pass", directory=where, preset=preset, min_keep=policy.min_keep
    )


def _fails_check(draft: Draft) -> bool:
    return draft.state is State.CORRUPT and draft.checkpoint.size > 0
