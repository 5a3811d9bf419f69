"""A directory's policy in one line of words, for the start-up summary and check-config."""

from __future__ import annotations

from ckptguard.core.model import MinFreeUnit
from ckptguard.core.units import format_duration, format_size
from ckptguard.face.spelling import Spelling
from ckptguard.service.settings import GuardSpec
from ckptguard.store.remote.location import is_remote


def spelling_of(spec: GuardSpec) -> Spelling:
    return Spelling({option: (where, text) for option, where, text in spec.given})


def policy_words(spec: GuardSpec) -> str:
    """`checkpoint_step_{step}.keras: keep the 3 newest (--keep 3); free space ...`."""
    policy, s = spec.policy, spelling_of(spec)
    rules = [f"keep the {policy.keep} newest valid ({s.option('keep', policy.keep)})"]
    rules.extend(_extra_rules(spec, s))
    if is_remote(spec.path):
        rules.append("object storage, no free-space target")
    else:
        floor = s.option("min_keep", policy.min_keep)
        rules.append(f"{_free_words(spec, s)}, never fewer than {floor} left")
    if policy.max_size is not None:
        rules.append(f"at most {format_size(policy.max_size)} ({s.option('max_size', '')})")
    if spec.shared_budget is not None:
        name, limit = spec.shared_budget
        rules.append(f"group {name!r} at most {format_size(limit)} together")
    if spec.trash_for is not None:
        rules.append(f"deleted into the trash for {format_duration(spec.trash_for)}")
    return f"{spec.template.text} ({spec.layout.preset}): " + "; ".join(rules)


def _free_words(spec: GuardSpec, s: Spelling) -> str:
    amount = spec.policy.min_free
    given = s.option("min_free", amount)
    if amount.unit is MinFreeUnit.MULTIPLE:
        return f"free space for the next save, {amount.value:g}x the newest checkpoint ({given})"
    if amount.unit is MinFreeUnit.PERCENT:
        return f"{amount.value:g}% of the filesystem free ({given})"
    return f"{format_size(amount.value)} free ({given})"


def _extra_rules(spec: GuardSpec, s: Spelling) -> list[str]:
    policy, rules = spec.policy, []
    for tier in policy.all_tiers:
        until = "" if tier.until is None else f" until step {tier.until}"
        rules.append(f"every step {tier.every}{until}")
    if policy.keep_within is not None:
        rules.append(f"all within {format_duration(policy.keep_within)} of the newest")
    for period in ("hourly", "daily", "weekly"):
        count = getattr(policy, f"keep_{period}")
        if count:
            rules.append(f"{period} {count}")
    if policy.keep_best:
        rules.append(f"the {policy.keep_best} best by {policy.metric} ({policy.metric_mode})")
    return rules
