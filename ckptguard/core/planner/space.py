"""Free space: the target, what saves in flight are credited, and what more goes for it."""

from __future__ import annotations

from dataclasses import dataclass

from ckptguard.core.decisions import Action, Notice, Reason, ReasonCode, State, notice, reason
from ckptguard.core.model import Checkpoint, DiskState, MinFree, MinFreeUnit, Policy
from ckptguard.core.planner import yields
from ckptguard.core.planner.draft import Draft
from ckptguard.core.planner.states import integrity_state
from ckptguard.core.runs import write_order


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
class Floors:
    """How many complete checkpoints are still kept, in all and in the current run."""

    policy: Policy
    remaining: int
    current: int
    current_run: int

    @classmethod
    def of(cls, policy: Policy, runs: list[list[Draft]]) -> Floors:
        return cls(
            policy,
            remaining=sum(1 for members in runs for d in members if d.action is Action.KEEP),
            current=sum(1 for d in (runs[-1] if runs else []) if d.action is Action.KEEP),
            current_run=len(runs),
        )

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
    """Delete more, in the documented order (`yields`), until `available` reaches `target`.

    `ahead`: making room for the save after the ones in flight, early, so that a save
    started the moment the current one closes finds it; what the floors keep then is
    no shortfall (the newest becomes deletable once the save in flight completes).
    """
    floors = Floors.of(policy, runs)
    for draft in yields.order(drafts, runs):
        if available >= target:
            break
        if draft.checkpoint.reclaimable == 0:
            if not ahead:
                draft.reasons.append(_nothing_to_free(draft.checkpoint))
        elif floors.stops(draft):
            if not ahead:
                in_current = len(runs) > 1 and floors.in_current(draft)
                draft.reasons.append(_floored(policy, target, current_run=in_current))
        else:
            code = (
                ReasonCode.FREE_SPACE
                if draft.state is State.COMPLETE
                else ReasonCode.CORRUPT_RECLAIM
            )
            frees = draft.checkpoint.reclaimable
            facts = {"target": target, "min_free": str(policy.min_free), "frees": frees}
            yields.take(draft, code, ahead=ahead, **facts)
            available += frees
            floors.taken(draft)
    return available


def _floored(policy: Policy, target: int, *, current_run: bool) -> Reason:
    return reason(
        ReasonCode.MIN_KEEP,
        min_keep=policy.min_keep,
        current_run=current_run,
        target=target,
        min_free=str(policy.min_free),
    )


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
