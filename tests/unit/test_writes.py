"""Writes the watcher recorded: which are in doubt once events were lost."""

from __future__ import annotations

from ckptguard.service.saves import Writes


def test_what_was_recorded_before_the_loss_is_in_doubt() -> None:
    writes = Writes()
    writes.written("a", "a")
    writes.doubt(window=0)
    assert writes.doubted("a")
    writes.written("a", "a")  # a write seen after the window: the writer is there
    assert not writes.doubted("a")


def test_a_write_handed_on_soon_after_the_loss_is_in_doubt_unless_proc_confirms() -> None:
    """The watcher may still hand on writes read before the loss, their closes lost."""
    writes = Writes()
    writes.doubt(window=3600)
    writes.written("late", "late")
    writes.written("seen", "seen", confirmed=True)
    assert writes.doubted("late")
    assert not writes.doubted("seen")
    writes.written("late", "late")  # another event within the window settles nothing
    assert writes.doubted("late")


def test_a_close_ends_the_doubt_with_the_write() -> None:
    writes = Writes()
    writes.doubt(window=3600)
    writes.written("a", "a")
    writes.closed("a", "a")
    assert not writes.doubted("a") and writes.keys() == frozenset()
