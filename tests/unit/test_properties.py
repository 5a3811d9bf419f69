"""Hypothesis properties of the planner: the ARCHITECTURE.md invariants over random inputs."""

from __future__ import annotations

import itertools
import random
from collections import Counter
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st
from support import text

from ckptguard.core import planner
from ckptguard.core.decisions import Action, Decision, Plan, ReasonCode, State
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
    keep=st.integers(1, 8),
    min_free=min_frees,
    min_keep=st.integers(0, 4),
    keep_every=st.one_of(st.none(), st.integers(0, 10)),
    settle_seconds=st.sampled_from([0.0, 10.0, 30.0, 100.0]),
).filter(lambda p: p.min_keep <= p.keep)  # as configuration requires


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
).filter(lambda p: p.min_keep <= p.keep)


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


def by_step(c: Checkpoint) -> tuple[int, int, str]:
    """Step order: of two names for one step, the later written is the newer."""
    return (c.step, c.mtime_ns, c.name)


def by_write(c: Checkpoint) -> tuple[int, int, str]:
    return (c.mtime_ns, c.step, c.name)


def valid_of(checkpoints: tuple[Checkpoint, ...], policy: Policy) -> list[Checkpoint]:
    """Complete checkpoints in step order."""
    valid = [c for c in checkpoints if expected_state(c, policy) is State.COMPLETE]
    return sorted(valid, key=by_step)


def runs_of(checkpoints: tuple[Checkpoint, ...], policy: Policy) -> list[list[Checkpoint]]:
    """Complete checkpoints in write order, cut wherever the step goes below the run's highest."""
    runs: list[list[Checkpoint]] = []
    for c in sorted(valid_of(checkpoints, policy), key=by_write):
        if not runs or c.step < max(x.step for x in runs[-1]):
            runs.append([])
        runs[-1].append(c)
    return runs


def suspect(decision: Decision) -> bool:
    return ReasonCode.CHECK_SUSPECT in codes(decision)


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
    """Kept + deleted is exactly the input, one decision each, in step order."""
    assert Counter(d.checkpoint for d in plan.decisions) == Counter(inventory.checkpoints)
    assert len(plan.kept) + len(plan.deletions) == len(inventory.checkpoints)
    keys = [by_step(d.checkpoint) for d in plan.decisions]
    assert keys == sorted(keys)


def check_every_decision_has_a_reason(inventory: Inventory, policy: Policy, plan: Plan) -> None:
    """Every decision carries a reason with text; a deletion carries a deleting reason."""
    deleting = {ReasonCode.BEYOND_KEEP, ReasonCode.FREE_SPACE, ReasonCode.CORRUPT_RECLAIM}
    for decision in plan.decisions:
        assert decision.reasons
        assert all(text(r) for r in decision.reasons)
        if decision.action is Action.DELETE:
            assert codes(decision) & deleting


def check_states(inventory: Inventory, policy: Policy, plan: Plan) -> None:
    """Each state is derived from kind, then pin, then integrity against the settle window."""
    for decision in plan.decisions:
        assert decision.state is expected_state(decision.checkpoint, policy)


def check_newest_valid_kept(inventory: Inventory, policy: Policy, plan: Plan) -> None:
    """The newest complete checkpoint by step, and the newest written, are never deleted."""
    valid = valid_of(inventory.checkpoints, policy)
    if valid:
        last_written = max(valid, key=by_write)
        for newest in (valid[-1], last_written):
            (decision,) = [d for d in plan.decisions if d.checkpoint is newest]
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


def space_order(decision: Decision, current_run: int) -> tuple[int, int, int, int, str]:
    """Where a complete checkpoint stands in the free-space order: earlier runs first, oldest
    run first; within a run ordinary before milestones; then oldest first."""
    c = decision.checkpoint
    return (decision.run or 0, int(is_milestone(decision)), *by_step(c))


