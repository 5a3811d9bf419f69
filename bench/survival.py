"""1. Survival: the smallest tmpfs, in checkpoint sizes, on which a 20-save run completes.

For each save pattern, peer and repetition, real tmpfs mounts of increasing size (the
ladder) are tried until bench/trainer.py completes all its saves (exit 0) instead of
dying of ENOSPC (28). One "checkpoint size" is what one checkpoint occupies on tmpfs: its
file size rounded up to whole pages; mount sizes are multiples of that, rounded up to a
page (the kernel rounds tmpfs sizes to pages too).

The patterns (`PATTERNS`): saves 0.2 s apart; back to back (the next save opens the
moment the previous one closed); 2 and 4 saves in flight at once (asynchronous
checkpointing, `trainer.py --in-flight N`). Each pattern's physical limit is computed
from the trainer's schedule (`physical_limit`): at the close of each save, the newest
complete checkpoint before it, the one just closed and every byte the saves still open
have written must fit; 2 sizes for saves one at a time. The ladder gets that rung too.

The cron peers' periods are scaled from each pattern's own save interval, measured at
the start of the pattern (`calibrate`).
"""

from __future__ import annotations

import itertools
import math
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import harness, survival_trial
from bench.checkpoint_files import keras_bytes
from bench.peers import Peer, make_peers
from bench.survival_trial import PAYLOAD, SAVES
from bench.trainer import stagger

CHUNK = 64 << 10  # the trainer's default chunk
LADDER = (
    *(1.5, 2.0, 2.125, 2.25, 2.5, 2.75, 3.0, 3.5, 4.0, 4.5, 5.0, 6.0, 8.0, 12.0, 16.0, 20.0, 21.0),
)
CALIBRATION_SAVES = 8


@dataclass(frozen=True)
class Pattern:
    key: str
    label: str
    train_pause: float
    in_flight: int = 1

    def trainer_args(self) -> list[str]:
        return ["--train-pause", f"{self.train_pause:g}", "--in-flight", str(self.in_flight)]

    def describe(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "label": self.label,
            "train_pause_s": self.train_pause,
            "in_flight": self.in_flight,
            "trainer_args": self.trainer_args(),
        }


PATTERNS = (
    Pattern("spaced", "0.2 s between saves", 0.2),
    Pattern("back-to-back", "back to back", 0.0),
    Pattern("in-flight-2", "2 saves in flight", 0.0, 2),
    Pattern("in-flight-4", "4 saves in flight", 0.0, 4),
)


def checkpoint_file_size() -> int:
    return len(keras_bytes(PAYLOAD))


def physical_limit(file_size: int, in_flight: int, *, chunk: int = CHUNK) -> int:
    """Bytes (in whole pages) the pattern needs at its fullest moment with a perfect guard.

    Follows the trainer's schedule: save i opens at chunk tick i * stagger and writes one
    chunk per tick, the open saves oldest first; a save closes right after its last chunk.
    At that close, the previous newest complete checkpoint may only now be deleted, so it,
    the closed save and every page the other open saves have written must fit.
    """
    page = harness.PAGE
    chunks = math.ceil(file_size / chunk)
    if in_flight == 1:
        return 2 * harness.allocated(file_size)
    gap = stagger(chunks, in_flight)

    def pages_after(written: int) -> int:
        return math.ceil(min(written * chunk, file_size) / page) * page

    need = 0
    for closing in range(in_flight, 2 * in_flight + 1):  # a save in the steady state
        tick = closing * gap + chunks - 1
        others = 0
        for younger in range(closing + 1, closing + in_flight):
            # written before this tick, as the closing save writes first in the tick
            others += pages_after(max(0, min(chunks, tick - younger * gap)))
        need = max(need, 2 * harness.allocated(file_size) + others)
    return need


def calibrate(workdir: Path, pattern: Pattern) -> dict[str, Any]:
    """Seconds between the starts of consecutive saves in `pattern` (keep-3 in process)."""
    with harness.scratch_dir(workdir, "calibrate", 64 << 20) as directory:
        args = [*pattern.trainer_args(), "--keep-in-process", "3"]
        code, stamps, _, _ = survival_trial.run_trainer(directory, args, saves=CALIBRATION_SAVES)
    if code != 0 or len(stamps) < 2:
        raise RuntimeError(f"calibration run of the trainer failed (exit {code})")
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    return {
        "save_interval_s": statistics.median(gaps),
        "save_interval_min_s": min(gaps),
        "save_interval_max_s": max(gaps),
        "saves": len(stamps),
    }


