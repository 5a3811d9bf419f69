"""Looking at a directory: which entries make checkpoints, what they are, and the disk.

Everything is read through directory file descriptors with no-follow stats and opens,
so a symlink named like a checkpoint (or inside a checkpoint directory) is reported as
such and never followed, and a directory tree is never left for another filesystem.
"""

from __future__ import annotations

import errno
import os
import stat
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, replace

from ckptguard.core.layouts import (
    DCP_METADATA,
    TRAINER_STATE,
    Content,
    Layout,
    tf_shard,
)
from ckptguard.core.model import (
    Checkpoint,
    DiskState,
    FileIdentity,
    Integrity,
    Inventory,
    Kind,
    MetricSource,
    Part,
    Unit,
)
from ckptguard.core.naming import pin_name
from ckptguard.core.runs import boundary_candidates, step_order
from ckptguard.store.local.birth import birth_ns
from ckptguard.store.local.formats import (
    MAX_STATE_BYTES,
    check_file,
    check_tf_index,
    global_step_in_head,
    tf_shards_complete,
    trainer_state_metrics,
)
from ckptguard.store.local.pointers import (
    READ_FLAGS,
    protected_by,
    read_head,
    read_pointers,
    read_small,
)
from ckptguard.store.local.trees import DIR_FLAGS, Tree, TreeChanged, Unwalkable, measure_tree

Metrics = tuple[tuple[str, float], ...]


@dataclass(frozen=True)
class Verdict:
    integrity: Integrity
    metrics: Metrics = ()


class IntegrityCache:
    """Remembers content checks by identity, so rescans do not reread unchanged checkpoints."""

    def __init__(self) -> None:
        self._results: dict[tuple[str, FileIdentity], Verdict] = {}

    def get(self, name: str, identity: FileIdentity) -> Verdict | None:
        return self._results.get((name, identity))

    def put(self, name: str, identity: FileIdentity, verdict: Verdict) -> None:
        self._results[(name, identity)] = verdict

    def retain(self, seen: set[tuple[str, FileIdentity]]) -> None:
        """Forget checkpoints that are gone, so the cache never outgrows the directory."""
        self._results = {k: v for k, v in self._results.items() if k in seen}


def open_directory(path: str) -> int:
    """A file descriptor for `path`, which must be a directory (symlinks to one are allowed)."""
    return os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)


def identity_of(st: os.stat_result) -> FileIdentity:
    return FileIdentity(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def kind_of(mode: int) -> Kind:
    if stat.S_ISREG(mode):
        return Kind.REGULAR
    if stat.S_ISLNK(mode):
        return Kind.SYMLINK
    if stat.S_ISDIR(mode):
        return Kind.DIRECTORY
    return Kind.OTHER


def disk_state(dir_fd: int) -> DiskState:
    """Free space as an unprivileged writer (the trainer) sees it: root's reserve excluded."""
    vfs = os.fstatvfs(dir_fd)
    return DiskState(total=vfs.f_blocks * vfs.f_frsize, free=vfs.f_bavail * vfs.f_frsize)


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
    prefix = layout.template.literal_ends[0]
    entries: dict[str, list[str]] = defaultdict(list)
    for name in names:
        # A cheap test first: directories may hold many thousands of other files.
        if not name.startswith(prefix):
            continue
        key = layout.key_of(name)
        if key is not None:
            entries[key].append(name)
    checkpoints = []
    for key, members in entries.items():
        checkpoint = _look_at(
            dir_fd, key, layout, cache, pinned=pin_name(key) in names, members=members
        )
        if checkpoint is not None:
            checkpoints.append(checkpoint)
        if progress is not None:
            progress()
    cache.retain({(c.name, c.identity) for c in checkpoints})
    return _inventory(directory, checkpoints, dir_fd, layout.preset)


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
        checkpoint = _look_at(dir_fd, key, layout, cache, pinned=pinned, members=[key])
        if checkpoint is not None:
            kept.append(checkpoint)
    return _inventory(previous.directory, kept, dir_fd, layout.preset)


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
    directory: str, checkpoints: list[Checkpoint], dir_fd: int, preset: str
) -> Inventory:
    pointers = read_pointers(dir_fd)
    checkpoints = [
        replace(c, protected_by=protected_by(c, pointers)) if pointers else c for c in checkpoints
    ]
    births = {c.name: _birth(dir_fd, c) for c in boundary_candidates(checkpoints)}
    checkpoints = [
        replace(c, created_ns=births[c.name]) if c.name in births else c for c in checkpoints
    ]
    checkpoints.sort(key=step_order)
    return Inventory(directory, tuple(checkpoints), disk_state(dir_fd), preset)


def _birth(dir_fd: int, checkpoint: Checkpoint) -> int | None:
    """When the checkpoint was created: a group by its first file, not its marker."""
    if checkpoint.created_ns is not None:
        return checkpoint.created_ns
    births = [birth_ns(dir_fd, p.name) for p in checkpoint.parts] or [
        birth_ns(dir_fd, checkpoint.name)
    ]
    known = [b for b in births if b is not None]
    return min(known) if known and len(known) == len(births) else None


