"""`ckptguard status --alive`: a liveness probe from the status files.

A guard rewrites each directory's status file at least every `refresh_every` seconds
while its loop turns, even when idle (`service.status_files`). The probe passes when,
for every directory asked about, a running guard's file is younger than `--max-age`
(by default three of its refresh periods): exit 0, else 1, one line either way. It
reads only the status files: no directory is listed, no bucket contacted.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from ckptguard.core.units import format_age, parse_duration
from ckptguard.face.cli import EXIT_FAILURE, EXIT_OK
from ckptguard.face.commands import settings_of
from ckptguard.face.config import ConfigError
from ckptguard.service.state import place
from ckptguard.service.status import guard_alive, read_status

# The default --max-age, in the guard's refresh periods ("a few turns of its loop").
PERIODS = 3
# The refresh period assumed of a status file that does not say its own.
FALLBACK_REFRESH = 20.0


def command(args: argparse.Namespace, runtime_dirs: list[str]) -> int:
    """Judge every directory of --dir (or the config); print one line; 0 if all alive."""
    if not (args.dir or args.config):
        raise ConfigError(["status --alive: give --dir DIR (or --config FILE) to check"])
    max_age = _max_age(args.max_age)
    now = time.time()
    verdicts = [judge(spec.path, runtime_dirs, now, max_age) for spec in settings_of(args).guards]
    alive = all(ok for ok, _ in verdicts)
    if args.json:
        found = [{"alive": ok, "why": why} for ok, why in verdicts]
        print(json.dumps({"alive": alive, "time": now, "directories": found}))
    else:
        print(f"{'alive' if alive else 'not alive'}: {'; '.join(why for _, why in verdicts)}")
    return EXIT_OK if alive else EXIT_FAILURE


def _max_age(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        seconds = parse_duration(text)
    except ValueError as error:
        raise ConfigError([f"--max-age {text}: {error}"]) from None
    if seconds <= 0:
        raise ConfigError([f"--max-age {text}: must be more than 0"])
    return seconds


def judge(
    path: str, runtime_dirs: list[str], now: float, max_age: float | None
) -> tuple[bool, str]:
    """Whether a running guard of `path` refreshed its status within `max_age` seconds
    (None: three of its refresh periods), and why, in words."""
    stopped: Any = None
    for runtime_dir in runtime_dirs:
        document, _ = read_status(runtime_dir, place(path))
        guard = document.get("guard") if document else None
        if not isinstance(guard, dict):
            continue
        if not guard_alive(guard.get("pid")):
            stopped = guard.get("pid")
            continue
        return _fresh(path, guard, now, max_age)
    if stopped is not None:
        return False, f"{path}: its guard (pid {stopped}) is no longer running"
    return False, f"{path}: no guard reports a status for it"


def _fresh(path: str, guard: dict[str, Any], now: float, max_age: float | None) -> tuple[bool, str]:
    updated, every = guard.get("updated"), guard.get("refresh_every")
    if not isinstance(updated, (int, float)):
        return False, f"{path}: the status of pid {guard['pid']} has no update time"
    if max_age is None:
        max_age = PERIODS * (every if isinstance(every, (int, float)) else FALLBACK_REFRESH)
    age = max(0.0, now - updated)
    within = f"(max age {format_age(max_age)})"
    if age > max_age:
        return False, (
            f"{path}: guard pid {guard['pid']} last refreshed its status "
            f"{format_age(age)} ago {within}: hung?"
        )
    return True, f"{path}: guard pid {guard['pid']} refreshed its status {format_age(age)} ago"
