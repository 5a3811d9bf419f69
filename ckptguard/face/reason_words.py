"""Reasons in words: why each checkpoint is kept or deleted.

The core decides with codes and facts; this is the one place that words its reasons
(`notice_words` words its notices), naming each option as the user set it (`Spelling`).
"""

from __future__ import annotations

import datetime
from collections.abc import Callable

from ckptguard.core.decisions import Notice, Reason, ReasonCode
from ckptguard.core.units import format_age, format_duration, format_size
from ckptguard.face.spelling import FLAGS, Spelling


def reason_text(reason: Reason, spelling: Spelling = FLAGS) -> str:
    return _REASONS[reason.code](reason, spelling)


def _newest(keep: int, spelling: Spelling) -> str:
    if keep == 1:
        return f"newest valid checkpoint ({spelling.option('keep', keep)})"
    return f"{keep} newest valid checkpoints"


def _of_run(reason: Reason) -> str:
    return " of its run" if reason.get("of_run") else ""


def _newest_n(r: Reason, s: Spelling) -> str:
    return f"last {r['keep']}{_of_run(r)}"


def _beyond(r: Reason, s: Spelling) -> str:
    timed = [f"{name} {r.get(name)}" for name in ("hourly", "daily", "weekly") if r.get(name)]
    if r.get("within") is not None:
        timed.insert(0, f"within {format_duration(r['within'])}")
    if not timed:
        return f"older than the {_newest(r['keep'], s)}{_of_run(r)}"
    rules = [f"last {r['keep']}{_of_run(r)}", *timed]
    return f"kept by no rule ({', '.join(rules)})"


def period_label(period: str, key: int) -> str:
    """The local hour, day or ISO week a period key stands for (see `time_rules`)."""
    if period == "hourly":
        start = datetime.datetime(1970, 1, 1) + datetime.timedelta(hours=key)
        return start.strftime("%Y-%m-%d %H:00")
    if period == "daily":
        return (datetime.date(1970, 1, 1) + datetime.timedelta(days=key)).isoformat()
    monday = datetime.date(1970, 1, 1) + datetime.timedelta(days=key * 7 - 3)
    year, week, _ = monday.isocalendar()
    return f"{year}-W{week:02d}"


def _tier(r: Reason, s: Spelling) -> str:
    until = r.get("until")
    return f"tier every {r['every']}" + ("" if until is None else f" until {until}")


def budget_name(r: Reason | Notice, s: Spelling) -> str:
    """A size budget as its reason or notice names it: a group's, or the option's."""
    limit = format_size(r["limit"])
    if r.get("group") is not None:
        return f"the {limit} budget of group {r['group']!r}"
    return f"the {limit} budget ({s.option('max_size', r['limit'])})"


def _over_budget(r: Reason, s: Spelling) -> str:
    what = "corrupt, and over" if r["corrupt"] else "over"
    text = f"{what} {budget_name(r, s)}: frees {format_size(r['frees'])} of it"
    if r["overrides"]:
        text += f" (overrides {' and '.join(s.name(o) for o in r['overrides'])})"
    return text


def _in_progress(r: Reason, s: Spelling) -> str:
    if r["why"] == "writing":
        return "being written: held open for writing"
    quiet = format_age(r["quiet"])
    if r["why"] == "quiet_save":
        return (
            "being written: not complete yet, newer than every complete checkpoint "
            f"(quiet for {quiet}; a {r['unit']} save may pause between files)"
        )
    what = "recently modified" if r["complete_so_far"] else "not a complete checkpoint yet"
    seen = f"unchanged for {quiet}" if r["watched"] else f"modified {quiet} ago"
    return f"being written: {what}, {seen} (settle window {r['settle']:g}s)"


def _ignored(r: Reason, s: Spelling) -> str:
    if r["why"] == "unreadable":
        return "unreadable to ckptguard: cannot be verified, so never counted or deleted"
    return f"not a {r['expected']} ({r['kind']}): never followed, counted or deleted"


def _short(r: Reason | Notice, s: Spelling) -> str:
    target = format_size(r["target"])
    return f"free space below the {target} target ({s.option('min_free', r['min_free'])})"


def _min_keep(r: Reason, s: Spelling) -> str:
    floor = "the current run's " if r["current_run"] else "the "
    pressure = f"over {budget_name(r, s)}" if r.get("pressure") == "budget" else _short(r, s)
    return f"kept by {floor}{s.option('min_keep', r['min_keep'])} floor although {pressure}"


def _for_space(r: Reason, s: Spelling) -> str:
    short = _short(r, s)
    if r.get("ahead"):
        short += " once the save in progress completes"
    text = f"{short}: frees {format_size(r['frees'])}"
    if r["overrides"]:
        text += f" (overrides {' and '.join(s.name(o) for o in r['overrides'])})"
    return text


def _best(r: Reason, s: Spelling) -> str:
    better = "lower" if r["mode"] == "min" else "higher"
    return f"best {r['metric']} #{r['rank']} of {r['of']} ({r['value']:g}, {better} is better)"


def _nothing(r: Reason, s: Spelling) -> str:
    why = "other hard links keep its data" if r["linked"] else "it occupies no space"
    return f"{why}: deleting it would free nothing"


def _earlier_run(r: Reason, s: Spelling) -> str:
    return (
        f"earlier run (steps {r['first']}\u2013{r['last']}, last saved {format_age(r['age'])} ago)"
    )


_REASONS: dict[ReasonCode, Callable[[Reason, Spelling], str]] = {
    ReasonCode.POINTER: lambda r, s: f"named by the pointer file {r['pointer']}: never deleted",
    ReasonCode.NEWEST_VALID: lambda r, s: (
        "newest valid checkpoint: never deleted"
        if r["scope"] == "step"
        else "newest checkpoint of the current run (the run written last): never deleted"
    ),
    ReasonCode.NEWEST_N: _newest_n,
    ReasonCode.MILESTONE: _tier,
    ReasonCode.WITHIN: lambda r, s: f"within {format_duration(r['within'])}",
    ReasonCode.PERIOD: lambda r, s: f"{r['period']} {period_label(r['period'], r['key'])}",
    ReasonCode.OVER_BUDGET: _over_budget,
    ReasonCode.BEST: _best,
    ReasonCode.PINNED: lambda r, s: f"pinned by {r['pin']}: never deleted",
    ReasonCode.IN_PROGRESS: _in_progress,
    ReasonCode.IGNORED: _ignored,
    ReasonCode.CORRUPT_LEFT: lambda r, s: (
        "incomplete, corrupt or truncated: never counted as a checkpoint; deleted only when "
        "space is needed"
    ),
    ReasonCode.MIN_KEEP: _min_keep,
    ReasonCode.OPEN_ELSEWHERE: lambda r, s: (
        f"held open by pid {', '.join(str(p) for p in r['pids'])}: deleting it would free "
        "nothing until closed"
    ),
    ReasonCode.NOTHING_TO_FREE: _nothing,
    ReasonCode.BEYOND_KEEP: _beyond,
    ReasonCode.FREE_SPACE: _for_space,
    ReasonCode.CORRUPT_RECLAIM: _for_space,
    ReasonCode.EARLIER_RUN: _earlier_run,
    ReasonCode.CHECK_SUSPECT: lambda r, s: (
        "fails the completeness check like every entry here: kept whatever the space "
        "pressure, since the check may be wrong"
    ),
}
