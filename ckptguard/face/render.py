"""Rendering plans and outcomes for people (a table) and for scripts (JSON)."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any

from ckptguard.core.decisions import Action, Outcome, Plan, Result, Status
from ckptguard.core.model import Unit
from ckptguard.core.planner import age_of
from ckptguard.core.units import format_age, format_size
from ckptguard.face.words import Words, rule_of

FLAG_WORDS = Words()

_HEADER = ("STEP", "CHECKPOINT", "SIZE", "AGE", "STATE", "ACTION", "REASONS")


def entry_rows(outcome: Outcome, now: float, words: Words = FLAG_WORDS) -> list[dict[str, Any]]:
    """One dict per matching entry: the JSON entries, also the source of the table rows."""
    results = {id(r.decision): r for r in outcome.results}
    rows = []
    for decision in outcome.plan.decisions:
        checkpoint = decision.checkpoint
        result = results.get(id(decision))
        row: dict[str, Any] = {
            "step": checkpoint.step,
            "path": os.path.join(outcome.plan.directory, checkpoint.name),
            "size": checkpoint.size,
            "age_seconds": round(age_of(checkpoint, now), 3),
            "state": decision.state.value,
            "action": decision.action.value,
            "reasons": [words.reason(r) for r in decision.reasons],
            "reason_codes": [r.code.value for r in decision.reasons],
        }
        if checkpoint.unit is not Unit.FILE:
            row["unit"] = checkpoint.unit.value
        if checkpoint.parts:
            row["parts"] = [p.name for p in checkpoint.parts]
        if checkpoint.protected_by is not None:
            row["protected_by"] = checkpoint.protected_by
        if checkpoint.metrics:
            row["metrics"] = {k: _json_number(v) for k, v in checkpoint.metrics}
            row["metric_sources"] = {k: s.value for k, s in checkpoint.metric_sources}
        kept_by = [rule for rule in (rule_of(r) for r in decision.reasons) if rule is not None]
        if kept_by and decision.action is Action.KEEP:
            row["kept_by"] = kept_by
        if decision.gives_way is not None:
            row["gives_way"] = decision.gives_way
        if decision.rank is not None:
            row["rank"] = decision.rank
        if decision.run is not None:
            row["run"] = decision.run
        if result is not None:
            row["result"] = result.status.value
            if result.detail:
                row["detail"] = result.detail
        rows.append(row)
    return rows


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


def to_table(outcome: Outcome, now: float, words: Words = FLAG_WORDS) -> str:
    """The audit table and its summary lines for one directory."""
    plan = outcome.plan
    header = _HEADER if plan.metric is None else (*_HEADER[:5], plan.metric.upper(), *_HEADER[5:])
    several = len(plan.runs) > 1
    if several:
        header = ("RUN", *header)
    yielding = _kinds_in_use(plan) > 1
    if yielding:
        header = (*header[:-1], "GIVES WAY", header[-1])
    rows: list[tuple[str, ...]] = []
    for entry in entry_rows(outcome, now, words):
        cells = [
            str(entry["step"]),
            _shown_name(entry),
            format_size(entry["size"]),
            format_age(entry["age_seconds"]),
            entry["state"],
            _action_cell(entry),
            "; ".join(entry["reasons"]),
        ]
        if plan.metric is not None:
            cells.insert(5, _metric_cell(entry, plan.metric))
        if several:
            cells.insert(0, _run_cell(entry, len(plan.runs)))
        if yielding:
            cells.insert(-1, str(entry.get("gives_way", "-")))
        rows.append(tuple(cells))
    lines = [f"{plan.directory}:"]
    if plan.metric is not None:
        better = "lower" if plan.metric_mode == "min" else "higher"
        lines.append(f"  ranked by {plan.metric} ({plan.metric_mode}: {better} is better)")
    if rows:
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header) - 1)]
        for line in [header, *rows]:
            padded = [cell.ljust(width) for cell, width in zip(line, widths, strict=False)]
            lines.append("  " + "  ".join([*padded, line[-1]]).rstrip())
    else:
        lines.append("  no entries match the pattern")
    lines.append("  " + _summary_line(outcome, words))
    if yielding:
        lines.append(f"  {words.give_way(plan)} (GIVES WAY: 1 goes first)")
    lines.extend(f"  WARNING: {words.notice(warning)}" for warning in plan.warnings)
    return "\n".join(lines)


def _run_cell(row: dict[str, Any], current: int) -> str:
    run = row.get("run")
    if run is None:
        return "-"
    return f"{run} (current)" if run == current else str(run)


def _shown_name(row: dict[str, Any]) -> str:
    """A directory ends in `/`; a group shows its stem and how many files it has."""
    name = os.path.basename(str(row["path"]))
    if row.get("unit") == Unit.DIRECTORY.value:
        return name + "/"
    if row.get("unit") == Unit.GROUP.value:
        count = len(row.get("parts", []))
        return f"{name}.* ({count} file{'s' if count != 1 else ''})"
    return name


def _metric_cell(row: dict[str, Any], metric: str) -> str:
    value = row.get("metrics", {}).get(metric)
    if value is None:
        return "-"
    shown = value if isinstance(value, str) else f"{value:g}"
    notes = [f"#{row['rank']}"] if row.get("rank") is not None else []
    source = row.get("metric_sources", {}).get(metric)
    if source is not None:
        notes.append(source)
    return f"{shown} ({', '.join(notes)})" if notes else shown


def _action_cell(row: dict[str, Any]) -> str:
    result = row.get("result")
    if result in (None, Status.WOULD_DELETE.value):
        return str(row["action"])
    return str(result)


def _summary_line(outcome: Outcome, words: Words) -> str:
    plan = outcome.plan
    facts = summary(outcome, words)
    audit = not outcome.results or bool(outcome.with_status(Status.WOULD_DELETE))
    verb = "to delete" if audit else "deleted"
    text = (
        f"{facts['checkpoints']} entries: {facts['kept']} kept, {facts['delete']} {verb} "
        f"({format_size(facts['bytes_freed'])}); {_space_note(plan, facts)}"
    )
    for use in plan.budgets:
        whose = f"group {use.group!r}" if use.group is not None else "checkpoints"
        text += (
            f"; {whose} take {format_size(use.used)} now, {format_size(use.after)} after "
            f"(budget {format_size(use.limit)})"
        )
    problems = [r for r in outcome.results if r.status in (Status.FAILED, Status.SKIPPED)]
    if problems:
        text += "; " + "; ".join(_problem(r) for r in problems)
    return text


def _kinds_in_use(plan: Plan) -> int:
    """How many kinds of keep rule keep what pressure could take: with one, the order is
    simply oldest first and needs no column."""
    return len(
        {
            rule["rule"]
            for d in plan.decisions
            if d.gives_way is not None
            for rule in (rule_of(r) for r in d.reasons)
            if rule is not None
        }
    )


def _space_note(plan: Plan, facts: dict[str, Any]) -> str:
    """Free space now and after, against its target; an object store has none to speak of
    (store.remote's NO_DISK)."""
    if plan.disk.total == 0 and plan.target_free == 0:
        return "object storage, no free-space target"
    return (
        f"free space {format_size(plan.disk.free)} now{_quota_note(plan)}, "
        f"{format_size(facts['free_after'])} after (target {format_size(plan.target_free)})"
    )


def _quota_note(plan: Plan) -> str:
    """Which limit binds, when a quota leaves the writer less than the filesystem does."""
    disk = plan.disk
    if not disk.bound_by_quota or disk.quota is None or disk.fs_free is None:
        return ""
    quota = disk.quota
    return (
        f" (the {quota.kind} quota of {quota.id} binds: {format_size(quota.free)} of "
        f"{format_size(quota.limit)} left; the filesystem has {format_size(disk.fs_free)})"
    )


def _problem(result: Result) -> str:
    return f"{result.decision.checkpoint.name} {result.status.value}: {result.detail}"
