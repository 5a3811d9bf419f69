"""A guarded directory's words: its reasons, notices and give-way order, and the keep
rules as `--json` lists them.

The wording itself is in `reason_words` and `notice_words`; how each option is named,
in `spelling`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ckptguard.core.decisions import Notice, Plan, Reason, ReasonCode
from ckptguard.core.planner.yields import GIVE_WAY, kind_of_reason
from ckptguard.face.notice_words import notice_text
from ckptguard.face.reason_words import period_label, reason_text
from ckptguard.face.spelling import FLAGS, Spelling
from ckptguard.service.settings import GuardSpec


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
