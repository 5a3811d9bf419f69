"""The audit table for people: one row per entry, and the summary lines under it."""

from __future__ import annotations

import os
from typing import Any

from ckptguard.core.decisions import Outcome, Plan, Result, Status
from ckptguard.core.model import Unit
from ckptguard.core.units import format_age, format_size
from ckptguard.face.render import FLAG_WORDS, entry_rows, summary
from ckptguard.face.words import Words, rule_of

_HEADER = ("STEP", "CHECKPOINT", "SIZE", "AGE", "STATE", "ACTION", "REASONS")


def to_table(outcome: Outcome, now: float, words: Words = FLAG_WORDS) -> str:
    """The audit table and its summary lines for one directory."""
    plan = outcome.plan
    several = len(plan.runs) > 1
    yielding = _kinds_in_use(plan) > 1
    header = _header(plan.metric, several=several, yielding=yielding)
    rows = [
        _cells(entry, plan, several=several, yielding=yielding)
        for entry in entry_rows(outcome, now, words)
    ]
    lines = [f"{plan.directory}:"]
    if plan.metric is not None:
        better = "lower" if plan.metric_mode == "min" else "higher"
        lines.append(f"  ranked by {plan.metric} ({plan.metric_mode}: {better} is better)")
    lines.extend(_aligned(header, rows) if rows else ["  no entries match the pattern"])
    lines.append("  " + _summary_line(outcome, words))
    if yielding:
        lines.append(f"  {words.give_way(plan)} (GIVES WAY: 1 goes first)")
    lines.extend(f"  WARNING: {words.notice(warning)}" for warning in plan.warnings)
    return "\n".join(lines)


def _header(metric: str | None, *, several: bool, yielding: bool) -> tuple[str, ...]:
    """The columns: RUN with several runs, the metric's with one, GIVES WAY when kinds of
    keep rule give way in an order."""
    header = _HEADER if metric is None else (*_HEADER[:5], metric.upper(), *_HEADER[5:])
    if several:
        header = ("RUN", *header)
    if yielding:
        header = (*header[:-1], "GIVES WAY", header[-1])
    return header


def _cells(entry: dict[str, Any], plan: Plan, *, several: bool, yielding: bool) -> tuple[str, ...]:
    """One entry's row, in the columns `_header` gives."""
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
    return tuple(cells)


def _aligned(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    """The header and rows in columns as wide as their widest cell (the last one free)."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header) - 1)]
    lines = []
    for line in [header, *rows]:
        padded = [cell.ljust(width) for cell, width in zip(line, widths, strict=False)]
        lines.append("  " + "  ".join([*padded, line[-1]]).rstrip())
    return lines


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
