"""Deciding what to keep and what to delete: pure functions of an inventory, a policy and `now`.

The rules run in a fixed order and each one only adds to the decisions before it:

1. States: ignored, pinned, in progress and corrupt entries are never counted as valid.
   A checkpoint named by a "latest" pointer file is never deleted, whatever its state.
2. Keep-N: keep the `keep` newest valid checkpoints by step, and every milestone; the
   rest of the valid ones are deleted (unless rule 3 keeps them).
3. Keep-best: with a metric, also keep the `keep_best` best-ranked valid checkpoints.
4. Free space: while projected free space is below the target, delete more, in this
   order: corrupt files, then ordinary checkpoints oldest first, then milestones oldest
   first, then the best, worst-ranked first; never the newest valid one and never below
   the `min_keep` floor.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ckptguard.model import (
    Action,
    Checkpoint,
    Decision,
    DiskState,
    Integrity,
    Inventory,
    MinFree,
    MinFreeUnit,
    Plan,
    Policy,
    Reason,
    ReasonCode,
    State,
    Unit,
)
from ckptguard.naming import pin_name
from ckptguard.units import format_age, format_size

NS_PER_S = 1_000_000_000
# How long a directory or group save may go without a write before it counts as abandoned.
QUIET_SAVE_SECONDS = 3600.0
# Keep reasons that the free-space rule may override, and the option each comes from.
_OVERRIDE_TEXT = {
    ReasonCode.NEWEST_N: "--keep",
    ReasonCode.MILESTONE: "--keep-every",
    ReasonCode.BEST: "--keep-best",
}


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

    An empty file is never a complete checkpoint, even where the format has no content
    check: a forged zero-byte "newest" file must not push real checkpoints out.
    """
    settling = age_of(checkpoint, now) < policy.settle_seconds
    # A file that passed its content check has bytes; a directory or group whose files
    # hold none (an empty marker, say) is no checkpoint, whatever its marker says.
    if checkpoint.integrity is Integrity.VALID and (
        checkpoint.size or checkpoint.unit is Unit.FILE
    ):
        return State.COMPLETE
    if checkpoint.integrity is not Integrity.UNCHECKED or checkpoint.size == 0:
        return State.IN_PROGRESS if settling else State.CORRUPT
    return State.IN_PROGRESS if settling else State.COMPLETE


def age_of(checkpoint: Checkpoint, now: float) -> float:
    return now - checkpoint.mtime_ns / NS_PER_S


def resolve_target(min_free: MinFree, disk: DiskState, reference_size: int) -> int:
    """The free-space target in bytes; `reference_size` is the newest valid checkpoint's."""
    if min_free.unit is MinFreeUnit.PERCENT:
        return int(disk.total * min_free.value / 100)
    if min_free.unit is MinFreeUnit.MULTIPLE:
        return int(reference_size * min_free.value)
    return int(min_free.value)


@dataclass
class _Draft:
    """A decision being built; frozen into a `Decision` at the end."""

    checkpoint: Checkpoint
    state: State
    action: Action
    reasons: list[Reason]
    rank: int | None = None

    def freeze(self) -> Decision:
        return Decision(self.checkpoint, self.state, self.action, tuple(self.reasons), self.rank)


def plan(inventory: Inventory, policy: Policy, *, now: float) -> Plan:
    """Decide, for every checkpoint in `inventory`, whether to keep or delete it and why."""
    ordered = sorted(inventory.checkpoints, key=lambda c: (c.step, c.name))
    drafts = [_Draft(c, classify(c, policy, now), Action.KEEP, []) for c in ordered]
    _resume_quiet_saves(drafts, now)
    valid = [d for d in drafts if d.state is State.COMPLETE]
    newest = valid[-1] if valid else None

    for draft in drafts:
        _explain_state(draft, policy, now)
        if draft.checkpoint.protected_by is not None:
            draft.reasons.append(
                Reason(
                    ReasonCode.POINTER,
                    f"named by the pointer file {draft.checkpoint.protected_by}: never deleted",
                )
            )
    _apply_keep_n(valid, policy)
    _apply_keep_best(valid, policy)

    reference_size = _reference_size(drafts, policy, now)
    target = resolve_target(policy.min_free, inventory.disk, reference_size)
    # In total, not per save: stale or forged "saves" must not switch the rule off.
    credit = min(sum(d.checkpoint.size for d in drafts if _in_flight(d)), reference_size)
    available = inventory.disk.free + credit + _freed(drafts)
    if available < target:
        available = _free_space(drafts, valid, newest, policy, target, available)
    shortfall = max(0, target - available)

    frozen = tuple(d.freeze() for d in drafts)
    free_after = inventory.disk.free + sum(
        d.checkpoint.reclaimable for d in frozen if d.action is Action.DELETE
    )
    warnings = (_shortfall_warning(policy, target, shortfall),) if shortfall else ()
    return Plan(
        directory=inventory.directory,
        decisions=frozen,
        disk=inventory.disk,
        target_free=target,
        in_flight_credit=credit,
        free_after=free_after,
        shortfall=shortfall,
        warnings=warnings,
        metric=policy.metric,
        metric_mode=policy.metric_mode,
    )


