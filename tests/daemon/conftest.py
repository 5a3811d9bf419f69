"""A real daemon in a thread of the test process, stopped and checked for leaks after each test."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from support import wait_for

from ckptguard.config import Settings
from ckptguard.daemon import Daemon


@pytest.fixture
def start_daemon() -> Iterator[Any]:
    """Start `Daemon(settings).run()` in a thread; stop it and check for leaked threads and fds."""
    before = set(threading.enumerate())
    fds_before = set(os.listdir("/proc/self/fd"))
    running: list[tuple[Daemon, threading.Thread]] = []

    def start(settings: Settings, *, wait_ready: bool = True, **options: Any) -> Daemon:
        daemon = Daemon(settings, **options)
        thread = threading.Thread(target=daemon.run, name="ckptguard-daemon-under-test")
        thread.start()
        running.append((daemon, thread))
        if wait_ready:
            assert daemon.ready.wait(10), "daemon did not become ready"
        return daemon

    yield start
    for daemon, thread in running:
        daemon.request_stop()
        thread.join(10)
        assert not thread.is_alive(), "daemon thread did not stop"
    wait_for(
        lambda: set(threading.enumerate()) <= before,
        timeout=10,
        message="threads started by the daemon to end",
    )
    leaked = set(os.listdir("/proc/self/fd")) - fds_before
    assert not leaked, f"file descriptors left open: {leaked}"