def _look_at(
    dir_fd: int,
    key: str,
    layout: Layout,
    cache: IntegrityCache,
    *,
    pinned: bool,
    members: list[str],
) -> Checkpoint | None:
    """The checkpoint `key` is now, or None if it is gone or no checkpoint."""
    matched = layout.template.match(key)
    if matched is None:
        return None
    step, fields = matched
    base = Checkpoint(
        name=key,
        step=step,
        kind=Kind.REGULAR,
        identity=FileIdentity(0, 0, 0, 0),
        pinned=pinned,
        metrics=tuple(sorted(fields.items())),
        metric_sources=tuple((k, MetricSource.NAME) for k in sorted(fields)),
        unit=layout.unit,
    )
    if layout.unit is Unit.GROUP:
        return _look_at_group(dir_fd, base, members, cache)
    try:
        st = os.stat(key, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None  # deleted meanwhile: nothing to decide about
    except OSError:
        # One entry we cannot even stat (a FUSE mount refusing root, say) is left alone;
        # it must not stop the guard of the whole directory.
        return replace(base, integrity=Integrity.UNREADABLE)
    kind = kind_of(st.st_mode)
    checkpoint = replace(base, kind=kind, identity=identity_of(st))
    if kind is not layout.unit.expected_kind:
        return checkpoint  # a symlink or other impostor: reported, never followed
    if layout.unit is Unit.DIRECTORY:
        return _look_at_directory(dir_fd, checkpoint, layout, cache)
    freeable = st.st_blocks * 512 if st.st_nlink == 1 else 0
    checkpoint = replace(checkpoint, links=st.st_nlink, freeable=freeable)
    if layout.content is Content.NONE:
        return checkpoint
    verdict = cache.get(key, checkpoint.identity)
    if verdict is None:
        verdict = check_regular(dir_fd, key, checkpoint.identity, layout.content)
        if verdict is None:
            # Changed while we looked: decide again on the next scan.
            return replace(checkpoint, integrity=Integrity.INVALID)
        cache.put(key, checkpoint.identity, verdict)
    return replace(checkpoint, integrity=verdict.integrity)


def _open_checked(dir_fd: int, name: str, identity: FileIdentity) -> int | Verdict | None:
    """An fd for the entry if it still has `identity`; a Verdict if we may not read it."""
    try:
        fd = os.open(name, READ_FLAGS, dir_fd=dir_fd)
    except OSError as error:
        if error.errno in (errno.ELOOP, errno.ENOENT, errno.ENXIO):
            return None  # swapped for a symlink or removed since lstat
        # EACCES, or EAGAIN from a lease someone holds on it: left alone, never a reason
        # to stop guarding the rest of the directory.
        return Verdict(Integrity.UNREADABLE)
    if identity_of(os.fstat(fd)) != identity:
        os.close(fd)
        return None
    return fd


def check_regular(
    dir_fd: int, name: str, identity: FileIdentity, content: Content
) -> Verdict | None:
    """The content check of a regular file; None if it changed while we looked."""
    opened = _open_checked(dir_fd, name, identity)
    if not isinstance(opened, int):
        return opened
    with os.fdopen(opened, "rb") as handle:
        if content is Content.TF_GROUP:
            return Verdict(check_tf_index(handle, identity.size))
        return Verdict(check_file(handle, identity.size, content))


def _look_at_group(
    dir_fd: int, base: Checkpoint, members: list[str], cache: IntegrityCache
) -> Checkpoint | None:
    """A TensorFlow checkpoint: `<stem>.index` (the marker) and its data shards."""
    index_name = base.name + ".index"
    parts: list[Part] = []
    blocks = 0
    for name in sorted(members, key=lambda n: (n != index_name, n)):
        try:
            st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            continue
        except OSError:
            return replace(base, integrity=Integrity.UNREADABLE)
        parts.append(Part(name, kind_of(st.st_mode), identity_of(st)))
        blocks += st.st_blocks * 512 if st.st_nlink == 1 else 0
    if not parts:
        return None
    odd = next((p for p in parts if p.kind is not Kind.REGULAR), None)
    identity = FileIdentity(
        parts[0].identity.device,
        parts[0].identity.inode,
        sum(p.identity.size for p in parts),
        max(p.identity.mtime_ns for p in parts),
    )
    checkpoint = replace(
        base,
        kind=Kind.REGULAR if odd is None else odd.kind,
        identity=identity,
        parts=tuple(parts),
        freeable=blocks,
    )
    if odd is not None:
        return checkpoint
    shards = [s for s in (tf_shard(p.name) for p in parts) if s is not None]
    if parts[0].name != index_name or not tf_shards_complete(shards):
        return replace(checkpoint, integrity=Integrity.INVALID)
    verdict = cache.get(base.name, identity)
    if verdict is None:
        verdict = check_regular(dir_fd, index_name, parts[0].identity, Content.TF_GROUP)
        if verdict is None:
            return replace(checkpoint, integrity=Integrity.INVALID)
        cache.put(base.name, identity, verdict)
    return replace(checkpoint, integrity=verdict.integrity)


def _look_at_directory(
    dir_fd: int, checkpoint: Checkpoint, layout: Layout, cache: IntegrityCache
) -> Checkpoint | None:
    """A directory checkpoint, measured whole; complete per its layout's marker or name."""
    try:
        fd = os.open(checkpoint.name, DIR_FLAGS, dir_fd=dir_fd)
    except OSError as error:
        if error.errno in (errno.ELOOP, errno.ENOENT, errno.ENOTDIR):
            return None  # replaced since lstat: the next look decides
        return replace(checkpoint, integrity=Integrity.UNREADABLE)
    try:
        st = os.fstat(fd)
        if (st.st_dev, st.st_ino) != (checkpoint.identity.device, checkpoint.identity.inode):
            return None
        tree = _measure(fd, dir_fd)
        if isinstance(tree, Integrity):
            # Kept in the inventory either way, so the next event looks at it again.
            return replace(checkpoint, integrity=tree)
        checkpoint = replace(checkpoint, identity=tree.identity, freeable=tree.freeable)
        verdict = cache.get(checkpoint.name, tree.identity)
        if verdict is None:
            verdict = _directory_verdict(fd, checkpoint.step, layout, tree)
            # Only a complete verdict is remembered: a marker renamed into place (DCP's
            # .metadata) leaves total size and, on coarse clocks, newest mtime unchanged.
            if verdict.integrity is Integrity.VALID:
                cache.put(checkpoint.name, tree.identity, verdict)
    finally:
        os.close(fd)
    return _with_content_metrics(replace(checkpoint, integrity=verdict.integrity), verdict.metrics)


def _measure(fd: int, dir_fd: int, attempts: int = 3) -> Tree | Integrity:
    """The tree of a checkpoint directory; UNREADABLE if it is no checkpoint to walk,
    INVALID if it kept changing under every walk (a save still writing it)."""
    for _ in range(attempts):
        try:
            return measure_tree(fd, dir_fd)
        except TreeChanged:
            continue
        except (PermissionError, Unwalkable):
            return Integrity.UNREADABLE
        except OSError as error:
            if error.errno not in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
                return Integrity.UNREADABLE
    return Integrity.INVALID


def _directory_verdict(fd: int, step: int, layout: Layout, tree: Tree) -> Verdict:
    found = next((m for m in layout.markers if _regular_in(fd, m)), None)
    if layout.content is Content.IN_PLACE:
        # Renamed into place when finished; the marker is for stores without renames.
        complete = found is not None or tree.files > 0
        return Verdict(Integrity.VALID if complete else Integrity.INVALID)
    if found == TRAINER_STATE:
        return _trainer_state_verdict(fd, step)
    if found == DCP_METADATA:
        # DCP pickles its metadata, then renames it into place: a pickle ends in STOP.
        data = read_small(fd, found, MAX_STATE_BYTES)
        complete = data is not None and data.endswith(b".")
        return Verdict(Integrity.VALID if complete else Integrity.INVALID)
    return Verdict(Integrity.INVALID if found is None else Integrity.VALID)


def _trainer_state_verdict(fd: int, step: int) -> Verdict:
    """Complete when trainer_state.json parses and says this step; metrics from its rows.

    One too big to parse here still marks a finished save when its head names this
    step (the Trainer writes sorted keys, `global_step` among the first), but then
    tells no metrics.
    """
    data = read_small(fd, TRAINER_STATE, MAX_STATE_BYTES)
    if data is None:
        if _regular_size(fd, TRAINER_STATE) <= MAX_STATE_BYTES:
            return Verdict(Integrity.INVALID)
        head = read_head(fd, TRAINER_STATE, 64 * 1024)
        found = head is not None and global_step_in_head(head) == step
        return Verdict(Integrity.VALID if found else Integrity.INVALID)
    metrics = trainer_state_metrics(data, step)
    if metrics is None:
        return Verdict(Integrity.INVALID)  # still being written, or not this checkpoint's
    return Verdict(Integrity.VALID, metrics)


def _regular_size(fd: int, name: str) -> int:
    try:
        return os.stat(name, dir_fd=fd, follow_symlinks=False).st_size
    except OSError:
        return 0


def _with_content_metrics(checkpoint: Checkpoint, from_content: Metrics) -> Checkpoint:
    """The checkpoint with the metrics its content states; its name's fields win."""
    if not from_content:
        return checkpoint
    sources = {k: MetricSource.CHECKPOINT for k, _ in from_content}
    sources.update(dict(checkpoint.metric_sources))
    return replace(
        checkpoint,
        metrics=tuple(sorted({**dict(from_content), **dict(checkpoint.metrics)}.items())),
        metric_sources=tuple(sorted(sources.items(), key=lambda item: item[0])),
    )


def _regular_in(fd: int, name: str) -> bool:
    try:
        return stat.S_ISREG(os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode)
    except OSError:
        return False


def entry_exists(dir_fd: int, name: str) -> bool:
    """Whether `name` exists in the directory (as anything; never followed)."""
    try:
        os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    except OSError as error:
        if error.errno == errno.ENAMETOOLONG:
            return False  # such an entry cannot exist: e.g. a pin sidecar of a long name
        raise
    return True
