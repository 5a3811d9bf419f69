"""The content of a directory's status: what `ckptguard status` shows and the daemon keeps.

A plain JSON-ready dict of numbers and codes (wall-clock seconds for times), built from
the last plan and what the guard observed; the face words it. No clock, no disk.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ckptguard.core.decisions import Notice, Plan
from ckptguard.core.growth import Prediction, headroom
from ckptguard.core.rhythm import Rhythm, bytes_per_save, median_interval, stale_limit

VERSION = 1


@dataclass(frozen=True)
class Observed:
    """What a guard saw of its directory beyond the last plan."""

    rhythm: Rhythm
    prediction: Prediction | None = None
    last_deletion: dict[str, Any] | None = None
    warnings: tuple[Notice, ...] = ()
    # `--stale-after` if given (seconds); None: from the rhythm.
    stale_after: float | None = None
    last_cycle: float | None = None


def by_state(plan: Plan) -> dict[str, dict[str, int]]:
    """The checkpoints the plan keeps (and their bytes) by state, for the states present."""
    found: dict[str, dict[str, int]] = {}
    for decision in plan.kept:
        entry = found.setdefault(decision.state.value, {"count": 0, "bytes": 0})
        entry["count"] += 1
        entry["bytes"] += decision.checkpoint.size
    return found


def prediction_facts(prediction: Prediction | None, now: float) -> dict[str, Any]:
    """The prediction's facts; `seconds` and `at` are None when none can be made."""
    if prediction is None:
        return {"seconds": None, "at": None, "reason": "too_few_samples"}
    seconds = prediction.seconds
    return {
        "seconds": seconds,
        "at": None if seconds is None else now + seconds,
        "reason": None if seconds is not None else "not_shrinking",
        "headroom": prediction.headroom,
        "rate": prediction.rate,
        "filesystem_rate": prediction.filesystem_rate,
        "checkpoint_rate": prediction.checkpoint_rate,
        "span": prediction.span,
        "samples": prediction.samples,
    }


def directory_status(plan: Plan, seen: Observed, now: float) -> dict[str, Any]:
    """One directory's status at `now`."""
    newest = seen.rhythm.newest
    return {
        "directory": plan.directory,
        "checkpoints": by_state(plan),
        "free": plan.disk.free,
        "total": plan.disk.total,
        "free_limited_by": "quota" if plan.disk.bound_by_quota else "filesystem",
        "target_free": plan.target_free,
        "shortfall": plan.shortfall,
        "headroom": headroom(plan),
        "min_keep": plan.min_keep,
        "saves": {
            "seen": seen.rhythm.seen,
            "bytes_per_save": bytes_per_save(seen.rhythm),
            "median_interval": median_interval(seen.rhythm),
            "stale_after": stale_limit(seen.rhythm, seen.stale_after),
        },
        "newest": None
        if newest is None
        else {"name": newest.name, "step": newest.step, "size": newest.size, "at": newest.at},
        "last_deletion": seen.last_deletion,
        "prediction": prediction_facts(seen.prediction, now),
        "warnings": [
            {"code": n.code, **{k: list(v) if isinstance(v, tuple) else v for k, v in n.params}}
            for n in seen.warnings
        ],
        "last_cycle": seen.last_cycle,
    }
