"""Who removed what: every disappearance the checker saw, set against the writers' journal.

The checker's samples, merged into runs of unchanged state, show when each writer
checkpoint vanished. A disappearance no writer journalled is the daemon's, and is then
judged against invariants 1, 2, 4, 5 and x. The analysis is pure: samples and journal in,
violations out.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Any

from bench.soak.journal import CAUSES_ALL, Completions
from bench.soak.oracle import Entry
from bench.soak.violations import Violations

WINDOW = 3.0  # seconds: longer than any scan-to-unlink of the daemon, used as a margin
BAD_ONLY = frozenset({"create_bad_start", "create_bad_done"})


@dataclass
class Run:
    """Consecutive samples that saw the same state: listed first/last at these times."""

    first_start: float
    first_end: float
    last_start: float
    entries: dict[int, Entry]
    pins: frozenset[int]


class JournalIndex:
    """The journal by step: what writers did to each, when; when steps could count again."""

    def __init__(self, journal: list[dict[str, Any]]) -> None:
        self.by_step: dict[int, list[tuple[float, str]]] = {}
        for line in journal:
            if "step" in line:
                self.by_step.setdefault(line["step"], []).append((line["ts"], line["action"]))
        for acts in self.by_step.values():
            acts.sort()
        # When a step became (again) complete or unpinned: it may count toward keep-N.
        self.revivals = sorted(
            (ts, step)
            for step, acts in self.by_step.items()
            for ts, action in acts
            if action in ("create_done", "rewrite_done", "unpin")
        )
        self.completions = Completions(journal)
        self.removed_by_writer = {
            line["step"]: line["ts"] for line in journal if line["action"] == "delete"
        }

    def actions(self, step: int, lo: float, hi: float) -> set[str]:
        """What writers did to `step` between `lo` and `hi` (causes and their outcomes)."""
        acts = self.by_step.get(step, [])
        first = bisect.bisect_left(acts, (lo, ""))
        return {a for ts, a in acts[first:] if ts <= hi and a in CAUSES_ALL}

    def revived(self, lo: float, hi: float) -> set[int]:
        """Steps made complete or unpinned between `lo` and `hi`."""
        first = bisect.bisect_left(self.revivals, (lo, 0))
        last = bisect.bisect_right(self.revivals, (hi, 2**63))
        return {step for _, step in self.revivals[first:last]}


class Attribution:
    """Attributes every disappearance to a writer or to the daemon, and judges the daemon's."""

    def __init__(
        self, runs: list[Run], journal: list[dict[str, Any]], keep: int, violations: Violations
    ) -> None:
        self.runs = runs
        self.starts = [r.first_start for r in runs]
        self.index = JournalIndex(journal)
        self.keep = keep
        self.flag = violations.flag

    def attribute(self) -> dict[str, Any]:
        """Judge every disappearance no writer journalled; how many there were."""
        daemon_removed = 0
        for previous, current in zip(self.runs, self.runs[1:], strict=False):
            for step in previous.entries.keys() - current.entries.keys():
                hi = current.first_end + 1.0
                if self.index.removed_by_writer.get(step, float("inf")) <= hi:
                    continue
                daemon_removed += 1
                self.judge(step, previous, current, hi)
        return {"daemon_removals_seen": daemon_removed}

    def judge(self, step: int, previous: Run, current: Run, hi: float) -> None:
        """(2, x, 1) The daemon removed `step` between `previous` and `current`."""
        acts = self.index.actions(step, previous.last_start - WINDOW - 1.0, hi)
        complete = previous.entries[step][1]
        pinned = step in previous.pins
        where = {"step": step, "between": [previous.last_start, current.first_start]}
        if pinned and not acts & {"pin", "pin_lost", "unpin", "delete"}:
            self.flag("2", "pinned_deleted", **where)
        if complete is False and not pinned and acts <= BAD_ONLY:
            self.flag("x", "corrupt_deleted", **where, journal=sorted(acts))
        was_complete = complete is True or "create_done" in self.index.actions(step, 0, hi)
        if was_complete and self.index.completions.newest_by(hi) <= step:
            self.flag("1", "newest_deleted", **where)
        if was_complete:
            self.check_order(step, previous, current, hi)
            self.check_keep(step, previous, current, hi)

    def run_before(self, previous: Run) -> Run | None:
        """The state seen longer before `previous` than any scan-to-unlink takes."""
        index = bisect.bisect_left(self.starts, previous.last_start - WINDOW) - 1
        return self.runs[index] if index >= 0 else None

    def check_order(self, step: int, previous: Run, current: Run, hi: float) -> None:
        """(4) No older complete unpinned checkpoint, unchanged throughout, outlived it."""
        base = self.run_before(previous)
        if base is None:
            return
        for older, entry in base.entries.items():
            if older >= step or entry[1] is not True or older in base.pins:
                continue
            if current.entries.get(older) != entry or older in current.pins:
                continue
            if self.index.actions(older, base.first_start - 1.0, hi):
                continue
            self.flag(
                "4",
                "newer_deleted_first",
                step=step,
                older_kept=older,
                between=[previous.last_start, current.first_start],
            )

    def check_keep(self, step: int, previous: Run, current: Run, hi: float) -> None:
        """(5) A complete checkpoint goes only when K newer valid ones exist.

        Counts every newer step that could have been complete and unpinned when the daemon
        looked: so in a sample before (longer ago than any scan-to-unlink), in the last
        sample with it, or made complete or unpinned by a writer meanwhile. Fewer than K
        means something not valid (corrupt, forged, a symlink) was counted as valid.
        """
        base = self.run_before(previous)
        if base is None:
            return
        possible = {
            n
            for run in (base, previous)
            for n, (_, complete) in run.entries.items()
            if n > step and complete is not False and n not in run.pins
        }
        possible |= {n for n in self.index.revived(base.first_start - 1.0, hi) if n > step}
        if len(possible) < self.keep:
            self.flag(
                "5",
                "deleted_within_keep",
                step=step,
                newer_valid_at_most=sorted(possible),
                between=[previous.last_start, current.first_start],
            )
