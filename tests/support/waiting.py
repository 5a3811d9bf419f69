"""Polling with a deadline: what the tests wait with instead of sleeping."""

from __future__ import annotations


def wait_for(
    predicate, *, timeout: float = 10.0, interval: float = 0.01, message: str = "condition"
):
    """Poll `predicate` until it returns a truthy value or `timeout` passes (then fail)."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        time.sleep(interval)
