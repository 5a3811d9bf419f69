"""What goes into the deletion history: one record per deletion, shortfall and warning.

Records are plain JSON-ready dicts with codes and numbers, never sentences; the face
words them. Time is passed in (wall-clock seconds).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ckptguard.core.decisions import Decision, Notice, Outcome, Plan, ReasonCode, Status

# The reasons a deletion is made for, in the order deletions are carried out.
_DELETING = (
    ReasonCode.CORRUPT_RECLAIM,
    ReasonCode.BEYOND_KEEP,
    ReasonCode.FREE_SPACE,
    ReasonCode.OVER_BUDGET,
)
# Results that are history: what was deleted, and deletions that failed.
RECORDED = (Status.DELETED, Status.FAILED)


def deletion_reason(decision: Decision) -> str:
    """The rule a deletion was made for: the first deletion reason in the order they are
    carried out (corrupt, beyond keep, free space or budget), else its first reason."""
    ranked = sorted(
        (r for r in decision.reasons if r.code in _DELETING),
        key=lambda r: _DELETING.index(r.code),
    )
    chosen = ranked[0] if ranked else (decision.reasons[0] if decision.reasons else None)
    return chosen.code.value if chosen is not None else "unknown"


def deletion_records(outcome: Outcome, now: float) -> list[dict[str, Any]]:
    """One record per checkpoint deleted (or whose deletion failed)."""
    records = []
    for result in outcome.results:
        if result.status not in RECORDED:
            continue
        checkpoint = result.decision.checkpoint
        record: dict[str, Any] = {
            "time": now,
            "dir": outcome.plan.directory,
            "event": result.status.value,
            "checkpoint": checkpoint.name,
            "step": checkpoint.step,
            "size": checkpoint.size,
            "reason": deletion_reason(result.decision),
            "reasons": [r.code.value for r in result.decision.reasons],
        }
        if result.free_after is not None:
            record["free_after"] = result.free_after
        if result.detail:
            record["detail"] = result.detail
        records.append(record)
    return records


def shortfall_record(plan: Plan, now: float) -> dict[str, Any]:
    return {
        "time": now,
        "dir": plan.directory,
        "event": "shortfall",
        "free": plan.disk.free,
        "free_after": plan.free_after,
        "target": plan.target_free,
        "shortfall": plan.shortfall,
    }


def warning_record(
    directory: str, warning: Notice, now: float, *, cleared: bool = False
) -> dict[str, Any]:
    """A warning raised (or, with `cleared`, gone), with its facts."""
    return {
        "time": now,
        "dir": directory,
        "event": "warning_cleared" if cleared else "warning",
        "code": warning.code,
        **{k: list(v) if isinstance(v, tuple) else v for k, v in warning.params},
    }


def select(
    records: Iterable[dict[str, Any]], *, since: float | None = None, directory: str | None = None
) -> list[dict[str, Any]]:
    """Records at or after `since`, of `directory` if given, oldest first."""
    chosen = [
        r
        for r in records
        if isinstance(r.get("time"), (int, float))
        and (since is None or r["time"] >= since)
        and (directory is None or r.get("dir") == directory)
    ]
    return sorted(chosen, key=lambda r: r["time"])
