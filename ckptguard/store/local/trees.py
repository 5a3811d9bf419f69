"""Walking a checkpoint directory safely, to measure it or (in the executor) to empty it.

Every directory is opened relative to its parent's descriptor with `O_NOFOLLOW`, checked
to be the entry just listed, on the same device and the same mount as the tree's top
(the mount id comes from the open descriptor, so a bind mount, which keeps its device
number, is caught as well, also one made after the listing). Depth first, with one
descriptor per level and at most MAX_DEPTH levels, so neither depth nor width can
exhaust descriptors or the stack.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Collection
from dataclasses import dataclass

from ckptguard.core.model import FileIdentity

MAX_DEPTH = 32
DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC

Visit = Callable[[int, str, os.stat_result], None]
Leave = Callable[[int, str], None]


class Unwalkable(Exception):
    """A tree that is no checkpoint: too deep, or crossing into another mount."""


class TreeChanged(Unwalkable):
    """The tree changed while it was walked: it is being written (or deleted)."""


def mount_id(fd: int) -> int | None:
    """The id of the mount holding the open file `fd`; None where the kernel does not say."""
    try:
        with open(f"/proc/self/fdinfo/{fd}", encoding="ascii") as info:
            for line in info:
                if line.startswith("mnt_id:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


@dataclass(frozen=True)
class _Bounds:
    device: int
    mount: int | None
    vanished_ok: bool = False


def walk(
    top: int,
    parent: int,
    visit: Visit,
    leave: Leave | None = None,
    *,
    first: Collection[str] = (),
    vanished_ok: bool = False,
) -> None:
    """Call `visit(dir_fd, name, lstat)` for every entry below the open directory `top`.

    `top` must be on the same mount as `parent`, the directory it was opened from (a
    checkpoint directory that is itself a mount point is no checkpoint). Entries named
    in `first` are visited before the others of their directory; `leave(dir_fd, name)`
    is called for each subdirectory after everything below it. With `vanished_ok`,
    entries removed by someone else during the walk are passed over (deleting them is
    what the walk was for); otherwise their disappearance raises FileNotFoundError.
    """
    here = os.fstat(top)
    mount = mount_id(top)
    if mount != mount_id(parent) or here.st_dev != os.fstat(parent).st_dev:
        raise Unwalkable("is a mount point")
    bounds = _Bounds(here.st_dev, mount, vanished_ok)
    _walk_level(top, bounds, 0, visit, leave, frozenset(first))


def _walk_level(
    fd: int,
    bounds: _Bounds,
    depth: int,
    visit: Visit,
    leave: Leave | None,
    first: frozenset[str],
) -> None:
    entries = []
    with os.scandir(fd) as scanned:
        for entry in scanned:
            try:
                entries.append((entry.name, entry.stat(follow_symlinks=False)))
            except FileNotFoundError:
                if not bounds.vanished_ok:
                    raise
    entries.sort(key=lambda entry: (entry[0] not in first, entry[0]))
    for name, st in entries:
        visit(fd, name, st)
        if not stat.S_ISDIR(st.st_mode):
            continue
        if depth + 1 >= MAX_DEPTH:
            raise Unwalkable(f"nested deeper than {MAX_DEPTH}")
        try:
            child = _open_child(fd, name, st, bounds)
        except FileNotFoundError:
            if bounds.vanished_ok:
                continue
            raise
        try:
            _walk_level(child, bounds, depth + 1, visit, leave, first)
        finally:
            os.close(child)
        if leave is not None:
            leave(fd, name)


def _open_child(parent: int, name: str, listed: os.stat_result, bounds: _Bounds) -> int:
    """The subdirectory `name`, if it is still the one listed and on the tree's mount."""
    if listed.st_dev != bounds.device:
        raise Unwalkable(f"holds a mount point ({name})")
    fd = os.open(name, DIR_FLAGS, dir_fd=parent)
    try:
        opened = os.fstat(fd)
        if (opened.st_dev, opened.st_ino) != (listed.st_dev, listed.st_ino):
            raise TreeChanged(f"{name} changed during the walk")
        if bounds.mount is not None and mount_id(fd) != bounds.mount:
            raise Unwalkable(f"holds a mount point ({name})")
    except BaseException:
        os.close(fd)
        raise
    return fd


@dataclass(frozen=True)
class Tree:
    """What a directory tree holds: its summed identity and the bytes deleting it frees."""

    identity: FileIdentity
    freeable: int
    files: int


def measure_tree(top: int, parent: int) -> Tree:
    """The identity of the open directory `top`: its files' total size, newest mtime.

    Raises Unwalkable for a tree that must not be treated as a checkpoint, TreeChanged
    (or FileNotFoundError) when it changed under the walk.
    """
    here = os.fstat(top)
    totals = {"size": 0, "freeable": here.st_blocks * 512, "newest": here.st_mtime_ns, "files": 0}

    def add(_: int, __: str, st: os.stat_result) -> None:
        totals["newest"] = max(totals["newest"], st.st_mtime_ns)
        if stat.S_ISDIR(st.st_mode):
            totals["freeable"] += st.st_blocks * 512
        elif stat.S_ISREG(st.st_mode):
            totals["size"] += st.st_size
            totals["freeable"] += st.st_blocks * 512 if st.st_nlink == 1 else 0
            totals["files"] += 1

    walk(top, parent, add)
    identity = FileIdentity(here.st_dev, here.st_ino, totals["size"], totals["newest"])
    return Tree(identity, totals["freeable"], totals["files"])
