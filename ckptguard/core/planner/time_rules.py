"""Time rules: `keep_within`, `keep_hourly`, `keep_daily`, `keep_weekly`.

Each goes by when a checkpoint was completed: its modification time (a directory's or
group's newest file). Time rules look at the whole directory, not run by run: a day's
checkpoint is the last one completed that day, whichever run wrote it.

- Within: every complete checkpoint completed within `keep_within` seconds before the
  reference, which is the newest completion, or `now` if that is earlier. So when
  saves stop, nothing ages out (the reference stays at the last save); and a time in the
  future (a clock stepped back, a skewed file server, `touch -d`) cannot carry the
  window past real checkpoints: it anchors no later than `now`.
- Periods: the hours, calendar days and ISO weeks (Monday to Sunday) of local wall-clock
  time, as the local clock read when each checkpoint was completed. For each of the N
  most recent periods that hold a complete checkpoint, its newest (by completion time,
  then step) is kept. Periods do not depend on `now`: re-planning later, without new
  saves, keeps the same ones. A time in the future is just a later period.

Daylight saving time: local time is UTC plus the offset in force at that instant, as
`offset` says (the shell passes the time zone's; the core never reads one). When the
clocks go back, the repeated hour is one hourly period (two real hours keep one
checkpoint) and that day is 25 hours long; when they go forward, the skipped hour is
no period and that day is 23 hours long. A checkpoint completed just before a change
keeps the period of the offset it was completed under.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from ckptguard.core.decisions import ReasonCode, reason
from ckptguard.core.model import Checkpoint, Policy
from ckptguard.core.planner.draft import Draft

NS_PER_S = 1_000_000_000
HOUR, DAY = 3600, 86400
# Seconds east of UTC in force at a UTC instant (seconds since the epoch).
Offset = Callable[[float], float]
PERIODS = ("hourly", "daily", "weekly")


def utc(instant: float) -> float:
    """The offset of UTC itself: what the core assumes unless told a time zone."""
    return 0.0


def completed(checkpoint: Checkpoint) -> float:
    """When the checkpoint was completed, in seconds since the epoch (its mtime)."""
    return checkpoint.mtime_ns / NS_PER_S


def period_key(period: str, instant: float, offset: Offset) -> int:
    """The local hour, day or ISO week holding `instant`, as a number that grows with time.

    Hours and days count from 1970-01-01 00:00 local; weeks from the Monday before it
    (1970-01-01 was a Thursday, so day 0 lies in week 0 and day 4, a Monday, starts week 1).
    """
    local = instant + offset(instant)
    if period == "hourly":
        return math.floor(local / HOUR)
    day = math.floor(local / DAY)
    return day if period == "daily" else (day + 3) // 7


def period_count(policy: Policy, period: str) -> int:
    return {
        "hourly": policy.keep_hourly,
        "daily": policy.keep_daily,
        "weekly": policy.keep_weekly,
    }[period]


def has_time_rules(policy: Policy) -> bool:
    return policy.keep_within is not None or any(period_count(policy, p) for p in PERIODS)


def apply_time_rules(valid: list[Draft], policy: Policy, now: float, offset: Offset) -> None:
    """Add a WITHIN or PERIOD reason to every complete checkpoint a time rule covers."""
    if not valid or not has_time_rules(policy):
        return
    if policy.keep_within is not None:
        reference = min(now, max(completed(d.checkpoint) for d in valid))
        for draft in valid:
            if completed(draft.checkpoint) >= reference - policy.keep_within:
                draft.reasons.append(reason(ReasonCode.WITHIN, within=policy.keep_within))
    for period in PERIODS:
        count = period_count(policy, period)
        if count > 0:
            for key, draft in newest_per_period(valid, period, offset)[:count]:
                draft.reasons.append(reason(ReasonCode.PERIOD, period=period, key=key, n=count))


def newest_per_period(valid: list[Draft], period: str, offset: Offset) -> list[tuple[int, Draft]]:
    """Each period holding a complete checkpoint, most recent first, with its newest."""
    newest: dict[int, Draft] = {}
    for draft in valid:
        key = period_key(period, completed(draft.checkpoint), offset)
        held = newest.get(key)
        if held is None or _later(draft.checkpoint, held.checkpoint):
            newest[key] = draft
    return sorted(newest.items(), key=lambda item: -item[0])


def _later(one: Checkpoint, other: Checkpoint) -> bool:
    return (one.mtime_ns, one.step, one.name) > (other.mtime_ns, other.step, other.name)
