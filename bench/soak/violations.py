"""The invariants the soak checks, and the violations of them its processes find.

Each process that notices something wrong flags it: writers in the journal, the checker
in its result file, the supervisor in memory. At the end every violation counts once per
thing harmed, whoever noticed it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from bench.soak.journal import now

INVARIANTS = {
    "1": "newest valid checkpoint deleted (not by a writer)",
    "2": "file being written, pinned checkpoint or non-matching file deleted",
    "3": "anything outside DIR changed; symlink or its target touched",
    "4": "complete checkpoint deleted while an older unpinned complete one remained",
    "5": "one of the K newest valid deleted, or end state not the K newest (invalid counted)",
    "6": "prune after the final settle would delete more",
    "7": "daemon exited on its own or printed a Traceback",
    "b": "best checkpoint by the metric deleted after its row was truncated away",
    "x": "corrupt file deleted although space was never short",
}


@dataclass
class Violations:
    """Violations found by one process, in order; with `once`, each one only once."""

    once: bool = False
    found: list[dict[str, Any]] = field(default_factory=list)
    _seen: set[tuple[str, str]] = field(default_factory=set, repr=False)

    def flag(self, invariant: str, kind: str, **detail: Any) -> None:
        """Record that `invariant` was broken: `kind` says how, `detail` where."""
        if self.once:
            key = (invariant, kind + json.dumps(detail, sort_keys=True, default=str))
            if key in self._seen:
                return
            self._seen.add(key)
        self.found.append({"invariant": invariant, "kind": kind, "ts": now(), **detail})


def count(violations: Iterable[dict[str, Any]]) -> dict[str, int]:
    """Per invariant, how many things were harmed (a step, path, canary or daemon log)."""
    subjects: dict[str, set[str]] = {key: set() for key in INVARIANTS}
    for violation in violations:
        subject = next(
            (violation[k] for k in ("step", "path", "what", "log") if k in violation),
            violation["kind"],
        )
        subjects[violation["invariant"]].add(str(subject))
    return {key: len(found) for key, found in subjects.items()}
