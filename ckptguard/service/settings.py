"""What the guard runs with, once the face has read and checked it: plain frozen values."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from ckptguard.core.layouts import Layout
from ckptguard.core.model import Inventory, Policy
from ckptguard.core.naming import Template
from ckptguard.core.planner import SharedBudget

LogFormat = Literal["auto", "json", "console"]


class SettingsError(Exception):
    """Settings that cannot be used: each entry of `problems` is one line naming the
    option (or key) and its value."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class GuardSpec:
    """One guarded directory and its rules."""

    path: str
    layout: Layout
    policy: Policy
    # A file of metric values (absolute, or relative to `path`), for keep-best.
    metrics_file: str | None = None
    # How each option was set, for words that name it as the user did:
    # (option, "flag" or "file", the value as written).
    given: tuple[tuple[str, str, str], ...] = ()
    # A size budget shared with other directories: its name and limit in bytes.
    shared_budget: tuple[str, int] | None = None
    # Object storage: seconds a deleted checkpoint stays in the trash (None: no trash).
    trash_for: float | None = None
    # A directory on the shared filesystem where guards on several hosts elect one
    # deleter (None: the directory lock alone decides).
    lease: str | None = None

    @property
    def template(self) -> Template:
        return self.layout.template


@dataclass(frozen=True)
class Settings:
    guards: tuple[GuardSpec, ...]
    rescan_interval: float = 60.0
    free_check_interval: float = 5.0
    log_format: LogFormat = "auto"
    poll: bool = False
    # None: nothing is kept between runs (metric values are remembered in memory only).
    state_dir: str | None = None
    # Object storage: seconds between listings, and the deleter's lease.
    poll_interval: float = 30.0
    lease_time: float = 60.0
    # Touched while the loop runs, for a liveness probe (None: none).
    alive_file: str | None = None
    # Where the status files for `ckptguard status` go; None: none are written.
    runtime_dir: str | None = None
    # Warnings: time_to_full below `warn_before` seconds; stale_checkpoints after
    # `stale_after` seconds without a new save (None: from the save rhythm).
    warn_before: float = 3600.0
    stale_after: float | None = None
    # A shell command run with each new warning as JSON on its standard input.
    on_warning: str | None = None
    on_warning_timeout: float = 30.0
    # Prometheus metrics: a textfile for node_exporter, an address to serve them on.
    metrics_textfile: str | None = None
    metrics_listen: tuple[str, int] | None = None


def shared_budget(
    spec: GuardSpec, guarded: Sequence[tuple[GuardSpec, Inventory | None]]
) -> SharedBudget | None:
    """The budget `spec` shares, with what the other directories of its group were last
    seen to hold (one not looked at yet counts for nothing until it is)."""
    if spec.shared_budget is None:
        return None
    name, limit = spec.shared_budget
    others = tuple(
        (inventory, other.policy)
        for other, inventory in guarded
        if other.path != spec.path
        and other.shared_budget is not None
        and other.shared_budget[0] == name
        and inventory is not None
    )
    return SharedBudget(name, limit, others)
