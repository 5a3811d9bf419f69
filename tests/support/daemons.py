"""A real Daemon in a thread of the test process: its settings, its start, its cycles."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ckptguard.core.model import MinFree, MinFreeUnit, Policy
from ckptguard.service.settings import GuardSpec, Settings
from support.files import KERAS
from support.waiting import wait_for

if TYPE_CHECKING:
    from ckptguard.service.daemon import Daemon


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
        guards=tuple(GuardSpec(str(d), KERAS, policy) for d in dirs),
        rescan_interval=rescan_interval,
        free_check_interval=free_check_interval,
        poll=poll,
    )


@contextlib.contextmanager
def daemon_threads() -> Iterator[Any]:
    """Yield `start(settings, **options)`, which runs a Daemon in a thread until READY.

    On exit every daemon is stopped, and no thread or file descriptor may be left behind.
    """
    from ckptguard.service.daemon import Daemon

    before = set(threading.enumerate())
    fds_before = set(os.listdir("/proc/self/fd"))
    running: list[tuple[Daemon, threading.Thread]] = []

    def start(settings: Settings, *, wait_ready: bool = True, **options: Any) -> Daemon:
        from ckptguard.face.words import words_for

        daemon = Daemon(settings, **{"words": words_for, **options})
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


def wait_cycles(daemon: Daemon, more: int, *, timeout: float = 10.0) -> None:
    """Wait until the daemon has completed `more` further directory cycles."""
    target = daemon.cycles + more
    wait_for(lambda: daemon.cycles >= target, timeout=timeout, message=f"{more} more cycles")


def wait_passes(daemon: Daemon, more: int, *, timeout: float = 10.0) -> None:
    """Wait until the daemon's loop has turned `more` more times (each a chance to act)."""
    target = daemon.passes + more
    wait_for(lambda: daemon.passes >= target, timeout=timeout, message=f"{more} more passes")
