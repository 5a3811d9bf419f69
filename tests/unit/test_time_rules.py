"""Time rules at their boundaries: hours, days and ISO weeks in local time, daylight
saving changes, and clocks that jump (values in, a Plan out; the offset is passed in)."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from zoneinfo import ZoneInfo

import pytest

from ckptguard.core import planner
from ckptguard.core.decisions import Action, Plan, ReasonCode
from ckptguard.core.model import (
    Checkpoint,
    DiskState,
    FileIdentity,
    Integrity,
    Inventory,
    Kind,
    MinFree,
    MinFreeUnit,
    Policy,
)
from ckptguard.core.planner.time_rules import period_key, utc
from ckptguard.face.reason_words import period_label, reason_text

NO_TARGET = MinFree(MinFreeUnit.BYTES, 0.0)


def zone(name: str) -> Callable[[float], float]:
    """The UTC offset of a named time zone, as the shell would pass it."""
    tz = ZoneInfo(name)

    def offset(instant: float) -> float:
        moment = datetime.datetime.fromtimestamp(instant, tz)
        delta = moment.utcoffset()
        assert delta is not None
        return delta.total_seconds()

    return offset


def at(text: str, tz: str = "UTC") -> float:
    """Seconds since the epoch of a local wall time; `fold=1` picks a repeated hour's second."""
    naive, _, fold = text.partition("#")
    moment = datetime.datetime.fromisoformat(naive).replace(
        tzinfo=ZoneInfo(tz), fold=int(fold or 0)
    )
    return moment.timestamp()


def saves(*instants: float) -> Inventory:
    """Complete checkpoints completed at `instants`, steps rising with them."""
    checkpoints = tuple(
        Checkpoint(
            name=f"checkpoint_step_{step}.keras",
            step=step,
            kind=Kind.REGULAR,
            identity=FileIdentity(1, step, 100, round(instant * 1e9)),
            integrity=Integrity.VALID,
            freeable=100,
        )
        for step, instant in enumerate(instants, start=1)
    )
    return Inventory("models", checkpoints, DiskState(10**9, 10**9))


def kept_steps(plan: Plan, code: ReasonCode) -> list[int]:
    return [d.checkpoint.step for d in plan.decisions if any(r.code is code for r in d.reasons)]


BERLIN, NEW_YORK = "Europe/Berlin", "America/New_York"


@pytest.mark.parametrize(
    ("period", "first", "second", "tz", "same"),
    [
        pytest.param(
            "hourly",
            "2026-06-01 13:59:59",
            "2026-06-01 14:00:00",
            BERLIN,
            False,
            id="hour-boundary",
        ),
        pytest.param(
            "hourly",
            "2026-06-01 14:00:00",
            "2026-06-01 14:59:59",
            BERLIN,
            True,
            id="within-one-hour",
        ),
        pytest.param(
            "daily",
            "2026-06-01 23:59:59",
            "2026-06-02 00:00:00",
            BERLIN,
            False,
            id="local-midnight",
        ),
        pytest.param(
            "daily",
            "2026-06-02 00:30:00",
            "2026-06-02 01:30:00",
            BERLIN,
            True,
            id="one-local-day-across-utc-midnight",
        ),
        pytest.param(
            "weekly",
            "2026-06-07 23:59:59",
            "2026-06-08 00:00:00",
            BERLIN,
            False,
            id="sunday-to-monday",
        ),
        pytest.param(
            "weekly",
            "2026-06-01 00:00:00",
            "2026-06-07 23:59:59",
            BERLIN,
            True,
            id="monday-to-sunday",
        ),
        # Clocks go back at 02:00 EDT on 2026-11-01: 01:00-02:00 happens twice.
        pytest.param(
            "hourly",
            "2026-11-01 01:30:00",
            "2026-11-01 01:10:00#1",
            NEW_YORK,
            True,
            id="fall-back-repeated-hour-is-one-period",
        ),
        pytest.param(
            "daily",
            "2026-11-01 00:10:00",
            "2026-11-01 23:50:00",
            NEW_YORK,
            True,
            id="fall-back-day-of-25-hours",
        ),
        # Clocks go forward at 02:00 EST on 2026-03-08: 02:00-03:00 does not exist.
        pytest.param(
            "hourly",
            "2026-03-08 01:59:00",
            "2026-03-08 03:00:00",
            NEW_YORK,
            False,
            id="spring-forward-skipped-hour-is-no-period",
        ),
        pytest.param(
            "daily",
            "2026-03-08 00:10:00",
            "2026-03-08 23:50:00",
            NEW_YORK,
            True,
            id="spring-forward-day-of-23-hours",
        ),
    ],
)
def test_period_boundaries(period: str, first: str, second: str, tz: str, same: bool) -> None:
    """Two completions fall in one local period or in two, as the wall clock read then."""
    offset = zone(tz)
    one, other = at(first, tz), at(second, tz)
    assert (period_key(period, one, offset) == period_key(period, other, offset)) is same
    plan = planner.plan(
        saves(min(one, other), max(one, other)),
        policy(period),
        now=max(one, other) + 60,
        offset=offset,
    )
    assert len(kept_steps(plan, ReasonCode.PERIOD)) == (1 if same else 2)


