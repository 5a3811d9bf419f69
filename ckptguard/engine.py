"""One look at one directory: scan it, plan, and refine the plan when space is short.

Shared by the one-shot commands and the daemon, so both decide in exactly the same way.
"""

from __future__ import annotations

from dataclasses import replace

from ckptguard.inventory import IntegrityCache, scan
from ckptguard.layouts import Layout
from ckptguard.metrics import MetricsTable, with_metrics
from ckptguard.model import Inventory, Outcome, Plan, Policy, ReasonCode, Status
from ckptguard.openfiles import with_holders
from ckptguard.planner import plan

_SPACE_CODES = frozenset({ReasonCode.FREE_SPACE, ReasonCode.CORRUPT_RECLAIM})


def survey(
    dir_fd: int,
    directory: str,
    layout: Layout,
    policy: Policy,
    *,
    now: float,
    cache: IntegrityCache | None = None,
    metrics: MetricsTable | None = None,
) -> Plan:
    """The plan for the directory behind `dir_fd` at time `now`, for a one-shot command.

    With no watcher to have seen saves being written, which checkpoints other processes
    hold open (and whether for writing) is looked up first, from /proc.
    """
    inventory = with_holders(scan(dir_fd, directory, layout, cache=cache))
    return plan_inventory(inventory, policy, now=now, metrics=metrics, holders_known=True)


def plan_inventory(
    inventory: Inventory,
    policy: Policy,
    *,
    now: float,
    metrics: MetricsTable | None = None,
    holders_known: bool = False,
) -> Plan:
    """The plan for an inventory already taken.

    Looking for processes that hold checkpoints open costs a walk of /proc, so unless
    `holders_known`, it is only done when free space is short, which is also when it
    changes a plan most (the watcher tells the daemon about saves being written).
    """
    inventory = with_metrics(inventory, metrics)
    first = plan(inventory, policy, now=now)
    if holders_known or not under_pressure(first):
        return first
    return plan(with_holders(inventory), policy, now=now)


def without_deleted(inventory: Inventory, outcome: Outcome) -> Inventory:
    """The inventory as it stands after `outcome`: what was deleted is gone."""
    gone = {r.decision.checkpoint.name for r in outcome.results if r.status is Status.DELETED}
    if not gone:
        return inventory
    kept = tuple(c for c in inventory.checkpoints if c.name not in gone)
    return replace(inventory, checkpoints=kept)


def under_pressure(result: Plan) -> bool:
    """Whether the free-space rule had to act (or could not act enough)."""
    return result.shortfall > 0 or any(
        r.code in _SPACE_CODES for d in result.deletions for r in d.reasons
    )
