"""What was decided about checkpoints, why, and what came of it.

Reasons and notices carry codes with their parameters, never sentences: the face turns
them into words, naming each option the way the user set it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from ckptguard.core.model import Checkpoint, DiskState


class State(enum.Enum):
    """The state the planner derives for a checkpoint from facts and the clock."""

    COMPLETE = "complete"
    IN_PROGRESS = "in_progress"
    CORRUPT = "corrupt"
    PINNED = "pinned"
    IGNORED = "ignored"


class Action(enum.Enum):
    KEEP = "keep"
    DELETE = "delete"


class ReasonCode(enum.Enum):
    """Why a checkpoint is kept or deleted; the face words each one as a sentence."""

    POINTER = "pointer"
    NEWEST_VALID = "newest_valid"
    NEWEST_N = "newest_n"
    MILESTONE = "milestone"
    BEST = "best"
    PINNED = "pinned"
    IN_PROGRESS = "in_progress"
    IGNORED = "ignored"
    CORRUPT_LEFT = "corrupt_left"
    MIN_KEEP = "min_keep"
    OPEN_ELSEWHERE = "open_elsewhere"
    NOTHING_TO_FREE = "nothing_to_free"
    BEYOND_KEEP = "beyond_keep"
    FREE_SPACE = "free_space"
    CORRUPT_RECLAIM = "corrupt_reclaim"
    EARLIER_RUN = "earlier_run"
    CHECK_SUSPECT = "check_suspect"
    WITHIN = "within"
    PERIOD = "period"
    OVER_BUDGET = "over_budget"


# A reason's or notice's facts, by name: sorted pairs, so that values stay hashable.
Params = tuple[tuple[str, Any], ...]


@dataclass(frozen=True, slots=True)
class Reason:
    """Why a checkpoint is kept or deleted: a code and the facts it rests on."""

    code: ReasonCode
    params: Params = ()

    def __getitem__(self, name: str) -> Any:
        return dict(self.params)[name]

    def get(self, name: str, default: Any = None) -> Any:
        return dict(self.params).get(name, default)


def reason(code: ReasonCode, **params: Any) -> Reason:
    return Reason(code, tuple(sorted(params.items())))


@dataclass(frozen=True)
class Run:
    """Complete checkpoints written one after another with steps that never go back.

    A complete checkpoint written after a higher step's starts a new run: a training
    restarted from scratch, or resumed from an earlier step, into the same directory.
    """

    index: int  # 1 for the oldest run
    first_step: int
    last_step: int
    count: int
    # Modification time of the run's last checkpoint, in nanoseconds since the epoch.
    last_write_ns: int


@dataclass(frozen=True, slots=True)
class Decision:
    checkpoint: Checkpoint
    state: State
    action: Action
    reasons: tuple[Reason, ...]
    # Rank by the policy's metric (1 = best) among its run's valid checkpoints whose
    # metric is known.
    rank: int | None = None
    # The run (its `Run.index`) a complete checkpoint belongs to; None for the others.
    run: int | None = None
    # Where a kept checkpoint stands in the order pressure (free space, a size budget)
    # takes them: 1 goes first. None for what pressure never takes.
    gives_way: int | None = None


@dataclass(frozen=True)
class BudgetUse:
    """A size budget and what the plan leaves of it: the directory's own (`--max-size`)
    or a group's (then `group` names it and the sizes are the whole group's)."""

    limit: int
    used: int  # bytes of the entries it counts, before the plan
    after: int  # and after it
    group: str | None = None

    @property
    def shortfall(self) -> int:
        return max(0, self.after - self.limit)


@dataclass(frozen=True)
class Notice:
    """A warning about a whole directory: a stable code for logs and scripts, its facts."""

    code: str  # "shortfall", "check_suspect", "metrics_rows_lost", ...
    params: Params = ()

    def __getitem__(self, name: str) -> Any:
        return dict(self.params)[name]

    def get(self, name: str, default: Any = None) -> Any:
        return dict(self.params).get(name, default)


def notice(code: str, **params: Any) -> Notice:
    return Notice(code, tuple(sorted(params.items())))


@dataclass(frozen=True)
class Plan:
    """Every decision for one inventory, in step order, and what it does to free space."""

    directory: str
    decisions: tuple[Decision, ...]
    disk: DiskState
    # Free space the policy asks for, in bytes, already resolved from %/x units.
    target_free: int
    # Bytes already written by saves in flight, counted toward the target (see planner).
    in_flight_credit: int
    free_after: int
    # Bytes still missing after every permitted deletion; > 0 means the floor stopped us.
    shortfall: int
    warnings: tuple[Notice, ...] = ()
    # The metric checkpoints were ranked by, and whether lower ("min") or higher is better.
    metric: str | None = None
    metric_mode: str = "min"
    # The runs of complete checkpoints, oldest first; the last is the current run.
    runs: tuple[Run, ...] = ()
    # Size budgets that apply, the directory's own first.
    budgets: tuple[BudgetUse, ...] = ()
    # The floor pressure never goes below (the policy's `min_keep`).
    min_keep: int = 1

    def warning(self, code: str) -> Notice | None:
        return next((n for n in self.warnings if n.code == code), None)

    @property
    def deletions(self) -> tuple[Decision, ...]:
        """Deletions in the order to carry them out: corrupt files first, then by rule and step.

        If a run is cut short (a stop request), what was deleted is what mattered most.
        """
        deleting = [d for d in self.decisions if d.action is Action.DELETE]
        return tuple(
            sorted(deleting, key=lambda d: (_deletion_rank(d), d.run or 0, d.checkpoint.step))
        )

    @property
    def kept(self) -> tuple[Decision, ...]:
        return tuple(d for d in self.decisions if d.action is Action.KEEP)

    @property
    def bytes_freed(self) -> int:
        return sum(d.checkpoint.reclaimable for d in self.deletions)


# The order deletions are carried out in: reclaiming corrupt files first, then keep-N,
# then deletions for free space or a budget.
_DELETION_RANKS = {
    ReasonCode.CORRUPT_RECLAIM: 0,
    ReasonCode.BEYOND_KEEP: 1,
    ReasonCode.FREE_SPACE: 2,
    ReasonCode.OVER_BUDGET: 2,
}


def _deletion_rank(decision: Decision) -> int:
    return min((_DELETION_RANKS.get(r.code, 3) for r in decision.reasons), default=3)


class Status(enum.Enum):
    DELETED = "deleted"
    WOULD_DELETE = "would_delete"
    SKIPPED = "skipped"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Result:
    """What happened to one planned deletion."""

    decision: Decision
    status: Status
    detail: str = ""
    free_before: int | None = None
    free_after: int | None = None


@dataclass(frozen=True)
class Outcome:
    """What an executor did with a plan."""

    plan: Plan
    results: tuple[Result, ...]

    def with_status(self, status: Status) -> tuple[Result, ...]:
        return tuple(r for r in self.results if r.status is status)

    @property
    def failed(self) -> bool:
        return any(r.status is Status.FAILED for r in self.results)
