"""What a user would pick instead of ckptguard, each runnable beside a trainer.

- none: no cleanup at all;
- in-process: the training script deletes the oldest beyond 3 after each save
  (bench/trainer.py --keep-in-process 3);
- cron: bench/cron.py, deleting all but the newest 3 every period. A real crontab runs
  every 60 s; the benchmark's saves come every ~60 ms instead of every few minutes, so
  the period is scaled by the same factor. Two real-world pairings are measured:
  a save every 5 min (period = 0.2 x the save interval) and a save every 5 s
  (period = 12 x the save interval);
- ckptguard: `ckptguard run --dir D` with default options, started before the trainer
  and awaited until it sends READY=1 over a real sd_notify socket.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import harness

CRON_REAL_PERIOD = 60.0  # seconds: "* * * * *"
# (key, real-world seconds between saves) for the cron pairings that are measured
CRON_SCENARIOS = (("cron-5min", 300.0), ("cron-5s", 5.0))


@dataclass(frozen=True)
class Peer:
    key: str
    kind: str  # none | in-process | cron | ckptguard
    label: str
    cron_period: float | None = None  # seconds, in benchmark time
    cron_ratio: float | None = None  # cron period / save interval
    real_world: str | None = None

    def describe(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "kind": self.kind,
            "label": self.label,
            "cron_period_s": self.cron_period,
            "cron_ratio": self.cron_ratio,
            "real_world": self.real_world,
        }


def make_peers(save_interval: float) -> list[Peer]:
    """The four peers; cron periods scaled from the measured save interval."""
    peers = [
        Peer("none", "none", "none (no cleanup)"),
        Peer("in-process", "in-process", "in-process (trainer deletes beyond 3)"),
    ]
    for key, real_save_interval in CRON_SCENARIOS:
        ratio = CRON_REAL_PERIOD / real_save_interval
        real = f"cron every {CRON_REAL_PERIOD:g} s, a save every " + (
            f"{real_save_interval / 60:g} min"
            if real_save_interval >= 60
            else f"{real_save_interval:g} s"
        )
        peers.append(
            Peer(
                key,
                "cron",
                f"cron, period {ratio:g}x save interval",
                cron_period=ratio * save_interval,
                cron_ratio=ratio,
                real_world=real,
            )
        )
    peers.append(Peer("ckptguard", "ckptguard", "ckptguard run (defaults)"))
    return peers


@dataclass
class Running:
    """A peer at work on one directory."""

    peer: Peer
    trainer_args: list[str] = field(default_factory=list)
    daemon: harness.Daemon | None = None
    cron: subprocess.Popen[str] | None = None
    exit_code: int | None = None

    def alive(self) -> bool:
        if self.daemon is not None:
            return self.daemon.alive()
        if self.cron is not None:
            return self.cron.poll() is None
        return True


@contextlib.contextmanager
def guarding(peer: Peer, directory: Path, python: str, log_path: Path) -> Iterator[Running]:
    """Run `peer` on `directory` for the duration of the block."""
    running = Running(peer)
    if peer.kind == "in-process":
        running.trainer_args = ["--keep-in-process", "3"]
    try:
        if peer.kind == "cron":
            assert peer.cron_period is not None
            running.cron = harness.spawn(
                [
                    sys.executable,
                    str(harness.CRON),
                    "--dir",
                    str(directory),
                    "--period",
                    f"{peer.cron_period:.6f}",
                    "--keep",
                    "3",
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
            )
            assert running.cron.stdout is not None
            if running.cron.stdout.readline().strip() != "ready":
                raise RuntimeError("the cron peer did not start")
        elif peer.kind == "ckptguard":
            running.daemon = harness.Daemon(python, directory, log_path).start()
        yield running
    finally:
        if running.cron is not None:
            running.cron.terminate()
            running.exit_code = harness.reap(running.cron)
            if running.cron.stdout is not None:
                running.cron.stdout.close()
        if running.daemon is not None:
            running.exit_code = running.daemon.stop()
