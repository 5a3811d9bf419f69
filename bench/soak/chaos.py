"""The daemon killed and restarted at random while the writers work.

Each daemon lives a random while (shorter when still starting up, before READY=1), then
gets SIGKILL or, now and then, SIGTERM (which must exit 0); the directory then goes
unguarded for a moment before the next one starts. A daemon that exits on its own, or
never reports READY=1, breaks invariant 7.
"""

from __future__ import annotations

import random
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench import harness
from bench.soak.guard import Guard
from bench.soak.violations import Violations


class Chaos:
    """Starts, kills and restarts daemons; keeps every daemon it started, for their logs."""

    def __init__(
        self,
        guard: Guard,
        control: Path,
        rng: random.Random,
        *,
        max_alive: float,
        violations: Violations,
        children: list[subprocess.Popen[Any]],
        progress: bool,
    ) -> None:
        self.guard = guard
        self.control = control
        self.rng = rng
        self.max_alive = max_alive
        self.flag = violations.flag
        self.children = children  # the writers and the checker: none may fail meanwhile
        self.progress = progress
        self.daemons: list[harness.Daemon] = []
        self.restarts: Counter[str] = Counter()

    def start(self, *, wait: bool) -> harness.Daemon:
        """A new daemon; with `wait`, READY=1 awaited (its absence flagged)."""
        daemon = self.guard.launch(self.control / f"daemon-{len(self.daemons):04d}.log")
        self.daemons.append(daemon)
        if wait:
            self.ensure_ready(daemon)
        return daemon

    def ensure_ready(self, daemon: harness.Daemon) -> bool:
        if daemon.wait_ready(30.0):
            return True
        assert daemon.proc is not None
        code = daemon.proc.poll()
        self.flag("7", "not_ready", log=daemon.log_path.name, returncode=code)
        return False

    def run(self, deadline: float) -> harness.Daemon:
        """Kill and restart the daemon until `deadline`; returns the one left running."""
        daemon = self.start(wait=True)
        next_report = time.monotonic() + 30
        while True:
            quick = not daemon.ready  # killed during start-up, before READY=1
            alive = self.rng.uniform(0.05, 0.6) if quick else self.rng.uniform(0.3, self.max_alive)
            if not self.supervise(daemon, alive, deadline):
                daemon = self.start(wait=True)
                continue
            if time.monotonic() >= deadline:
                return daemon
            self.stop(daemon)
            time.sleep(self.rng.uniform(0.0, 0.8))  # the directory goes unguarded a while
            daemon = self.start(wait=self.rng.random() < 0.8)
            if self.progress and time.monotonic() >= next_report:
                next_report += 30
                left = deadline - time.monotonic()
                harness.log(f"soak: {left:.0f}s left, restarts {dict(self.restarts)}")

    def supervise(self, daemon: harness.Daemon, seconds: float, deadline: float) -> bool:
        """Let the daemon live `seconds` (or until `deadline`); False if it died on its own."""
        until = min(time.monotonic() + seconds, deadline)
        while time.monotonic() < until:
            time.sleep(0.05 if daemon.is_ready() else 0.01)
            if not daemon.alive():
                assert daemon.proc is not None
                code = daemon.proc.returncode
                self.flag("7", "exited", log=daemon.log_path.name, returncode=code)
                daemon.stop()
                return False
            self.check_children()
        return True

    def stop(self, daemon: harness.Daemon) -> None:
        """SIGTERM now and then (at least once, and only once READY=1), else SIGKILL."""
        term = daemon.ready and (self.rng.random() < 0.25 or self.restarts["SIGTERM"] == 0)
        if term:
            code = daemon.stop(signal.SIGTERM, timeout=20.0)
            self.restarts["SIGTERM"] += 1
            if code != 0:
                self.flag("7", "sigterm_exit", log=daemon.log_path.name, returncode=code)
        else:
            daemon.stop(signal.SIGKILL, timeout=20.0)
            self.restarts["SIGKILL"] += 1

    def check_children(self) -> None:
        for child in self.children:
            code = child.poll()
            if code not in (None, 0):
                raise RuntimeError(f"soak process {child.args!r} failed with {code}")
