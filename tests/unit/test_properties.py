"""Hypothesis properties of the planner: the ARCHITECTURE.md invariants over random inputs."""

from __future__ import annotations

import itertools
import random
from collections import Counter
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from ckptguard import planner
from ckptguard.model import (
    Action,
    Checkpoint,
    Decision,
    DiskState,
    FileIdentity,
    Integrity,
    Inventory,
    Kind,
    MinFree,
    MinFreeUnit,
    Plan,
    Policy,
    ReasonCode,
    State,
)

NOW = 1_700_000_000
NS = 1_000_000_000

PROPERTY = settings(max_examples=300, deadline=None)

# Each checkpoint is drawn from four combined tables, not nine separate draws: Hypothesis
# spends ~0.1 ms per draw and 300 examples x 12 checkpoints add up. The first entry of
# each table is the simplest value, which is where shrinking goes.
STEPS = [*range(21), 999_999_999, 2**64 - 1]
NAME_SPECS = [(step, zeros) for zeros in (0, 0, 1, 2) for step in STEPS]
ATTRS = list(
    itertools.product(
        [Kind.REGULAR] * 8 + [Kind.SYMLINK, Kind.DIRECTORY, Kind.OTHER],
        [Integrity.VALID] * 4 + [Integrity.INVALID, Integrity.UNCHECKED],
        [False] * 9 + [True],  # pinned
        [(), (), (), (), (4242,), (1, 2)],  # open_by
    )
)
SIZES = [
    (size, freeable)
    for size in (100, 0, 1, 50, 250, 1000)
    for freeable in (size, size, 0, size // 2)
]
entries = st.tuples(
    st.sampled_from(NAME_SPECS),
    st.sampled_from(ATTRS),
    st.sampled_from(SIZES),
    st.integers(-20, 200),  # age in seconds at NOW
)


@st.composite
def checkpoint_lists(draw: st.DrawFn, *, min_size: int = 0, max_size: int = 12) -> list[Checkpoint]:
    """Checkpoints with unique names, sometimes sharing a step (`7` and `007`), in any order."""
    result: list[Checkpoint] = []
    names: set[str] = set()
    count = draw(st.integers(min_size, max_size))
    for index, entry in enumerate(draw(st.lists(entries, min_size=count, max_size=count))):
        (step, zeros), (kind, integrity, pinned, open_by), (size, freeable), age = entry
        name = f"checkpoint_step_{'0' * zeros}{step}.keras"
        if name in names:
            continue
        names.add(name)
        identity = FileIdentity(device=1, inode=index + 1, size=size, mtime_ns=(NOW - age) * NS)
        result.append(Checkpoint(name, step, kind, identity, integrity, pinned, freeable, open_by))
    random.Random(draw(st.integers(0, 2**16))).shuffle(result)
    return result


# Amounts are on the scale of checkpoint sizes (0..1000) so that free-space pressure, the
# min-keep floor and shortfalls are common rather than rare.
FREES = [0, 0, 0, 10, 50, 100, 250, 1000, 10_000]
TARGETS = [0, 100, 250, 400, 1000, 2500, 10_000]
min_frees = st.one_of(
    st.builds(MinFree, st.just(MinFreeUnit.BYTES), st.sampled_from(TARGETS).map(float)),
    st.builds(MinFree, st.just(MinFreeUnit.PERCENT), st.sampled_from([0.0, 1.0, 10.0, 50.0, 99.0])),
    st.builds(MinFree, st.just(MinFreeUnit.MULTIPLE), st.sampled_from([0.0, 0.5, 1.0, 2.0, 4.0])),
)

policies = st.builds(
    Policy,
    keep=st.integers(0, 8),
    min_free=min_frees,
    min_keep=st.integers(0, 4),
    keep_every=st.one_of(st.none(), st.integers(0, 10)),
    settle_seconds=st.sampled_from([0.0, 10.0, 30.0, 100.0]),
)


@st.composite
def disks(draw: st.DrawFn) -> DiskState:
    free = draw(st.sampled_from(FREES))
    return DiskState(total=free + draw(st.sampled_from([0, 500, 2000, 10_000])), free=free)


@st.composite
def inventories(draw: st.DrawFn) -> Inventory:
    return Inventory("models", tuple(draw(checkpoint_lists())), draw(disks()))


# Under pressure: little free space, a real target, and keep-N leaving candidates, so that
# the free-space order, the min-keep floor and shortfalls are exercised in most examples.
pressured_policies = st.builds(
    Policy,
    keep=st.integers(2, 10),
    min_free=st.one_of(
        st.builds(MinFree, st.just(MinFreeUnit.BYTES), st.sampled_from(TARGETS[2:]).map(float)),
        st.builds(MinFree, st.just(MinFreeUnit.MULTIPLE), st.sampled_from([1.0, 2.0, 4.0])),
        st.builds(MinFree, st.just(MinFreeUnit.PERCENT), st.sampled_from([10.0, 50.0, 99.0])),
    ),
    min_keep=st.integers(0, 5),
    keep_every=st.one_of(st.none(), st.integers(2, 5)),
    settle_seconds=st.sampled_from([0.0, 10.0, 100.0]),
)


@st.composite
def pressured_inventories(draw: st.DrawFn) -> Inventory:
    disk = DiskState(
        total=draw(st.sampled_from([1000, 5000])), free=draw(st.sampled_from(FREES[:5]))
    )
    return Inventory("models", tuple(draw(checkpoint_lists(min_size=3))), disk)


# ---- an oracle for states, written independently of planner.classify --------------------


def expected_state(checkpoint: Checkpoint, policy: Policy) -> State:
    if checkpoint.kind is not Kind.REGULAR:
        return State.IGNORED
    if checkpoint.pinned:
        return State.PINNED
    settling = NOW - checkpoint.mtime_ns / NS < policy.settle_seconds
    if checkpoint.integrity is Integrity.VALID:
        return State.COMPLETE
    if settling:
        return State.IN_PROGRESS
    unverifiable_or_bad = checkpoint.integrity is Integrity.INVALID or checkpoint.size == 0
    return State.CORRUPT if unverifiable_or_bad else State.COMPLETE


def valid_of(checkpoints: tuple[Checkpoint, ...], policy: Policy) -> list[Checkpoint]:
    """Complete checkpoints in (step, name) order."""
    valid = [c for c in checkpoints if expected_state(c, policy) is State.COMPLETE]
    return sorted(valid, key=lambda c: (c.step, c.name))


def codes(decision: Decision) -> set[ReasonCode]:
    return {r.code for r in decision.reasons}


def is_milestone(decision: Decision) -> bool:
    return ReasonCode.MILESTONE in codes(decision)


def plan_of(inventory: Inventory, policy: Policy) -> Plan:
    return planner.plan(inventory, policy, now=float(NOW))


def applied(inventory: Inventory, plan: Plan) -> Inventory:
    """The inventory after an executor has carried out every deletion of `plan`."""
    deleted = Counter(d.checkpoint for d in plan.deletions)
    remaining = []
    for checkpoint in inventory.checkpoints:
        if deleted[checkpoint]:
            deleted[checkpoint] -= 1
        else:
            remaining.append(checkpoint)
    freed = sum(d.checkpoint.reclaimable for d in plan.deletions)
    disk = DiskState(total=inventory.disk.total, free=inventory.disk.free + freed)
    return Inventory(inventory.directory, tuple(remaining), disk)


# ---- invariants of a single plan -----------------------------------------------------------
# Each check_* function states one invariant; test_plan_invariants plans once per example and
# runs them all, because drawing an inventory costs far more than checking it.


def check_one_decision_per_checkpoint(inventory: Inventory, policy: Policy, plan: Plan) -> None:
    """Kept + deleted is exactly the input, one decision each, ordered by (step, name)."""
    assert Counter(d.checkpoint for d in plan.decisions) == Counter(inventory.checkpoints)
    assert len(plan.kept) + len(plan.deletions) == len(inventory.checkpoints)
    keys = [(d.checkpoint.step, d.checkpoint.name) for d in plan.decisions]
    assert keys == sorted(keys)


def check_every_decision_has_a_reason(inventory: Inventory, policy: Policy, plan: Plan) -> None:
    """Every decision carries a reason with text; a deletion carries a deleting reason."""
    deleting = {ReasonCode.BEYOND_KEEP, ReasonCode.FREE_SPACE, ReasonCode.CORRUPT_RECLAIM}
    for decision in plan.decisions:
        assert decision.reasons
        assert all(r.text for r in decision.reasons)
        if decision.action is Action.DELETE:
            assert codes(decision) & deleting


def check_states(inventory: Inventory, policy: Policy, plan: Plan) -> None:
    """Each state is derived from kind, then pin, then integrity against the settle window."""
    for decision in plan.decisions:
        assert decision.state is expected_state(decision.checkpoint, policy)


def check_newest_valid_kept(inventory: Inventory, policy: Policy, plan: Plan) -> None:
    """The newest complete checkpoint by (step, name) is never deleted."""
    valid = valid_of(inventory.checkpoints, policy)
    if valid:
        (decision,) = [d for d in plan.decisions if d.checkpoint is valid[-1]]
        assert decision.action is Action.KEEP
        assert ReasonCode.NEWEST_VALID in codes(decision)


def check_only_complete_or_corrupt_deleted(
    inventory: Inventory, policy: Policy, plan: Plan
) -> None:
    """Pinned, in-progress and ignored entries are never deleted; corrupt ones only for space."""
    for decision in plan.deletions:
        assert decision.state in (State.COMPLETE, State.CORRUPT)
        assert decision.checkpoint.kind is Kind.REGULAR
        assert not decision.checkpoint.pinned
        if decision.state is State.CORRUPT:
            assert ReasonCode.CORRUPT_RECLAIM in codes(decision)


def older(a: Decision, b: Decision) -> bool:
    return (a.checkpoint.step, a.checkpoint.name) < (b.checkpoint.step, b.checkpoint.name)


def check_free_space_order_and_floor(inventory: Inventory, policy: Policy, plan: Plan) -> None:
    """Space goes corrupt first, ordinary oldest first, then milestones, never below min-keep."""
    valid = [d for d in plan.decisions if d.state is State.COMPLETE]
    newest = valid[-1] if valid else None
    kept_valid = [d for d in valid if d.action is Action.KEEP]
    candidates = [d for d in kept_valid if d is not newest]  # what free space could still take
    for_space = [d for d in plan.decisions if ReasonCode.FREE_SPACE in codes(d)]
    nothing = {ReasonCode.NOTHING_TO_FREE, ReasonCode.OPEN_ELSEWHERE}

    assert all(d.checkpoint.reclaimable > 0 for d in for_space)
    reclaimed = [d for d in plan.decisions if ReasonCode.CORRUPT_RECLAIM in codes(d)]
    assert all(d.checkpoint.reclaimable > 0 for d in reclaimed)
    if not for_space:
        return
    assert len(kept_valid) >= max(policy.min_keep, 1)
    for d in plan.decisions:
        if d.state is State.CORRUPT and d.action is Action.KEEP:
            assert d.checkpoint.reclaimable == 0
            assert codes(d) & nothing
    for deleted in for_space:
        for d in candidates:
            if not is_milestone(d) and (older(d, deleted) or is_milestone(deleted)):
                assert d.checkpoint.reclaimable == 0, (d, deleted)
                assert codes(d) & nothing
            if is_milestone(d) and is_milestone(deleted) and older(d, deleted):
                assert d.checkpoint.reclaimable == 0, (d, deleted)


def check_accounting(inventory: Inventory, policy: Policy, plan: Plan) -> None:
    """free_after adds reclaimable bytes only; a shortfall means nothing more could go."""
    assert plan.free_after == inventory.disk.free + plan.bytes_freed
    assert plan.shortfall == max(0, plan.target_free - plan.free_after - plan.in_flight_credit)
    assert bool(plan.warnings) is (plan.shortfall > 0)
    if plan.shortfall > 0:
        for d in plan.kept:
            if d.state is State.COMPLETE and d.checkpoint.reclaimable > 0:
                assert codes(d) & {ReasonCode.NEWEST_VALID, ReasonCode.MIN_KEEP}
            if d.state is State.CORRUPT:
                assert d.checkpoint.reclaimable == 0


def check_idempotent(inventory: Inventory, policy: Policy, plan: Plan) -> None:
    """Applying the plan and planning again at the same `now` deletes nothing more."""
    after = applied(inventory, plan)
    again = plan_of(after, policy)
    assert again.deletions == ()
    assert again.shortfall == plan.shortfall
    assert again.target_free == plan.target_free
    assert after.disk.free == plan.free_after


def check_keep_n_exact(inventory: Inventory, policy: Policy, plan: Plan) -> None:
    """Keep-N deletes exactly the valid ones outside the newest N, milestones and the newest."""
    valid = valid_of(inventory.checkpoints, policy)
    protected = set(valid[-policy.keep :] if policy.keep > 0 else []) | set(valid[-1:])
    if policy.keep_every:
        protected |= {c for c in valid if c.step % policy.keep_every == 0}
    beyond = {d.checkpoint for d in plan.decisions if ReasonCode.BEYOND_KEEP in codes(d)}
    assert beyond == set(valid) - protected


def check_target_and_credit(inventory: Inventory, policy: Policy, plan: Plan) -> None:
    """The target resolves against the newest complete size (pinned too); the credit of all
    saves in flight together is capped by it."""
    sized = sorted(
        (
            c
            for c in inventory.checkpoints
            if expected_state(replace(c, pinned=False), policy) is State.COMPLETE
            and c.kind is Kind.REGULAR
        ),
        key=lambda c: (c.step, c.name),
    )
    reference = sized[-1].size if sized else 0
    unit, value = policy.min_free.unit, policy.min_free.value
    if unit is MinFreeUnit.BYTES:
        assert plan.target_free == int(value)
    elif unit is MinFreeUnit.PERCENT:
        assert plan.target_free == int(inventory.disk.total * value / 100)
    else:
        assert plan.target_free == int(reference * value)
    in_flight = [d for d in plan.decisions if d.state is State.IN_PROGRESS]
    assert plan.in_flight_credit == min(sum(d.checkpoint.size for d in in_flight), reference)


CHECKS = [
    check_keep_n_exact,
    check_target_and_credit,
    check_one_decision_per_checkpoint,
    check_every_decision_has_a_reason,
    check_states,
    check_newest_valid_kept,
    check_only_complete_or_corrupt_deleted,
    check_free_space_order_and_floor,
    check_accounting,
    check_idempotent,
]


@given(inventories(), policies)
@PROPERTY
def test_plan_invariants(inventory: Inventory, policy: Policy) -> None:
    """Every plan of a random inventory and policy satisfies every check_* invariant above."""
    plan = plan_of(inventory, policy)
    for check in CHECKS:
        check(inventory, policy, plan)


@given(pressured_inventories(), pressured_policies)
@PROPERTY
def test_plan_invariants_under_pressure(inventory: Inventory, policy: Policy) -> None:
    """Every check_* invariant also holds when free space is short and deletions are needed."""
    plan = plan_of(inventory, policy)
    for check in CHECKS:
        check(inventory, policy, plan)


# ---- properties that need inputs of their own ----------------------------------------------


@given(checkpoint_lists(), policies)
@PROPERTY
def test_keeps_n_newest_valid_without_pressure(
    checkpoints: list[Checkpoint], policy: Policy
) -> None:
    """With free space already above target, the `keep` newest valid (by step) are all kept."""
    inventory = Inventory("models", tuple(checkpoints), DiskState(total=10**6, free=10**6))
    plan = plan_of(inventory, policy)
    assert plan.target_free <= inventory.disk.free
    valid = valid_of(inventory.checkpoints, policy)
    kept = {d.checkpoint for d in plan.kept}
    assert sum(1 for c in valid if c in kept) >= min(policy.keep, len(valid))
    newest_n = valid[-policy.keep :] if policy.keep > 0 else []
    assert all(c in kept for c in newest_n)
    assert not any(ReasonCode.FREE_SPACE in codes(d) for d in plan.decisions)
    assert not any(d.state is State.CORRUPT for d in plan.deletions)
    assert plan.shortfall == 0


@st.composite
def mtime_shuffles(draw: st.DrawFn) -> tuple[Inventory, Inventory]:
    """An inventory and a copy whose VALID files have their mtimes permuted."""
    inventory = draw(inventories())
    positions = [i for i, c in enumerate(inventory.checkpoints) if c.integrity is Integrity.VALID]
    mtimes = [inventory.checkpoints[i].mtime_ns for i in positions]
    random.Random(draw(st.integers(0, 2**16))).shuffle(mtimes)
    changed = list(inventory.checkpoints)
    for position, mtime in zip(positions, mtimes, strict=True):
        old = changed[position]
        changed[position] = replace(old, identity=replace(old.identity, mtime_ns=mtime))
    return inventory, replace(inventory, checkpoints=tuple(changed))


@given(mtime_shuffles(), policies)
@PROPERTY
def test_deletions_never_depend_on_mtime_order(
    pair: tuple[Inventory, Inventory], policy: Policy
) -> None:
    """Permuting mtimes among VALID files changes no action, state or reason code."""
    original, shuffled = pair

    def summary(plan: Plan) -> list[tuple[str, Action, State, frozenset[ReasonCode]]]:
        return [(d.checkpoint.name, d.action, d.state, frozenset(codes(d))) for d in plan.decisions]

    assert summary(plan_of(original, policy)) == summary(plan_of(shuffled, policy))


@given(checkpoint_lists(), policies, disks(), st.integers(-20, 10_000))
@PROPERTY
def test_forged_newest_never_pushes_real_ones_out(
    checkpoints: list[Checkpoint], policy: Policy, disk: DiskState, age: int
) -> None:
    """Adding a zero-byte INVALID `checkpoint_step_999999999.keras` changes no other decision."""
    real = tuple(c for c in checkpoints if c.step < 999_999_999)
    forged = Checkpoint(
        name="checkpoint_step_999999999.keras",
        step=999_999_999,
        kind=Kind.REGULAR,
        identity=FileIdentity(device=1, inode=10**6, size=0, mtime_ns=(NOW - age) * NS),
        integrity=Integrity.INVALID,
        freeable=0,
    )
    before = plan_of(Inventory("models", real, disk), policy)
    after = plan_of(Inventory("models", (*real, forged), disk), policy)
    assert after.decisions[:-1] == before.decisions
    assert after.target_free == before.target_free
    assert after.shortfall == before.shortfall
    (last,) = after.decisions[-1:]
    assert last.checkpoint is forged
    assert last.action is Action.KEEP
    assert last.state in (State.IN_PROGRESS, State.CORRUPT)


@st.composite
def scored_inventories(draw: st.DrawFn) -> tuple[Inventory, Policy]:
    """Valid checkpoints with random (sometimes missing) losses, and a keep-best policy."""
    steps = draw(st.lists(st.integers(0, 50), min_size=1, max_size=12, unique=True))
    losses = st.one_of(st.none(), st.floats(-10, 10, allow_nan=False), st.just(float("nan")))
    checkpoints = []
    for inode, step in enumerate(steps):
        loss = draw(losses)
        checkpoints.append(
            Checkpoint(
                name=f"checkpoint_step_{step}.keras",
                step=step,
                kind=Kind.REGULAR,
                identity=FileIdentity(1, inode, 100, NOW * NS),
                integrity=Integrity.VALID,
                freeable=100,
                metrics=() if loss is None else (("val_loss", loss),),
            )
        )
    policy = Policy(
        keep=draw(st.integers(1, 4)),
        min_free=MinFree(MinFreeUnit.BYTES, 0.0),
        keep_best=draw(st.integers(0, 4)),
        metric="val_loss",
        metric_mode=draw(st.sampled_from(["min", "max"])),
    )
    return Inventory("models", tuple(checkpoints), DiskState(10**6, 10**6)), policy


@given(scored_inventories())
@PROPERTY
def test_best_n_are_never_deleted_while_space_allows(case: tuple[Inventory, Policy]) -> None:
    """The keep_best best-ranked checkpoints with a known metric are kept; ranks are exact."""
    inventory, policy = case
    plan = plan_of(inventory, policy)
    known = [
        c
        for c in inventory.checkpoints
        if c.metric("val_loss") == c.metric("val_loss") and c.metrics
    ]
    sign = 1 if policy.metric_mode == "min" else -1
    ranked = sorted(known, key=lambda c: (sign * c.metric("val_loss"), -c.step))
    kept = {d.checkpoint for d in plan.kept}
    assert all(c in kept for c in ranked[: policy.keep_best])
    ranks = {d.checkpoint: d.rank for d in plan.decisions}
    assert [ranks[c] for c in ranked] == list(range(1, len(ranked) + 1))
    assert all(ranks[c] is None for c in inventory.checkpoints if c not in known)
