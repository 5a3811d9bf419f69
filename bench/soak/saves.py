"""What a save puts on disk: Keras-style archives, broken ones, and the slow write of either.

The archives come from bench.checkpoint_files; the soak draws their weights from its own
seeded random generator.
"""

from __future__ import annotations

import enum
import os
import random
import time
from pathlib import Path

from bench.checkpoint_files import keras_archive

BROKEN_KINDS = ("abandoned", "empty", "garbage", "not_a_model")


def keras_bytes(rng: random.Random, payload: int, *, model: bool = True) -> bytes:
    """A `.keras`-style zip with `payload` bytes of weights drawn from `rng`."""
    return keras_archive(rng.randbytes(payload), model=model)


def broken_bytes(rng: random.Random, kind: str) -> bytes:
    """A save that crashed halfway, or a forged "newest": empty, garbage, not a model."""
    if kind == "abandoned":
        whole = keras_bytes(rng, rng.randint(10_000, 90_000))
        return whole[: int(len(whole) * rng.uniform(0.1, 0.9))]
    if kind == "empty":
        return b""
    if kind == "garbage":
        return rng.randbytes(rng.randint(100, 50_000))
    return keras_bytes(rng, rng.randint(1000, 20_000), model=False)


class Lost(enum.Enum):
    """How a slow write found its file deleted."""

    BEFORE_OPEN = "before_open"  # the path was gone (rewriting a deleted file)
    WHILE_WRITTEN = "while_written"  # before the last chunk: not a complete archive yet
    BEFORE_CLOSE = "before_close"  # after the last chunk: complete, the guard may judge it


def stream(
    path: Path, data: bytes, rng: random.Random, *, create: bool, settle: float
) -> int | Lost:
    """Write `data` into the final path slowly, as Keras does; the inode, or how it was lost.

    One write in ten pauses between chunks for up to half the settle time.
    """
    flags = os.O_WRONLY | os.O_CLOEXEC | (os.O_CREAT | os.O_EXCL if create else os.O_TRUNC)
    try:
        fd = os.open(path, flags, 0o644)
    except FileNotFoundError:
        return Lost.BEFORE_OPEN
    slow = rng.random() < 0.1
    longest = settle * 0.5
    chunk = rng.choice((4096, 8192, 16384))
    pieces = [data[i : i + chunk] for i in range(0, len(data), chunk)] or [b""]
    try:
        for index, piece in enumerate(pieces):
            if index == len(pieces) - 1 and os.fstat(fd).st_nlink == 0:
                return Lost.WHILE_WRITTEN
            view = memoryview(piece)
            while view:
                view = view[os.write(fd, view) :]
            if index < len(pieces) - 1:
                time.sleep(rng.uniform(0.1, longest) if slow else rng.uniform(0, 0.03))
        st = os.fstat(fd)
    finally:
        os.close(fd)
    return Lost.BEFORE_CLOSE if st.st_nlink == 0 else st.st_ino
