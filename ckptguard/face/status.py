"""`ckptguard status`: what the running guard sees of each directory, or, with no guard
running, what can be computed from the directory now."""

from __future__ import annotations

import argparse
import glob
import json
import os
import time
from dataclasses import replace
from typing import Any

from ckptguard.core.rhythm import Rhythm, observe, stale
from ckptguard.core.status import Observed, directory_status
from ckptguard.engine.cycle import survey
from ckptguard.face.cli import EXIT_OK
from ckptguard.face.commands import open_store, settings_of
from ckptguard.face.config import ConfigError
from ckptguard.face.paths import Need, check_directories
from ckptguard.face.status_view import to_text
from ckptguard.service.settings import GuardSpec, Settings
from ckptguard.service.state import place
from ckptguard.service.status import (
    default_runtime_dir,
    guard_alive,
    guarded_directories,
    read_status,
)
from ckptguard.store.remote.trouble import remote_trouble

SYSTEM_RUNTIME_DIR = "/run/ckptguard"


def command(args: argparse.Namespace) -> int:
    if args.alive:
        from ckptguard.face.alive import command as probe

        return probe(args, runtime_dirs())
    if args.max_age is not None:
        raise ConfigError(["--max-age: only with --alive"])
    now = time.time()
    if args.dir or args.config:
        reports = asked_reports(settings_of(args), now)
    else:
        reports = running_reports()
    if args.json:
        print(json.dumps({"time": now, "directories": reports}, indent=2))
    else:
        print("\n\n".join(to_text(r, now) for r in reports))
    return EXIT_OK


def runtime_dirs() -> list[str]:
    """Where guards keep their status: ours and the system service's, and in each the
    directories of template instances (/run/ckptguard/srv-models)."""
    found = []
    for root in dict.fromkeys([default_runtime_dir(), SYSTEM_RUNTIME_DIR]):
        found.append(root)
        found.extend(
            sorted(p.rstrip("/") for p in glob.glob(os.path.join(glob.escape(root), "*/")))
        )
    return found


def running_reports() -> list[dict[str, Any]]:
    """The status of every directory a guard reports, with no --dir given."""
    found = []
    for runtime_dir in runtime_dirs():
        for directory in guarded_directories(runtime_dir):
            document, _ = read_status(runtime_dir, directory)
            if document and guard_alive(document.get("guard", {}).get("pid")):
                found.append(_running(document))
    if not found:
        raise ConfigError(
            [f"no guard is running here (no status in {runtime_dirs()[0]}): give --dir DIR"]
        )
    return found


def asked_reports(settings: Settings, now: float) -> list[dict[str, Any]]:
    """Each directory's running guard's status, else one computed from the directory now
    (only those are checked first: a guard may be waiting for its directory)."""
    found = [(spec, *guard_report(spec)) for spec in settings.guards]
    unguarded = tuple(spec for spec, running, _ in found if running is None)
    check_directories(replace(settings, guards=unguarded), Need.READ)
    return [
        running if running is not None else computed_report(spec, settings, now, last)
        for spec, running, last in found
    ]


def guard_report(spec: GuardSpec) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """The running guard's report of `spec` (None: none runs), and else what the last
    guard said of itself (None: no status file)."""
    real = place(spec.path)
    last: dict[str, Any] | None = None
    for runtime_dir in runtime_dirs():
        document, _ = read_status(runtime_dir, real)
        if not document:
            continue
        if guard_alive(document.get("guard", {}).get("pid")):
            return _running(document), None
        last = document.get("guard")
    return None, last


def computed_report(
    spec: GuardSpec, settings: Settings, now: float, last: dict[str, Any] | None
) -> dict[str, Any]:
    status = computed(spec, settings, now)
    return {
        "directory": status["directory"],
        "guard": {"running": False, "last": last},
        "status": status,
    }


def _running(document: dict[str, Any]) -> dict[str, Any]:
    """The report of a running guard's status file (`status` None before its first look)."""
    status = document.get("status")
    return {
        "directory": document.get("directory") if status is None else status["directory"],
        "guard": {"running": True, **document.get("guard", {})},
        "status": status,
    }


def computed(spec: GuardSpec, settings: Settings, now: float) -> dict[str, Any]:
    """The status from one look at the directory: no rhythm beyond what the files' times
    tell, and no prediction, which needs a guard watching the disk over time."""
    store = open_store(spec)
    try:
        with remote_trouble(spec):
            plan = survey(store, spec.layout, spec.policy, now=now).plan
    finally:
        store.close()
    rhythm = observe(Rhythm(), plan, now)
    late = stale(rhythm, now, settings.stale_after)
    seen = Observed(
        rhythm=rhythm,
        warnings=() if late is None else (late,),
        stale_after=settings.stale_after,
    )
    return directory_status(plan, seen, now)