def check_free_space_order_and_floor(inventory: Inventory, policy: Policy, plan: Plan) -> None:
    """Space goes corrupt first, then earlier runs before the current one, each ordinary
    oldest first, then milestones; never below min-keep, in all and in the current run."""
    valid = [d for d in plan.decisions if d.state is State.COMPLETE]
    current = len(plan.runs)
    kept_valid = [d for d in valid if d.action is Action.KEEP]
    candidates = [d for d in kept_valid if ReasonCode.NEWEST_VALID not in codes(d)]
    for_space = [d for d in plan.decisions if ReasonCode.FREE_SPACE in codes(d)]
    nothing = {ReasonCode.NOTHING_TO_FREE, ReasonCode.OPEN_ELSEWHERE}

    assert all(d.checkpoint.reclaimable > 0 for d in for_space)
    reclaimed = [d for d in plan.decisions if ReasonCode.CORRUPT_RECLAIM in codes(d)]
    assert all(d.checkpoint.reclaimable > 0 for d in reclaimed)
    assert not any(suspect(d) for d in reclaimed)
    if not for_space:
        return
    assert len(kept_valid) >= max(policy.min_keep, 1)
    # Runs merge after free space only where an earlier run keeps what space cannot take;
    # where none does, the current run keeps its floor of its own.
    earlier_pinned_down = any(
        d.run != current and (d.checkpoint.reclaimable == 0 or d.checkpoint.protected_by)
        for d in valid
    )
    if any(d.run == current for d in for_space) and not earlier_pinned_down:
        kept_current = [d for d in kept_valid if d.run == current]
        assert len(kept_current) >= max(policy.min_keep, 1)
    for d in plan.decisions:
        if d.state is State.CORRUPT and d.action is Action.KEEP and not suspect(d):
            assert d.checkpoint.reclaimable == 0
            assert codes(d) & nothing
    for deleted in for_space:
        for d in candidates:
            if space_order(d, current) < space_order(deleted, current):
                assert d.checkpoint.reclaimable == 0, (d, deleted)
                assert codes(d) & nothing


def check_accounting(inventory: Inventory, policy: Policy, plan: Plan) -> None:
    """free_after adds reclaimable bytes only; a shortfall means nothing more could go."""
    assert plan.free_after == inventory.disk.free + plan.bytes_freed
    assert plan.shortfall == max(0, plan.target_free - plan.free_after - plan.in_flight_credit)
    assert (plan.warning("shortfall") is not None) is (plan.shortfall > 0)
    if plan.shortfall > 0:
        for d in plan.kept:
            if d.state is State.COMPLETE and d.checkpoint.reclaimable > 0:
                assert codes(d) & {ReasonCode.NEWEST_VALID, ReasonCode.MIN_KEEP}
            if d.state is State.CORRUPT and not suspect(d):
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
    """Keep-N deletes exactly the valid ones outside each run's newest N, the milestones,
    the newest by step and the newest written; runs that nothing kept tells apart any more
    are one run (planned to the fixed point, found here by plain repetition), also once
    free space has taken what showed a run's start."""
    valid = valid_of(inventory.checkpoints, policy)
    always = set(valid[-1:]) | ({max(valid, key=by_write)} if valid else set())
    if policy.keep_every:
        always |= {c for c in valid if c.step % policy.keep_every == 0}

    def fixed_point(survivors: tuple[Checkpoint, ...]) -> tuple[Checkpoint, ...]:
        while True:
            kept = set(always)
            for run in runs_of(survivors, policy):
                kept |= set(sorted(run, key=by_step)[-policy.keep :])
            if kept >= set(survivors):
                return survivors
            survivors = tuple(c for c in survivors if c in kept)

    for_space = {d.checkpoint for d in plan.decisions if ReasonCode.FREE_SPACE in codes(d)}
    first = fixed_point(tuple(valid))
    final = fixed_point(tuple(c for c in first if c not in for_space))
    beyond = {d.checkpoint for d in plan.decisions if ReasonCode.BEYOND_KEEP in codes(d)}
    expected = set(valid) - for_space - set(final)
    assert beyond >= expected
    # A later round may count among a merged run's newest one that free space then
    # takes, and so push out an older one; space takes oldest first, so that older one
    # is one it could not take: deleting it frees nothing.
    assert all(c.reclaimable == 0 for c in beyond - expected), beyond - expected


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
        key=by_write,
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
def write_orders_agreeing_with_steps(draw: st.DrawFn) -> tuple[Inventory, Inventory]:
    """An inventory twice, its VALID files given mtimes rising with their steps in both,
    by different amounts: one run, written in step order, at different times."""
    inventory = draw(inventories())
    positions = sorted(
        (i for i, c in enumerate(inventory.checkpoints) if c.integrity is Integrity.VALID),
        key=lambda i: (inventory.checkpoints[i].step, inventory.checkpoints[i].name),
    )

    def rising() -> list[int]:
        gaps = draw(
            st.lists(st.integers(1, 10**12), min_size=len(positions), max_size=len(positions))
        )
        return list(itertools.accumulate(gaps, initial=(NOW - 10**4) * NS))[1:]

    variants = []
    for mtimes in (rising(), rising()):
        changed = list(inventory.checkpoints)
        for position, mtime in zip(positions, mtimes, strict=True):
            old = changed[position]
            changed[position] = replace(old, identity=replace(old.identity, mtime_ns=mtime))
        variants.append(replace(inventory, checkpoints=tuple(changed)))
    return variants[0], variants[1]


