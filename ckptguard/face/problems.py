"""Validation problems in words: one line per problem, naming the key as the file spells
it (`directory[0].keep`) or the flag as typed (`--keep`), and the value given."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from pydantic import ValidationError

from ckptguard.face.hints import key_hint
from ckptguard.face.observe_options import FLAGS as OBSERVE_FLAGS

# The flag each config key corresponds to, for messages that name what the user typed.
FLAGS = {
    "keep": "--keep",
    "min_free": "--min-free",
    "min_keep": "--min-keep",
    "keep_every": "--keep-every",
    "pattern": "--pattern",
    "settle": "--settle",
    "rescan_interval": "--rescan-interval",
    "free_check_interval": "--free-check-interval",
    "log_format": "--log-format",
    "poll": "--poll",
    "path": "--dir",
    "keep_best": "--keep-best",
    "metric": "--metric",
    "mode": "--mode",
    "metrics_file": "--metrics-file",
    "preset": "--preset",
    "state_dir": "--state-dir",
    "keep_within": "--keep-within",
    "keep_hourly": "--keep-hourly",
    "keep_daily": "--keep-daily",
    "keep_weekly": "--keep-weekly",
    "max_size": "--max-size",
    "trash_for": "--trash-for",
    "lease": "--lease",
    "poll_interval": "--poll-interval",
    "lease_time": "--lease-time",
    "alive_file": "--alive-file",
    **OBSERVE_FLAGS,
}


def describe(
    error: ValidationError,
    *,
    prefix: str,
    as_flags: bool,
    known: Callable[[str], Iterable[str]] | None = None,
) -> list[str]:
    """One line per problem, naming the key (or flag) and the offending value; an unknown
    key with a hint from `known(top)`, the keys valid where its location starts."""
    lines = []
    for problem in error.errors(include_url=False):
        location = [str(part) for part in problem["loc"]]
        key = ".".join(location)
        if as_flags and location:
            key = FLAGS.get(location[-1], location[-1])
        elif len(location) >= 2 and location[0] == "directory":
            key = f"directory[{location[1]}]" + "".join(f".{p}" for p in location[2:])
        message = _message(problem)
        if problem["type"] == "extra_forbidden" and location and known is not None:
            message += key_hint(location[-1], known(location[0]))
        value = problem.get("input")
        shown = "" if problem["type"] in ("extra_forbidden", "missing") else f" (got {value!r})"
        lines.append(f"{prefix}{key}: {message}{shown}")
    return lines


def _message(problem: Mapping[str, Any]) -> str:
    kind = problem["type"]
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "is required"
    message = str(problem["msg"])
    message = message.removeprefix("Value error, ")
    return message[:1].lower() + message[1:]
