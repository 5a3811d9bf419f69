"""Deciding what to keep and what to delete: pure functions of an inventory, a policy, `now`
and the local time zone's UTC offset (passed in; the core reads no clock and no zone).

The rules run in a fixed order:

1. States: ignored, pinned, in progress and corrupt entries are never counted as valid.
   A checkpoint named by a "latest" pointer file is never deleted, whatever its state.
   When no entry passes the content check, the check is more likely wrong than every
   save: the newest `min_keep` entries are kept whatever the space pressure, and the
   plan warns; it also warns when the newest entries written fail it while older pass.
2. Time rules, over the whole directory (`time_rules`): within a duration of the newest
   completion, and the newest of each of the last N local hours, days and ISO weeks.
3. Runs: complete checkpoints in write order (modification time) form runs; one written
   after a higher step's starts a new run (a training restarted or resumed from an
   earlier step). The step-newest complete checkpoint and the current run's newest are
   never deleted. What a time rule keeps counts as kept in every run.
4. Keep-N and step tiers, within each run: keep its `keep` newest by step and what a
   tier covers; the rest of the valid ones are deleted unless a time rule keeps them.
5. Keep-best, within each run: with a metric, also keep the `keep_best` best-ranked.
6. Pressure: while projected free space is below the target, or what is kept is over a
   size budget (the directory's own, then a group's), delete more in the give-way order
   of `yields`. Never a checkpoint rule 1 or 3 protects, never below `min_keep` valid
   checkpoints, nor below `min_keep` of the current run. A checkpoint deleted under
   pressure loses the keep reasons it overrides.

Every keep rule keeps what it covers: the kept set is their union.
"""

from __future__ import annotations

from dataclasses import replace

from ckptguard.core.decisions import Action, Decision, Plan
from ckptguard.core.model import Inventory, Policy
from ckptguard.core.planner.round import SharedBudget, plan_rounds
from ckptguard.core.planner.space import resolve_target
from ckptguard.core.planner.states import QUIET_SAVE_SECONDS, age_of, classify
from ckptguard.core.planner.time_rules import Offset, utc
from ckptguard.core.runs import group_runs

__all__ = [
    "QUIET_SAVE_SECONDS",
    "Offset",
    "SharedBudget",
    "age_of",
    "classify",
    "plan",
    "plan_group",
    "resolve_target",
    "utc",
]

# Rounds of planning on what the previous round leaves (see `plan`).
MAX_ROUNDS = 8


def plan(
    inventory: Inventory,
    policy: Policy,
    *,
    now: float,
    offset: Offset = utc,
    shared: SharedBudget | None = None,
) -> Plan:
    """Decide, for every checkpoint in `inventory`, whether to keep or delete it and why.

    `offset` gives the local time zone's offset from UTC at an instant (for the time
    rules); `shared`, a budget this directory shares with others (planned together, so
    that every directory of the group decides the same).
    """
    others = list(shared.others) if shared is not None else []
    return plan_group([(inventory, policy), *others], now=now, offset=offset, shared=shared)[0]


def plan_group(
    members: list[tuple[Inventory, Policy]],
    *,
    now: float,
    offset: Offset = utc,
    shared: SharedBudget | None = None,
) -> list[Plan]:
    """The plans of several directories planned together (one, without `shared`).

    Deleting for space can leave a later run keeping nothing that shows where it began;
    the runs then merge, and keep-N may drop what an earlier run kept. So the plans are
    carried to their fixed point: planned again on what they leave until that deletes
    nothing more (at most a few rounds; bounded, so no input can stall planning).
    """
    policies = [policy for _, policy in members]
    first = plan_rounds(members, now, offset, shared)
    rounds, results, remaining = 1, first, [inventory for inventory, _ in members]
    deleted = [
        {d.checkpoint.name: d for d in p.decisions if d.action is Action.DELETE} for p in first
    ]
    while rounds < MAX_ROUNDS and any(
        p.deletions and _runs_merge(p, policy) for p, policy in zip(results, policies, strict=True)
    ):
        remaining = [
            _without(inventory, gone, result)
            for inventory, gone, result in zip(remaining, deleted, results, strict=True)
        ]
        results = plan_rounds(list(zip(remaining, policies, strict=True)), now, offset, shared)
        for gone, result in zip(deleted, results, strict=True):
            gone.update((d.checkpoint.name, d) for d in result.deletions)
        rounds += 1
    if rounds == 1:
        return first
    return [
        _combined(inventory, one, last, gone)
        for (inventory, _), one, last, gone in zip(members, first, results, deleted, strict=True)
    ]


def _without(inventory: Inventory, gone: dict[str, Decision], result: Plan) -> Inventory:
    """What `result` leaves of `inventory`: what it deleted is gone, its space free."""
    gained = sum(d.checkpoint.reclaimable for d in result.deletions)
    return replace(
        inventory,
        checkpoints=tuple(c for c in inventory.checkpoints if c.name not in gone),
        disk=replace(inventory.disk, free=inventory.disk.free + gained),
    )


def _combined(inventory: Inventory, first: Plan, last: Plan, deleted: dict[str, Decision]) -> Plan:
    """One plan from several rounds, told in the runs the first round found.

    What a later round deleted carries that round's reasons; the rest keep the first
    round's, which also say what the free-space rule tried, and the last round's place
    in the give-way order.
    """
    runs = {d.checkpoint.name: d.run for d in first.decisions}
    places = {d.checkpoint.name: d.gives_way for d in last.decisions}
    decisions = tuple(
        replace(deleted[d.checkpoint.name], run=runs[d.checkpoint.name])
        if d.checkpoint.name in deleted
        else replace(d, gives_way=places.get(d.checkpoint.name))
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
        budgets=tuple(
            replace(use, used=before.used)
            for before, use in zip(first.budgets, last.budgets, strict=True)
        ),
    )


def _runs_merge(result: Plan, policy: Policy) -> bool:
    """Whether what the plan keeps would group into fewer runs than it planned with."""
    if len(result.runs) < 2:
        return False  # one run cannot merge
    kept = [d.checkpoint for d in result.decisions if d.action is Action.KEEP and d.run]
    regrouped = group_runs(kept, policy, always_kept=lambda c: True)
    return len(regrouped) < len({d.run for d in result.decisions if d.run})
