"""Clocks driven by hand: time that passes only when a test says so."""

from __future__ import annotations


class HandClock:
    """A monotonic clock to pass as `clock=`: reads `now`, which the test moves on."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now
