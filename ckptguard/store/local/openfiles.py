"""Which processes hold checkpoints open, and whether any holds one open for writing.

An unlinked file that is still open frees no space; a file open for writing is a save in
progress, whatever its content looks like so far. Files are identified by device and
inode, never by path: a trainer in a container, behind a bind mount or on another path
to the same directory reaches the same inode under another path. Only descriptors whose
file name (the last component of /proc/PID/fd/N, or a component of it for checkpoint
directories) names a checkpoint are stat'ed, so an unrelated dead network mount in some
process cannot hang us. Whether a descriptor writes comes from /proc/PID/fdinfo/N.

Processes we may not inspect (other users' when not root, or root processes for a root
with few capabilities) are skipped: the answer is then a lower bound, and the daemon's
watcher, which sees writes through any path without /proc, covers saves in progress.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass, field, replace

from ckptguard.core.model import Checkpoint, Inventory, Kind, Unit

PROC = "/proc"
_DELETED = " (deleted)"


@dataclass
class _Found:
    pids: set[int] = field(default_factory=set)
    writing: bool = False


@dataclass(frozen=True)
class OpenFiles:
    """Holders by (device, inode) of a file, and by (device, name) of a directory entry."""

    files: dict[tuple[int, int], _Found]
    inside: dict[tuple[int, str], _Found]

    def of(self, checkpoint: Checkpoint) -> _Found | None:
        """Who holds the checkpoint (any file of a group, any file inside a directory)."""
        if checkpoint.unit is Unit.DIRECTORY:
            return self.inside.get((checkpoint.identity.device, checkpoint.name))
        keys = [(p.identity.device, p.identity.inode) for p in checkpoint.parts] or [
            (checkpoint.identity.device, checkpoint.identity.inode)
        ]
        found = [self.files[k] for k in keys if k in self.files]
        if not found:
            return None
        return _Found({p for f in found for p in f.pids}, any(f.writing for f in found))


def scan_open_files(
    names: Collection[str], directories: Collection[str] = (), *, proc: str = PROC
) -> OpenFiles:
    """Open descriptors of other processes on files named in `names`, or inside
    directories named in `directories`."""
    files: dict[tuple[int, int], _Found] = defaultdict(_Found)
    inside: dict[tuple[int, str], _Found] = defaultdict(_Found)
    own = os.getpid()
    for pid in _pids(proc):
        if pid == own:
            continue
        fd_dir = f"{proc}/{pid}/fd"
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue  # gone, or not ours to look at
        for fd in fds:
            try:
                path = os.readlink(f"{fd_dir}/{fd}").removesuffix(_DELETED)
            except OSError:
                continue
            parts = path.split("/")
            in_directory = next((p for p in parts[:-1] if p in directories), None)
            if parts[-1] not in names and in_directory is None:
                continue
            try:
                st = os.stat(f"{fd_dir}/{fd}")
            except OSError:
                continue
            writing = _writes(f"{proc}/{pid}/fdinfo/{fd}")
            found = (
                files[(st.st_dev, st.st_ino)]
                if in_directory is None
                else inside[(st.st_dev, in_directory)]
            )
            found.pids.add(pid)
            found.writing |= writing
    return OpenFiles(dict(files), dict(inside))


def _pids(proc: str) -> list[int]:
    try:
        return [int(p) for p in os.listdir(proc) if p.isdigit()]
    except OSError:
        return []


def _writes(fdinfo: str) -> bool:
    """Whether the descriptor was opened for writing (O_WRONLY or O_RDWR in its flags)."""
    try:
        with open(fdinfo, encoding="ascii") as info:
            for line in info:
                if line.startswith("flags:"):
                    return int(line.split()[1], 8) & os.O_ACCMODE != os.O_RDONLY
    except (OSError, ValueError, IndexError):
        return False
    return False


def holders(
    wanted: Collection[tuple[int, int]], names: Collection[str], *, proc: str = PROC
) -> dict[tuple[int, int], tuple[int, ...]]:
    """For each wanted (device, inode) of a file named in `names`, the pids holding it."""
    found = scan_open_files(names, proc=proc).files
    return {key: tuple(sorted(found[key].pids)) for key in wanted if key in found}


def hidden_processes(*, proc: str = PROC) -> int:
    """How many other processes' open files we may not inspect (0: detection is complete)."""
    own = os.getpid()
    hidden = 0
    for pid in _pids(proc):
        if pid == own:
            continue
        try:
            os.listdir(f"{proc}/{pid}/fd")
        except PermissionError:
            hidden += 1
        except OSError:
            continue  # exited meanwhile
    return hidden


def with_holders(inventory: Inventory, *, proc: str = PROC) -> Inventory:
    """The same inventory with `open_by` and `writing` filled in from /proc."""
    names = {n for c in inventory.checkpoints for n in (c.name, *(p.name for p in c.parts))}
    directories = {c.name for c in inventory.checkpoints if c.unit is Unit.DIRECTORY}
    open_files = scan_open_files(names, directories, proc=proc)
    if not open_files.files and not open_files.inside:
        return inventory

    def annotate(checkpoint: Checkpoint) -> Checkpoint:
        if checkpoint.kind is not checkpoint.unit.expected_kind or checkpoint.kind is Kind.OTHER:
            return checkpoint
        found = open_files.of(checkpoint)
        if found is None:
            return checkpoint
        return replace(
            checkpoint,
            open_by=tuple(sorted(found.pids)),
            writing=checkpoint.writing or found.writing,
        )

    return replace(inventory, checkpoints=tuple(annotate(c) for c in inventory.checkpoints))
