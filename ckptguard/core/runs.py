"""Runs: which complete checkpoints belong to the same training run.

A training restarted from scratch, or resumed from an earlier step, into the same
directory writes checkpoints whose steps go back. So complete checkpoints, taken in write
order (modification time, which can be read again after a restart), are cut into runs
wherever a step is lower than its run's highest so far, and its file was created after
that highest one was written. Saves that overlap (asynchronous checkpointing) finish out
of step order, but each was created before the higher one finished: the same run. Where
the birth time is unknown, the modification time stands in for it.

Retention applies within each run. Once a later run keeps nothing below an earlier run's
highest kept step, nothing tells the two apart any more (the checkpoints that showed the
step going back are gone), so they are one run: grouping goes on merging until that is
settled, which is what makes planning idempotent. Summaries of what each group keeps are
merged, not recomputed, so a directory of many runs costs O(n log n), not O(n^2).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ckptguard.core.model import Checkpoint, Policy


def step_order(checkpoint: Checkpoint) -> tuple[int, int, str]:
    """Step, then write order: of two spellings of one step, the later written is newer."""
    return (checkpoint.step, checkpoint.mtime_ns, checkpoint.name)


def write_order(checkpoint: Checkpoint) -> tuple[int, int, str]:
    return (checkpoint.mtime_ns, checkpoint.step, checkpoint.name)


def best_order(policy: Policy) -> Callable[[Checkpoint], tuple[float, int, int]]:
    """Best first by `policy.metric`; ties go to the newer checkpoint."""
    sign = 1 if policy.metric_mode == "min" else -1
    metric = policy.metric or ""

    def key(checkpoint: Checkpoint) -> tuple[float, int, int]:
        value = checkpoint.metric(metric)
        assert value is not None
        return (sign * value, -checkpoint.step, -checkpoint.mtime_ns)

    return key


def ranked(checkpoint: Checkpoint, policy: Policy) -> bool:
    """Whether the checkpoint has a value to rank by: NaN never has."""
    value = checkpoint.metric(policy.metric) if policy.metric else None
    return value is not None and not math.isnan(value)


@dataclass
class _Group:
    """Runs merged so far, and what they keep whatever their count (in step order)."""

    chunks: list[list[Checkpoint]]
    newest: list[Checkpoint]  # the `keep` newest by step
    best: list[Checkpoint]  # the `keep_best` best by the metric
    fixed: list[Checkpoint]  # the lowest and highest of those kept for other reasons

    def kept_steps(self) -> list[int]:
        return [c.step for c in (*self.newest, *self.best, *self.fixed)]


def group_runs(
    valid: Sequence[Checkpoint], policy: Policy, *, always_kept: Callable[[Checkpoint], bool]
) -> list[list[Checkpoint]]:
    """The runs of complete checkpoints, oldest first, each in step order.

    `always_kept` says which checkpoints every run keeps whatever keep-N says (the
    newest, milestones, those named by pointer files).
    """
    groups = [_summary(run, policy, always_kept) for run in _write_runs(valid)]
    settled: list[_Group] = []
    for group in reversed(groups):
        if settled and _indistinct(group, settled[-1]):
            settled[-1] = _merge(group, settled[-1], policy)
        else:
            settled.append(group)
    settled.reverse()
    return [sorted((c for chunk in g.chunks for c in chunk), key=step_order) for g in settled]


def created(checkpoint: Checkpoint) -> int:
    return checkpoint.mtime_ns if checkpoint.created_ns is None else checkpoint.created_ns


def _write_runs(valid: Sequence[Checkpoint]) -> list[list[Checkpoint]]:
    runs: list[list[Checkpoint]] = []
    highest: Checkpoint | None = None
    for checkpoint in sorted(valid, key=write_order):
        if highest is None or _starts_run(checkpoint, highest):
            runs.append([])
            highest = checkpoint
        runs[-1].append(checkpoint)
        if checkpoint.step >= highest.step:
            highest = checkpoint
    return runs


def _starts_run(checkpoint: Checkpoint, highest: Checkpoint) -> bool:
    """A lower step, created after the run's highest step was last written."""
    return checkpoint.step < highest.step and created(checkpoint) > highest.mtime_ns


def boundary_candidates(checkpoints: Sequence[Checkpoint]) -> list[Checkpoint]:
    """The entries that, by modification time alone, could start a run: those whose step
    is lower than one written before them. Only these need a birth time (a superset,
    since every entry counts here, complete or not)."""
    found, highest = [], -1
    for checkpoint in sorted(checkpoints, key=write_order):
        if checkpoint.step < highest:
            found.append(checkpoint)
        highest = max(highest, checkpoint.step)
    return found


def _summary(
    run: list[Checkpoint], policy: Policy, always_kept: Callable[[Checkpoint], bool]
) -> _Group:
    fixed = [c for c in run if always_kept(c)]
    return _Group(
        chunks=[run],
        newest=heapq.nlargest(policy.keep, run, key=step_order) if policy.keep > 0 else [],
        best=_best(run, policy),
        fixed=[fixed[0], fixed[-1]] if fixed else [],
    )


def _best(checkpoints: list[Checkpoint], policy: Policy) -> list[Checkpoint]:
    if policy.metric is None or policy.keep_best <= 0:
        return []
    scored = [c for c in checkpoints if ranked(c, policy)]
    return heapq.nsmallest(policy.keep_best, scored, key=best_order(policy))


def _indistinct(earlier: _Group, later: _Group) -> bool:
    """Whether, after deleting what each keeps not, `later` no longer starts a run."""
    earlier_kept, later_kept = earlier.kept_steps(), later.kept_steps()
    return not earlier_kept or not later_kept or min(later_kept) >= max(earlier_kept)


def _merge(earlier: _Group, later: _Group, policy: Policy) -> _Group:
    both = [*earlier.newest, *later.newest]
    fixed = sorted([*earlier.fixed, *later.fixed], key=step_order)
    return _Group(
        chunks=[*earlier.chunks, *later.chunks],
        newest=heapq.nlargest(policy.keep, both, key=step_order) if policy.keep > 0 else [],
        best=_best([*earlier.best, *later.best], policy),
        fixed=[fixed[0], fixed[-1]] if fixed else [],
    )