def _resume_quiet_saves(drafts: list[_Draft], now: float) -> None:
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
            and age_of(checkpoint, now) < QUIET_SAVE_SECONDS
        ):
            draft.state = State.IN_PROGRESS


def _explain_state(draft: _Draft, policy: Policy, now: float) -> None:
    checkpoint, state = draft.checkpoint, draft.state
    if state is State.IGNORED and checkpoint.integrity is Integrity.UNREADABLE:
        draft.reasons.append(
            Reason(
                ReasonCode.IGNORED,
                "unreadable to ckptguard: cannot be verified, so never counted or deleted",
            )
        )
    elif state is State.IGNORED:
        expected = "regular file" if checkpoint.unit is not Unit.DIRECTORY else "directory"
        draft.reasons.append(
            Reason(
                ReasonCode.IGNORED,
                f"not a {expected} ({checkpoint.kind.value}): never followed, counted or deleted",
            )
        )
    elif state is State.PINNED:
        draft.reasons.append(
            Reason(ReasonCode.PINNED, f"pinned by {pin_name(checkpoint.name)}: never deleted")
        )
    elif state is State.IN_PROGRESS and age_of(checkpoint, now) >= policy.settle_seconds:
        draft.reasons.append(
            Reason(
                ReasonCode.IN_PROGRESS,
                f"being written: not complete yet, newer than every complete checkpoint "
                f"(quiet for {format_age(age_of(checkpoint, now))}; a {checkpoint.unit.value} "
                "save may pause between files)",
            )
        )
    elif state is State.IN_PROGRESS:
        what = (
            "not a complete checkpoint yet"
            if checkpoint.integrity is Integrity.INVALID
            else "recently modified"
        )
        draft.reasons.append(
            Reason(
                ReasonCode.IN_PROGRESS,
                f"being written: {what}, modified {format_age(age_of(checkpoint, now))} ago "
                f"(settle window {policy.settle_seconds:g}s)",
            )
        )
    elif state is State.CORRUPT:
        draft.reasons.append(
            Reason(
                ReasonCode.CORRUPT_LEFT,
                "incomplete, corrupt or truncated: never counted as a checkpoint; deleted "
                "only when space is needed",
            )
        )


def _apply_keep_n(valid: list[_Draft], policy: Policy) -> None:
    newest_n = valid[-policy.keep :] if policy.keep > 0 else []
    newest_ids = {id(d) for d in newest_n}
    for draft in valid:
        step = draft.checkpoint.step
        if draft is valid[-1]:
            draft.reasons.append(
                Reason(ReasonCode.NEWEST_VALID, "newest valid checkpoint: never deleted")
            )
        if id(draft) in newest_ids:
            draft.reasons.append(Reason(ReasonCode.NEWEST_N, _one_of_newest(policy.keep)))
        if policy.keep_every and step % policy.keep_every == 0:
            draft.reasons.append(
                Reason(
                    ReasonCode.MILESTONE, f"milestone: step is a multiple of {policy.keep_every}"
                )
            )
        if not draft.reasons:
            draft.action = Action.DELETE
            draft.reasons.append(
                Reason(
                    ReasonCode.BEYOND_KEEP,
                    f"older than the {_newest(policy.keep)}",
                )
            )


def _one_of_newest(keep: int) -> str:
    return "kept by --keep 1" if keep == 1 else f"one of the {_newest(keep)}"


def _newest(keep: int) -> str:
    return "newest valid checkpoint (--keep 1)" if keep == 1 else f"{keep} newest valid checkpoints"


def _apply_keep_best(valid: list[_Draft], policy: Policy) -> None:
    """Rank valid checkpoints by the metric; keep the best `keep_best` whatever their age."""
    metric = policy.metric
    if metric is None:
        return
    scored = [(d, d.checkpoint.metric(metric)) for d in valid]
    known = [(d, v) for d, v in scored if v is not None and math.isfinite(v)]
    sign = 1 if policy.metric_mode == "min" else -1
    # Ties go to the newer checkpoint.
    known.sort(key=lambda pair: (sign * pair[1], -pair[0].checkpoint.step))
    better = "lower" if policy.metric_mode == "min" else "higher"
    for rank, (draft, value) in enumerate(known, start=1):
        draft.rank = rank
        if rank > policy.keep_best:
            continue
        if draft.action is Action.DELETE:
            draft.action = Action.KEEP
            draft.reasons = [r for r in draft.reasons if r.code is not ReasonCode.BEYOND_KEEP]
        draft.reasons.append(
            Reason(
                ReasonCode.BEST,
                f"best {metric} = {value:g} (rank {rank} of {len(known)}, {better} is better)",
            )
        )


