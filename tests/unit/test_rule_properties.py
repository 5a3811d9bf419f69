"""Hypothesis properties of the keep rules combined: time rules, step tiers, keep-N,
keep-best, free space and size budgets, as docs/policy.md states them.

The oracles here are written independently of the planner: periods from `datetime`,
tiers and keep-N from their definitions.
"""

from __future__ import annotations

import datetime
import itertools
from collections.abc import Callable

from hypothesis import given, settings
from hypothesis import strategies as st
from support import text

from ckptguard.core import planner
from ckptguard.core.decisions import Action, Plan, ReasonCode, State
from ckptguard.core.model import (
    Checkpoint,
    DiskState,
    FileIdentity,
    Integrity,
    Inventory,
    Kind,
    MinFree,
    MinFreeUnit,
    Policy,
    Tier,
)
from ckptguard.core.planner import SharedBudget, plan_group
from ckptguard.core.planner.yields import GIVE_WAY, kind_of_reason

NOW = 1_800_000_000.0
PROPERTY = settings(max_examples=200, deadline=None)
GAPS = [60, 600, 3000, 3600, 5400, 4 * 3600, 86400, 3 * 86400]
OFFSETS: dict[str, Callable[[float], float]] = {
    "utc": lambda t: 0.0,
    "plus-5:30": lambda t: 19800.0,
    "minus-8": lambda t: -28800.0,
    # An hour more for a stretch of time, as daylight saving time does.
    "dst": lambda t: 7200.0 if (t // (40 * 86400)) % 2 else 3600.0,
}


@st.composite
def runs(draw: st.DrawFn, *, min_size: int = 1) -> Inventory:
    """One run of complete checkpoints, saved at irregular intervals up to NOW."""
    count = draw(st.integers(min_size, 25))
    gaps = draw(st.lists(st.sampled_from(GAPS), min_size=count, max_size=count))
    stride = draw(st.sampled_from([1, 50, 100]))
    times = list(itertools.accumulate(reversed(gaps)))
    checkpoints = []
    for index, back in enumerate(reversed(times)):
        step = (index + 1) * stride
        size = draw(st.sampled_from([100, 100, 300]))
        loss = draw(st.one_of(st.none(), st.floats(0, 10, allow_nan=False)))
        checkpoints.append(
            Checkpoint(
                name=f"checkpoint_step_{step}.keras",
                step=step,
                kind=Kind.REGULAR,
                identity=FileIdentity(1, index + 1, size, round((NOW - back) * 1e9)),
                integrity=Integrity.VALID,
                freeable=size,
                metrics=() if loss is None else (("val_loss", loss),),
            )
        )
    return Inventory("models", tuple(checkpoints), DiskState(10**9, 10**9))


tiers = st.lists(
    st.builds(Tier, st.sampled_from([50, 100, 200, 300]), st.sampled_from([None, 500, 1000])),
    max_size=3,
).map(tuple)


@st.composite
def rule_sets(draw: st.DrawFn) -> Policy:
    keep = draw(st.integers(1, 4))
    return Policy(
        keep=keep,
        min_free=MinFree(MinFreeUnit.BYTES, 0.0),
        min_keep=draw(st.integers(1, keep)),
        keep_every=draw(st.sampled_from([None, None, 100, 500])),
        tiers=draw(tiers),
        keep_within=draw(st.sampled_from([None, None, 3600.0, 6 * 3600.0, 2 * 86400.0])),
        keep_hourly=draw(st.sampled_from([0, 0, 3, 24])),
        keep_daily=draw(st.sampled_from([0, 0, 2, 7])),
        keep_weekly=draw(st.sampled_from([0, 0, 1, 4])),
        keep_best=draw(st.sampled_from([0, 0, 1, 2])),
        metric="val_loss",
        metric_mode="min",
    )


offsets = st.sampled_from(sorted(OFFSETS))


# ---- oracles -------------------------------------------------------------------------------


def completed(c: Checkpoint) -> float:
    return c.mtime_ns / 1e9


def local(c: Checkpoint, offset: Callable[[float], float]) -> datetime.datetime:
    moment = datetime.datetime.fromtimestamp(completed(c), datetime.timezone.utc)
    return moment + datetime.timedelta(seconds=offset(completed(c)))


def period_of(period: str, c: Checkpoint, offset: Callable[[float], float]) -> object:
    when = local(c, offset)
    if period == "hourly":
        return (when.date(), when.hour)
    if period == "daily":
        return when.date()
    return when.isocalendar()[:2]


def oracle(inventory: Inventory, policy: Policy, offset: Callable[[float], float], now: float):
    """Each rule's kept set, by its definition, keyed as the give-way kinds are."""
    valid = sorted(inventory.checkpoints, key=lambda c: c.step)
    sets: dict[str, set[Checkpoint]] = {"last": set(valid[-policy.keep :])}
    sets["tier"] = {c for c in valid if any(t.covers(c.step) for t in policy.all_tiers)}
    if policy.keep_within is not None and valid:
        reference = min(now, max(completed(c) for c in valid))
        sets["within"] = {c for c in valid if completed(c) >= reference - policy.keep_within}
    for period in ("hourly", "daily", "weekly"):
        count = getattr(policy, f"keep_{period}")
        newest: dict[object, Checkpoint] = {}
        for c in sorted(valid, key=lambda c: (c.mtime_ns, c.step)):
            newest[period_of(period, c, offset)] = c
        recent = sorted(newest, key=lambda key: completed(newest[key]), reverse=True)[:count]
        sets[period] = {newest[key] for key in recent}
    scored = [c for c in valid if c.metric("val_loss") is not None]
    best = sorted(scored, key=lambda c: (c.metric("val_loss"), -c.step))[: policy.keep_best]
    sets["best"] = set(best)
    return sets


def kinds(plan: Plan, c: Checkpoint) -> set[str]:
    (decision,) = [d for d in plan.decisions if d.checkpoint is c]
    return {k for r in decision.reasons if (k := kind_of_reason(r)) is not None}


# ---- properties ----------------------------------------------------------------------------


@given(runs(), rule_sets(), offsets)
@PROPERTY
def test_kept_set_is_the_union_of_every_rule_and_each_names_itself(
    inventory: Inventory, policy: Policy, zone: str
) -> None:
    """Without pressure, what is kept is exactly the union of each rule's kept set (and
    the newest); each checkpoint names every rule that keeps it, and only those."""
    offset = OFFSETS[zone]
    plan = planner.plan(inventory, policy, now=NOW, offset=offset)
    sets = oracle(inventory, policy, offset, NOW)
    newest = max(inventory.checkpoints, key=lambda c: c.step)
    union = set().union(*sets.values()) | {newest}
    assert {d.checkpoint for d in plan.kept} == union
    for c in inventory.checkpoints:
        assert kinds(plan, c) == {kind for kind, kept in sets.items() if c in kept}
    for decision in plan.decisions:
        assert all(text(r) for r in decision.reasons)
        if decision.action is Action.DELETE:
            assert [r.code for r in decision.reasons] == [ReasonCode.BEYOND_KEEP]


@given(runs(min_size=2), rule_sets(), offsets, st.sampled_from([0, 100, 300, 600, 1000]))
@PROPERTY
def test_pressure_takes_in_the_documented_order_down_to_the_floor(
    inventory: Inventory, policy: Policy, zone: str, free: int
) -> None:
    """Under free-space pressure, what the rules keep goes in the give-way order (kind,
    then oldest), never the newest and never below min_keep; kept is a subset of the union."""
    offset = OFFSETS[zone]
    pressed = Policy(**{**policy.__dict__, "min_free": MinFree(MinFreeUnit.BYTES, 1000.0)})
    inventory = Inventory("models", inventory.checkpoints, DiskState(10**4, free))
    plan = planner.plan(inventory, pressed, now=NOW, offset=offset)
    union = set().union(*oracle(inventory, pressed, offset, NOW).values())
    newest = max(inventory.checkpoints, key=lambda c: c.step)
    kept = [d for d in plan.kept if d.state is State.COMPLETE]
    assert newest in {d.checkpoint for d in kept}
    assert {d.checkpoint for d in kept} <= union | {newest}
    taken = [d for d in plan.decisions if ReasonCode.FREE_SPACE in {r.code for r in d.reasons}]
    if taken:
        assert len(kept) >= policy.min_keep

    ranks = {d.checkpoint: d.rank or 0 for d in plan.decisions}

    def place(c: Checkpoint, ks: set[str]) -> tuple[int, int]:
        """Kind first; then oldest first, but the best worst-ranked first."""
        kind = max((GIVE_WAY.index(k) for k in ks), default=0)
        return (kind, -ranks[c] if GIVE_WAY[kind] == "best" else c.step)

    before = {
        d.checkpoint: kinds(planner.plan(inventory, policy, now=NOW, offset=offset), d.checkpoint)
        for d in taken
    }
    for d in kept:
        if d.checkpoint is newest or d.gives_way is None:
            continue
        for gone in taken:
            assert place(d.checkpoint, kinds(plan, d.checkpoint)) > place(
                gone.checkpoint, before[gone.checkpoint]
            )
    positions = sorted(
        (d.gives_way, place(d.checkpoint, kinds(plan, d.checkpoint))) for d in kept if d.gives_way
    )
    assert [p for _, p in positions] == sorted(p for _, p in positions)


@given(runs(min_size=2), rule_sets(), offsets, st.sampled_from([100, 250, 500, 1000, 2000]))
@PROPERTY
def test_a_budget_is_never_exceeded_but_by_the_floor_and_the_newest(
    inventory: Inventory, policy: Policy, zone: str, limit: int
) -> None:
    """What is kept fits `max_size`, unless all that is left is the newest and the
    `min_keep` floor; and planning again after applying deletes nothing more."""
    offset = OFFSETS[zone]
    budgeted = Policy(**{**policy.__dict__, "max_size": limit})
    plan = planner.plan(inventory, budgeted, now=NOW, offset=offset)
    (use,) = plan.budgets
    kept = [d for d in plan.kept if d.state is State.COMPLETE]
    assert use.after == sum(d.checkpoint.size for d in plan.kept)
    if use.after > limit:
        assert len(kept) <= max(policy.min_keep, 1)
        assert plan.warning("over_budget") is not None
    else:
        assert plan.warning("over_budget") is None
    left = Inventory("models", tuple(d.checkpoint for d in plan.kept), inventory.disk)
    assert planner.plan(left, budgeted, now=NOW, offset=offset).deletions == ()


@given(runs(), rule_sets(), offsets, st.integers(0, 90 * 86400), runs())
@PROPERTY
def test_replanning_later_never_deletes_what_a_time_rule_still_covers(
    inventory: Inventory, policy: Policy, zone: str, later: int, newer: Inventory
) -> None:
    """Plan and apply at NOW; at any later time, with no new save nothing more goes, and
    with new saves nothing goes that a time rule (evaluated then) still covers."""
    offset = OFFSETS[zone]
    plan = planner.plan(inventory, policy, now=NOW, offset=offset)
    left = tuple(d.checkpoint for d in plan.kept)
    again = planner.plan(
        Inventory("models", left, inventory.disk), policy, now=NOW + later, offset=offset
    )
    assert again.deletions == ()
    shift = later * 10**9
    top = max(c.step for c in left)
    added = tuple(
        Checkpoint(
            name=f"checkpoint_step_{top + c.step}.keras",
            step=top + c.step,
            kind=c.kind,
            identity=FileIdentity(2, c.identity.inode, c.size, c.mtime_ns + shift),
            integrity=c.integrity,
            freeable=c.freeable,
        )
        for c in newer.checkpoints
        if c.mtime_ns + shift > max(x.mtime_ns for x in left)
    )
    grown = Inventory("models", left + added, inventory.disk)
    then = planner.plan(grown, policy, now=NOW + later, offset=offset)
    sets = oracle(grown, policy, offset, NOW + later)
    timed = set().union(*(sets.get(k, set()) for k in ("within", "hourly", "daily", "weekly")))
    assert not {d.checkpoint for d in then.deletions} & timed


@given(runs(), runs(), rule_sets(), st.sampled_from([300, 800, 2000]))
@PROPERTY
def test_a_shared_budget_plans_the_group_together(
    one: Inventory, other: Inventory, policy: Policy, limit: int
) -> None:
    """Two directories sharing a budget: each plans the same as the group does, together
    they keep within the limit (but for each one's floor), oldest first across them."""
    second = Inventory("other", other.checkpoints, other.disk)
    group = plan_group([(one, policy), (second, policy)], now=NOW, shared=SharedBudget("g", limit))
    alone = planner.plan(one, policy, now=NOW, shared=SharedBudget("g", limit, ((second, policy),)))
    assert alone.decisions == group[0].decisions
    kept = sum(d.checkpoint.size for p in group for d in p.kept)
    if kept > limit:
        for p in group:
            assert len([d for d in p.kept if d.state is State.COMPLETE]) <= max(policy.min_keep, 1)
    assert group[0].budgets[-1].after == kept == group[1].budgets[-1].after
