"""The lease on a real S3 API (moto's server): conditional writes elect exactly one
deleter; time is each guard's own clock, driven here by hand."""

from __future__ import annotations

from typing import Any

import structlog
from support import HandClock

from ckptguard.service.election import Election, stop_unless_holding
from ckptguard.store.remote.lease import LeaseObject
from ckptguard.store.remote.location import parse


def election(bucket: Any, name: str, clock: HandClock, duration: float = 30.0) -> Election:
    lease = LeaseObject(bucket.fs, parse(bucket.url()))
    return Election(lease, duration, structlog.get_logger(), me=name, clock=clock)


def test_first_takes_others_stand_by_until_it_expires(bucket: Any) -> None:
    """One takes the lease; the others plan only, until it goes unrenewed for a whole lease
    time by their own clocks; then exactly one of them takes it over."""
    clocks = [HandClock(), HandClock(), HandClock()]
    a, b, c = (election(bucket, n, k) for n, k in zip("abc", clocks, strict=True))
    a.step()
    b.step()
    c.step()
    assert a.may_delete() and not b.may_delete() and not c.may_delete()
    assert b.holder == c.holder == "a"
    for clock in clocks:
        clock.now += 10  # a renews at a third of the lease
    a.step()
    b.step()
    c.step()
    assert a.may_delete() and not b.may_delete()
    clocks[1].now += 29
    clocks[2].now += 29
    b.step()
    c.step()
    assert not b.may_delete() and not c.may_delete(), "the lease has not run out yet"
    clocks[1].now += 1
    clocks[2].now += 1
    b.step()
    c.step()
    assert [b.may_delete(), c.may_delete()] == [True, False]
    clocks[0].now += 30
    assert not a.may_delete(), "an unrenewed holder stops deleting on its own"
    a.step()
    assert not a.may_delete() and a.version is None, "its renewal fails: b wrote since"


def test_released_lease_is_taken_at_once(bucket: Any) -> None:
    """A holder that stops cleanly releases the lease; a standby takes it on its next turn."""
    clock = HandClock()
    a, b = election(bucket, "a", clock), election(bucket, "b", clock)
    a.step()
    b.step()
    a.release()
    b.step()
    assert b.may_delete()


def test_holder_stops_deleting_before_a_standby_may_start(bucket: Any) -> None:
    """With the same clock rate, the holder's right to delete ends before any standby's
    takeover: it counts from before its write, the standby from after seeing it."""
    clock = HandClock()
    a, b = election(bucket, "a", clock, duration=12.0), election(bucket, "b", clock, 12.0)
    a.step()
    b.step()
    while not b.may_delete():
        clock.now += 0.5
        assert not (a.may_delete() and b.may_delete())
        b.step()
    assert not a.may_delete()


def test_a_long_batch_of_deletions_keeps_the_lease(bucket: Any) -> None:
    """Asked between deletions, the holder renews when due: a batch lasting three lease
    times deletes to the end, and the standby never takes over meanwhile."""
    clock = HandClock()
    a, b = election(bucket, "a", clock, duration=12.0), election(bucket, "b", clock, 12.0)
    a.step()
    b.step()
    stop = stop_unless_holding(a, lambda: False)
    for _ in range(72):  # one deletion every half second for 36 s
        clock.now += 0.5
        assert not stop(), "the holder stopped deleting halfway through its batch"
        b.step()
        assert not b.may_delete()
    assert a.version is not None and a.may_delete()
