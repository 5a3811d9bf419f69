"""Checkpoint files on a real disk: `.keras`-style archives, written whole or cut short."""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

from ckptguard.core.layouts import layout_for
from ckptguard.core.naming import Template

TEMPLATE = "checkpoint_step_{step}.keras"
KERAS = layout_for("keras", Template.parse(TEMPLATE))


def keras_bytes(payload_size: int = 4096, *, seed: int = 0) -> bytes:
    """The bytes of a minimal `.keras`-style archive (a zip with Keras' member names)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr("metadata.json", '{"keras_version": "3.0.0"}')
        archive.writestr("config.json", '{"class_name": "Sequential"}')
        archive.writestr(
            "model.weights.h5", os.urandom(payload_size) if seed else bytes(payload_size)
        )
    return buffer.getvalue()


def write_checkpoint(
    directory: Path, step: int, *, payload_size: int = 4096, mtime: float | None = None
) -> Path:
    """A complete checkpoint named for `step`, optionally back-dated to `mtime`."""
    path = directory / TEMPLATE.format(step=step)
    path.write_bytes(keras_bytes(payload_size))
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


def write_truncated(
    directory: Path, step: int, *, keep_fraction: float = 0.5, mtime: float | None = None
) -> Path:
    """A checkpoint cut short, as a crash mid-save leaves it."""
    data = keras_bytes()
    path = directory / TEMPLATE.format(step=step)
    path.write_bytes(data[: int(len(data) * keep_fraction)])
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path
