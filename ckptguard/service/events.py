"""Turning outcomes into structlog events: one event per deletion, refusal or shortfall."""

from __future__ import annotations

import os
from typing import Any

import structlog

from ckptguard.core.model import Notice, Outcome, Plan, Result, Status

_EVENTS = {
    Status.DELETED: ("deleted", "info"),
    Status.WOULD_DELETE: ("would_delete", "info"),
    Status.SKIPPED: ("deletion_skipped", "warning"),
    Status.FAILED: ("deletion_failed", "error"),
}


def get_logger() -> Any:
    return structlog.get_logger("ckptguard")


def log_outcome(outcome: Outcome, logger: Any = None) -> None:
    """Emit one event per planned deletion and one per free-space shortfall."""
    log = logger if logger is not None else get_logger()
    for result in outcome.results:
        log_result(outcome.plan, result, log)
    if outcome.plan.shortfall:
        log_shortfall(outcome.plan, log)


def log_result(plan: Plan, result: Result, log: Any) -> None:
    event, level = _EVENTS[result.status]
    checkpoint = result.decision.checkpoint
    fields: dict[str, Any] = {
        "path": os.path.join(plan.directory, checkpoint.name),
        "step": checkpoint.step,
        "size": checkpoint.size,
        "reasons": [r.text for r in result.decision.reasons],
        "free_before": result.free_before,
        "free_after": result.free_after,
    }
    if result.detail:
        fields["detail"] = result.detail
    getattr(log, level)(event, **fields)


def _text(notice: Notice | None) -> str:
    return "" if notice is None else notice.text


def log_shortfall(plan: Plan, log: Any) -> None:
    log.warning(
        "free_space_shortfall",
        directory=plan.directory,
        free=plan.disk.free,
        free_after=plan.free_after,
        target=plan.target_free,
        shortfall=plan.shortfall,
        message=_text(plan.warning("shortfall")),
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
