"""The save rhythm of a directory: the checkpoints seen completed, and when a save is late.

Pure: the daemon passes each plan and the wall-clock time it was made at. A save is a
complete checkpoint not seen complete before (by name and identity); it is dated by
its modification time, never later than `now`.
"""

from __future__ import annotations

import itertools
import statistics
from dataclasses import dataclass

from ckptguard.core.decisions import Notice, Plan, State, notice

# The recent saves kept for the rhythm.
RECENT = 32
# `stale_checkpoints` never fires sooner than this after the newest save (seconds)...
MIN_STALE = 600.0
# ...and otherwise after this many median save intervals.
STALE_INTERVALS = 3


@dataclass(frozen=True)
class Save:
    name: str
    step: int
    size: int
    at: float  # when it was completed, wall-clock seconds


@dataclass(frozen=True)
class Rhythm:
    """The recent saves, oldest first, and what is complete now."""

    saves: tuple[Save, ...] = ()
    # Saves completed while the guard watched (not those already there when it began).
    seen: int = 0
    # (name, mtime_ns) of each complete checkpoint at the last look, and of those seen
    # complete before that are there still, though not complete now.
    present: frozenset[tuple[str, int]] = frozenset()
    started: bool = False

    @property
    def newest(self) -> Save | None:
        return self.saves[-1] if self.saves else None


def observe(rhythm: Rhythm, plan: Plan, now: float) -> Rhythm:
    """The rhythm after a look: complete checkpoints not present before are saves."""
    complete = [d.checkpoint for d in plan.decisions if d.state in (State.COMPLETE, State.PINNED)]
    # Seen complete, then in progress again (its last writes told late): still one save.
    not_complete = {d.checkpoint.name for d in plan.decisions} - {c.name for c in complete}
    held = {(name, mtime) for name, mtime in rhythm.present if name in not_complete}
    present = frozenset((c.name, c.mtime_ns) for c in complete) | held
    fresh = [c for c in complete if (c.name, c.mtime_ns) not in rhythm.present]
    if not fresh and rhythm.started:
        return Rhythm(rhythm.saves, rhythm.seen, present, True)
    new = [Save(c.name, c.step, c.size, min(now, c.mtime_ns / 1e9)) for c in fresh]
    saves = sorted((*rhythm.saves, *new), key=lambda s: (s.at, s.step))[-RECENT:]
    seen = rhythm.seen + (len(new) if rhythm.started else 0)
    return Rhythm(tuple(saves), seen, present, True)


def median_interval(rhythm: Rhythm) -> float | None:
    """The median time between consecutive recent saves; None with fewer than two."""
    times = [s.at for s in rhythm.saves]
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    gaps = [gap for gap in gaps if gap > 0]
    return statistics.median(gaps) if gaps else None


def bytes_per_save(rhythm: Rhythm) -> int | None:
    sizes = [s.size for s in rhythm.saves]
    return int(statistics.median(sizes)) if sizes else None


def stale_limit(rhythm: Rhythm, given: float | None) -> float | None:
    """Seconds without a new save that make checkpoints stale: `given`, else three
    median intervals and at least ten minutes; None while there is no rhythm yet."""
    if given is not None:
        return given
    median = median_interval(rhythm)
    return None if median is None else max(MIN_STALE, STALE_INTERVALS * median)


def stale(rhythm: Rhythm, now: float, given: float | None) -> Notice | None:
    """The `stale_checkpoints` warning: no new complete checkpoint for too long."""
    newest, limit = rhythm.newest, stale_limit(rhythm, given)
    if newest is None or limit is None or now - newest.at <= limit:
        return None
    return notice(
        "stale_checkpoints",
        quiet_for=round(now - newest.at, 1),
        stale_after=limit,
        newest=newest.name,
        newest_step=newest.step,
        newest_at=newest.at,
    )
