"""Sizes and durations as people write them, and back."""

from __future__ import annotations

import re
from decimal import Decimal

from ckptguard.core.model import MinFree, MinFreeUnit, Tier

# One convention, the one `df -h`, `du -h` and `ls -h` print: a single letter (K, M, G, T)
# is a power of 1024, as is KiB...TiB; kB...TB (what `df -H` and disk vendors print)
# are powers of 1000. A bare number is refused (is `10` ten bytes or ten gigabytes?),
# except 0; `B` says bytes.
_UNITS = {
    "b": 1,
    "k": 2**10,
    "kb": 10**3,
    "kib": 2**10,
    "m": 2**20,
    "mb": 10**6,
    "mib": 2**20,
    "g": 2**30,
    "gb": 10**9,
    "gib": 2**30,
    "t": 2**40,
    "tb": 10**12,
    "tib": 2**40,
}
SIZE_EXAMPLES = "20G (GiB, as df -h shows), 20GB, 512MiB, 4096B"
_NUMBER = r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)"
_SIZE = re.compile(_NUMBER + r"\s*([a-zA-Z]*)")
_PERCENT = re.compile(_NUMBER + r"\s*%")
_MULTIPLE = re.compile(_NUMBER + r"\s*[xX]")


def parse_size(text: str) -> int:
    """Bytes from `512MiB`, `20GB`, `1.5G` (GiB) or `4096B`; ValueError on anything else."""
    found = _SIZE.fullmatch(text.strip())
    unit = "" if found is None else found.group(2).lower()
    if found is None or (unit and unit not in _UNITS):
        raise ValueError(f"not a size (examples: {SIZE_EXAMPLES})")
    # Decimal, not float: `2.01GB` is 2_010_000_000 bytes, not 2_009_999_999.
    number = Decimal(found.group(1))
    if not unit:
        if number == 0:
            return 0
        raise ValueError(f"needs a unit (examples: {SIZE_EXAMPLES})")
    return int(number * _UNITS[unit])


def parse_min_free(text: str) -> MinFree:
    """`10%` of the filesystem, `2.5x` the newest checkpoint, or a size such as `20GB`."""
    stripped = text.strip()
    if found := _PERCENT.fullmatch(stripped):
        percent = float(found.group(1))
        if percent >= 100:
            raise ValueError("a percentage must be below 100%")
        return MinFree(MinFreeUnit.PERCENT, percent)
    if found := _MULTIPLE.fullmatch(stripped):
        return MinFree(MinFreeUnit.MULTIPLE, float(found.group(1)))
    bare = _SIZE.fullmatch(stripped)
    if bare is not None and not bare.group(2) and Decimal(bare.group(1)) != 0:
        raise ValueError("needs a unit (examples: 20G (GiB, as df -h shows), 20GB, 10%, 1x, 4096B)")
    try:
        return MinFree(MinFreeUnit.BYTES, float(parse_size(stripped)))
    except ValueError:
        raise ValueError(
            "not a free-space amount (examples: 20G, 20GB, 512MiB, 10%, 1x, 2.5x)"
        ) from None


def format_size(size: float) -> str:
    """Human-readable bytes in decimal units, as `df -H` and disk vendors count."""
    sign = "-" if size < 0 else ""
    value = float(abs(size))
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if value < 999.95 or unit == "TB":  # so that 999,999 B reads 1.0 MB, not 1000.0 kB
            return f"{sign}{value:.0f} {unit}" if unit == "B" else f"{sign}{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def format_age(seconds: float) -> str:
    """`3.2s`, `14m`, `5h`, `2d`: short ages for tables and reasons."""
    if seconds < 0:
        return "future"
    if seconds < 60:
        return f"{seconds:.1f}s"
    if seconds < 3600:
        return f"{seconds / 60:.0f}m"
    if seconds < 86400:
        return f"{seconds / 3600:.0f}h"
    return f"{seconds / 86400:.0f}d"


_DURATION_UNITS = {"w": 7 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1}
_DURATION = re.compile(r"(?:([0-9]+(?:\.[0-9]+)?)\s*([wdhms]))", re.IGNORECASE)


def parse_duration(text: str) -> float:
    """Seconds from `7d`, `36h`, `1d12h`, `90m`, `2w` or plain seconds; ValueError else."""
    stripped = text.strip()
    if re.fullmatch(r"[0-9]+(?:\.[0-9]+)?", stripped):
        return float(stripped)
    parts = _DURATION.findall(stripped)
    if not stripped or "".join(f"{n}{u}" for n, u in parts) != stripped.replace(" ", ""):
        raise ValueError("not a duration (examples: 7d, 36h, 1d12h, 90m, 2w)")
    return float(sum(Decimal(n) * _DURATION_UNITS[u.lower()] for n, u in parts))


def format_duration(seconds: float) -> str:
    """`2d`, `1d12h`, `90s`: a duration exactly, in its largest whole units."""
    left, parts = round(seconds), []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if left >= size:
            parts.append(f"{left // size}{unit}")
            left %= size
    return "".join(parts) or "0s"


_TIER = re.compile(r"([0-9]+)(?::until=([0-9]+))?")


def parse_tier(text: str) -> Tier:
    """A step tier from `1000` (every 1000th step) or `100:until=5000`; ValueError else."""
    found = _TIER.fullmatch(text.strip())
    if found is None:
        raise ValueError("not a step tier (examples: 1000, 100:until=5000)")
    every = int(found.group(1))
    until = None if found.group(2) is None else int(found.group(2))
    if every <= 0:
        raise ValueError("a tier's step interval must be at least 1")
    return Tier(every, until)
