"""Log events as short lines for a person at a terminal.

JSON lines carry every field for journald and log shippers; a person reads one line per
event with human sizes: `deleted checkpoint_step_24900.keras (84.0 MB): older than the
3 newest valid checkpoints; 12.3 GB free`. At start, a summary: the version, each
directory with its policy in words, then (event `ready`) what it holds, keeps, the free
space and the target. Colours only on a terminal, and never with `NO_COLOR` set.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any

from ckptguard.core.units import format_size

# Fields every event has; not repeated in a line.
_PLAIN_FIELDS = {"event", "level", "timestamp", "logger"}
_COLOURS = {"warning": "\033[33m", "error": "\033[31m", "critical": "\033[31m"}
_DIM, _RESET = "\033[2m", "\033[0m"


def wants_colour(stream: Any) -> bool:
    """Colour on a terminal, unless `NO_COLOR` is set to anything (no-color.org)."""
    return bool(stream.isatty()) and not os.environ.get("NO_COLOR")


class TerminalRenderer:
    """A structlog renderer: one short line per event (several for the start summary)."""

    def __init__(
        self, *, colour: bool, verbose: bool = False, summary: Mapping[str, str] | None = None
    ) -> None:
        self.colour = colour
        self.verbose = verbose
        self.summary = dict(summary or {})

    def __call__(self, logger: Any, name: str, event: MutableMapping[str, Any]) -> str:
        level = str(event.get("level", "info"))
        words = _LINES.get(str(event.get("event")), _generic)(event, self)
        if self.verbose:
            extra = {k: v for k, v in event.items() if k not in _PLAIN_FIELDS}
            words += self._dim("  " + " ".join(f"{k}={v!r}" for k, v in extra.items()))
        prefix = self._dim(time.strftime("%H:%M:%S "))
        if level in _COLOURS:
            label = f"{level}: "
            words = (_COLOURS[level] + label + _RESET if self.colour else label) + words
        return "\n".join(prefix + line for line in words.split("\n"))

    def _dim(self, text: str) -> str:
        return f"{_DIM}{text}{_RESET}" if self.colour and text else text


def _name(event: Mapping[str, Any]) -> str:
    return os.path.basename(str(event.get("path", ""))) or str(event.get("path"))


def _started(e: Mapping[str, Any], r: TerminalRenderer) -> str:
    directories = list(e.get("directories", []))
    count = len(directories)
    mode = " (dry run: deletes nothing)" if e.get("dry_run") else ""
    plural = "directory" if count == 1 else "directories"
    lines = [f"ckptguard {e.get('version')}: guarding {count} {plural}{mode}"]
    for path in directories:
        lines += [f"  {path}", f"    {r.summary[path]}"] if path in r.summary else [f"  {path}"]
    return "\n".join(lines)


def _ready(e: Mapping[str, Any], r: TerminalRenderer) -> str:
    lines = []
    for d in e.get("directories", []):
        if d.get("waiting"):
            lines.append(f"  {d['path']}: not there yet, waiting for it")
            continue
        space = (
            f"{format_size(d['free'])} free, target {format_size(d['target'])}"
            if "free" in d
            else "object storage, no free-space target"
        )
        lines.append(f"  {d['path']}: {d['checkpoints']} checkpoints, keeping {d['kept']}; {space}")
    return "ready:\n" + "\n".join(lines) if lines else "ready"


def _deleted(verb: str) -> Callable[[Mapping[str, Any], TerminalRenderer], str]:
    def line(e: Mapping[str, Any], r: TerminalRenderer) -> str:
        reasons = "; ".join(str(x) for x in e.get("reasons", []))
        free = e.get("free_after")
        after = "" if free is None else f"; {format_size(free)} free"
        return f"{verb} {_name(e)} ({format_size(e.get('size', 0))}): {reasons}{after}"

    return line


def _generic(e: Mapping[str, Any], r: TerminalRenderer) -> str:
    """`event_name: message`, or its fields, short: for events without a line of their own."""
    name = str(e.get("event")).replace("_", " ")
    if e.get("message"):
        return f"{name}: {e['message']}"
    fields = {k: v for k, v in e.items() if k not in _PLAIN_FIELDS and k != "exc_info"}
    shown = ", ".join(f"{k} {v}" for k, v in fields.items())
    return f"{name}: {shown}" if shown else name


_LINES: dict[str, Callable[[Mapping[str, Any], TerminalRenderer], str]] = {
    "started": _started,
    "ready": _ready,
    "deleted": _deleted("deleted"),
    "would_delete": _deleted("would delete"),
    "deletion_skipped": lambda e, r: f"left {_name(e)} alone: {e.get('detail', '')}",
    "deletion_failed": lambda e, r: f"could not delete {_name(e)}: {e.get('detail', '')}",
    "free_space_shortfall": lambda e, r: str(e.get("message") or "free space below the target"),
    "free_space_recovered": lambda e, r: (
        f"{e.get('directory')}: free space back above the target "
        f"({format_size(e.get('free', 0))} free)"
    ),
    "watching": lambda e, r: (
        f"watching {e.get('path')}"
        + (f" by polling ({e['reason']})" if e.get("reason") else f" ({e.get('mode')})")
    ),
    "polling": lambda e, r: f"polling {e.get('path')} every {e.get('every')}s",
    "directory_missing": lambda e, r: (
        f"waiting for {e.get('path')} to appear (its parent exists; training usually "
        "creates it on its first save)"
    ),
    "directory_read_only": lambda e, r: (
        f"{e.get('path')} is read-only here: deletions there fail ({e.get('hint')})"
    ),
    "reloaded": lambda e, r: (
        f"config reloaded: guarding {len(e.get('directories', []))} directories"
    ),
    "reload_rejected": lambda e, r: (
        "config not reloaded, the old one stays: " + "; ".join(e.get("problems", []))
    ),
    "stopped": lambda e, r: "stopped",
}
