"""A directory's status for people: one labelled line per fact."""

from __future__ import annotations

import datetime
from typing import Any

from ckptguard.core.decisions import notice
from ckptguard.core.units import format_age, format_duration, format_size
from ckptguard.face.notice_words import notice_text
from ckptguard.face.observe_words import in_time, rate_text
from ckptguard.store.remote.location import is_remote

_LABEL = 14


def to_text(report: dict[str, Any], now: float) -> str:
    status, guard = report["status"], report["guard"]
    lines = [("guard", guard_line(guard))]
    if guard.get("lease") is not None:
        lines.append(("lease", lease_line(guard["lease"], now)))
    if status is None:
        lines.append(("checkpoints", "not looked at yet (the guard's log says why)"))
    else:
        lines += status_lines(status, now, running=guard["running"])
    body = "\n".join(f"  {label:<{_LABEL}}{text}" for label, text in lines)
    return f"{report['directory']}:\n{body}"


def status_lines(status: dict[str, Any], now: float, *, running: bool) -> list[tuple[str, str]]:
    # An object store has no free space: no target to keep, and none to fail.
    disk = not is_remote(status["directory"])
    return [
        ("checkpoints", checkpoints_line(status["checkpoints"])),
        ("free space", space_line(status) if disk else "object storage, no free-space target"),
        ("saves", saves_line(status["saves"], running)),
        ("newest", newest_line(status["newest"], now)),
        ("last deletion", deletion_line(status["last_deletion"], now)),
        *([("target fails", prediction_line(status["prediction"], running))] if disk else []),
        *(("warning", warning_line(w)) for w in status["warnings"]),
    ]


def when(at: float) -> str:
    moment = datetime.datetime.fromtimestamp(at, datetime.timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def guard_line(guard: dict[str, Any]) -> str:
    if not guard["running"]:
        last = guard.get("last")
        gone = f" (the last one, pid {last['pid']}, stopped)" if last else ""
        return f"no guard is running{gone}: computed from the directory now"
    lease = guard.get("lease")
    if guard["dry_run"]:
        mode = "dry run, deletes nothing"
    elif lease is None or lease["role"] == "holder":
        mode = "deleting"
    else:
        mode = "deleting only while it holds the lease"
    return f"pid {guard['pid']} since {when(guard['since'])}, {mode}"


def lease_line(lease: dict[str, Any], now: float) -> str:
    """Who deletes, of the guards electing one through this lease, as this guard sees it."""
    role = lease["role"]
    if role == "unknown":
        return f"not known yet: no look at {lease['lease']} has succeeded"
    holder = holder_text(lease["holder"])
    since = "" if lease["since"] is None else f" since {when(lease['since'])}"
    left = lease["expires"] - now
    runs = f"runs out in {format_age(left)}" if left >= 0 else f"ran out {format_age(-left)} ago"
    if role == "holder":
        return f"held by this guard ({holder}){since}, deleting; {runs} unless renewed"
    if role == "lapsed":
        return f"held by this guard ({holder}){since}, not renewed in time: deleting nothing"
    return f"{holder} holds it{since}; this guard stands by, planning only; {runs} unless renewed"


def holder_text(holder: dict[str, Any]) -> str:
    if holder["host"] is None or holder["pid"] is None:
        return f"{holder['name']!r}"
    return f"{holder['host']} pid {holder['pid']}"


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
