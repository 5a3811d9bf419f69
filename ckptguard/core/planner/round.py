"""One round of planning: every rule, in order, over one inventory (or a budget group's)."""

from __future__ import annotations

from dataclasses import dataclass

from ckptguard.core.decisions import Action, BudgetUse, Notice, Plan, State, notice
from ckptguard.core.model import Inventory, Policy
from ckptguard.core.planner import yields
from ckptguard.core.planner.budget import Member, keep_under
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
from ckptguard.core.planner.time_rules import Offset, apply_time_rules
from ckptguard.core.runs import step_order


@dataclass(frozen=True)
class SharedBudget:
    """A budget shared by a group of directories: its name, its limit in bytes, and the
    other directories of the group as last looked at, each with its policy."""

    name: str
    limit: int
    others: tuple[tuple[Inventory, Policy], ...] = ()


@dataclass
class Round:
    """One directory's round, between its own rules and the budgets that may take more."""

    inventory: Inventory
    member: Member
    suspicion: Notice | None
    target: int
    credit: int


def plan_rounds(
    members: list[tuple[Inventory, Policy]],
    now: float,
    offset: Offset,
    shared: SharedBudget | None = None,
) -> list[Plan]:
    """One round for each directory; a shared budget takes across all of them."""
    rounds = [start_round(inventory, policy, now, offset) for inventory, policy in members]
    budgets: list[list[BudgetUse]] = []
    for each in rounds:
        limit = each.member.policy.max_size
        budgets.append([] if limit is None else [keep_under([each.member], limit)])
    if shared is not None:
        group = keep_under([r.member for r in rounds], shared.limit, shared.name)
        for uses in budgets:
            uses.append(group)
    return [finish_round(each, uses) for each, uses in zip(rounds, budgets, strict=True)]


def start_round(inventory: Inventory, policy: Policy, now: float, offset: Offset) -> Round:
    """States, runs, every keep rule, and free space."""
    ordered = sorted(inventory.checkpoints, key=step_order)
    drafts = [Draft(c, classify(c, policy, now), Action.KEEP, []) for c in ordered]
    resume_quiet_saves(drafts, now)
    valid = [d for d in drafts if d.state is State.COMPLETE]
    apply_time_rules(valid, policy, now, offset)
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
        free_space(drafts, runs, policy, target, available)
    ahead = room_ahead(drafts, reference)
    if ahead and inventory.disk.free + freed(drafts) - ahead < target:
        available = inventory.disk.free + freed(drafts) - ahead
        free_space(drafts, runs, policy, target, available, ahead=True)
    return Round(inventory, Member(drafts, runs, policy), suspicion, target, credit)


def finish_round(each: Round, budgets: list[BudgetUse]) -> Plan:
    inventory, drafts, runs = each.inventory, each.member.drafts, each.member.runs
    policy = each.member.policy
    yields.number_give_way(drafts, runs)
    for draft in drafts:
        yields.tidy_reasons(draft)
    # Budgets may have freed more: the shortfall is what remains after every deletion.
    shortfall = max(0, each.target - inventory.disk.free - each.credit - freed(drafts))
    warnings = [each.suspicion] if each.suspicion is not None else []
    if shortfall:
        warnings.append(shortfall_notice(policy, each.target, shortfall))
    warnings.extend(over_budget(use, policy) for use in budgets if use.shortfall)
    return Plan(
        directory=inventory.directory,
        decisions=tuple(d.freeze() for d in drafts),
        disk=inventory.disk,
        target_free=each.target,
        in_flight_credit=each.credit,
        free_after=inventory.disk.free + freed(drafts),
        shortfall=shortfall,
        warnings=tuple(warnings),
        metric=policy.metric,
        metric_mode=policy.metric_mode,
        runs=tuple(members[0].run for members in runs if members[0].run is not None),
        budgets=tuple(budgets),
        min_keep=policy.min_keep,
    )


def over_budget(use: BudgetUse, policy: Policy) -> Notice:
    return notice(
        "over_budget",
        limit=use.limit,
        after=use.after,
        group=use.group,
        min_keep=policy.min_keep,
    )
