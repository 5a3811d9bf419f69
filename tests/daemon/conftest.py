"""A real daemon in a thread of the test process, stopped and checked for leaks after each test."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support import TEMPLATE, wait_for

from ckptguard.config import GuardSpec, Settings
from ckptguard.daemon import Daemon
from ckptguard.model import MinFree, MinFreeUnit, Policy
from ckptguard.naming import Template


def settings_for(
    *dirs: Path,
    keep: int = 3,
    min_free: MinFree | None = None,
    min_keep: int = 1,
    settle: float = 10.0,
    rescan_interval: float = 60.0,
    free_check_interval: float = 5.0,
    poll: bool = False,
) -> Settings:
    policy = Policy(
        keep=keep,
        min_free=min_free or MinFree(MinFreeUnit.MULTIPLE, 1.0),
        min_keep=min_keep,
        settle_seconds=settle,
    )
    return Settings(
        guards=tuple(GuardSpec(str(d), Template.parse(TEMPLATE), policy) for d in dirs),
        rescan_interval=rescan_interval,
        free_check_interval=free_check_interval,
        poll=poll,
    )


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
