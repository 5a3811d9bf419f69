"""Step numbers: read from writers' names, and the counter every soak process shares.

The writers take steps from one counter (a JSON file under an flock), so no two of them
ever save the same step, and publish the newest step they saved completely: the one no
writer touches and no guard may delete.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
from collections.abc import Callable
from pathlib import Path

FIRST_STEP, STEP_EVERY = 1000, 100
WRITER_MAX_STEP = 10**12  # writer steps stay below; canaries sit at both ends
PIN = ".keep"
# The soak's own reading of a checkpoint name, stricter than the harness' `isdigit()`:
# ASCII digits only, so that a name with other Unicode digits is never a writer's.
CKPT = re.compile(r"checkpoint_step_([0-9]+)\.keras")


def writer_step(name: str) -> int | None:
    """The step of a writer's checkpoint name; None for any other name."""
    found = CKPT.fullmatch(name)
    if found is None:
        return None
    step = int(found.group(1))
    return step if FIRST_STEP <= step < WRITER_MAX_STEP else None


class SharedState:
    """The next step to save and the newest published complete step, under an flock."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def init(self) -> None:
        self.path.write_text(json.dumps({"next": FIRST_STEP, "max_done": 0}))

    def _with(
        self, operation: int, change: Callable[[dict[str, int]], None] | None = None
    ) -> dict[str, int]:
        fd = os.open(self.path, os.O_RDWR | os.O_CLOEXEC)
        try:
            fcntl.flock(fd, operation)
            data: dict[str, int] = json.loads(os.pread(fd, 4096, 0))
            if change is not None:
                change(data)
                blob = json.dumps(data).encode()
                os.ftruncate(fd, 0)
                os.pwrite(fd, blob, 0)
            return dict(data)
        finally:
            os.close(fd)

    def take_step(self) -> int:
        """A step nobody has taken yet."""
        taken: list[int] = []

        def advance(data: dict[str, int]) -> None:
            taken.append(data["next"])
            data["next"] += STEP_EVERY

        self._with(fcntl.LOCK_EX, advance)
        return taken[0]

    def publish(self, step: int) -> None:
        """`step` is saved completely: the newest complete step is at least `step`."""

        def raise_max(data: dict[str, int]) -> None:
            data["max_done"] = max(data["max_done"], step)

        self._with(fcntl.LOCK_EX, raise_max)

    def max_done(self) -> int:
        """The newest step a writer published as complete (0 before any)."""
        return self._with(fcntl.LOCK_SH)["max_done"]
