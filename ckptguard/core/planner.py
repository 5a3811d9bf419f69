"""Deciding what to keep and what to delete: pure functions of an inventory, a policy and `now`.

The rules run in a fixed order:

1. States: ignored, pinned, in progress and corrupt entries are never counted as valid.
   A checkpoint named by a "latest" pointer file is never deleted, whatever its state.
   When no entry passes the content check, the check is more likely wrong than every
   save: the newest `min_keep` entries are kept whatever the space pressure, and the
   plan warns; it also warns when the newest entries written fail it while older pass.
2. Runs: complete checkpoints in write order (modification time) form runs; one written
   after a higher step's starts a new run (a training restarted or resumed from an
   earlier step). The step-newest complete checkpoint and the current run's newest are
   never deleted.
3. Keep-N, within each run: keep its `keep` newest by step, and every milestone; the
   rest of the valid ones are deleted (unless rule 4 keeps them).
4. Keep-best, within each run: with a metric, also keep the `keep_best` best-ranked.
5. Free space: while projected free space is below the target, delete more, in this
   order: corrupt files; then each earlier run, oldest run first, and last the current
   run, each going ordinary checkpoints oldest first, then milestones oldest first, then
   the best, worst-ranked first. Never a checkpoint rule 1 or 2 protects, never below
   `min_keep` valid checkpoints, nor below `min_keep` of the current run. A checkpoint
   deleted for space loses the keep reasons it overrides.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace

from ckptguard.core.model import (
    Action,
    Checkpoint,
    Decision,
    DiskState,
    Integrity,
    Inventory,
    MinFree,
    MinFreeUnit,
    Notice,
    Plan,
    Policy,
    Reason,
    ReasonCode,
    Run,
    State,
    Unit,
)
from ckptguard.core.naming import pin_name
from ckptguard.core.runs import best_order, group_runs, ranked, step_order, write_order
from ckptguard.core.units import format_age, format_size

NS_PER_S = 1_000_000_000
# How long a directory or group save may go without a write before it counts as abandoned.
QUIET_SAVE_SECONDS = 3600.0
# This many entries written last in a row failing the content check, while older ones
# pass, make the check suspect (a format change after an upgrade).
SUSPECT_STREAK = 3
# Rounds of planning on what the previous round leaves (see `plan`).
MAX_ROUNDS = 8
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

    Held open for writing means in progress, whatever the content says (an HDF5 file
    flushed mid-save looks whole). An empty file is never a complete checkpoint, even
    where the format has no content check: a forged zero-byte "newest" file must not
    push real checkpoints out.
    """
    if checkpoint.writing:
        return State.IN_PROGRESS
    settling = quiet_for(checkpoint, now) < policy.settle_seconds
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


def quiet_for(checkpoint: Checkpoint, now: float) -> float:
    """How long the entry has been unchanged: as the guard watched it, else by its mtime."""
    return age_of(checkpoint, now) if checkpoint.quiet_for is None else checkpoint.quiet_for


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
    run: Run | None = None

    def freeze(self) -> Decision:
        run = None if self.run is None else self.run.index
        return Decision(
            self.checkpoint, self.state, self.action, tuple(self.reasons), self.rank, run
        )


def plan(inventory: Inventory, policy: Policy, *, now: float) -> Plan:
    """Decide, for every checkpoint in `inventory`, whether to keep or delete it and why.

    Deleting for space can leave a later run keeping nothing that shows where it began;
    the runs then merge, and keep-N may drop what an earlier run kept. So the plan is
    carried to its fixed point: planned again on what it leaves until that deletes
    nothing more (at most a few rounds; bounded, so no input can stall planning).
    """
    first = _plan_round(inventory, policy, now)
    rounds, result, remaining = 1, first, inventory
    deleted = {d.checkpoint.name: d for d in first.decisions if d.action is Action.DELETE}
    while result.deletions and rounds < MAX_ROUNDS and _runs_merge(result, policy):
        freed = sum(d.checkpoint.reclaimable for d in result.deletions)
        remaining = replace(
            remaining,
            checkpoints=tuple(c for c in remaining.checkpoints if c.name not in deleted),
            disk=replace(remaining.disk, free=remaining.disk.free + freed),
        )
        result = _plan_round(remaining, policy, now)
        deleted.update((d.checkpoint.name, d) for d in result.deletions)
        rounds += 1
    if rounds == 1:
        return first
    return _combined(inventory, first, result, deleted)


