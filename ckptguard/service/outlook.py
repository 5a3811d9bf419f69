"""What a guard has seen of its directory over time: the save rhythm, the growth of
its filesystem, the last deletion, and which warnings are raised.

The computations are the core's (`rhythm`, `growth`, `status`); this keeps their state
between looks and says which warnings were raised or cleared by the latest one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ckptguard.core import growth, rhythm
from ckptguard.core.decisions import Notice, Plan
from ckptguard.core.history import deletion_records, shortfall_record
from ckptguard.core.status import Observed, directory_status
from ckptguard.engine.cycle import Cycle


@dataclass(frozen=True)
class Limits:
    """When warnings are raised: `warn_before` seconds of headroom left, and no new save
    for `stale_after` seconds (None: from the save rhythm)."""

    warn_before: float = 3600.0
    stale_after: float | None = None


@dataclass
class Outlook:
    """One directory's observations; wall-clock times for records, monotonic for rates."""

    rhythm: rhythm.Rhythm = field(default_factory=rhythm.Rhythm)
    samples: tuple[growth.Sample, ...] = ()
    plan: Plan | None = None
    last_deletion: dict[str, Any] | None = None
    last_cycle: float | None = None
    last_sample: float | None = None
    raised: dict[str, Notice] = field(default_factory=dict)
    # Whether anything changed since the status was last written.
    dirty: bool = True

    def cycled(self, done: Cycle, *, wall: float, monotonic: float) -> list[dict[str, Any]]:
        """Take in a completed cycle; the history records it makes."""
        previous, self.plan = self.plan, done.plan
        self.last_cycle = wall
        self.rhythm = rhythm.observe(self.rhythm, done.plan, wall)
        self._add(growth.sample(done.plan, monotonic), monotonic)
        records = deletion_records(done.outcome, wall)
        deleted = [r for r in records if r["event"] == "deleted"]
        if deleted:
            self.last_deletion = deleted[-1]
        was_short = previous is not None and previous.shortfall > 0
        if done.plan.shortfall and not was_short:
            records.append(shortfall_record(done.plan, wall))
        return records

    def sampled(self, free: int, *, monotonic: float) -> None:
        """Take in free space read between cycles (the last plan stands otherwise)."""
        if self.plan is not None:
            self._add(growth.sample(self.plan, monotonic, free=free), monotonic)

    def _add(self, sample: growth.Sample, monotonic: float) -> None:
        self.samples = growth.added(self.samples, sample)
        self.last_sample = monotonic
        self.dirty = True

    @property
    def prediction(self) -> growth.Prediction | None:
        return growth.predict(self.samples)

    def warnings(self, limits: Limits, wall: float) -> tuple[list[Notice], list[Notice]]:
        """The warnings raised now and not before, and those raised before and gone."""
        found = [
            growth.time_to_full(self.prediction, limits.warn_before),
            rhythm.stale(self.rhythm, wall, limits.stale_after),
        ]
        now = {n.code: n for n in found if n is not None}
        raised = [n for code, n in now.items() if code not in self.raised]
        cleared = [n for code, n in self.raised.items() if code not in now]
        self.raised = now
        self.dirty = self.dirty or bool(raised or cleared)
        return raised, cleared

    def document(self, limits: Limits, wall: float) -> dict[str, Any] | None:
        """The status of the directory at `wall`; None before its first plan."""
        if self.plan is None:
            return None
        seen = Observed(
            rhythm=self.rhythm,
            prediction=self.prediction,
            last_deletion=self.last_deletion,
            warnings=tuple(self.raised.values()),
            stale_after=limits.stale_after,
            last_cycle=self.last_cycle,
        )
        return directory_status(self.plan, seen, wall)
