"""What keeps a complete checkpoint: being the newest, keep-N, step tiers, keep-best,
each within its run (time rules, which look at the whole directory, are `time_rules`)."""

from __future__ import annotations

from ckptguard.core.decisions import Action, Reason, ReasonCode, Run, reason
from ckptguard.core.model import Checkpoint, Policy, Tier
from ckptguard.core.planner.draft import Draft
from ckptguard.core.planner.states import NS_PER_S
from ckptguard.core.runs import best_order, group_runs, ranked

# Reasons that keep a complete checkpoint whatever keep-N says.
_KEEPING = frozenset(
    {
        ReasonCode.NEWEST_VALID,
        ReasonCode.POINTER,
        ReasonCode.MILESTONE,
        ReasonCode.NEWEST_N,
        ReasonCode.WITHIN,
        ReasonCode.PERIOD,
    }
)


def find_runs(valid: list[Draft], policy: Policy) -> list[list[Draft]]:
    """The runs of the complete checkpoints (see `runs`), oldest first, each in step order.

    Time rules have already spoken: what they keep is kept in every run, like a tier.
    """
    if not valid:
        return []
    newest = valid[-1].checkpoint
    timed = {
        id(d.checkpoint) for d in valid if d.has(ReasonCode.WITHIN) or d.has(ReasonCode.PERIOD)
    }

    def always_kept(checkpoint: Checkpoint) -> bool:
        # A run's own newest is kept by keep-N (at least 1): not needed here.
        return (
            checkpoint is newest
            or checkpoint.protected_by is not None
            or milestone(checkpoint, policy)
            or id(checkpoint) in timed
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


def milestone(checkpoint: Checkpoint, policy: Policy) -> bool:
    """Whether a step tier covers the checkpoint (`keep_every` is the plain tier)."""
    return bool(tiers_of(checkpoint, policy))


def tiers_of(checkpoint: Checkpoint, policy: Policy) -> list[Tier]:
    return [t for t in policy.all_tiers if t.covers(checkpoint.step)]


def apply_newest(valid: list[Draft], runs: list[list[Draft]]) -> None:
    """The newest by step, and the current run's newest, stay.

    The current run is the one holding the last checkpoint written; its newest is its
    highest step (overlapping saves may finish a lower one last).
    """
    if not valid:
        return
    valid[-1].reasons.append(reason(ReasonCode.NEWEST_VALID, scope="step"))
    current_newest = runs[-1][-1]
    if current_newest is not valid[-1]:
        current_newest.reasons.append(reason(ReasonCode.NEWEST_VALID, scope="run"))


def explain_run(members: list[Draft], runs: list[list[Draft]], now: float) -> None:
    """Name the earlier run a checkpoint belongs to, when the directory holds several."""
    if members is runs[-1]:
        return
    run = members[0].run
    assert run is not None
    age = now - run.last_write_ns / NS_PER_S
    earlier = reason(ReasonCode.EARLIER_RUN, first=run.first_step, last=run.last_step, age=age)
    for draft in members:
        draft.reasons.append(earlier)


def apply_keep_n(members: list[Draft], policy: Policy, *, several: bool) -> None:
    """Keep a run's `keep` newest and what its step tiers cover; the rest of it is deleted
    unless a time rule keeps it."""
    newest_n = {id(d) for d in (members[-policy.keep :] if policy.keep > 0 else [])}
    # The same facts for every checkpoint of the run: made once (100,000 add up).
    kept = reason(ReasonCode.NEWEST_N, keep=policy.keep, of_run=several)
    beyond = _beyond(policy, several)
    for draft in members:
        if id(draft) in newest_n:
            draft.reasons.append(kept)
        for tier in tiers_of(draft.checkpoint, policy):
            draft.reasons.append(reason(ReasonCode.MILESTONE, every=tier.every, until=tier.until))
        if not any(r.code in _KEEPING for r in draft.reasons):
            draft.action = Action.DELETE
            draft.reasons.append(beyond)


def _beyond(policy: Policy, several: bool) -> Reason:
    """Deleted: no rule keeps it. The facts name every counting rule that could have."""
    return reason(
        ReasonCode.BEYOND_KEEP,
        keep=policy.keep,
        of_run=several,
        within=policy.keep_within,
        hourly=policy.keep_hourly,
        daily=policy.keep_daily,
        weekly=policy.keep_weekly,
    )


def apply_keep_best(members: list[Draft], policy: Policy) -> None:
    """Rank a run's checkpoints by the metric; keep the best `keep_best` whatever their age.

    NaN is never ranked; infinities rank as their sign says.
    """
    metric = policy.metric
    if metric is None:
        return
    known = sorted(
        (d for d in members if ranked(d.checkpoint, policy)),
        key=lambda d: best_order(policy)(d.checkpoint),
    )
    for rank, draft in enumerate(known, start=1):
        draft.rank = rank
        if rank > policy.keep_best:
            continue
        if draft.action is Action.DELETE:
            draft.action = Action.KEEP
            draft.reasons = [r for r in draft.reasons if r.code is not ReasonCode.BEYOND_KEEP]
        draft.reasons.append(
            reason(
                ReasonCode.BEST,
                metric=metric,
                value=draft.checkpoint.metric(metric),
                rank=rank,
                of=len(known),
                mode=policy.metric_mode,
            )
        )
