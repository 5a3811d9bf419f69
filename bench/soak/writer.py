"""A writer: one training-job-like process saving, breaking, pinning and deleting checkpoints.

It acts only on files it created itself and never on the newest complete checkpoint, and
journals every action before taking it. What it notices itself (a file deleted while it
was being written, a pinned file gone) it journals as a violation.

Internal: started by the supervisor as `python -m bench.soak.writer ...` (see `command`).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.checkpoint_files import name_of
from bench.soak.journal import Journal
from bench.soak.saves import BROKEN_KINDS, Lost, broken_bytes, keras_bytes, stream
from bench.soak.steps import PIN, SharedState
from bench.soak.world import BEST_STEP, METRICS_HEADER


@dataclass
class Own:
    """A file this writer created, as it last left it."""

    step: int
    ino: int
    complete: bool
    pinned: bool = False


class Writer:
    """One training-job-like process: acts only on its own files, never on the newest."""

    ACTIONS = (
        "create",
        "create_bad",
        "rewrite",
        "truncate",
        "pin",
        "unpin",
        "delete",
        "truncate_metrics",
    )
    WEIGHTS = (40, 6, 10, 10, 10, 8, 12, 2)

    def __init__(
        self, ident: int, directory: Path, control: Path, seed: int, settle: float, metrics: Path
    ):
        self.rng = random.Random(seed)
        self.dir = directory  # for one writer, another path to DIR (a bind mount)
        self.metrics = metrics
        self.state_dir = control / "state-dir"
        self.state = SharedState(control / "state")
        self.journal = Journal(control / "journal.jsonl", f"w{ident}")
        self.stop_file = control / "stop-writers"
        self.settle = settle
        self.mine: dict[int, Own] = {}
        self.next_sweep = 0.0

    def path(self, step: int) -> Path:
        return self.dir / name_of(step)

    def run(self) -> int:
        """Act at random until the supervisor creates the stop file."""
        try:
            while not self.stop_file.exists():
                action = self.rng.choices(self.ACTIONS, self.WEIGHTS)[0]
                getattr(self, f"do_{action}")()
                if time.monotonic() >= self.next_sweep:
                    self.sweep()
                    self.next_sweep = time.monotonic() + 1.0
                time.sleep(self.rng.uniform(0.0, 0.05))
            self.sweep()
            self.journal.log("writer_done", files=len(self.mine))
        finally:
            self.journal.close()
        return 0

    def violation(self, invariant: str, kind: str, step: int, **detail: Any) -> None:
        self.journal.log("violation", invariant=invariant, kind=kind, step=step, **detail)

    # -- bookkeeping -------------------------------------------------------------------------

    def sweep(self) -> None:
        for own in list(self.mine.values()):
            self.present(own)

    def present(self, own: Own) -> bool:
        """Whether our file is still there; a pinned one gone is a violation."""
        try:
            same = os.lstat(self.path(own.step)).st_ino == own.ino
        except FileNotFoundError:
            same = False
        if same:
            return True
        if own.pinned:
            self.violation("2", "pinned_deleted", own.step)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(str(self.path(own.step)) + PIN)
        self.journal.log("gone", step=own.step, complete=own.complete, pinned=own.pinned)
        del self.mine[own.step]
        return False

    def pick(self, wanted: Callable[[Own], bool]) -> Own | None:
        """One of our files below the newest published complete step, never the newest."""
        limit = self.state.max_done()
        candidates = [o for o in self.mine.values() if o.step < limit and wanted(o)]
        if not candidates:
            return None
        own = self.rng.choice(candidates)
        return own if self.present(own) else None

    def save(self, step: int, data: bytes, *, create: bool, kind: str) -> int | None:
        """Stream `data` into our path for `step`; the inode, or None if it was deleted.

        A deletion seen before the last chunk is a violation; one after the last chunk but
        before close is only noted: the file is a complete checkpoint by then, which is what
        the daemon is allowed to judge.
        """
        written = stream(self.path(step), data, self.rng, create=create, settle=self.settle)
        if written is Lost.WHILE_WRITTEN:
            self.violation("2", "deleted_while_written", step, phase=kind)
        elif written is Lost.BEFORE_CLOSE:
            self.journal.log("deleted_before_close", step=step, phase=kind)
        return written if isinstance(written, int) else None

    # -- actions -----------------------------------------------------------------------------

    def do_create(self) -> None:
        """A save: streamed, published as the newest complete step, its row logged."""
        step = self.state.take_step()
        data = keras_bytes(self.rng, self.rng.randint(10_000, 90_000))
        self.journal.log("create_start", step=step, size=len(data))
        ino = self.save(step, data, create=True, kind="create")
        if ino is None:
            return
        self.mine[step] = Own(step, ino, complete=True)
        self.journal.log("create_done", step=step, ino=ino)
        self.state.publish(step)
        with open(self.metrics, "a") as log:  # worse than the best, always
            log.write(f"{step},{1 + self.rng.random():.4f}\n")

    def do_truncate_metrics(self) -> None:
        """A restarted CSVLogger empties the log; only once the guard has seen the best
        value (a guard cannot remember what it never read)."""
        recorded = [p for p in self.state_dir.glob("*.json") if name_of(BEST_STEP) in p.read_text()]
        if not recorded:
            return
        self.journal.log("truncate_metrics")
        with open(self.metrics, "w") as log:
            log.write(METRICS_HEADER)

    def do_create_bad(self) -> None:
        """A save that crashed halfway, or a forged "newest": empty, garbage, not a model."""
        step = self.state.take_step()
        kind = self.rng.choice(BROKEN_KINDS)
        data = broken_bytes(self.rng, kind)
        self.journal.log("create_bad_start", step=step, kind=kind)
        ino = self.save(step, data, create=True, kind=kind)
        if ino is None:
            return
        self.mine[step] = Own(step, ino, complete=False)
        self.journal.log("create_bad_done", step=step, kind=kind, ino=ino)

    def do_rewrite(self) -> None:
        """Save again into an existing path (truncate, stream): only pinned or corrupt ones.

        A complete unpinned file may be deleted by the daemon at any moment (it may be
        beyond keep-N); starting to rewrite it in the microseconds between the daemon's
        last check and its unlink is a race no unlink can close, so it is not provoked.
        """
        own = self.pick(lambda o: o.pinned or not o.complete)
        if own is None:
            return
        data = keras_bytes(self.rng, self.rng.randint(10_000, 90_000))
        self.journal.log("rewrite_start", step=own.step, pinned=own.pinned)
        ino = self.save(own.step, data, create=False, kind="rewrite")
        if ino is None:
            self.present(own)
            return
        own.complete = True
        self.journal.log("rewrite_done", step=own.step, ino=ino)

    def do_truncate(self) -> None:
        """Cut one of our files short: it is corrupt from then on."""
        own = self.pick(lambda o: True)
        if own is None:
            return
        path = self.path(own.step)
        try:
            size = os.lstat(path).st_size
            self.journal.log("truncate", step=own.step, pinned=own.pinned)
            os.truncate(path, int(size * self.rng.uniform(0.0, 0.9)))
        except FileNotFoundError:
            self.present(own)
            return
        own.complete = False

    def do_pin(self) -> None:
        """Pin one of our files; the pin counts only if the file outlived a deletion that
        may already have been under way (checked before the pin existed)."""
        own = self.pick(lambda o: not o.pinned)
        if own is None:
            return
        sidecar = str(self.path(own.step)) + PIN
        self.journal.log("pin", step=own.step)
        os.close(os.open(sidecar, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644))
        time.sleep(0.5)
        try:
            same = os.lstat(self.path(own.step)).st_ino == own.ino
        except FileNotFoundError:
            same = False
        if same:
            own.pinned = True
            return
        self.journal.log("pin_lost", step=own.step)
        os.unlink(sidecar)
        del self.mine[own.step]

    def do_unpin(self) -> None:
        own = self.pick(lambda o: o.pinned)
        if own is None:
            return
        self.journal.log("unpin", step=own.step)
        os.unlink(str(self.path(own.step)) + PIN)
        own.pinned = False

    def do_delete(self) -> None:
        """Delete one of our files, a corrupt one more often than not."""
        corrupt_first = self.rng.random() < 0.6
        own = self.pick(lambda o: not o.complete) if corrupt_first else None
        own = own or self.pick(lambda o: True)
        if own is None:
            return
        self.journal.log("delete", step=own.step, pinned=own.pinned)
        try:
            os.unlink(self.path(own.step))
        except FileNotFoundError:
            self.present(own)
            return
        if own.pinned:
            os.unlink(str(self.path(own.step)) + PIN)
        del self.mine[own.step]


def command(
    *, directory: Path, control: Path, ident: int, seed: int, settle: float, metrics: Path
) -> list[str]:
    """The command line that runs one writer (parsed by `main`)."""
    return [
        *(sys.executable, "-m", __name__, "--dir", str(directory), "--control", str(control)),
        *("--ident", str(ident), "--seed", str(seed), "--settle", str(settle)),
        *("--metrics", str(metrics)),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.soak.writer", description="A soak writer (internal: see bench.soak)."
    )
    parser.add_argument("--dir", type=Path, required=True, help="DIR, or another path to it")
    parser.add_argument("--control", type=Path, required=True, help="the soak's control dir")
    parser.add_argument("--ident", type=int, required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--settle", type=float, required=True)
    parser.add_argument("--metrics", type=Path, required=True, help="the CSV metrics file")
    args = parser.parse_args(argv)
    writer = Writer(args.ident, args.dir, args.control, args.seed, args.settle, args.metrics)
    return writer.run()


if __name__ == "__main__":
    sys.exit(main())
