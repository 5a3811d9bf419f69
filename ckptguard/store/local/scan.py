"""Looking at a directory: which entries make checkpoints, what they are, and the disk.

Everything is read through directory file descriptors with no-follow stats and opens,
so a symlink named like a checkpoint (or inside a checkpoint directory) is reported as
such and never followed, and a directory tree is never left for another filesystem.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Callable
from dataclasses import replace

from ckptguard.core.layouts import Layout
from ckptguard.core.model import Checkpoint, Integrity, Inventory, Kind, Unit
from ckptguard.core.naming import pin_name
from ckptguard.core.runs import boundary_candidates, step_order
from ckptguard.store.local.birth import birth_ns
from ckptguard.store.local.cache import IntegrityCache
from ckptguard.store.local.entries import disk_state, entry_exists, identity_of
from ckptguard.store.local.look import look_at
from ckptguard.store.local.pointers import declared, protected_by, read_pointers


def scan(
    dir_fd: int,
    directory: str,
    layout: Layout,
    *,
    cache: IntegrityCache | None = None,
    progress: Callable[[], None] | None = None,
) -> Inventory:
    """Every checkpoint in the directory, with facts but no judgement.

    `progress` is called after each checkpoint looked at (the daemon feeds systemd's
    watchdog with it: walking many large checkpoint directories can take a while).
    """
    cache = cache if cache is not None else IntegrityCache()
    names = set(os.listdir(dir_fd))
    entries, matches = _grouped(names, layout)
    checkpoints = []
    for key, members in entries.items():
        pinned = pin_name(key) in names
        checkpoint = look_at(
            dir_fd, key, layout, cache, pinned=pinned, members=members, matched=matches.get(key)
        )
        if checkpoint is not None:
            checkpoints.append(checkpoint)
        if progress is not None:
            progress()
    cache.retain({(c.name, c.identity) for c in checkpoints})
    return _inventory(directory, checkpoints, dir_fd, layout)


def _grouped(
    names: set[str], layout: Layout
) -> tuple[dict[str, list[str]], dict[str, tuple[int, dict[str, float]]]]:
    """The names that make each checkpoint, by its key, and what each single name matched
    (matched once here, not again in `look_at`)."""
    prefix = layout.template.literal_ends[0]
    entries: dict[str, list[str]] = defaultdict(list)
    matches: dict[str, tuple[int, dict[str, float]]] = {}
    for name in names:
        # A cheap test first: directories may hold many thousands of other files.
        if not name.startswith(prefix):
            continue
        if layout.unit is Unit.GROUP:
            key = layout.key_of(name)
            if key is not None:
                entries[key].append(name)
        elif (found := layout.template.match(name)) is not None:
            entries[name].append(name)
            matches[name] = found
    return entries, matches


def refresh(
    dir_fd: int,
    previous: Inventory,
    names: set[str],
    layout: Layout,
    cache: IntegrityCache,
    *,
    progress: Callable[[], None] | None = None,
) -> Inventory:
    """The checkpoints of `previous` and those events named (`names`), looked at again.

    No listing, so other files in the directory cost nothing; every known checkpoint is
    still re-stat'ed, because a change no event reports (touch, chmod) alters identities
    (a directory is walked again only when named or visibly changed). A group's members
    can only be found by listing, so groups are always scanned.
    """
    if layout.unit is Unit.GROUP:
        return scan(dir_fd, previous.directory, layout, cache=cache, progress=progress)
    keys = {k for k in (layout.key_of(n) for n in names) if k is not None}
    known = {c.name: c for c in previous.checkpoints}
    kept: list[Checkpoint] = []
    for key in keys | set(known):
        if progress is not None:
            progress()
        pinned = entry_exists(dir_fd, pin_name(key))
        unchanged = None if key in keys else _unchanged_directory(dir_fd, known[key])
        if unchanged is not None:
            kept.append(replace(unchanged, pinned=pinned))
            continue
        checkpoint = look_at(dir_fd, key, layout, cache, pinned=pinned, members=[key])
        if checkpoint is not None:
            kept.append(checkpoint)
    return _inventory(previous.directory, kept, dir_fd, layout)


def unchanged(dir_fd: int, previous: Inventory, layout: Layout) -> Inventory | None:
    """`previous` again (with today's disk) when a listing shows the same file checkpoints,
    pins and pointers, each still the file it was; None when anything differs.

    What a rescan that finds nothing changed costs: a listing and a stat per checkpoint,
    not a look at each (directories and groups are always looked at again).
    """
    if layout.unit is not Unit.FILE or not all(_settled(c) for c in previous.checkpoints):
        return None
    names = set(os.listdir(dir_fd))
    prefix = layout.template.literal_ends[0]
    known = {c.name: c for c in previous.checkpoints}
    matching = {n for n in names if n.startswith(prefix) and layout.template.match(n)}
    if matching != known.keys():
        return None
    pointers = read_pointers(dir_fd)
    for name, checkpoint in known.items():
        try:
            st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        except OSError:
            return None
        freeable = st.st_blocks * 512 if st.st_nlink == 1 else 0
        if (
            identity_of(st) != checkpoint.identity
            or (st.st_nlink, freeable) != (checkpoint.links, checkpoint.freeable)
            or (pin_name(name) in names) is not checkpoint.pinned
            or protected_by(checkpoint, pointers) != checkpoint.protected_by
        ):
            return None
    return replace(previous, disk=disk_state(dir_fd))


def _settled(checkpoint: Checkpoint) -> bool:
    """Judged complete by its content, and nobody writing it: nothing time will change."""
    return checkpoint.integrity is Integrity.VALID and not checkpoint.writing


def _unchanged_directory(dir_fd: int, known: Checkpoint) -> Checkpoint | None:
    """`known` itself if it is a directory that no event named and that visibly did not change.

    Walking every checkpoint directory on every event would cost as much as a rescan.
    Files written inside one raise events that name it (the watch is recursive), and a
    new entry at its top moves its mtime past the newest one seen; changes no event
    reports (a touch) are still caught by the re-measure before deletion and by rescans.
    """
    if known.unit is not Unit.DIRECTORY or known.kind is not Kind.DIRECTORY:
        return None
    try:
        st = os.stat(known.name, dir_fd=dir_fd, follow_symlinks=False)
    except OSError:
        return None
    same = (st.st_dev, st.st_ino) == (known.identity.device, known.identity.inode)
    return known if same and st.st_mtime_ns <= known.identity.mtime_ns else None


def _inventory(
    directory: str, checkpoints: list[Checkpoint], dir_fd: int, layout: Layout
) -> Inventory:
    pointers = read_pointers(dir_fd)
    checkpoints = [
        replace(c, protected_by=protected_by(c, pointers)) if pointers else c for c in checkpoints
    ]
    checkpoints = [declared(c, pointers, layout.declared_by) for c in checkpoints]
    births = {c.name: _birth(dir_fd, c) for c in boundary_candidates(checkpoints)}
    checkpoints = [
        replace(c, created_ns=births[c.name]) if c.name in births else c for c in checkpoints
    ]
    checkpoints.sort(key=step_order)
    return Inventory(directory, tuple(checkpoints), disk_state(dir_fd), layout.preset)


def _birth(dir_fd: int, checkpoint: Checkpoint) -> int | None:
    """When the checkpoint was created: a group by its first file, not its marker."""
    if checkpoint.created_ns is not None:
        return checkpoint.created_ns
    births = [birth_ns(dir_fd, p.name) for p in checkpoint.parts] or [
        birth_ns(dir_fd, checkpoint.name)
    ]
    known = [b for b in births if b is not None]
    return min(known) if known and len(known) == len(births) else None
