"""The checker: a process that samples DIR continuously, independently of the daemon.

Every ~10 ms it lists the writers' checkpoints (with its own completeness check, see
`oracle`) and pins, and checks at once that the newest published complete checkpoint is
there (1); every 0.25 s it checks the canaries (2, 3, b). When the supervisor stops it, it
attributes every disappearance it saw (`attribution`) and writes control/checker.json.

Internal: started by the supervisor as `python -m bench.soak.checker ...` (see `command`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from bench.checkpoint_files import name_of
from bench.soak.attribution import Attribution, Run
from bench.soak.journal import now, read_journal
from bench.soak.oracle import Entry, Surveyor
from bench.soak.steps import FIRST_STEP, SharedState
from bench.soak.violations import Violations
from bench.soak.world import canary_problems


class Checker:
    """Samples DIR until control/stop-checker appears; keeps the runs of unchanged state."""

    def __init__(self, directory: Path, control: Path, manifest: dict[str, Any]) -> None:
        self.directory = directory
        self.control = control
        self.manifest = manifest
        self.surveyor = Surveyor()
        self.runs: list[Run] = []
        self.samples = 0
        self.canary_checks = 0
        self.violations = Violations(once=True)

    def run(self) -> None:
        state = SharedState(self.control / "state")
        stop = self.control / "stop-checker"
        dir_fd = os.open(self.directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        next_canaries = 0.0
        try:
            while not stop.exists():
                self.sample(dir_fd, state)
                if time.monotonic() >= next_canaries:
                    for invariant, what in canary_problems(self.manifest):
                        self.violations.flag(invariant, "canary", what=what)
                    self.canary_checks += 1
                    next_canaries = time.monotonic() + 0.25
                time.sleep(0.01)
        finally:
            os.close(dir_fd)

    def sample(self, dir_fd: int, state: SharedState) -> None:
        """One listing of DIR: a new run if anything changed, else the last run extended."""
        start = now()
        entries, pins = self.surveyor.survey(dir_fd)
        end = now()
        self.samples += 1
        last = self.runs[-1] if self.runs else None
        if last is not None and last.entries == entries and last.pins == pins:
            last.last_start = start
        else:
            self.runs.append(Run(start, end, start, entries, pins))
        self.check_newest(dir_fd, state, entries)

    def check_newest(self, dir_fd: int, state: SharedState, entries: dict[int, Entry]) -> None:
        """(1) The newest published complete checkpoint, which no writer touches, is there."""
        newest = state.max_done()
        if newest < FIRST_STEP or newest in entries:
            return
        try:
            os.stat(name_of(newest), dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            if state.max_done() == newest:
                self.violations.flag("1", "newest_missing", step=newest)


def check(directory: Path, control: Path, keep: int) -> None:
    """Sample until stopped, attribute what vanished; the result in control/checker.json."""
    manifest = json.loads((control / "manifest.json").read_text())
    checker = Checker(directory, control, manifest)
    result: dict[str, Any] = {}
    try:
        checker.run()
        journal = read_journal(control / "journal.jsonl")
        result = Attribution(checker.runs, journal, keep, checker.violations).attribute()
    finally:
        result.update(
            samples=checker.samples,
            state_changes=len(checker.runs),
            canary_checks=checker.canary_checks,
            violations=checker.violations.found,
        )
        (control / "checker.json").write_text(json.dumps(result, indent=1))


def command(*, directory: Path, control: Path, keep: int) -> list[str]:
    """The command line that runs the checker (parsed by `main`)."""
    return [
        *(sys.executable, "-m", __name__, "--dir", str(directory)),
        *("--control", str(control), "--keep", str(keep)),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.soak.checker",
        description="The soak checker (internal: see bench.soak).",
    )
    parser.add_argument("--dir", type=Path, required=True, help="DIR")
    parser.add_argument("--control", type=Path, required=True, help="the soak's control dir")
    parser.add_argument("--keep", type=int, required=True, help="the daemon's --keep")
    args = parser.parse_args(argv)
    check(args.dir, args.control, args.keep)
    return 0


if __name__ == "__main__":
    sys.exit(main())
