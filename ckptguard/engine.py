"""One look at one directory: scan it, plan, and refine the plan when space is short.

Shared by the one-shot commands and the daemon, so both decide in exactly the same way.
"""

from __future__ import annotations

import os
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
    """The plan for the directory behind `dir_fd` at time `now`.

    Looking for processes that hold checkpoints open costs a walk of /proc, so it is
    only done when free space is short, which is also the only time it changes a plan.
    """
    inventory = scan(dir_fd, directory, layout, cache=cache)
    return plan_inventory(inventory, policy, dir_fd, now=now, metrics=metrics)


def plan_inventory(
    inventory: Inventory,
    policy: Policy,
    dir_fd: int,
    *,
    now: float,
    metrics: MetricsTable | None = None,
) -> Plan:
    """The plan for an inventory already taken of the directory behind `dir_fd`."""
    inventory = with_metrics(inventory, metrics)
    first = plan(inventory, policy, now=now)
    if not under_pressure(first):
        return first
    return plan(with_holders(inventory, under=_real_path(dir_fd)), policy, now=now)


def without_deleted(inventory: Inventory, outcome: Outcome) -> Inventory:
    """The inventory as it stands after `outcome`: what was deleted is gone."""
    gone = {r.decision.checkpoint.name for r in outcome.results if r.status is Status.DELETED}
    if not gone:
        return inventory
    kept = tuple(c for c in inventory.checkpoints if c.name not in gone)
    return replace(inventory, checkpoints=kept)


def _real_path(dir_fd: int) -> str | None:
    """Where the open directory really is, as /proc names it in other processes' fds."""
    try:
        return os.readlink(f"/proc/self/fd/{dir_fd}")
    except OSError:
        return None


def under_pressure(result: Plan) -> bool:
    """Whether the free-space rule had to act (or could not act enough)."""
    return result.shortfall > 0 or any(
        r.code in _SPACE_CODES for d in result.deletions for r in d.reasons
    )
