"""What every daemon's JSON log says: event counts, and the checks that need its timestamps.

A Traceback anywhere breaks invariant 7. Each `deleted` event must name a writer checkpoint
directly in DIR (3: not outside, not a symlink; 2: not a canary or pin), and none that was
then the newest complete save (1).
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from bench import harness
from bench.soak.journal import Completions
from bench.soak.steps import writer_step
from bench.soak.violations import Violations


def check_daemon_logs(
    daemons: Iterable[harness.Daemon],
    *,
    guarded: Path,
    journal: list[dict[str, Any]],
    manifest: dict[str, Any],
    violations: Violations,
) -> dict[str, Any]:
    """Counts from every daemon's JSON log; what is wrong in them flagged."""
    events: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    completions = Completions(journal)
    non_json = 0
    for daemon in daemons:
        for raw in daemon.log_text().splitlines():
            if "Traceback" in raw:
                violations.flag("7", "traceback", log=daemon.log_path.name, line=raw[:300])
            try:
                record = json.loads(raw)
            except ValueError:
                non_json += 1
                continue
            event = record.get("event", "?")
            events[event] += 1
            if event == "deleted":
                reasons.update(record.get("reasons", []))
                check_deletion(record, guarded, manifest, completions, violations)
    return {"events": dict(events), "deleted_reasons": dict(reasons), "non_json_lines": non_json}


def check_deletion(
    record: dict[str, Any],
    guarded: Path,
    manifest: dict[str, Any],
    completions: Completions,
    violations: Violations,
) -> None:
    """(3, 2, 1) One `deleted` event: where, what, and whether it was the newest save."""
    path, step = record["path"], record["step"]
    name = os.path.basename(path)
    if os.path.dirname(path) != str(guarded) or name in manifest["symlinks"]:
        violations.flag("3", "deleted_outside_or_symlink", path=path)
    elif writer_step(name) != step:
        violations.flag("2", "deleted_canary_or_pinned", path=path)
    when = dt.datetime.fromisoformat(record["timestamp"].replace("Z", "+00:00"))
    newest = completions.newest_by(when.timestamp() + 0.5)
    if step in completions.steps and newest <= step:
        violations.flag("1", "deleted_newest_logged", path=path, timestamp=record["timestamp"])
