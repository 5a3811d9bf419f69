"""One look at one directory: scan it, plan, and refine the plan when space is short.

Shared by the one-shot commands and the daemon, so both decide in exactly the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from ckptguard.core.layouts import Layout
from ckptguard.core.model import Inventory, Notice, Outcome, Plan, Policy, ReasonCode, Status
from ckptguard.core.planner import plan
from ckptguard.core.recall import MetricMemory, Recall, recall
from ckptguard.store.local.metrics import MetricsTable
from ckptguard.store.local.openfiles import with_holders
from ckptguard.store.local.scan import IntegrityCache, scan

_SPACE_CODES = frozenset({ReasonCode.FREE_SPACE, ReasonCode.CORRUPT_RECLAIM})


@dataclass(frozen=True)
class KnownMetrics:
    """Metric values from outside the checkpoints: a metrics file and what was read before."""

    path: str
    # None when the file cannot be read (then only remembered values are known).
    table: MetricsTable | None
    memory: MetricMemory = field(default_factory=MetricMemory)
    # Why remembered values could not be read, if they could not.
    memory_problem: str | None = None


@dataclass(frozen=True)
class Assessment:
    """A plan, and what to remember of the metric values it was made with."""

    plan: Plan
    memory: MetricMemory = field(default_factory=MetricMemory)
    # Checkpoints whose metric the metrics file lost, or now gives another value for.
    rows_lost: tuple[str, ...] = ()
    rows_changed: tuple[str, ...] = ()


def survey(
    dir_fd: int,
    directory: str,
    layout: Layout,
    policy: Policy,
    *,
    now: float,
    cache: IntegrityCache | None = None,
    metrics: KnownMetrics | None = None,
) -> Assessment:
    """The plan for the directory behind `dir_fd` at time `now`, for a one-shot command.

    With no watcher to have seen saves being written, which checkpoints other processes
    hold open (and whether for writing) is looked up first, from /proc.
    """
    inventory = with_holders(scan(dir_fd, directory, layout, cache=cache))
    return assess(inventory, policy, now=now, metrics=metrics, holders_known=True)


def assess(
    inventory: Inventory,
    policy: Policy,
    *,
    now: float,
    metrics: KnownMetrics | None = None,
    holders_known: bool = False,
) -> Assessment:
    """The plan for an inventory already taken.

    Looking for processes that hold checkpoints open costs a walk of /proc, so unless
    `holders_known`, it is only done when free space is short, which is also when it
    changes a plan most (the watcher tells the daemon about saves being written).
    """
    if metrics is None:
        recalled = Recall(inventory, MetricMemory())
    else:
        recalled = recall(inventory, metrics.table, metrics.memory, metric=policy.metric)
    inventory = recalled.inventory
    first = plan(inventory, policy, now=now)
    if not holders_known and under_pressure(first):
        first = plan(with_holders(inventory), policy, now=now)
    if metrics is not None:
        warnings = _recall_warnings(recalled, metrics, policy.metric)
        first = replace(first, warnings=(*first.warnings, *warnings))
    return Assessment(first, recalled.memory, recalled.lost, recalled.changed)


def memory_after(assessment: Assessment, outcome: Outcome) -> MetricMemory:
    """The assessment's memory without the checkpoints `outcome` deleted."""
    gone = {r.decision.checkpoint.name for r in outcome.results if r.status is Status.DELETED}
    return assessment.memory.without(gone)


def _recall_warnings(
    recalled: Recall, metrics: KnownMetrics, metric: str | None
) -> tuple[Notice, ...]:
    path = metrics.path
    warnings = []
    if metrics.memory_problem is not None:
        warnings.append(
            Notice(
                "metrics_memory_unreadable",
                f"metric values read before are not used: {metrics.memory_problem}",
            )
        )
    if recalled.lost:
        warnings.append(
            Notice(
                "metrics_rows_lost",
                f"metrics file {path} no longer has the {metric} of {_names(recalled.lost)} "
                "(truncated or replaced?): using the values read before",
            )
        )
    if recalled.changed:
        warnings.append(
            Notice(
                "metrics_rows_changed",
                f"metrics file {path} now gives other {metric} values for "
                f"{_names(recalled.changed)} (another run's log?): using the values read first",
            )
        )
    return tuple(warnings)


def _names(names: tuple[str, ...], shown: int = 3) -> str:
    listed = ", ".join(names[:shown])
    more = len(names) - shown
    return f"{listed} and {more} more" if more > 0 else listed


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
