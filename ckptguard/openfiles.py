"""Which processes hold files open: an unlinked file that is still open frees no space.

Reads /proc/<pid>/fd directly and compares (device, inode), which stays right after
renames and deletions, unlike path-based listings. Processes we may not inspect
(other users' when not root) are silently skipped: the answer is then a lower bound.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import replace

from ckptguard.model import Checkpoint, Inventory, Kind

PROC = "/proc"


def holders(
    wanted: Iterable[tuple[int, int]], *, under: str | None = None, proc: str = PROC
) -> dict[tuple[int, int], tuple[int, ...]]:
    """For each wanted (device, inode), the pids other than ours that hold it open.

    With `under`, only descriptors whose path lies below that directory are stat'ed:
    following every open file of every process could hang on a dead NFS or FUSE mount.
    """
    targets = set(wanted)
    found: dict[tuple[int, int], set[int]] = defaultdict(set)
    if not targets:
        return {}
    own = os.getpid()
    try:
        pids = [int(p) for p in os.listdir(proc) if p.isdigit()]
    except OSError:
        return {}
    for pid in pids:
        if pid == own:
            continue
        fd_dir = f"{proc}/{pid}/fd"
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue  # gone, or not ours to look at
        for fd in fds:
            link = f"{fd_dir}/{fd}"
            try:
                if under is not None and not os.readlink(link).startswith(under + "/"):
                    continue
                st = os.stat(link)
            except OSError:
                continue
            key = (st.st_dev, st.st_ino)
            if key in targets:
                found[key].add(pid)
    return {key: tuple(sorted(pids_)) for key, pids_ in found.items()}


def hidden_processes(*, proc: str = PROC) -> int:
    """How many other processes' open files we may not inspect (0: detection is complete)."""
    own = os.getpid()
    hidden = 0
    try:
        pids = [p for p in os.listdir(proc) if p.isdigit() and int(p) != own]
    except OSError:
        return 0
    for pid in pids:
        try:
            os.listdir(f"{proc}/{pid}/fd")
        except PermissionError:
            hidden += 1
        except OSError:
            continue  # exited meanwhile
    return hidden


def with_holders(inventory: Inventory, *, under: str | None = None, proc: str = PROC) -> Inventory:
    """The same inventory with `open_by` filled in for every regular checkpoint."""
    regular = [c for c in inventory.checkpoints if c.kind is Kind.REGULAR]
    keys = ((c.identity.device, c.identity.inode) for c in regular)
    held = holders(keys, under=under, proc=proc)
    if not held:
        return inventory

    def annotate(checkpoint: Checkpoint) -> Checkpoint:
        key = (checkpoint.identity.device, checkpoint.identity.inode)
        return replace(checkpoint, open_by=held[key]) if key in held else checkpoint

    return replace(inventory, checkpoints=tuple(annotate(c) for c in inventory.checkpoints))
