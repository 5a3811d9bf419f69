"""A real daemon in a thread of the test process, stopped and checked for leaks after each test."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from support import daemon_threads


@pytest.fixture
def start_daemon() -> Iterator[Any]:
    """Start `Daemon(settings).run()` in a thread; stop it and check for leaked threads and fds."""
    with daemon_threads() as start:
        yield start
