"""One cycle over one store: look, plan (refined when space is short), apply.

`audit`, `prune` and the daemon all run `cycle`, so they decide in exactly the same way;
what differs is the executor they pass in and how they look (see `Look`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

from ckptguard.core.decisions import Notice, Outcome, Plan, ReasonCode, State, Status, notice
from ckptguard.core.layouts import Layout
from ckptguard.core.metrics import MetricsTable
from ckptguard.core.model import Inventory, Policy
from ckptguard.core.planner import Offset, plan
from ckptguard.core.planner import SharedBudget as Shared
from ckptguard.core.recall import MetricMemory, Recall, recall
from ckptguard.engine.executors import AuditExecutor, Executor
from ckptguard.engine.localtime import local_offset
from ckptguard.store.base import Store

_SPACE_CODES = frozenset(
    {ReasonCode.FREE_SPACE, ReasonCode.CORRUPT_RECLAIM, ReasonCode.OVER_BUDGET}
)


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


@dataclass(frozen=True)
class Look:
    """How a cycle looks at its store.

    The daemon names the entries events changed (`changed`, on top of the `previous`
    inventory) and adds what it watched itself (`prepare`); a one-shot command, which
    saw no save being written, asks the store who holds checkpoints open (`holders`).
    """

    changed: set[str] | None = None
    previous: Inventory | None = None
    # The plan made from `previous` under the same policy: it stands when the store
    # finds nothing changed.
    previous_plan: Plan | None = None
    prepare: Callable[[Inventory], Inventory] | None = None
    holders: bool = False
    progress: Callable[[], None] | None = None


@dataclass(frozen=True)
class Cycle:
    """What one cycle did: the assessment, its outcome, and what the store holds now."""

    assessment: Assessment
    outcome: Outcome
    inventory: Inventory

    @property
    def plan(self) -> Plan:
        return self.assessment.plan


def cycle(
    store: Store,
    layout: Layout,
    policy: Policy,
    executor: Executor,
    *,
    now: float,
    metrics: KnownMetrics | None = None,
    look: Look = Look(),
    should_stop: Callable[[], bool] | None = None,
    offset: Offset = local_offset,
    shared: Shared | None = None,
) -> Cycle:
    """Survey `store`, plan at time `now`, and apply the plan through `executor`.

    `offset` places instants in local time for the time rules (the local time zone
    unless told otherwise); `shared`, the budget this store shares with others.
    """
    inventory = store.survey(
        layout, changed=look.changed, previous=look.previous, progress=look.progress
    )
    if look.previous is not None and inventory.checkpoints is look.previous.checkpoints:
        still = _still_holds(look.previous_plan, inventory, metrics)
        if still is not None and shared is None and policy.keep_within is None:
            return Cycle(Assessment(still), Outcome(still, ()), inventory)
    inventory = _seen(inventory, store, look)
    holders = None if look.holders else store.holders
    found = assess(
        inventory,
        policy,
        now=now,
        metrics=metrics,
        holders=holders,
        offset=offset,
        shared=shared,
    )
    outcome = executor.apply(found.plan, store, should_stop=should_stop)
    return Cycle(found, outcome, without_deleted(inventory, outcome))


def _seen(inventory: Inventory, store: Store, look: Look) -> Inventory:
    """The surveyed inventory with what the looker knows beyond it: the saves the daemon
    watched (`prepare`), or who holds checkpoints open (`holders`)."""
    if look.prepare is not None:
        inventory = look.prepare(inventory)
    if look.holders:
        inventory = store.holders(inventory)
    return inventory


def _still_holds(
    previous: Plan | None, inventory: Inventory, metrics: KnownMetrics | None
) -> Plan | None:
    """The previous plan, when nothing it rested on changed: it deleted nothing, nothing
    was in progress or short of space, no metric could have changed, and free space
    still meets the target. (Nor may a budget shared with directories that change, or a
    keep-within window that a future-dated file makes count from `now`: the caller asks.)"""
    if previous is None or metrics is not None or previous.deletions or previous.shortfall:
        return None
    if any(d.state is State.IN_PROGRESS for d in previous.decisions):
        return None
    if inventory.disk.free < previous.target_free:
        return None
    return replace(previous, disk=inventory.disk, free_after=inventory.disk.free)


def survey(
    store: Store,
    layout: Layout,
    policy: Policy,
    *,
    now: float,
    metrics: KnownMetrics | None = None,
) -> Assessment:
    """The assessment of `store` at time `now`, as a one-shot command makes it."""
    return cycle(
        store, layout, policy, AuditExecutor(), now=now, metrics=metrics, look=Look(holders=True)
    ).assessment


def assess(
    inventory: Inventory,
    policy: Policy,
    *,
    now: float,
    metrics: KnownMetrics | None = None,
    holders: Callable[[Inventory], Inventory] | None = None,
    offset: Offset = local_offset,
    shared: Shared | None = None,
) -> Assessment:
    """The plan for an inventory already taken.

    Looking for processes that hold checkpoints open can cost a walk of /proc, so with
    `holders` it is only done when free space is short, which is also when it changes a
    plan most (the watcher tells the daemon about saves being written).
    """
    if metrics is None:
        recalled = Recall(inventory, MetricMemory())
    else:
        recalled = recall(inventory, metrics.table, metrics.memory, metric=policy.metric)
    inventory = recalled.inventory
    first = plan(inventory, policy, now=now, offset=offset, shared=shared)
    if holders is not None and under_pressure(first):
        first = plan(holders(inventory), policy, now=now, offset=offset, shared=shared)
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
    warnings = []
    if metrics.memory_problem is not None:
        warnings.append(notice("metrics_memory_unreadable", problem=metrics.memory_problem))
    if recalled.lost:
        warnings.append(
            notice("metrics_rows_lost", path=metrics.path, metric=metric, names=recalled.lost)
        )
    if recalled.changed:
        warnings.append(
            notice("metrics_rows_changed", path=metrics.path, metric=metric, names=recalled.changed)
        )
    return tuple(warnings)


def without_deleted(inventory: Inventory, outcome: Outcome) -> Inventory:
    """The inventory as it stands after `outcome`: what was deleted is gone."""
    gone = {r.decision.checkpoint.name for r in outcome.results if r.status is Status.DELETED}
    if not gone:
        return inventory
    kept = tuple(c for c in inventory.checkpoints if c.name not in gone)
    return replace(inventory, checkpoints=kept)


def under_pressure(result: Plan) -> bool:
    """Whether the free-space rule or a budget had to act (or could not act enough)."""
    over = any(use.shortfall for use in result.budgets)
    return (
        result.shortfall > 0
        or over
        or any(r.code in _SPACE_CODES for d in result.deletions for r in d.reasons)
    )
