"""Durations as people write them: `90s`, `15m`, `12h`, `7d`, `2w`, or seconds."""

from __future__ import annotations

import re

_DURATION = re.compile(r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*([smhdw]?)")
_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: str) -> float:
    """Seconds from `7d`, `12h`, `30m`, `45s` or `3600`; ValueError on anything else."""
    found = _DURATION.fullmatch(text.strip().lower())
    if found is None:
        raise ValueError("not a duration (examples: 7d, 12h, 30m, 3600)")
    return float(found.group(1)) * _SECONDS[found.group(2)]
