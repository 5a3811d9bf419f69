"""The journal: one JSON line per writer action, written before the action is taken.

Every line is one write(2) on an O_APPEND descriptor, so lines from several processes
never interleave. Because a writer journals a deletion, truncation or unpin before doing
it, nothing a writer did is ever mistaken for the daemon's doing.
"""

from __future__ import annotations

import bisect
import contextlib
import json
import os
import time
from pathlib import Path
from typing import Any

# Journal lines that are causes (written before the action); the rest are notes after it.
CAUSES = frozenset(
    {
        "create_start",
        "create_bad_start",
        "rewrite_start",
        "truncate",
        "pin",
        "unpin",
        "delete",
        "truncate_metrics",
    }
)
# Causes, and the notes that say a cause has finished or failed.
CAUSES_ALL = CAUSES | {"create_done", "create_bad_done", "rewrite_done", "pin_lost"}


def now() -> float:
    """Wall-clock seconds: the one clock every process of the soak and the daemon share."""
    return time.time()


class Journal:
    """Append-only JSON lines; each line is one write(2) on an O_APPEND descriptor."""

    def __init__(self, path: Path, who: str) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        self.who = who

    def log(self, action: str, **fields: Any) -> None:
        line = json.dumps({"ts": now(), "who": self.who, "action": action, **fields})
        os.write(self.fd, (line + "\n").encode())

    def close(self) -> None:
        os.close(self.fd)


def read_journal(path: Path) -> list[dict[str, Any]]:
    """Every whole line of the journal, in order; a torn last line is skipped."""
    lines = []
    with contextlib.suppress(FileNotFoundError), path.open() as handle:
        for line in handle:
            with contextlib.suppress(ValueError):
                lines.append(json.loads(line))
    return lines


class Completions:
    """When each writer save completed (from the journal): the newest complete step at `t`."""

    def __init__(self, journal: list[dict[str, Any]]) -> None:
        done = sorted(
            (line["ts"], line["step"]) for line in journal if line["action"] == "create_done"
        )
        self.times = [ts for ts, _ in done]
        self.steps = {step for _, step in done}  # every step that was once a complete save
        self.newest: list[int] = []
        for _, step in done:
            self.newest.append(max(step, self.newest[-1] if self.newest else 0))

    def newest_by(self, t: float) -> int:
        index = bisect.bisect_right(self.times, t)
        return self.newest[index - 1] if index else 0