def _combined(inventory: Inventory, first: Plan, last: Plan, deleted: dict[str, Decision]) -> Plan:
    """One plan from several rounds, told in the runs the first round found.

    What a later round deleted carries that round's reasons; the rest keep the first
    round's, which also say what the free-space rule tried.
    """
    runs = {d.checkpoint.name: d.run for d in first.decisions}
    decisions = tuple(
        replace(deleted[d.checkpoint.name], run=runs[d.checkpoint.name])
        if d.checkpoint.name in deleted
        else d
        for d in first.decisions
    )
    free_after = inventory.disk.free + sum(
        d.checkpoint.reclaimable for d in decisions if d.action is Action.DELETE
    )
    return replace(
        first,
        decisions=decisions,
        free_after=free_after,
        shortfall=last.shortfall,
        warnings=last.warnings,
    )


def _runs_merge(result: Plan, policy: Policy) -> bool:
    """Whether what the plan keeps would group into fewer runs than it planned with."""
    kept = [d.checkpoint for d in result.decisions if d.action is Action.KEEP and d.run]
    regrouped = group_runs(kept, policy, always_kept=lambda c: True)
    return len(regrouped) < len({d.run for d in result.decisions if d.run})


def _plan_round(inventory: Inventory, policy: Policy, now: float) -> Plan:
    ordered = sorted(inventory.checkpoints, key=step_order)
    drafts = [_Draft(c, classify(c, policy, now), Action.KEEP, []) for c in ordered]
    _resume_quiet_saves(drafts, now)
    valid = [d for d in drafts if d.state is State.COMPLETE]
    runs = _find_runs(valid, policy)

    for draft in drafts:
        _explain_state(draft, policy, now)
        if draft.checkpoint.protected_by is not None:
            draft.reasons.append(
                Reason(
                    ReasonCode.POINTER,
                    f"named by the pointer file {draft.checkpoint.protected_by}: never deleted",
                )
            )
    suspicion = _suspect_check(drafts, policy, inventory)
    _apply_newest(valid, runs)
    for members in runs:
        _explain_run(members, runs, now)
        _apply_keep_n(members, policy, several=len(runs) > 1)
        _apply_keep_best(members, policy)

    reference_size = _reference_size(drafts, policy, now)
    target = resolve_target(policy.min_free, inventory.disk, reference_size)
    # In total, not per save: stale or forged "saves" must not switch the rule off.
    credit = min(sum(d.checkpoint.size for d in drafts if _in_flight(d)), reference_size)
    available = inventory.disk.free + credit + _freed(drafts)
    if available < target:
        available = _free_space(drafts, runs, policy, target, available)
    shortfall = max(0, target - available)

    frozen = tuple(d.freeze() for d in drafts)
    free_after = inventory.disk.free + sum(
        d.checkpoint.reclaimable for d in frozen if d.action is Action.DELETE
    )
    warnings = [suspicion] if suspicion is not None else []
    if shortfall:
        warnings.append(Notice("shortfall", _shortfall_warning(policy, target, shortfall)))
    return Plan(
        directory=inventory.directory,
        decisions=frozen,
        disk=inventory.disk,
        target_free=target,
        in_flight_credit=credit,
        free_after=free_after,
        shortfall=shortfall,
        warnings=tuple(warnings),
        metric=policy.metric,
        metric_mode=policy.metric_mode,
        runs=tuple(members[0].run for members in runs if members[0].run is not None),
    )


def _find_runs(valid: list[_Draft], policy: Policy) -> list[list[_Draft]]:
    """The runs of the complete checkpoints (see `runs`), oldest first, each in step order."""
    if not valid:
        return []
    newest = valid[-1].checkpoint

    def always_kept(checkpoint: Checkpoint) -> bool:
        # A run's own newest is kept by keep-N (at least 1): not needed here.
        return (
            checkpoint is newest
            or checkpoint.protected_by is not None
            or _milestone(checkpoint, policy)
        )

    by_id = {id(d.checkpoint): d for d in valid}
    groups = group_runs([d.checkpoint for d in valid], policy, always_kept=always_kept)
    runs = [[by_id[id(c)] for c in group] for group in groups]
    for index, members in enumerate(runs, start=1):
        run = Run(
            index=index,
            first_step=members[0].checkpoint.step,
            last_step=members[-1].checkpoint.step,
            count=len(members),
            last_write_ns=max(d.checkpoint.mtime_ns for d in members),
        )
        for draft in members:
            draft.run = run
    return runs


