"""Size budgets: the checkpoints of a directory, or of a group of directories, stay under
a size (`--max-size`; a `[budgets]` group in the config file).

What a budget counts is the apparent size (as `ls -l` shows it; a directory's or group's
is the sum of its files) of every matching entry that stays: complete, in progress,
corrupt or pinned. Symlinks and other impostors are not checkpoints and count for
nothing. While the count is over the limit, more goes, in the same order as for free
space (`yields`) and with the same floor: never below `min_keep`, never what is always
kept. An entry held open by another process is passed over (a reader may be loading it).

A group's budget is shared: its directories' candidates are taken together, corrupt
entries first, then earlier runs, then by kind (`yields.GIVE_WAY`), then the oldest by
completion time, wherever it lies; each directory keeps its own floor.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

from ckptguard.core.decisions import Action, BudgetUse, Reason, ReasonCode, State, reason
from ckptguard.core.model import Policy
from ckptguard.core.planner import yields
from ckptguard.core.planner.draft import Draft
from ckptguard.core.planner.space import Floors

COUNTED = frozenset({State.COMPLETE, State.IN_PROGRESS, State.CORRUPT, State.PINNED})


@dataclass
class Member:
    """One directory's round being planned: its drafts, its runs, its policy."""

    drafts: list[Draft]
    runs: list[list[Draft]]
    policy: Policy


def counted(drafts: list[Draft], *, kept_only: bool) -> int:
    return sum(
        d.checkpoint.size
        for d in drafts
        if d.state in COUNTED and (d.action is Action.KEEP or not kept_only)
    )


def keep_under(members: list[Member], limit: int, group: str | None = None) -> BudgetUse:
    """Delete more across `members` until what they keep is at most `limit` bytes."""
    used = sum(counted(m.drafts, kept_only=False) for m in members)
    size = sum(counted(m.drafts, kept_only=True) for m in members)
    facts: dict[str, object] = {"limit": limit, "group": group}
    floors = [Floors.of(m.policy, m.runs) for m in members]
    for index, draft in _merged(members):
        if size <= limit:
            break
        member, floor = members[index], floors[index]
        if draft.checkpoint.size == 0:
            continue  # counts for nothing: taking it cannot help
        if draft.checkpoint.open_by:
            _say(draft, reason(ReasonCode.OPEN_ELSEWHERE, pids=draft.checkpoint.open_by))
        elif floor.stops(draft):
            current = len(member.runs) > 1 and floor.in_current(draft)
            _say(draft, _floored(member.policy, current, facts))
        else:
            corrupt = draft.state is not State.COMPLETE
            frees = draft.checkpoint.size
            yields.take(draft, ReasonCode.OVER_BUDGET, frees=frees, corrupt=corrupt, **facts)
            size -= frees
            floor.taken(draft)
    return BudgetUse(limit=limit, used=used, after=size, group=group)


def _merged(members: list[Member]) -> list[tuple[int, Draft]]:
    """Every member's candidates in its own order, interleaved across members by stage,
    kind and completion time (one member: its order unchanged)."""
    streams = []
    for index, member in enumerate(members):
        current = {id(d) for d in (member.runs[-1] if member.runs else [])}
        streams.append(
            [
                (_stage(d, current), index, position, d)
                for position, d in enumerate(yields.order(member.drafts, member.runs))
            ]
        )
    return [(index, draft) for *_, index, _, draft in _by_stage(streams)]


def _by_stage(
    streams: list[list[tuple[tuple[int, int, int, int], int, int, Draft]]],
) -> list[tuple[tuple[int, int, int, int], int, int, Draft]]:
    """Merge streams whose own order must stand: a stream's head waits for its turn."""
    merged = []
    heads = [(s[0][0], i, 0) for i, s in enumerate(streams) if s]
    heapq.heapify(heads)
    while heads:
        _, stream, position = heapq.heappop(heads)
        merged.append(streams[stream][position])
        if position + 1 < len(streams[stream]):
            heapq.heappush(heads, (streams[stream][position + 1][0], stream, position + 1))
    return merged


def _stage(draft: Draft, current: set[int]) -> tuple[int, int, int, int]:
    if draft.state is State.CORRUPT:
        return (0, 0, 0, draft.checkpoint.mtime_ns)
    in_current = id(draft) in current
    return (1, int(in_current), yields.strength(draft), draft.checkpoint.mtime_ns)


def _floored(policy: Policy, current_run: bool, facts: dict[str, object]) -> Reason:
    return reason(
        ReasonCode.MIN_KEEP,
        min_keep=policy.min_keep,
        current_run=current_run,
        pressure="budget",
        **facts,
    )


def _say(draft: Draft, said: Reason) -> None:
    if said not in draft.reasons:
        draft.reasons.append(said)
