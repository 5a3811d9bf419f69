"""Rendering plans and outcomes for scripts (JSON): the entries and each directory's summary.

The table for people (`table`) is made from the same entries and summary.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any

from ckptguard.core.decisions import Action, Decision, Outcome, Plan, Result, Status
from ckptguard.core.model import Checkpoint, Unit
from ckptguard.core.planner import age_of
from ckptguard.face.words import Words, rule_of

FLAG_WORDS = Words()


def entry_rows(outcome: Outcome, now: float, words: Words = FLAG_WORDS) -> list[dict[str, Any]]:
    """One dict per matching entry: the JSON entries, also the source of the table rows."""
    results = {id(r.decision): r for r in outcome.results}
    directory = outcome.plan.directory
    return [
        _entry_row(decision, results.get(id(decision)), directory, now, words)
        for decision in outcome.plan.decisions
    ]


def _entry_row(
    decision: Decision, result: Result | None, directory: str, now: float, words: Words
) -> dict[str, Any]:
    """One entry: the checkpoint, what was decided and why, and what came of it."""
    checkpoint = decision.checkpoint
    row: dict[str, Any] = {
        "step": checkpoint.step,
        "path": os.path.join(directory, checkpoint.name),
        "size": checkpoint.size,
        "age_seconds": round(age_of(checkpoint, now), 3),
        "state": decision.state.value,
        "action": decision.action.value,
        "reasons": [words.reason(r) for r in decision.reasons],
        "reason_codes": [r.code.value for r in decision.reasons],
        **_checkpoint_facts(checkpoint),
        **_decision_facts(decision),
    }
    if result is not None:
        row["result"] = result.status.value
        if result.detail:
            row["detail"] = result.detail
    return row


def _checkpoint_facts(checkpoint: Checkpoint) -> dict[str, Any]:
    """What only some checkpoints have: a unit other than a file, parts, a pointer file
    that names it, metric values."""
    facts: dict[str, Any] = {}
    if checkpoint.unit is not Unit.FILE:
        facts["unit"] = checkpoint.unit.value
    if checkpoint.parts:
        facts["parts"] = [p.name for p in checkpoint.parts]
    if checkpoint.protected_by is not None:
        facts["protected_by"] = checkpoint.protected_by
    if checkpoint.metrics:
        facts["metrics"] = {k: _json_number(v) for k, v in checkpoint.metrics}
        facts["metric_sources"] = {k: s.value for k, s in checkpoint.metric_sources}
    return facts


def _decision_facts(decision: Decision) -> dict[str, Any]:
    """What only some decisions have: the keep rules, the give-way place, a rank, a run."""
    facts: dict[str, Any] = {}
    kept_by = [rule for rule in (rule_of(r) for r in decision.reasons) if rule is not None]
    if kept_by and decision.action is Action.KEEP:
        facts["kept_by"] = kept_by
    if decision.gives_way is not None:
        facts["gives_way"] = decision.gives_way
    if decision.rank is not None:
        facts["rank"] = decision.rank
    if decision.run is not None:
        facts["run"] = decision.run
    return facts


def _json_number(value: float) -> float | str:
    """JSON has no NaN or infinity: those are written as the strings "nan", "inf", "-inf"."""
    return value if math.isfinite(value) else str(value)


def summary(outcome: Outcome, words: Words = FLAG_WORDS) -> dict[str, Any]:
    plan = outcome.plan
    counted = {status.value: len(outcome.with_status(status)) for status in Status}
    done = _carried_out(outcome)
    freed = sum(r.decision.checkpoint.reclaimable for r in done)
    return {
        "directory": plan.directory,
        "checkpoints": len(plan.decisions),
        "kept": len(plan.decisions) - len(done),
        "delete": len(done),
        "bytes_freed": freed,
        "free_now": plan.disk.free,
        "free_after": plan.disk.free + freed,
        "target_free": plan.target_free,
        "shortfall": plan.shortfall,
        "warnings": [words.notice(n) for n in plan.warnings],
        "metric": plan.metric,
        "metric_mode": plan.metric_mode if plan.metric else None,
        "runs": [
            {
                "run": run.index,
                "first_step": run.first_step,
                "last_step": run.last_step,
                "checkpoints": run.count,
                "last_saved": run.last_write_ns / 1e9,
                "current": run.index == len(plan.runs),
            }
            for run in plan.runs
        ],
        "results": {k: v for k, v in counted.items() if v},
        **disk_facts(plan),
        "budgets": [
            {"limit": b.limit, "used": b.used, "after": b.after, "group": b.group}
            for b in plan.budgets
        ],
        "give_way": words.give_way(plan),
    }


def disk_facts(plan: Plan) -> dict[str, Any]:
    """What limits the writer's free space: the filesystem, or a quota that leaves less."""
    disk = plan.disk
    facts: dict[str, Any] = {"free_limited_by": "quota" if disk.bound_by_quota else "filesystem"}
    if disk.fs_free is not None:
        facts["filesystem_free"] = disk.fs_free
    if disk.quota is not None:
        quota = disk.quota
        facts["quota"] = {
            "kind": quota.kind,
            "id": quota.id,
            "limit": quota.limit,
            "used": quota.used,
            "free": quota.free,
        }
    return facts


def _carried_out(outcome: Outcome) -> tuple[Result, ...]:
    """The deletions that happened, or in an audit would happen: not the skipped or failed."""
    return tuple(r for r in outcome.results if r.status in (Status.DELETED, Status.WOULD_DELETE))


def to_json(
    outcomes: list[Outcome], now: float, words: Sequence[Words] | None = None
) -> dict[str, Any]:
    """The `--json` document: every entry of every directory, and totals."""
    spoken = list(words) if words is not None else [FLAG_WORDS] * len(outcomes)
    per_dir = [summary(o, w) for o, w in zip(outcomes, spoken, strict=True)]
    totals = {
        key: sum(s[key] for s in per_dir)
        for key in ("checkpoints", "kept", "delete", "bytes_freed", "shortfall")
    }
    return {
        "entries": [
            row for o, w in zip(outcomes, spoken, strict=True) for row in entry_rows(o, now, w)
        ],
        "summary": {**totals, "directories": per_dir},
    }
