"""The warnings of what the guard observes, in words (see `notice_words` for the rest)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ckptguard.core.decisions import Notice
from ckptguard.core.units import format_age, format_duration, format_size

if TYPE_CHECKING:
    from ckptguard.face.spelling import Spelling


def in_time(seconds: float | None) -> str:
    """`in ~3h`, `now`, or `not at the current rate`."""
    if seconds is None:
        return "not at the current rate"
    if seconds <= 0:
        return "now"
    return f"in ~{format_age(seconds)} at the current rate"


def rate_text(rate: float) -> str:
    """A rate of bytes per second, per hour when slow."""
    if abs(rate) < 1000:
        return f"{format_size(rate * 3600)}/h"
    return f"{format_size(rate)}/s"


def time_to_full(n: Notice, s: Spelling) -> str:
    return (
        f"the free-space target can no longer be met at {s.name('min_keep')} "
        f"{in_time(n['seconds'])} ({format_size(n['headroom'])} left, shrinking "
        f"{rate_text(n['rate'])}; {s.name('warn_before')} {format_duration(n['warn_before'])})"
    )


def stale_checkpoints(n: Notice, s: Spelling) -> str:
    return (
        f"no new complete checkpoint for {format_age(n['quiet_for'])} (newest: {n['newest']}, "
        f"step {n['newest_step']}; {s.name('stale_after')} "
        f"{format_duration(n['stale_after'])}): is a save failing silently, or training hung?"
    )


NOTICES: dict[str, Any] = {
    "time_to_full": time_to_full,
    "stale_checkpoints": stale_checkpoints,
}
