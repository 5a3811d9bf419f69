"""`ckptguard history`: the deletions, shortfalls and warnings the guards kept."""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any

from ckptguard.core.history import select
from ckptguard.core.units import format_size, parse_duration
from ckptguard.face.cli import EXIT_OK
from ckptguard.face.commands import settings_of
from ckptguard.face.config import ConfigError
from ckptguard.face.status_view import when
from ckptguard.service import history
from ckptguard.service.state import default_state_dir, place

_HEADER = ("TIME", "DIRECTORY", "EVENT", "CHECKPOINT", "STEP", "SIZE", "DETAIL")


def command(args: argparse.Namespace) -> int:
    since = _since(args.since)
    state_dir, directories = _where(args)
    records: list[dict[str, Any]] = []
    for directory in directories:
        found = history.read(state_dir, directory)
        records.extend(select(found, since=since))
    if args.json:
        print(json.dumps({"state_dir": state_dir, "records": sorted_records(records)}, indent=2))
    else:
        print(to_table(sorted_records(records)))
    return EXIT_OK


def _since(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        return time.time() - parse_duration(text)
    except ValueError as error:
        raise ConfigError([f"--since {text}: {error}"]) from None


def _where(args: argparse.Namespace) -> tuple[str, list[str | None]]:
    """The state directory, and the directories asked about (None: every one)."""
    if args.config or args.dir:
        settings = settings_of(args)
        reals: list[str | None] = [place(g.path) for g in settings.guards]
        return _state_dir(args, settings.state_dir), reals
    return os.path.abspath(args.state_dir or default_state_dir()), [None]


def _state_dir(args: argparse.Namespace, configured: str | None) -> str:
    return os.path.abspath(args.state_dir or configured or default_state_dir())


def sorted_records(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(records, key=lambda r: r["time"])


def detail(record: dict[str, Any]) -> str:
    event = record.get("event")
    if event in ("deleted", "failed"):
        text = str(record.get("reason", "")).replace("_", " ")
        return f"{text}: {record['detail']}" if record.get("detail") else text
    if event == "shortfall":
        return f"{format_size(record['shortfall'])} short of {format_size(record['target'])}"
    if event in ("warning", "warning_cleared"):
        return str(record.get("message") or record.get("code", ""))
    return ""


def to_table(records: list[dict[str, Any]]) -> str:
    if not records:
        return "no history yet"
    rows = [
        (
            when(r["time"]),
            r["dir"],
            str(r.get("event", "")),
            str(r.get("checkpoint", "")),
            str(r.get("step", "")),
            format_size(r["size"]) if isinstance(r.get("size"), int) else "",
            detail(r),
        )
        for r in records
    ]
    widths = [max(len(row[i]) for row in [_HEADER, *rows]) for i in range(len(_HEADER) - 1)]
    lines = [
        "  ".join([*(cell.ljust(w) for cell, w in zip(row, widths, strict=False)), row[-1]])
        for row in [_HEADER, *rows]
    ]
    return "\n".join(line.rstrip() for line in lines)
