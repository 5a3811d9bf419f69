"""One round of planning: every rule, in order, over one inventory."""

from __future__ import annotations

from ckptguard.core.decisions import Action, Plan, State
from ckptguard.core.model import Inventory, Policy
from ckptguard.core.planner.draft import Draft
from ckptguard.core.planner.keep import (
    apply_keep_best,
    apply_keep_n,
    apply_newest,
    explain_run,
    find_runs,
)
from ckptguard.core.planner.space import (
    free_space,
    freed,
    in_flight_credit,
    reference_size,
    resolve_target,
    room_ahead,
    shortfall_notice,
)
from ckptguard.core.planner.states import (
    classify,
    explain_state,
    resume_quiet_saves,
    suspect_check,
)
from ckptguard.core.runs import step_order


def plan_round(inventory: Inventory, policy: Policy, now: float) -> Plan:
    ordered = sorted(inventory.checkpoints, key=step_order)
    drafts = [Draft(c, classify(c, policy, now), Action.KEEP, []) for c in ordered]
    resume_quiet_saves(drafts, now)
    valid = [d for d in drafts if d.state is State.COMPLETE]
    runs = find_runs(valid, policy)
    for draft in drafts:
        explain_state(draft, policy, now)
    suspicion = suspect_check(drafts, policy, inventory)
    apply_newest(valid, runs)
    for members in runs:
        explain_run(members, runs, now)
        apply_keep_n(members, policy, several=len(runs) > 1)
        apply_keep_best(members, policy)

    reference = reference_size(drafts, policy, now)
    target = resolve_target(policy.min_free, inventory.disk, reference)
    credit = in_flight_credit(drafts, reference)
    available = inventory.disk.free + credit + freed(drafts)
    if available < target:
        available = free_space(drafts, runs, policy, target, available)
    shortfall = max(0, target - available)
    ahead = room_ahead(drafts, reference)
    if ahead and inventory.disk.free + freed(drafts) - ahead < target:
        free_space(
            drafts, runs, policy, target, inventory.disk.free + freed(drafts) - ahead, ahead=True
        )
    warnings = [suspicion] if suspicion is not None else []
    if shortfall:
        warnings.append(shortfall_notice(policy, target, shortfall))
    return Plan(
        directory=inventory.directory,
        decisions=tuple(d.freeze() for d in drafts),
        disk=inventory.disk,
        target_free=target,
        in_flight_credit=credit,
        free_after=inventory.disk.free + freed(drafts),
        shortfall=shortfall,
        warnings=tuple(warnings),
        metric=policy.metric,
        metric_mode=policy.metric_mode,
        runs=tuple(members[0].run for members in runs if members[0].run is not None),
    )