def measure_save_interval(workdir: Path) -> dict[str, Any]:
    """The trainer's save interval with its defaults (for the latency part's cron peers)."""
    return calibrate(workdir, Pattern("defaults", "defaults", 0.02))


def _ladder(ladder: tuple[float, ...], alloc: int, limit: int) -> list[float]:
    """The ladder from its last rung below the pattern's physical limit (which no peer
    that keeps the newest complete checkpoint can survive: tried once to show that), plus
    the limit itself and `2 sizes + 1 page` when 2 is a rung."""
    rungs = {*ladder, limit / alloc}
    if 2.0 in ladder:  # "2 sizes + 1 page": once the room ckptguard's lock file took
        rungs.add(2.0 + harness.PAGE / alloc)
    below = [r for r in rungs if r < limit / alloc]
    return sorted(r for r in rungs if not below or r >= max(below))


def _peer_runs(
    peer: Peer, pattern: Pattern, rungs: list[float], repetitions: int, context: dict[str, Any]
) -> dict[str, Any]:
    smallest: list[float | None] = []
    trials = []
    for rep in range(repetitions):
        found = None
        for multiple in rungs:
            record = survival_trial.trial(
                peer,
                pattern.trainer_args(),
                multiple,
                tag=f"{pattern.key}-r{rep}",
                in_flight=pattern.in_flight,
                **context,
            )
            record["repetition"] = rep
            trials.append(record)
            if record["outcome"] == "error":
                harness.log(f"survival: {peer.key} at {multiple:.4g}: {record['stderr_tail']}")
            if record["outcome"] == "ok":
                found = multiple
                break
        smallest.append(found)
        harness.log(
            f"survival ({pattern.key}): {peer.key} run {rep + 1}/{repetitions}: smallest "
            + (f"{found:.4g} sizes" if found is not None else f"> {rungs[-1]:g} sizes")
        )
    return {
        "peer": peer.describe(),
        "repetitions": repetitions,
        "smallest": smallest,
        "summary": harness.spread([s for s in smallest if s is not None]),
        "never_completed": sum(1 for s in smallest if s is None),
        "lost_while_written": sum(t["lost_while_written"] for t in trials),
        "trials": trials,
    }


def run(
    *,
    python: str,
    workdir: Path,
    repetitions: dict[str, int],
    ladder: tuple[float, ...],
    patterns: tuple[str, ...] | None = None,
    peers: tuple[str, ...] | None = None,
    saves: int = SAVES,
) -> dict[str, Any]:
    """`repetitions` maps a peer kind to its runs per pattern (key "default" for the rest);
    `patterns` and `peers` limit the patterns and peers by key (all when None)."""
    reason = harness.tmpfs_unavailable()
    if reason is not None:
        harness.log(f"survival: skipped: {reason}")
        return {"skipped": reason}
    file_size = checkpoint_file_size()
    alloc = harness.allocated(file_size)
    results: dict[str, Any] = {
        "trainer": {
            "saves": saves,
            "payload_bytes": PAYLOAD,
            "file_bytes": file_size,
            "allocated_bytes": alloc,
            "page_bytes": harness.PAGE,
            "chunk_bytes": CHUNK,
            "options": "bench/trainer.py: 64 KiB chunks, 2 ms per chunk",
        },
        "repetitions": repetitions,
        "patterns": {},
    }
    context = {"alloc": alloc, "python": python, "workdir": workdir, "saves": saves}
    for pattern in (p for p in PATTERNS if patterns is None or p.key in patterns):
        calibration = calibrate(workdir, pattern)
        limit = physical_limit(file_size, pattern.in_flight)
        rungs = _ladder(ladder, alloc, limit)
        found: dict[str, Any] = {}
        for peer in make_peers(calibration["save_interval_s"]):
            if peers is not None and peer.key not in peers:
                continue
            runs = repetitions.get(peer.kind, repetitions.get("default", 1))
            found[peer.key] = _peer_runs(peer, pattern, rungs, runs, context)
        results["patterns"][pattern.key] = {
            "pattern": pattern.describe(),
            "calibration": calibration,
            "physical_limit_bytes": limit,
            "physical_limit": limit / alloc,
            "ladder": rungs,
            "peers": found,
        }
    return results
