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

from dataclasses import replace

from ckptguard.core.decisions import Action, Decision, Plan
from ckptguard.core.model import Inventory, Policy
from ckptguard.core.planner.round import plan_round
from ckptguard.core.planner.space import resolve_target
from ckptguard.core.planner.states import QUIET_SAVE_SECONDS, age_of, classify
from ckptguard.core.runs import group_runs

__all__ = ["QUIET_SAVE_SECONDS", "age_of", "classify", "plan", "resolve_target"]

# Rounds of planning on what the previous round leaves (see `plan`).
MAX_ROUNDS = 8


def plan(inventory: Inventory, policy: Policy, *, now: float) -> Plan:
    """Decide, for every checkpoint in `inventory`, whether to keep or delete it and why.

    Deleting for space can leave a later run keeping nothing that shows where it began;
    the runs then merge, and keep-N may drop what an earlier run kept. So the plan is
    carried to its fixed point: planned again on what it leaves until that deletes
    nothing more (at most a few rounds; bounded, so no input can stall planning).
    """
    first = plan_round(inventory, policy, now)
    rounds, result, remaining = 1, first, inventory
    deleted = {d.checkpoint.name: d for d in first.decisions if d.action is Action.DELETE}
    while result.deletions and rounds < MAX_ROUNDS and _runs_merge(result, policy):
        gained = sum(d.checkpoint.reclaimable for d in result.deletions)
        remaining = replace(
            remaining,
            checkpoints=tuple(c for c in remaining.checkpoints if c.name not in deleted),
            disk=replace(remaining.disk, free=remaining.disk.free + gained),
        )
        result = plan_round(remaining, policy, now)
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
    if len(result.runs) < 2:
        return False  # one run cannot merge
    kept = [d.checkpoint for d in result.decisions if d.action is Action.KEEP and d.run]
    regrouped = group_runs(kept, policy, always_kept=lambda c: True)
    return len(regrouped) < len({d.run for d in result.decisions if d.run})
