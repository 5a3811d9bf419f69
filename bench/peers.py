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

For the reaction latency only, two floors (bench/floor_reader.py): a process that, on
the close of checkpoint k, deletes checkpoint k-3 and does nothing else, hearing the
close through a raw inotify read loop or through a bare watchdog observer.
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
    kind: str  # none | in-process | cron | ckptguard | floor
    label: str
    cron_period: float | None = None  # seconds, in benchmark time
    cron_ratio: float | None = None  # cron period / save interval
    real_world: str | None = None
    via: str | None = None  # floors: inotify | watchdog

    def describe(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "kind": self.kind,
            "label": self.label,
            "cron_period_s": self.cron_period,
            "cron_ratio": self.cron_ratio,
            "real_world": self.real_world,
            "via": self.via,
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


def make_floors() -> list[Peer]:
    """The latency floors: a tiny reader deleting k-3 on the close of k, nothing else."""
    return [
        Peer("floor-inotify", "floor", "floor: raw inotify read loop", via="inotify"),
        Peer("floor-watchdog", "floor", "floor: bare watchdog observer", via="watchdog"),
    ]


@dataclass
class Running:
    """A peer at work on one directory."""

    peer: Peer
    trainer_args: list[str] = field(default_factory=list)
    daemon: harness.Daemon | None = None
    helper: subprocess.Popen[str] | None = None  # the cron loop or a floor reader
    exit_code: int | None = None

    def alive(self) -> bool:
        if self.daemon is not None:
            return self.daemon.alive()
        if self.helper is not None:
            return self.helper.poll() is None
        return True


def _helper(args: list[str]) -> subprocess.Popen[str]:
    """A peer's own process, once it has said `ready`."""
    proc = harness.spawn(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    if proc.stdout.readline().strip() != "ready":
        harness.reap(proc, timeout=1)
        proc.stdout.close()
        raise RuntimeError(f"the peer {args[1]} did not start")
    return proc


@contextlib.contextmanager
def guarding(peer: Peer, directory: Path, python: str, log_path: Path) -> Iterator[Running]:
    """Run `peer` on `directory` for the duration of the block."""
    running = Running(peer)
    if peer.kind == "in-process":
        running.trainer_args = ["--keep-in-process", "3"]
    try:
        if peer.kind == "cron":
            assert peer.cron_period is not None
            running.helper = _helper(
                [
                    sys.executable,
                    str(harness.CRON),
                    "--dir",
                    str(directory),
                    "--period",
                    f"{peer.cron_period:.6f}",
                    "--keep",
                    "3",
                ]
            )
        elif peer.kind == "floor":
            assert peer.via is not None
            reader = str(harness.BENCH / "floor_reader.py")
            running.helper = _helper(
                [python, reader, "--dir", str(directory), "--via", peer.via, "--keep", "3"]
            )
        elif peer.kind == "ckptguard":
            running.daemon = harness.Daemon(python, directory, log_path).start()
        yield running
    finally:
        if running.helper is not None:
            running.helper.terminate()
            running.exit_code = harness.reap(running.helper)
            if running.helper.stdout is not None:
                running.helper.stdout.close()
        if running.daemon is not None:
            running.exit_code = running.daemon.stop()
