"""The one-line status the daemon shows (systemd's STATUS=, `systemctl status`)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Protocol

from ckptguard.core.decisions import Plan
from ckptguard.core.units import format_size


class Guarded(Protocol):
    """What the status line needs of a guard, local or remote."""

    @property
    def is_open(self) -> bool: ...

    @property
    def last_plan(self) -> Plan | None: ...


def status_line(guards: Iterable[Guarded], *, deletes: bool) -> str:
    """How many directories are guarded and checkpoints kept, which wait, and the free
    space each directory's last plan left (an object store has none to show)."""
    guards = list(guards)
    plans = [g.last_plan for g in guards if g.last_plan is not None]
    kept = sum(len(p.kept) for p in plans)
    waiting = sum(1 for g in guards if not g.is_open)
    free = ", ".join(_free(p) for p in plans if p.disk.total)
    mode = "" if deletes else "dry run: "
    text = f"{mode}guarding {len(guards)} directories, {kept} checkpoints kept"
    if waiting:
        text += f", {waiting} waiting"
    return f"{text}; {free}" if free else text


def _free(plan: Plan) -> str:
    """`models 12.0 GB free`, and which quota binds where one does."""
    name = os.path.basename(plan.directory) or plan.directory
    quota = plan.disk.quota
    bound = f" ({quota.kind} quota)" if plan.disk.bound_by_quota and quota else ""
    return f"{name} {format_size(plan.free_after)} free{bound}"
