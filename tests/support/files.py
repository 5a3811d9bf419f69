"""Checkpoint files on a real disk: writing them whole, cut short or back-dated, listing
the steps a directory holds, and snapshots that show nothing was touched.

Names and archives are the benchmarks' own (bench/checkpoint_files.py); what counts as a
step is what ckptguard's template says.
"""

from __future__ import annotations

import os
import stat
import struct
import time
from pathlib import Path

from bench.checkpoint_files import TEMPLATE, keras_bytes, name_of
from ckptguard.core.layouts import layout_for
from ckptguard.core.naming import Template

KERAS_TEMPLATE = Template.parse(TEMPLATE)
KERAS = layout_for("keras", KERAS_TEMPLATE)
# Well outside any settle window: "old" files are judged by their content alone.
OLD = time.time() - 3600
# What ends a TensorFlow checkpoint's `.index` file (a TensorBundle table footer).
TF_MAGIC = struct.pack("<Q", 0xDB4775248B80FB57)


def write_checkpoint(
    directory: Path, step: int, *, payload_size: int = 4096, mtime: float | None = None
) -> Path:
    """A complete checkpoint named for `step`, optionally back-dated to `mtime`."""
    path = directory / name_of(step)
    path.write_bytes(keras_bytes(payload_size))
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


def write_truncated(
    directory: Path, step: int, *, keep_fraction: float = 0.5, mtime: float | None = None
) -> Path:
    """A checkpoint cut short, as a crash mid-save leaves it."""
    data = keras_bytes()
    path = directory / name_of(step)
    path.write_bytes(data[: int(len(data) * keep_fraction)])
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


def write_old(directory: Path, step: int | str, data: bytes | None = None) -> Path:
    """A file named for `step` holding `data` (a complete checkpoint by default), back-dated."""
    path = directory / name_of(step)
    path.write_bytes(keras_bytes() if data is None else data)
    os.utime(path, (OLD, OLD))
    return path


def steps_in(directory: Path, template: str = TEMPLATE) -> list[int]:
    """The steps of the entries in `directory` that match `template`, sorted."""
    parsed = Template.parse(template)
    steps = (parsed.step_of(name) for name in os.listdir(directory))
    return sorted(step for step in steps if step is not None)


def snapshot(path: Path) -> tuple[bytes, int, int]:
    """A file's bytes, mtime and inode: equal snapshots mean it was not touched."""
    st = path.stat()
    return path.read_bytes(), st.st_mtime_ns, st.st_ino


TreeSnapshot = dict[str, tuple[str, int, bytes | str, int]]


def tree_snapshot(root: Path) -> TreeSnapshot:
    """Every entry below (and including) `root`: kind, size, content or link target, mtime.
    Equal snapshots mean nothing in the tree was touched; links are never followed."""
    found: TreeSnapshot = {}

    def visit(path: Path, rel: str) -> None:
        st_ = os.lstat(path)
        if stat.S_ISDIR(st_.st_mode):
            found[rel] = ("dir", 0, "", st_.st_mtime_ns)
            for name in sorted(os.listdir(path)):
                visit(path / name, f"{rel}/{name}")
        elif stat.S_ISLNK(st_.st_mode):
            found[rel] = ("link", 0, os.readlink(path), st_.st_mtime_ns)
        elif stat.S_ISREG(st_.st_mode):
            found[rel] = ("file", st_.st_size, path.read_bytes(), st_.st_mtime_ns)
        else:
            found[rel] = ("other", 0, "", st_.st_mtime_ns)

    visit(root, ".")
    return found
