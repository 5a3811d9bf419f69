"""Turning outcomes into structlog events: one event per deletion, refusal or shortfall."""

from __future__ import annotations

import os
from typing import Any, Protocol

import structlog

from ckptguard.core.decisions import Notice, Outcome, Plan, Reason, Result, Status

_EVENTS = {
    Status.DELETED: ("deleted", "info"),
    Status.WOULD_DELETE: ("would_delete", "info"),
    Status.SKIPPED: ("deletion_skipped", "warning"),
    Status.FAILED: ("deletion_failed", "error"),
}


def get_logger() -> Any:
    return structlog.get_logger("ckptguard")


class Words(Protocol):
    """Reasons and notices in words; the face's, naming options as the user set them."""

    def reason(self, reason: Reason) -> str: ...

    def notice(self, notice: Notice) -> str: ...


class Codes:
    """Words for when no face gave any: the codes themselves."""

    def reason(self, reason: Reason) -> str:
        return reason.code.value

    def notice(self, notice: Notice) -> str:
        return notice.code


CODES = Codes()


def log_outcome(outcome: Outcome, logger: Any = None, words: Words = CODES) -> None:
    """Emit one event per planned deletion and one per free-space shortfall."""
    log = logger if logger is not None else get_logger()
    for result in outcome.results:
        log_result(outcome.plan, result, log, words)
    if outcome.plan.shortfall:
        log_shortfall(outcome.plan, log, words)


def log_result(plan: Plan, result: Result, log: Any, words: Words = CODES) -> None:
    event, level = _EVENTS[result.status]
    checkpoint = result.decision.checkpoint
    fields: dict[str, Any] = {
        "path": os.path.join(plan.directory, checkpoint.name),
        "step": checkpoint.step,
        "size": checkpoint.size,
        "reasons": [words.reason(r) for r in result.decision.reasons],
        "free_before": result.free_before,
        "free_after": result.free_after,
    }
    if result.detail:
        fields["detail"] = result.detail
    getattr(log, level)(event, **fields)


def log_shortfall(plan: Plan, log: Any, words: Words = CODES) -> None:
    found = plan.warning("shortfall")
    log.warning(
        "free_space_shortfall",
        directory=plan.directory,
        free=plan.disk.free,
        free_after=plan.free_after,
        target=plan.target_free,
        shortfall=plan.shortfall,
        message="" if found is None else words.notice(found),
    )


def log_new_run(plan: Plan, log: Any) -> None:
    """A training run restarted or resumed in the directory: say so once."""
    current, earlier = plan.runs[-1], plan.runs[:-1]
    log.info(
        "new_run",
        directory=plan.directory,
        first_step=current.first_step,
        earlier_runs=[{"first_step": r.first_step, "last_step": r.last_step} for r in earlier],
        message=(
            f"a new run started at step {current.first_step} after steps "
            f"{earlier[-1].first_step}-{earlier[-1].last_step}; earlier runs keep their own "
            "newest and give way first when space is short"
        ),
    )