def _reference_size(drafts: list[_Draft], policy: Policy, now: float) -> int:
    """The size of the newest valid checkpoint, pinned or not: what the next save needs."""
    sized = [
        d
        for d in drafts
        if d.state is State.COMPLETE
        or (
            d.state is State.PINNED and integrity_state(d.checkpoint, policy, now) is State.COMPLETE
        )
    ]
    return sized[-1].checkpoint.size if sized else 0


def _in_flight(draft: _Draft) -> bool:
    return draft.state is State.IN_PROGRESS


def _freed(drafts: list[_Draft]) -> int:
    return sum(d.checkpoint.reclaimable for d in drafts if d.action is Action.DELETE)


def _free_space(
    drafts: list[_Draft],
    valid: list[_Draft],
    newest: _Draft | None,
    policy: Policy,
    target: int,
    available: int,
) -> int:
    """Delete more, in the documented order, until `available` reaches `target`."""
    corrupt = [d for d in drafts if d.state is State.CORRUPT and not _protected(d)]
    kept_valid = [
        d for d in valid if d.action is Action.KEEP and d is not newest and not _protected(d)
    ]
    best = sorted((d for d in kept_valid if _has(d, ReasonCode.BEST)), key=lambda d: -(d.rank or 0))
    rest = [d for d in kept_valid if not _has(d, ReasonCode.BEST)]
    ordinary = [d for d in rest if not _has(d, ReasonCode.MILESTONE)]
    milestones = [d for d in rest if _has(d, ReasonCode.MILESTONE)]
    remaining_valid = sum(1 for d in valid if d.action is Action.KEEP)
    short_text = f"free space below the {format_size(target)} target (--min-free {policy.min_free})"

    # The best go last, worst-ranked first.
    for draft in corrupt + ordinary + milestones + best:
        if available >= target:
            break
        checkpoint = draft.checkpoint
        if checkpoint.reclaimable == 0:
            draft.reasons.append(_nothing_to_free(checkpoint))
            continue
        is_valid = draft.state is State.COMPLETE
        if is_valid and remaining_valid <= policy.min_keep:
            draft.reasons.append(
                Reason(
                    ReasonCode.MIN_KEEP,
                    f"kept by the --min-keep {policy.min_keep} floor although {short_text}",
                )
            )
            continue
        draft.action = Action.DELETE
        code = ReasonCode.FREE_SPACE if is_valid else ReasonCode.CORRUPT_RECLAIM
        text = f"{short_text}: frees {format_size(checkpoint.reclaimable)}"
        overridden = [_OVERRIDE_TEXT[r.code] for r in draft.reasons if r.code in _OVERRIDE_TEXT]
        if overridden:
            text += f" (overrides {' and '.join(overridden)})"
        # A deleted checkpoint carries only the reasons it is deleted for.
        draft.reasons = [r for r in draft.reasons if r.code not in _OVERRIDE_TEXT]
        draft.reasons.append(Reason(code, text))
        available += checkpoint.reclaimable
        remaining_valid -= int(is_valid)
    return available


def _protected(draft: _Draft) -> bool:
    return draft.checkpoint.protected_by is not None


def _has(draft: _Draft, code: ReasonCode) -> bool:
    return any(r.code is code for r in draft.reasons)


def _nothing_to_free(checkpoint: Checkpoint) -> Reason:
    if checkpoint.open_by:
        pids = ", ".join(str(p) for p in checkpoint.open_by)
        return Reason(
            ReasonCode.OPEN_ELSEWHERE,
            f"held open by pid {pids}: deleting it would free nothing until closed",
        )
    why = "other hard links keep its data" if checkpoint.links > 1 else "it occupies no space"
    return Reason(ReasonCode.NOTHING_TO_FREE, f"{why}: deleting it would free nothing")


def _shortfall_warning(policy: Policy, target: int, shortfall: int) -> str:
    return (
        f"free-space target {format_size(target)} (--min-free {policy.min_free}) cannot be "
        f"met: {format_size(shortfall)} short after every deletion that --min-keep "
        f"{policy.min_keep} allows; deleting checkpoints cannot save this disk"
    )
