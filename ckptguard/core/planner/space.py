"""Free space: the target, what saves in flight are credited, and what more goes for it."""

from __future__ import annotations

from dataclasses import dataclass

from ckptguard.core.decisions import Action, Notice, Reason, ReasonCode, State, notice, reason
from ckptguard.core.model import Checkpoint, DiskState, MinFree, MinFreeUnit, Policy
from ckptguard.core.planner.draft import Draft
from ckptguard.core.planner.states import integrity_state
from ckptguard.core.runs import write_order

# Keep reasons that the free-space rule may override, and the option each comes from.
OVERRIDABLE = {
    ReasonCode.NEWEST_N: "keep",
    ReasonCode.MILESTONE: "keep_every",
    ReasonCode.BEST: "keep_best",
}


def resolve_target(min_free: MinFree, disk: DiskState, reference_size: int) -> int:
    """The free-space target in bytes; `reference_size` is the newest valid checkpoint's."""
    if min_free.unit is MinFreeUnit.PERCENT:
        return int(disk.total * min_free.value / 100)
    if min_free.unit is MinFreeUnit.MULTIPLE:
        return int(reference_size * min_free.value)
    return int(min_free.value)


def reference_size(drafts: list[Draft], policy: Policy, now: float) -> int:
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


def in_flight_credit(drafts: list[Draft], reference: int) -> int:
    """Bytes saves in progress have written, in total (stale or forged "saves" must not
    switch the rule off), up to one checkpoint."""
    return min(sum(d.checkpoint.size for d in drafts if d.state is State.IN_PROGRESS), reference)


def freed(drafts: list[Draft]) -> int:
    return sum(d.checkpoint.reclaimable for d in drafts if d.action is Action.DELETE)


@dataclass
class _Floors:
    """How many complete checkpoints are still kept, in all and in the current run."""

    policy: Policy
    remaining: int
    current: int
    current_run: int

    def in_current(self, draft: Draft) -> bool:
        return draft.run is not None and draft.run.index == self.current_run

    def stops(self, draft: Draft) -> bool:
        if draft.state is not State.COMPLETE:
            return False
        floor = self.policy.min_keep
        return self.remaining <= floor or (self.in_current(draft) and self.current <= floor)

    def taken(self, draft: Draft) -> None:
        if draft.state is State.COMPLETE:
            self.remaining -= 1
            self.current -= int(self.in_current(draft))


def room_ahead(drafts: list[Draft], reference: int) -> int:
    """What the saves seen being written still need to finish, as far as the last
    complete checkpoint's size tells; in total at most one checkpoint (a file held open
    for writing by someone else must not make the guard delete more than one ahead)."""
    needed = sum(max(0, reference - d.checkpoint.size) for d in drafts if d.checkpoint.writing)
    return min(needed, reference)


def free_space(
    drafts: list[Draft],
    runs: list[list[Draft]],
    policy: Policy,
    target: int,
    available: int,
    *,
    ahead: bool = False,
) -> int:
    """Delete more, in the documented order, until `available` reaches `target`.

    `ahead`: making room for the save after the ones in flight, early, so that a save
    started the moment the current one closes finds it; what the floors keep then is
    no shortfall (the newest becomes deletable once the save in flight completes).
    """
    corrupt = [d for d in drafts if d.state is State.CORRUPT and not d.protected]
    candidates = corrupt + [d for members in runs for d in space_order(members)]
    floors = _Floors(
        policy,
        remaining=sum(1 for members in runs for d in members if d.action is Action.KEEP),
        current=sum(1 for d in (runs[-1] if runs else []) if d.action is Action.KEEP),
        current_run=len(runs),
    )
    for draft in candidates:
        if available >= target:
            break
        if draft.checkpoint.reclaimable == 0 or floors.stops(draft):
            if not ahead:
                draft.reasons.append(_cannot_take(draft, floors, policy, target, len(runs)))
            continue
        _delete_for_space(draft, policy, target, ahead=ahead)
        available += draft.checkpoint.reclaimable
        floors.taken(draft)
    return available


def _cannot_take(draft: Draft, floors: _Floors, policy: Policy, target: int, runs: int) -> Reason:
    if draft.checkpoint.reclaimable == 0:
        return _nothing_to_free(draft.checkpoint)
    return _floored(policy, target, current_run=runs > 1 and floors.in_current(draft))


def _floored(policy: Policy, target: int, *, current_run: bool) -> Reason:
    return reason(
        ReasonCode.MIN_KEEP,
        min_keep=policy.min_keep,
        current_run=current_run,
        target=target,
        min_free=str(policy.min_free),
    )


def _delete_for_space(draft: Draft, policy: Policy, target: int, *, ahead: bool) -> None:
    """Mark for deletion: a deleted checkpoint carries only the reasons it is deleted for
    (and the run it belongs to)."""
    checkpoint = draft.checkpoint
    overrides = tuple(OVERRIDABLE[r.code] for r in draft.reasons if r.code in OVERRIDABLE)
    draft.action = Action.DELETE
    draft.reasons = [r for r in draft.reasons if r.code not in OVERRIDABLE]
    code = ReasonCode.FREE_SPACE if draft.state is State.COMPLETE else ReasonCode.CORRUPT_RECLAIM
    draft.reasons.append(
        reason(
            code,
            target=target,
            min_free=str(policy.min_free),
            frees=checkpoint.reclaimable,
            overrides=overrides,
            ahead=ahead,
        )
    )


def space_order(members: list[Draft]) -> list[Draft]:
    """A run's kept checkpoints that space may take: ordinary oldest first, then
    milestones oldest first, then the best, worst-ranked first."""
    kept = [
        d
        for d in members
        if d.action is Action.KEEP and not d.has(ReasonCode.NEWEST_VALID) and not d.protected
    ]
    best = sorted((d for d in kept if d.has(ReasonCode.BEST)), key=lambda d: -(d.rank or 0))
    rest = [d for d in kept if not d.has(ReasonCode.BEST)]
    ordinary = [d for d in rest if not d.has(ReasonCode.MILESTONE)]
    milestones = [d for d in rest if d.has(ReasonCode.MILESTONE)]
    return ordinary + milestones + best


def _nothing_to_free(checkpoint: Checkpoint) -> Reason:
    if checkpoint.open_by:
        return reason(ReasonCode.OPEN_ELSEWHERE, pids=checkpoint.open_by)
    return reason(ReasonCode.NOTHING_TO_FREE, linked=checkpoint.links > 1)


def shortfall_notice(policy: Policy, target: int, shortfall: int) -> Notice:
    return notice(
        "shortfall",
        target=target,
        shortfall=shortfall,
        min_free=str(policy.min_free),
        min_keep=policy.min_keep,
    )
