"""Plans made against a real directory through its file descriptor, and reasons in the
words the face gives them."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ckptguard.core.decisions import Plan
from ckptguard.core.layouts import Layout
from ckptguard.core.model import MinFree, MinFreeUnit, Policy
from ckptguard.engine.cycle import survey
from ckptguard.store.local.directory import LocalStore
from ckptguard.store.local.entries import open_directory
from support.files import KERAS

NO_SPACE_RULE = MinFree(MinFreeUnit.BYTES, 0)
# A target no real filesystem can reach: the free-space rule deletes all it may.
UNREACHABLE = MinFree(MinFreeUnit.BYTES, float(2**62))


@contextlib.contextmanager
def directory_fd(directory: Path) -> Iterator[int]:
    """`directory` opened as the guard opens it, closed on leaving."""
    fd = open_directory(str(directory))
    try:
        yield fd
    finally:
        os.close(fd)


def plan_for(directory: Path, dir_fd: int, *, layout: Layout = KERAS, **policy: Any) -> Plan:
    """One survey of `directory` (open as `dir_fd`) now, with no free-space rule unless told."""
    options: dict[str, Any] = {"min_free": NO_SPACE_RULE, **policy}
    return survey(
        LocalStore(dir_fd, str(directory)), layout, Policy(**options), now=time.time()
    ).plan


def text(item: Any) -> str:
    """A reason or notice in the words the face gives it (options named as flags)."""
    from ckptguard.core.decisions import Reason
    from ckptguard.face.notice_words import notice_text
    from ckptguard.face.reason_words import reason_text

    return reason_text(item) if isinstance(item, Reason) else notice_text(item)
