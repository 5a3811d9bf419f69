"""The order in which kept checkpoints give way under pressure (free space, a budget).

Pressure never takes what is always kept: pinned, in progress, named by a pointer file,
the newest by step or the current run's newest, and never goes below `min_keep`. What
it may take goes in this order:

1. corrupt entries (never counted as checkpoints);
2. the checkpoints of earlier runs, oldest run first, then the current run's; within
   each run, by the strongest rule that keeps each checkpoint, in `GIVE_WAY` order:
   `last` (keep-N) first, then `within`, `hourly`, `daily`, `weekly`, `tier`, and
   `best` last; within one kind, oldest (by step) first, and the best worst-ranked first.

A checkpoint kept by several rules stands with the strongest of them.
"""

from __future__ import annotations

from ckptguard.core.decisions import Action, Reason, ReasonCode, State, reason
from ckptguard.core.planner.draft import Draft

# Each kind of kept checkpoint, in the order they give way.
GIVE_WAY = ("last", "within", "hourly", "daily", "weekly", "tier", "best")


def kind_of_reason(item: Reason) -> str | None:
    """The give-way kind a keep reason puts its checkpoint in; None for other reasons."""
    if item.code is ReasonCode.NEWEST_N:
        return "last"
    if item.code is ReasonCode.WITHIN:
        return "within"
    if item.code is ReasonCode.PERIOD:
        return str(item["period"])
    if item.code is ReasonCode.MILESTONE:
        return "tier"
    if item.code is ReasonCode.BEST:
        return "best"
    return None


def option_of(item: Reason) -> str | None:
    """The option behind a keep reason that pressure may override, for the words."""
    kind = kind_of_reason(item)
    return {
        "last": "keep",
        "within": "keep_within",
        "hourly": "keep_hourly",
        "daily": "keep_daily",
        "weekly": "keep_weekly",
        "tier": "keep_every",
        "best": "keep_best",
    }.get(kind or "")


def strength(draft: Draft) -> int:
    """The position in `GIVE_WAY` of the strongest rule keeping it (0: none of them)."""
    kinds = [kind_of_reason(r) for r in draft.reasons]
    return max((GIVE_WAY.index(k) for k in kinds if k is not None), default=0)


def yielding(draft: Draft) -> bool:
    """A kept complete checkpoint that pressure may take."""
    return (
        draft.action is Action.KEEP
        and draft.state is State.COMPLETE
        and not draft.has(ReasonCode.NEWEST_VALID)
        and not draft.protected
    )


def space_order(members: list[Draft]) -> list[Draft]:
    """A run's kept checkpoints that pressure may take, in the order they give way."""
    kept = [d for d in members if yielding(d)]
    best = GIVE_WAY.index("best")
    return sorted(
        kept,
        key=lambda d: (strength(d), -(d.rank or 0) if strength(d) == best else 0),
    )


def order(drafts: list[Draft], runs: list[list[Draft]]) -> list[Draft]:
    """Everything pressure may take, first to go first: corrupt, then run by run."""
    corrupt = [d for d in drafts if d.state is State.CORRUPT and not d.protected]
    return corrupt + [d for members in runs for d in space_order(members)]


def number_give_way(drafts: list[Draft], runs: list[list[Draft]]) -> None:
    """Number the complete checkpoints still kept that pressure could take, as the audit
    shows them: 1 goes first (after every corrupt entry)."""
    position = 0
    for draft in order(drafts, runs):
        if draft.action is Action.KEEP and draft.state is State.COMPLETE:
            position += 1
            draft.gives_way = position


def take(draft: Draft, code: ReasonCode, **facts: object) -> None:
    """Delete under pressure: the deletion carries the reasons it is deleted for, the keep
    rules it overrides named, and no longer the keep reasons themselves."""
    overrides = tuple(o for o in (option_of(r) for r in draft.reasons) if o is not None)
    draft.action = Action.DELETE
    draft.gives_way = None
    draft.reasons = [r for r in draft.reasons if option_of(r) is None]
    draft.reasons.append(reason(code, overrides=tuple(dict.fromkeys(overrides)), **facts))


def tidy_reasons(draft: Draft) -> None:
    """Keep rules after the other reasons, in `GIVE_WAY` order ("last 3; hourly ...;
    daily ...; tier ...; best ..."), so every audit row reads the same way."""
    rules = sorted(
        (r for r in draft.reasons if kind_of_reason(r) is not None),
        key=lambda r: GIVE_WAY.index(kind_of_reason(r) or "last"),
    )
    draft.reasons = [r for r in draft.reasons if kind_of_reason(r) is None] + rules
