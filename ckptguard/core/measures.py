"""The metrics ckptguard exports, as values: names, kinds, help, labels and samples.

Pure: built from the status documents (`core.status`) and the daemon's counters; the
service hands them to prometheus_client. Base units, the `ckptguard_` prefix, and a
`dir` label naming the guarded directory on every per-directory family.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

Labels = tuple[str, ...]

# name: (kind, help, labels). Counters end in _total.
CATALOGUE: dict[str, tuple[str, str, Labels]] = {
    "ckptguard_build_info": (
        "gauge",
        "ckptguard's version, and whether it deletes",
        ("version", "dry_run"),
    ),
    "ckptguard_checkpoints": ("gauge", "Checkpoints by state", ("dir", "state")),
    "ckptguard_checkpoint_bytes": ("gauge", "Bytes of the checkpoints, by state", ("dir", "state")),
    "ckptguard_filesystem_avail_bytes": ("gauge", "Free bytes for the writer", ("dir",)),
    "ckptguard_filesystem_size_bytes": ("gauge", "Size of the filesystem", ("dir",)),
    "ckptguard_target_free_bytes": ("gauge", "The free-space target", ("dir",)),
    "ckptguard_shortfall_bytes": (
        "gauge",
        "Bytes the target is missed by after every deletion allowed",
        ("dir",),
    ),
    "ckptguard_headroom_bytes": (
        "gauge",
        "Bytes that may still be written before the target fails at min-keep",
        ("dir",),
    ),
    "ckptguard_deletions_total": (
        "counter",
        "Checkpoints deleted, by the rule deleted for",
        ("dir", "reason"),
    ),
    "ckptguard_freed_bytes_total": ("counter", "Bytes of the checkpoints deleted", ("dir",)),
    "ckptguard_saves_total": ("counter", "New complete checkpoints seen", ("dir",)),
    "ckptguard_save_interval_seconds": ("gauge", "Median time between recent saves", ("dir",)),
    "ckptguard_stale_after_seconds": (
        "gauge",
        "Time without a new save that raises stale_checkpoints",
        ("dir",),
    ),
    "ckptguard_newest_checkpoint_step": (
        "gauge",
        "Step of the newest complete checkpoint",
        ("dir",),
    ),
    "ckptguard_newest_checkpoint_timestamp_seconds": (
        "gauge",
        "When the newest complete checkpoint was completed",
        ("dir",),
    ),
    "ckptguard_target_failure_timestamp_seconds": (
        "gauge",
        "When the free-space target fails at the current rate (absent: not predicted)",
        ("dir",),
    ),
    "ckptguard_last_cycle_timestamp_seconds": (
        "gauge",
        "When the guard last completed a cycle",
        ("dir",),
    ),
    "ckptguard_warning": ("gauge", "1 while a warning is raised", ("dir", "code")),
    "ckptguard_errors_total": (
        "counter",
        "Errors by kind: writes of the guard's own, deletions, the warning hook",
        ("dir", "kind"),
    ),
}
WARNING_CODES = ("time_to_full", "stale_checkpoints")


@dataclass(frozen=True)
class Family:
    name: str
    kind: str
    help: str
    labels: Labels
    samples: tuple[tuple[Labels, float], ...]


@dataclass
class Counters:
    """What the daemon counted since it started."""

    deletions: dict[tuple[str, str], int] = field(default_factory=dict)
    freed: dict[str, int] = field(default_factory=dict)
    saves: dict[str, int] = field(default_factory=dict)
    errors: dict[tuple[str, str], int] = field(default_factory=dict)


def _gauges(status: Mapping[str, Any]) -> dict[str, list[tuple[Labels, float]]]:
    """The per-directory gauges of one status document."""
    d = status["directory"]
    found: dict[str, list[tuple[Labels, float]]] = {}

    def put(name: str, value: float | None, *extra: str) -> None:
        if value is not None:
            found.setdefault(name, []).append(((d, *extra), float(value)))

    for state, facts in sorted(status["checkpoints"].items()):
        put("ckptguard_checkpoints", facts["count"], state)
        put("ckptguard_checkpoint_bytes", facts["bytes"], state)
    put("ckptguard_filesystem_avail_bytes", status["free"])
    put("ckptguard_filesystem_size_bytes", status["total"])
    put("ckptguard_target_free_bytes", status["target_free"])
    put("ckptguard_shortfall_bytes", status["shortfall"])
    put("ckptguard_headroom_bytes", status["headroom"])
    put("ckptguard_save_interval_seconds", status["saves"]["median_interval"])
    put("ckptguard_stale_after_seconds", status["saves"]["stale_after"])
    newest = status["newest"] or {}
    put("ckptguard_newest_checkpoint_step", newest.get("step"))
    put("ckptguard_newest_checkpoint_timestamp_seconds", newest.get("at"))
    put("ckptguard_target_failure_timestamp_seconds", status["prediction"]["at"])
    put("ckptguard_last_cycle_timestamp_seconds", status["last_cycle"])
    raised = {w["code"] for w in status["warnings"]}
    for code in WARNING_CODES:
        put("ckptguard_warning", int(code in raised), code)
    return found


def families(
    statuses: Sequence[Mapping[str, Any]], counters: Counters, *, version: str, dry_run: bool
) -> list[Family]:
    """Every family, in catalogue order; a gauge with no sample is left out."""
    samples: dict[str, list[tuple[Labels, float]]] = {
        "ckptguard_build_info": [((version, str(dry_run).lower()), 1.0)],
        "ckptguard_deletions_total": [(k, float(v)) for k, v in sorted(counters.deletions.items())],
        "ckptguard_freed_bytes_total": [
            ((k,), float(v)) for k, v in sorted(counters.freed.items())
        ],
        "ckptguard_saves_total": [((k,), float(v)) for k, v in sorted(counters.saves.items())],
        "ckptguard_errors_total": [(k, float(v)) for k, v in sorted(counters.errors.items())],
    }
    for status in statuses:
        for name, found in _gauges(status).items():
            samples.setdefault(name, []).extend(found)
    return [
        Family(name, kind, text, labels, tuple(samples[name]))
        for name, (kind, text, labels) in CATALOGUE.items()
        if samples.get(name) or kind == "counter"
    ]
