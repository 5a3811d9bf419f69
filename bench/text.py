"""How figures are written in the tables: numbers, spreads, sizes, Markdown tables."""

from __future__ import annotations

import math
from typing import Any

DASH = "\u2013"  # en dash, for ranges in the tables
TIMES = "\u00d7"


def num(value: float | None, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:,.{digits}f}"


def multiple_text(value: float | None, alloc: int, page: int) -> str:
    """A size in checkpoint sizes: `2.5`, `2 + 1 page` for the lock-file rung, or `2.436`
    for a physical limit that is no round number."""
    if value is None:
        return "n/a"
    if abs(value * 8 - round(value * 8)) < 1e-9:
        return f"{value:g}"
    base = math.floor(value * 2 + 1e-9) / 2
    extra = round((value - base) * alloc / page)
    if 0 < extra <= 16 and abs(base + extra * page / alloc - value) < 1e-9:
        return f"{base:g} + {extra} page" + ("s" if extra > 1 else "")
    return f"{value:.3f}"


def multiples_spread(spread: dict[str, Any], alloc: int, page: int) -> str:
    if spread.get("median") is None:
        return "n/a"
    text = multiple_text(spread["median"], alloc, page)
    if spread.get("n", 1) > 1 and spread["min"] != spread["max"]:
        low = multiple_text(spread["min"], alloc, page)
        high = multiple_text(spread["max"], alloc, page)
        text += f" ({low}{DASH}{high})"
    return text


def spread_text(
    spread: dict[str, Any] | None, *, scale: float = 1.0, digits: int = 2, unit: str = ""
) -> str:
    """`median unit (min-max)`, or just the value when there was one run."""
    if not spread or spread.get("median") is None:
        return "n/a"
    median = num(spread["median"] * scale, digits)
    suffix = f" {unit}" if unit else ""
    if spread.get("n", 1) <= 1 or spread["min"] == spread["max"]:
        return f"{median}{suffix}"
    low, high = num(spread["min"] * scale, digits), num(spread["max"] * scale, digits)
    return f"{median}{suffix} ({low}{DASH}{high})"


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def ratio(value: float | None, reference: float | None) -> str:
    """`3.2x` with the multiplication sign (value / reference), or n/a."""
    if value is None or not reference:
        return "n/a"
    digits = 0 if value / reference >= 20 else 2 if value / reference < 2 else 1
    return f"{value / reference:,.{digits}f}{TIMES}"


def runs(count: int) -> str:
    """`1 run`, `3 runs`."""
    return f"{count} run" + ("" if count == 1 else "s")
