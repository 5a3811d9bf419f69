"""A directory's status for people: one labelled line per fact."""

from __future__ import annotations

import datetime
from typing import Any

from ckptguard.core.decisions import notice
from ckptguard.core.units import format_age, format_duration, format_size
from ckptguard.face.notice_words import notice_text
from ckptguard.face.observe_words import in_time, rate_text

_LABEL = 14


def to_text(report: dict[str, Any], now: float) -> str:
    status = report["status"]
    lines = [
        ("guard", guard_line(report["guard"])),
        ("checkpoints", checkpoints_line(status["checkpoints"])),
        ("free space", space_line(status)),
        ("saves", saves_line(status["saves"], report["guard"]["running"])),
        ("newest", newest_line(status["newest"], now)),
        ("last deletion", deletion_line(status["last_deletion"], now)),
        ("target fails", prediction_line(status["prediction"], report["guard"]["running"])),
        *(("warning", warning_line(w)) for w in status["warnings"]),
    ]
    body = "\n".join(f"  {label:<{_LABEL}}{text}" for label, text in lines)
    return f"{status['directory']}:\n{body}"


def when(at: float) -> str:
    moment = datetime.datetime.fromtimestamp(at, datetime.timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def guard_line(guard: dict[str, Any]) -> str:
    if not guard["running"]:
        last = guard.get("last")
        gone = f" (the last one, pid {last['pid']}, stopped)" if last else ""
        return f"no guard is running{gone}: computed from the directory now"
    mode = "dry run, deletes nothing" if guard["dry_run"] else "deleting"
    return f"pid {guard['pid']} since {when(guard['since'])}, {mode}"


def checkpoints_line(by_state: dict[str, dict[str, int]]) -> str:
    parts = [
        f"{facts['count']} {state.replace('_', ' ')} ({format_size(facts['bytes'])})"
        for state, facts in by_state.items()
    ]
    return ", ".join(parts) or "none"


def space_line(status: dict[str, Any]) -> str:
    free = f"{format_size(status['free'])} free of {format_size(status['total'])}"
    if status["free_limited_by"] == "quota":
        free += " (quota)"
    short = status["shortfall"]
    tail = f"{format_size(short)} short" if short else "met"
    return f"{free}; target {format_size(status['target_free'])}: {tail}"


def saves_line(saves: dict[str, Any], running: bool) -> str:
    if saves["bytes_per_save"] is None:
        return "none yet"
    interval = saves["median_interval"]
    every = f"every {format_age(interval)} (median)" if interval else "one so far"
    stale = saves["stale_after"]
    late = f"; stale after {format_duration(stale)}" if stale else ""
    seen = f"{saves['seen']} seen, " if running else ""
    return f"{seen}{format_size(saves['bytes_per_save'])} each, {every}{late}"


def newest_line(newest: dict[str, Any] | None, now: float) -> str:
    if newest is None:
        return "no complete checkpoint"
    age = format_age(now - newest["at"])
    return f"step {newest['step']} ({newest['name']}), {age} ago"


def deletion_line(last: dict[str, Any] | None, now: float) -> str:
    if last is None:
        return "none seen"
    what = f"{last['checkpoint']} (step {last['step']}, {format_size(last['size'])})"
    return f"{what} for {last['reason'].replace('_', ' ')}, {format_age(now - last['time'])} ago"


def prediction_line(prediction: dict[str, Any], running: bool) -> str:
    if not running:
        return "unknown: only a running guard sees the disk fill over time"
    if prediction["reason"] == "too_few_samples":
        return "unknown yet: too few looks at the disk"
    rate = prediction["rate"]
    trend = f"shrinking {rate_text(rate)}" if rate > 0 else "not shrinking"
    left = format_size(prediction["headroom"])
    return f"{in_time(prediction['seconds'])} ({left} of headroom, {trend})"


def warning_line(warning: dict[str, Any]) -> str:
    params = {k: tuple(v) if isinstance(v, list) else v for k, v in warning.items()}
    code = str(params.pop("code"))
    return f"{code}: {notice_text(notice(code, **params))}"
