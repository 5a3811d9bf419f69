"""Reasons and notices in words, naming each option the way the user set it.

The core decides with codes and facts; this is the one place that words them. An option
given on the command line reads `--min-keep 2`; one from the config file reads
`min_keep = 2`; one left at its default reads like the flag that would change it.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ckptguard.core.decisions import Notice, Plan, Reason, ReasonCode
from ckptguard.core.planner.yields import GIVE_WAY, kind_of_reason
from ckptguard.core.units import format_age, format_duration, format_size
from ckptguard.face.observe_words import NOTICES as OBSERVE_NOTICES
from ckptguard.service.settings import GuardSpec

FROM_FILE = "file"


@dataclass(frozen=True)
class Spelling:
    """Where each option was set ("flag" or "file") and its value as the user wrote it."""

    given: Mapping[str, tuple[str, str]] = field(default_factory=dict)

    def name(self, option: str) -> str:
        where = self.given.get(option, ("flag", ""))[0]
        return option if where == FROM_FILE else "--" + option.replace("_", "-")

    def option(self, option: str, value: object) -> str:
        where, text = self.given.get(option, ("flag", str(value)))
        if where == FROM_FILE:
            return f"{option} = {_toml(text)}"
        return f"{self.name(option)} {text}"


FLAGS = Spelling()


def _toml(text: str) -> str:
    return text if text.replace(".", "", 1).isdigit() else f'"{text}"'


def reason_text(reason: Reason, spelling: Spelling = FLAGS) -> str:
    return _REASONS[reason.code](reason, spelling)


def notice_text(notice: Notice, spelling: Spelling = FLAGS) -> str:
    return _NOTICES[notice.code](notice, spelling)


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


def _budget_name(r: Reason | Notice, s: Spelling) -> str:
    limit = format_size(r["limit"])
    if r.get("group") is not None:
        return f"the {limit} budget of group {r['group']!r}"
    return f"the {limit} budget ({s.option('max_size', r['limit'])})"


def _over_budget(r: Reason, s: Spelling) -> str:
    what = "corrupt, and over" if r["corrupt"] else "over"
    text = f"{what} {_budget_name(r, s)}: frees {format_size(r['frees'])} of it"
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
    pressure = f"over {_budget_name(r, s)}" if r.get("pressure") == "budget" else _short(r, s)
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


def _shortfall(n: Notice, s: Spelling) -> str:
    return (
        f"free-space target {format_size(n['target'])} ({s.option('min_free', n['min_free'])}) "
        f"cannot be met: {format_size(n['shortfall'])} short after every deletion that "
        f"{s.option('min_keep', n['min_keep'])} allows; deleting checkpoints cannot save this disk"
    )


def _over(n: Notice, s: Spelling) -> str:
    return (
        f"checkpoints take {format_size(n['after'])}, over {_budget_name(n, s)}, after every "
        f"deletion that {s.option('min_keep', n['min_keep'])} allows (the newest and what is "
        "pinned, in progress or named by a pointer file always stay)"
    )


def _suspect(n: Notice, s: Spelling) -> str:
    check = f"the {n['preset']} preset's" if n["preset"] else "its"
    if n["why"] == "none_pass":
        return (
            f"no checkpoint in {n['directory']} passes {check} completeness check; is "
            f"{s.name('preset')} right? The newest {n['min_keep']} are kept whatever the "
            "space pressure"
        )
    return (
        f"the {n['count']} newest entries written in {n['directory']} fail {check} "
        f"completeness check while older ones pass; is {s.name('preset')} right (a new "
        "format after an upgrade)?"
    )


def _listed(names: tuple[str, ...], shown: int = 3) -> str:
    more = len(names) - shown
    listed = ", ".join(names[:shown])
    return f"{listed} and {more} more" if more > 0 else listed


_NOTICES: Mapping[str, Callable[[Notice, Spelling], str]] = {
    **OBSERVE_NOTICES,
    "shortfall": _shortfall,
    "over_budget": _over,
    "check_suspect": _suspect,
    "metrics_memory_unreadable": lambda n, s: (
        f"metric values read before are not used: {n['problem']}"
    ),
    "metrics_rows_lost": lambda n, s: (
        f"metrics file {n['path']} no longer has the {n['metric']} of {_listed(n['names'])} "
        "(truncated or replaced?): using the values read before"
    ),
    "metrics_rows_changed": lambda n, s: (
        f"metrics file {n['path']} now gives other {n['metric']} values for "
        f"{_listed(n['names'])} (another run's log?): using the values read first"
    ),
}


@dataclass(frozen=True)
class Words:
    """Reasons and notices of one guarded directory in words (`service.events.Words`)."""

    spelling: Spelling = FLAGS

    def reason(self, reason: Reason) -> str:
        return reason_text(reason, self.spelling)

    def notice(self, notice: Notice) -> str:
        return notice_text(notice, self.spelling)

    def give_way(self, plan: Plan) -> str:
        return give_way_words(plan, self.spelling)


def words_for(spec: GuardSpec) -> Words:
    """The words for a guarded directory, naming its options as they were set."""
    return Words(Spelling({option: (where, text) for option, where, text in spec.given}))


def params_of(item: Reason | Notice) -> dict[str, Any]:
    """The facts of a reason or notice, for JSON output."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in item.params}


def rule_of(item: Reason) -> dict[str, Any] | None:
    """A keep rule's name and facts, as `--json` lists them under `kept_by`."""
    kind = kind_of_reason(item)
    if kind is None:
        return None
    facts = params_of(item)
    if item.code is ReasonCode.PERIOD:
        facts["period"] = period_label(item["period"], item["key"])
    facts.pop("of_run", None)
    return {"rule": kind, **facts}


def give_way_words(plan: Plan, spelling: Spelling = FLAGS) -> str:
    """The order kept checkpoints give way in under pressure, naming the kinds in use."""
    used = {k for d in plan.decisions for r in d.reasons if (k := kind_of_reason(r))}
    kinds = [k for k in GIVE_WAY if k in used]
    runs = "earlier runs first, then " if len(plan.runs) > 1 else ""
    floor = spelling.option("min_keep", plan.min_keep)
    return (
        f"under pressure kept checkpoints give way: corrupt entries, {runs}"
        f"{', '.join(kinds) or 'none'}, each oldest first (best: worst first); "
        f"never the newest, never below {floor}"
    )
