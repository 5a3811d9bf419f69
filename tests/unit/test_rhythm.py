"""The save rhythm and stale checkpoints, from plans and times passed in."""

from __future__ import annotations

from dataclasses import replace

import pytest
from test_growth import START, checkpoint

from ckptguard.core import planner, rhythm
from ckptguard.core.model import DiskState, Inventory, Policy

MB = 10**6
DISK = DiskState(10**12, 10**11)


def plan_of(*steps_and_times: tuple[int, float]) -> planner.Plan:
    checkpoints = tuple(checkpoint(step, 10 * MB, at) for step, at in steps_and_times)
    inventory = Inventory("models", checkpoints, DISK)
    return planner.plan(inventory, Policy(keep=100, settle_seconds=0.0), now=START + 10_000)


def test_checkpoints_there_at_start_are_no_saves_seen_but_give_the_rhythm() -> None:
    """What was there when guarding began sets the rhythm; only later saves are seen."""
    first = rhythm.observe(rhythm.Rhythm(), plan_of((100, START), (200, START + 60)), START + 61)
    assert first.seen == 0
    assert rhythm.median_interval(first) == 60
    later = rhythm.observe(
        first, plan_of((100, START), (200, START + 60), (300, START + 120)), START + 121
    )
    assert later.seen == 1
    assert later.newest is not None and later.newest.step == 300
    again = rhythm.observe(later, plan_of((200, START + 60), (300, START + 120)), START + 130)
    assert again.seen == 1, "a deletion is no save, and a checkpoint seen before is not new"
    assert rhythm.bytes_per_save(again) == 10 * MB


def test_median_interval_ignores_an_outlier() -> None:
    """One long pause (an evaluation) does not move the usual interval."""
    times = [0, 60, 120, 180, 1800, 1860]
    saves = plan_of(*((100 * (i + 1), START + t) for i, t in enumerate(times)))
    seen = rhythm.observe(rhythm.Rhythm(), saves, START + 2000)
    assert rhythm.median_interval(seen) == 60


@pytest.mark.parametrize(
    ("interval", "given", "limit"),
    [(60.0, None, 600.0), (400.0, None, 1200.0), (60.0, 90.0, 90.0)],
    ids=["at-least-ten-minutes", "three-intervals", "given"],
)
def test_stale_after(interval: float, given: float | None, limit: float) -> None:
    """Three median intervals, at least ten minutes, unless --stale-after says."""
    saves = plan_of((100, START), (200, START + interval), (300, START + 2 * interval))
    seen = rhythm.observe(rhythm.Rhythm(), saves, START + 2 * interval)
    assert rhythm.stale_limit(seen, given) == limit
    newest = START + 2 * interval
    assert rhythm.stale(seen, newest + limit - 1, given) is None
    warning = rhythm.stale(seen, newest + limit + 1, given)
    assert warning is not None and warning.code == "stale_checkpoints"
    assert warning["newest_step"] == 300
    assert warning["quiet_for"] == pytest.approx(limit + 1)


def test_no_rhythm_no_stale_warning() -> None:
    """One checkpoint gives no interval: nothing is stale until --stale-after says so."""
    seen = rhythm.observe(rhythm.Rhythm(), plan_of((100, START)), START)
    assert rhythm.stale(seen, START + 10**6, None) is None
    assert rhythm.stale(seen, START + 100, 60.0) is not None


def test_a_future_modification_time_counts_as_now() -> None:
    """A file dated in the future (a clock ahead) is never newer than the look."""
    seen = rhythm.observe(rhythm.Rhythm(), plan_of((100, START + 3600)), START)
    assert seen.newest is not None and seen.newest.at == START


def test_a_save_seen_complete_then_written_again_counts_once() -> None:
    """Under load the guard can judge a file complete before the watcher has told it of
    the last writes, then see it in progress, then complete again with the same time:
    one save. A checkpoint written anew under the same name (a new time) is another."""
    start = rhythm.observe(rhythm.Rhythm(), plan_of((100, START)), START + 1)
    complete = plan_of((100, START), (200, START + 60))
    first = rhythm.observe(start, complete, START + 61)
    assert first.seen == 1
    written = (checkpoint(100, 10 * MB, START), checkpoint(200, 10 * MB, START + 60))
    in_progress = planner.plan(
        Inventory("models", (written[0], replace(written[1], writing=True)), DISK),
        Policy(keep=100, settle_seconds=0.0),
        now=START + 62,
    )
    again = rhythm.observe(rhythm.observe(first, in_progress, START + 62), complete, START + 63)
    assert again.seen == 1, "the same save counted twice"
    rewritten = rhythm.observe(again, plan_of((100, START), (200, START + 70)), START + 71)
    assert rewritten.seen == 2
