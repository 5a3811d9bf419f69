"""The end of a soak, writers stopped and one daemon left running: settle, then prune.

(5) K+2 more saves, then forged broken "newest" files: once the daemon has settled, the
complete unpinned checkpoints left must be exactly the K newest saves, and everything else
(pinned, corrupt, forged) untouched. (6) A `prune` preview then plans no deletion.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.checkpoint_files import name_of
from bench.soak.guard import Guard
from bench.soak.journal import Journal
from bench.soak.oracle import Entry, survey
from bench.soak.saves import keras_bytes
from bench.soak.steps import SharedState
from bench.soak.violations import Violations


def complete_unpinned(entries: dict[int, Entry], pins: frozenset[int]) -> list[int]:
    return sorted(s for s, (_, complete) in entries.items() if complete is True and s not in pins)


@dataclass
class FinalChecks:
    guard: Guard
    control: Path
    rng: random.Random
    violations: Violations

    def settle(self) -> dict[str, Any]:
        """(5) With the writers stopped, save K+2 more checkpoints, then forge broken newer
        ones; the complete unpinned ones left must be the K newest of those saves."""
        flag = self.violations.flag
        entries, pins = survey(self.guard.directory)
        at_stop = complete_unpinned(entries, pins)
        others = {s: e for s, e in entries.items() if s not in at_stop}
        fresh, forged = self.save_more()
        expected = fresh[-self.guard.keep :]
        left, current = self.wait_for(expected)
        if left != expected:
            flag("5", "end_state", expected=expected, left=left, complete_at_stop=at_stop)
        if fresh[-1] not in current:
            flag("5", "newest_missing_at_end", step=fresh[-1])
        for step in forged:
            if step not in current:
                flag("x", "forged_deleted", step=step)
        for step, entry in others.items():
            if current.get(step) != entry:
                invariant = "2" if step in pins else "x"
                flag(invariant, "missing_at_end", step=step, pinned=step in pins)
        return {
            "complete_at_stop": len(at_stop),
            "saved_after_stop": len(fresh),
            "forged_after_stop": len(forged),
            "complete_left": len(left),
            "other_files_left": len(others),
        }

    def save_more(self) -> tuple[list[int], dict[int, bytes]]:
        """K+2 complete saves, then four broken newer files; journalled as "main"."""
        state = SharedState(self.control / "state")
        journal = Journal(self.control / "journal.jsonl", "main")
        fresh: list[int] = []
        forged: dict[int, bytes] = {}
        try:
            for _ in range(self.guard.keep + 2):
                step = state.take_step()
                journal.log("create_start", step=step)
                self.write(step, keras_bytes(self.rng, 20_000))
                journal.log("create_done", step=step)
                state.publish(step)
                fresh.append(step)
            whole = keras_bytes(self.rng, 20_000)
            broken = (
                b"",
                whole[: len(whole) // 2],
                keras_bytes(self.rng, 2000, model=False),
                self.rng.randbytes(5000),
            )
            for data in broken:
                step = state.take_step()
                journal.log("create_bad_start", step=step)
                self.write(step, data)
                journal.log("create_bad_done", step=step)
                forged[step] = data
        finally:
            journal.close()
        return fresh, forged

    def write(self, step: int, data: bytes) -> None:
        (self.guard.directory / name_of(step)).write_bytes(data)

    def wait_for(self, expected: list[int]) -> tuple[list[int], dict[int, Entry]]:
        """Wait (up to 30 s) until the complete unpinned checkpoints are `expected`, then past
        the settle window; those left then, and all entries."""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and self.left()[0] != expected:
            time.sleep(0.1)
        time.sleep(max(2.0, self.guard.settle + 0.5))  # let anything late land
        return self.left()

    def left(self) -> tuple[list[int], dict[int, Entry]]:
        """The complete unpinned checkpoints in DIR, and all its writer entries."""
        current, pins = survey(self.guard.directory)
        return complete_unpinned(current, pins), current

    def prune_preview(self) -> int:
        """(6) Re-planning right after the daemon settled deletes nothing more."""
        result = self.guard.prune_preview()
        if result.returncode != 0:
            self.violations.flag(
                "6", "prune_failed", returncode=result.returncode, stderr=result.stderr
            )
            return -1
        document = json.loads(result.stdout)
        planned = [e["path"] for e in document["entries"] if e["action"] == "delete"]
        for path in planned:
            self.violations.flag("6", "would_delete", path=path)
        return len(planned)