def _milestone(checkpoint: Checkpoint, policy: Policy) -> bool:
    return (
        policy.keep_every is not None
        and policy.keep_every > 0
        and (checkpoint.step % policy.keep_every == 0)
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
            and quiet_for(checkpoint, now) < QUIET_SAVE_SECONDS
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
    elif state is State.IN_PROGRESS:
        draft.reasons.append(Reason(ReasonCode.IN_PROGRESS, _in_progress_text(draft, policy, now)))
    elif state is State.CORRUPT:
        draft.reasons.append(
            Reason(
                ReasonCode.CORRUPT_LEFT,
                "incomplete, corrupt or truncated: never counted as a checkpoint; deleted "
                "only when space is needed",
            )
        )


def _in_progress_text(draft: _Draft, policy: Policy, now: float) -> str:
    checkpoint = draft.checkpoint
    quiet = quiet_for(checkpoint, now)
    if checkpoint.writing:
        return "being written: held open for writing"
    if quiet >= policy.settle_seconds:
        return (
            "being written: not complete yet, newer than every complete checkpoint "
            f"(quiet for {format_age(quiet)}; a {checkpoint.unit.value} save may pause "
            "between files)"
        )
    what = (
        "not a complete checkpoint yet"
        if checkpoint.integrity is Integrity.INVALID
        else "recently modified"
    )
    seen = "unchanged for" if checkpoint.quiet_for is not None else "modified"
    ago = "" if checkpoint.quiet_for is not None else " ago"
    return (
        f"being written: {what}, {seen} {format_age(quiet)}{ago} "
        f"(settle window {policy.settle_seconds:g}s)"
    )


def _suspect_check(drafts: list[_Draft], policy: Policy, inventory: Inventory) -> Notice | None:
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
    where = inventory.directory
    check = f"the {inventory.preset} preset's" if inventory.preset else "its"
    if any(d.state is State.COMPLETE for d in settled):
        streak = list(itertools.takewhile(_fails_check, reversed(settled)))
        if len(streak) < SUSPECT_STREAK:
            return None
        return Notice(
            "check_suspect",
            f"the {len(streak)} newest entries written in {where} fail {check} completeness "
            "check while older ones pass; is --preset right (a new format after an upgrade)?",
        )
    newest = sorted(settled, key=lambda d: step_order(d.checkpoint))
    for draft in newest[len(newest) - policy.min_keep :] if policy.min_keep > 0 else []:
        draft.reasons.append(
            Reason(
                ReasonCode.CHECK_SUSPECT,
                "fails the completeness check like every entry here: kept whatever the "
                "space pressure, since the check may be wrong",
            )
        )
    return Notice(
        "check_suspect",
        f"no checkpoint in {where} passes {check} completeness check; is --preset right? "
        f"The newest {policy.min_keep} are kept whatever the space pressure",
    )


def _fails_check(draft: _Draft) -> bool:
    return draft.state is State.CORRUPT and draft.checkpoint.size > 0


def _apply_newest(valid: list[_Draft], runs: list[list[_Draft]]) -> None:
    """The newest by step, and the current run's newest, stay.

    The current run is the one holding the last checkpoint written; its newest is its
    highest step (overlapping saves may finish a lower one last).
    """
    if not valid:
        return
    valid[-1].reasons.append(
        Reason(ReasonCode.NEWEST_VALID, "newest valid checkpoint: never deleted")
    )
    current_newest = runs[-1][-1]
    if current_newest is not valid[-1]:
        current_newest.reasons.append(
            Reason(
                ReasonCode.NEWEST_VALID,
                "newest checkpoint of the current run (the run written last): never deleted",
            )
        )


def _explain_run(members: list[_Draft], runs: list[list[_Draft]], now: float) -> None:
    """Name the earlier run a checkpoint belongs to, when the directory holds several."""
    if members is runs[-1]:
        return
    run = members[0].run
    assert run is not None
    text = (
        f"earlier run (steps {run.first_step}\u2013{run.last_step}, last saved "
        f"{format_age(now - run.last_write_ns / NS_PER_S)} ago)"
    )
    for draft in members:
        draft.reasons.append(Reason(ReasonCode.EARLIER_RUN, text))


# Reasons that keep a complete checkpoint whatever keep-N says.
_KEEPING = frozenset({ReasonCode.NEWEST_VALID, ReasonCode.POINTER, ReasonCode.MILESTONE})


def _apply_keep_n(members: list[_Draft], policy: Policy, *, several: bool) -> None:
    """Keep a run's `keep` newest and its milestones; the rest of it is deleted."""
    newest_n = members[-policy.keep :] if policy.keep > 0 else []
    newest_ids = {id(d) for d in newest_n}
    of_run = " of its run" if several else ""
    for draft in members:
        if id(draft) in newest_ids:
            draft.reasons.append(Reason(ReasonCode.NEWEST_N, _one_of_newest(policy.keep) + of_run))
        if _milestone(draft.checkpoint, policy):
            draft.reasons.append(
                Reason(
                    ReasonCode.MILESTONE, f"milestone: step is a multiple of {policy.keep_every}"
                )
            )
        if not any(r.code in _KEEPING or r.code is ReasonCode.NEWEST_N for r in draft.reasons):
            draft.action = Action.DELETE
            draft.reasons.append(
                Reason(ReasonCode.BEYOND_KEEP, f"older than the {_newest(policy.keep)}{of_run}")
            )


def _one_of_newest(keep: int) -> str:
    return "kept by --keep 1" if keep == 1 else f"one of the {_newest(keep)}"


def _newest(keep: int) -> str:
    return "newest valid checkpoint (--keep 1)" if keep == 1 else f"{keep} newest valid checkpoints"


def _apply_keep_best(members: list[_Draft], policy: Policy) -> None:
    """Rank a run's checkpoints by the metric; keep the best `keep_best` whatever their age.

    NaN is never ranked; infinities rank as their sign says.
    """
    metric = policy.metric
    if metric is None:
        return
    known = [d for d in members if ranked(d.checkpoint, policy)]
    known.sort(key=lambda d: best_order(policy)(d.checkpoint))
    better = "lower" if policy.metric_mode == "min" else "higher"
    for rank, draft in enumerate(known, start=1):
        value = draft.checkpoint.metric(metric)
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
    """The size of the last complete checkpoint written, pinned or not: what the next save
    (of the current run) needs."""
    sized = [
        d.checkpoint
        for d in drafts
        if d.state is State.COMPLETE
        or (
            d.state is State.PINNED and integrity_state(d.checkpoint, policy, now) is State.COMPLETE
        )
    ]
    return max(sized, key=write_order).size if sized else 0


def _in_flight(draft: _Draft) -> bool:
    return draft.state is State.IN_PROGRESS


def _freed(drafts: list[_Draft]) -> int:
    return sum(d.checkpoint.reclaimable for d in drafts if d.action is Action.DELETE)


def _free_space(
    drafts: list[_Draft],
    runs: list[list[_Draft]],
    policy: Policy,
    target: int,
    available: int,
) -> int:
    """Delete more, in the documented order, until `available` reaches `target`."""
    corrupt = [d for d in drafts if d.state is State.CORRUPT and not _protected(d)]
    candidates = corrupt + [d for members in runs for d in _space_order(members)]
    remaining = sum(1 for members in runs for d in members if d.action is Action.KEEP)
    current = runs[-1] if runs else []
    remaining_current = sum(1 for d in current if d.action is Action.KEEP)
    short_text = f"free space below the {format_size(target)} target (--min-free {policy.min_free})"

    for draft in candidates:
        if available >= target:
            break
        checkpoint = draft.checkpoint
        if checkpoint.reclaimable == 0:
            draft.reasons.append(_nothing_to_free(checkpoint))
            continue
        is_valid = draft.state is State.COMPLETE
        in_current = is_valid and draft.run is not None and draft.run.index == len(runs)
        if is_valid and (
            remaining <= policy.min_keep or (in_current and remaining_current <= policy.min_keep)
        ):
            floor = (
                "the --min-keep"
                if not in_current or len(runs) == 1
                else "the current run's --min-keep"
            )
            draft.reasons.append(
                Reason(
                    ReasonCode.MIN_KEEP,
                    f"kept by {floor} {policy.min_keep} floor although {short_text}",
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
        remaining -= int(is_valid)
        remaining_current -= int(in_current)
    return available


def _space_order(members: list[_Draft]) -> list[_Draft]:
    """A run's kept checkpoints that space may take: ordinary oldest first, then
    milestones oldest first, then the best, worst-ranked first."""
    kept = [
        d
        for d in members
        if d.action is Action.KEEP and not _has(d, ReasonCode.NEWEST_VALID) and not _protected(d)
    ]
    best = sorted((d for d in kept if _has(d, ReasonCode.BEST)), key=lambda d: -(d.rank or 0))
    rest = [d for d in kept if not _has(d, ReasonCode.BEST)]
    ordinary = [d for d in rest if not _has(d, ReasonCode.MILESTONE)]
    milestones = [d for d in rest if _has(d, ReasonCode.MILESTONE)]
    return ordinary + milestones + best


def _protected(draft: _Draft) -> bool:
    """Named by a pointer file, or kept because the content check is suspect."""
    return draft.checkpoint.protected_by is not None or _has(draft, ReasonCode.CHECK_SUSPECT)


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
