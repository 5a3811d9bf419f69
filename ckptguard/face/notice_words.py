"""Notices in words: the warnings of a plan, and those of what the guard observes.

The core raises notices as codes with facts; this is the one place that words them,
naming each option as the user set it (`Spelling`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from ckptguard.core.decisions import Notice
from ckptguard.core.units import format_size
from ckptguard.face.observe_words import NOTICES as OBSERVE_NOTICES
from ckptguard.face.reason_words import budget_name
from ckptguard.face.spelling import FLAGS, Spelling


def notice_text(notice: Notice, spelling: Spelling = FLAGS) -> str:
    return _NOTICES[notice.code](notice, spelling)


def _shortfall(n: Notice, s: Spelling) -> str:
    return (
        f"free-space target {format_size(n['target'])} ({s.option('min_free', n['min_free'])}) "
        f"cannot be met: {format_size(n['shortfall'])} short after every deletion that "
        f"{s.option('min_keep', n['min_keep'])} allows; deleting checkpoints cannot save this disk"
    )


def _over(n: Notice, s: Spelling) -> str:
    return (
        f"checkpoints take {format_size(n['after'])}, over {budget_name(n, s)}, after every "
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
