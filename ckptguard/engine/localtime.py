"""The local time zone, read here in the shell so that the core never reads one."""

from __future__ import annotations

import time


def local_offset(instant: float) -> float:
    """Seconds east of UTC that the local time zone had in force at `instant` (seconds
    since the epoch), daylight saving time included, as `TZ` and /etc/localtime say.

    An instant the C library cannot place (beyond year 9999, a forged mtime) takes the
    offset in force now.
    """
    try:
        return float(time.localtime(instant).tm_gmtoff)
    except (OverflowError, OSError, ValueError):
        return float(time.localtime().tm_gmtoff)