@given(write_orders_agreeing_with_steps(), policies)
@PROPERTY
def test_within_one_run_deletions_never_depend_on_mtimes(
    pair: tuple[Inventory, Inventory], policy: Policy
) -> None:
    """When complete checkpoints were written in step order (one run), when each was
    written changes no action, state or reason code: order is by step."""
    first, second = pair

    def summary(plan: Plan) -> list[tuple[str, Action, State, frozenset[ReasonCode]]]:
        return [(d.checkpoint.name, d.action, d.state, frozenset(codes(d))) for d in plan.decisions]

    assert summary(plan_of(first, policy)) == summary(plan_of(second, policy))


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


# ---- histories: runs restarted from scratch or resumed from an earlier step -------------


@st.composite
def histories(draw: st.DrawFn) -> tuple[Inventory, Policy]:
    """Saves written one after another by runs that restart (from 0) or resume (from an
    earlier step), some unfinished, corrupt or pinned, on a disk often short of space."""
    checkpoints: list[Checkpoint] = []
    mtime = (NOW - 10**5) * NS
    highest = 0
    for _ in range(draw(st.integers(1, 4))):
        start = draw(st.sampled_from([0, highest // 2, highest, highest + 10]))
        stride = draw(st.sampled_from([1, 10, 100]))
        for index in range(draw(st.integers(1, 6))):
            step = start + index * stride
            mtime += draw(st.integers(1, 10**11))
            integrity = draw(st.sampled_from([Integrity.VALID] * 6 + [Integrity.INVALID]))
            checkpoints.append(
                Checkpoint(
                    name=f"checkpoint_step_{step}.keras",
                    step=step,
                    kind=Kind.REGULAR,
                    identity=FileIdentity(1, len(checkpoints) + 1, 100, mtime),
                    integrity=integrity,
                    pinned=draw(st.sampled_from([False] * 9 + [True])),
                    freeable=draw(st.sampled_from([100, 100, 100, 0])),
                )
            )
            highest = max(highest, step)
    # A later save of an existing step replaces the file: one entry per name.
    unique = {c.name: c for c in checkpoints}
    disk = DiskState(total=10_000, free=draw(st.sampled_from([0, 50, 100, 1000])))
    keep = draw(st.integers(1, 5))
    policy = Policy(
        keep=keep,
        min_free=MinFree(MinFreeUnit.BYTES, float(draw(st.sampled_from([0, 200, 500, 2000])))),
        min_keep=draw(st.integers(1, keep)),
        keep_every=draw(st.sampled_from([None, None, 20, 100])),
        settle_seconds=10.0,
    )
    return Inventory("models", tuple(unique.values()), disk), policy


@given(histories())
@PROPERTY
def test_restarted_runs_keep_the_newest_written_and_the_newest_by_step(
    case: tuple[Inventory, Policy],
) -> None:
    """Over histories of restarts and resumptions, every invariant holds, the newest by
    write order and by step are kept, and re-planning after applying deletes nothing."""
    inventory, policy = case
    plan = plan_of(inventory, policy)
    for check in CHECKS:
        check(inventory, policy, plan)
    valid = valid_of(inventory.checkpoints, policy)
    kept = {d.checkpoint for d in plan.kept}
    if valid:
        assert valid[-1] in kept
        assert max(valid, key=by_write) in kept


@given(histories())
@PROPERTY
def test_under_pressure_earlier_runs_give_way_before_the_current_one(
    case: tuple[Inventory, Policy],
) -> None:
    """No checkpoint of the current run is deleted for space while an earlier run still
    has one that deleting would free space from (and that is not the newest by step)."""
    inventory, policy = case
    plan = plan_of(inventory, policy)
    if not plan.runs:
        return
    current = plan.runs[-1].index
    if not any(d.run == current and ReasonCode.FREE_SPACE in codes(d) for d in plan.decisions):
        return
    for d in plan.kept:
        if d.state is State.COMPLETE and d.run is not None and d.run < current:
            assert ReasonCode.NEWEST_VALID in codes(d) or d.checkpoint.reclaimable == 0, d