def policy(period: str, count: int = 10, **more: object) -> Policy:
    return Policy(keep=1, min_free=NO_TARGET, **{f"keep_{period}": count}, **more)  # type: ignore[arg-type]


def test_fall_back_keeps_the_later_of_the_repeated_hour() -> None:
    """Of saves at 01:30 EDT and 01:10 EST (the repeated hour), the one completed later
    (in real time) is that hour's."""
    offset = zone(NEW_YORK)
    early, late = at("2026-11-01 01:30:00", NEW_YORK), at("2026-11-01 01:10:00#1", NEW_YORK)
    assert late > early
    plan = planner.plan(saves(early, late), policy("hourly"), now=late + 60, offset=offset)
    assert kept_steps(plan, ReasonCode.PERIOD) == [2]


@pytest.mark.parametrize(
    ("period", "instant", "label"),
    [
        pytest.param("hourly", "2026-11-30 14:20:00", "2026-11-30 14:00", id="hour"),
        pytest.param("daily", "2026-11-30 00:00:00", "2026-11-30", id="day"),
        pytest.param("weekly", "2026-11-30 09:00:00", "2026-W49", id="week-monday"),
        pytest.param("weekly", "2027-01-03 09:00:00", "2026-W53", id="week-of-the-old-year"),
        pytest.param("weekly", "1970-01-01 00:00:00", "1970-W01", id="epoch-thursday"),
    ],
)
def test_period_labels_read_as_local_time(period: str, instant: str, label: str) -> None:
    """The words name the local hour, day or ISO week of a period key."""
    offset = zone(BERLIN)
    assert period_label(period, period_key(period, at(instant, BERLIN), offset)) == label


def test_reasons_name_the_period() -> None:
    """A daily keep reason reads `daily YYYY-MM-DD` in the local day."""
    offset = zone(BERLIN)
    when = at("2026-11-30 00:30:00", BERLIN)  # 2026-11-29 23:30 UTC
    plan = planner.plan(saves(when), policy("daily"), now=when + 60, offset=offset)
    (period,) = [r for r in plan.decisions[0].reasons if r.code is ReasonCode.PERIOD]
    assert reason_text(period) == "daily 2026-11-30"
    utc_plan = planner.plan(saves(when), policy("daily"), now=when + 60, offset=utc)
    (in_utc,) = [r for r in utc_plan.decisions[0].reasons if r.code is ReasonCode.PERIOD]
    assert reason_text(in_utc) == "daily 2026-11-29"


# ---- keep-within and clocks that jump -------------------------------------------------------

HOUR = 3600.0
NOW = at("2026-06-01 12:00:00")


def within(*ages: float, now: float = NOW, hours: float = 3) -> list[int]:
    inventory = saves(*(now - a * HOUR for a in ages))
    plan = planner.plan(
        inventory, Policy(keep=1, min_free=NO_TARGET, keep_within=hours * HOUR), now=now
    )
    return kept_steps(plan, ReasonCode.WITHIN)


def test_within_counts_back_from_the_newest_completion_not_from_now() -> None:
    """Saves stopped a week ago: keep-within still keeps what was saved within 3h of the
    last one, so nothing ages out while nothing new is saved."""
    week = 7 * 24.0
    assert within(week + 5, week + 2, week + 1, week) == [2, 3, 4]


def test_within_boundary_is_inclusive() -> None:
    """Completed exactly DURATION before the newest: within."""
    assert within(4, 3, 0) == [2, 3]


def test_future_times_anchor_the_window_no_later_than_now() -> None:
    """A checkpoint dated 10 hours ahead (a clock stepped back, a skewed server) is within,
    and cannot push out the real ones completed within 3h before now."""
    assert within(2, 1, -10) == [1, 2, 3]


def test_future_time_is_just_a_later_period() -> None:
    """A checkpoint dated in the future takes its own (later) period; the periods before
    it keep theirs."""
    inventory = saves(NOW - 2 * 86400, NOW - 86400, NOW + 3 * 86400)
    plan = planner.plan(inventory, policy("daily", 3), now=NOW)
    assert kept_steps(plan, ReasonCode.PERIOD) == [1, 2, 3]


def test_replanning_later_without_saves_deletes_nothing_more() -> None:
    """Plan, apply, and plan again a month later: time rules do not age anything out."""
    inventory = saves(*(NOW - h * HOUR for h in range(200, 0, -1)))
    rules = Policy(
        keep=2,
        min_free=NO_TARGET,
        keep_within=6 * HOUR,
        keep_hourly=12,
        keep_daily=3,
        keep_weekly=2,
    )
    first = planner.plan(inventory, rules, now=NOW)
    left = Inventory("models", tuple(d.checkpoint for d in first.kept), inventory.disk)
    later = planner.plan(left, rules, now=NOW + 30 * 86400)
    assert later.deletions == ()
    assert all(d.action is Action.KEEP for d in later.decisions)
