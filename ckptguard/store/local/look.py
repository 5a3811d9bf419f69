"""Looking at one checkpoint made of files: a single file, or a group sharing a stem.

Each is stat'ed without following links and its content checked through a descriptor
opened with O_NOFOLLOW that must still be the entry stat'ed; a directory checkpoint is
handed to `directories`.
"""

from __future__ import annotations

import errno
import os
from dataclasses import replace

from ckptguard.core.layouts import Content, Layout, tf_shard
from ckptguard.core.model import Checkpoint, FileIdentity, Integrity, Kind, MetricSource, Part, Unit
from ckptguard.store.local.cache import IntegrityCache, Verdict
from ckptguard.store.local.directories import look_at_directory
from ckptguard.store.local.entries import identity_of, kind_of
from ckptguard.store.local.formats import check_file, check_tf_index, tf_shards_complete
from ckptguard.store.local.pointers import READ_FLAGS


def look_at(
    dir_fd: int,
    key: str,
    layout: Layout,
    cache: IntegrityCache,
    *,
    pinned: bool,
    members: list[str],
    matched: tuple[int, dict[str, float]] | None = None,
) -> Checkpoint | None:
    """The checkpoint `key` is now, or None if it is gone or no checkpoint."""
    matched = matched or layout.template.match(key)
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
    return _look_at_entry(dir_fd, base, layout, cache)


def _look_at_entry(
    dir_fd: int, base: Checkpoint, layout: Layout, cache: IntegrityCache
) -> Checkpoint | None:
    """A checkpoint that is one entry: a file, or a directory (handed on)."""
    try:
        st = os.stat(base.name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None  # deleted meanwhile: nothing to decide about
    except OSError:
        # One entry we cannot even stat (a FUSE mount refusing root, say) is left alone;
        # it must not stop the guard of the whole directory.
        return replace(base, integrity=Integrity.UNREADABLE)
    kind = kind_of(st.st_mode)
    identity = identity_of(st)
    if kind is not layout.unit.expected_kind:
        return replace(base, kind=kind, identity=identity)  # an impostor: never followed
    if layout.unit is Unit.DIRECTORY:
        return look_at_directory(dir_fd, replace(base, kind=kind, identity=identity), layout, cache)
    integrity = Integrity.UNCHECKED
    if layout.content is not Content.NONE:
        integrity = _integrity(dir_fd, base.name, identity, st.st_ctime_ns, layout.content, cache)
    # One construction, not a replace per fact: scans of 100,000 files add up.
    return Checkpoint(
        name=base.name,
        step=base.step,
        kind=kind,
        identity=identity,
        integrity=integrity,
        pinned=base.pinned,
        freeable=st.st_blocks * 512 if st.st_nlink == 1 else 0,
        links=st.st_nlink,
        metrics=base.metrics,
        metric_sources=base.metric_sources,
        unit=base.unit,
    )


def _integrity(
    dir_fd: int,
    name: str,
    identity: FileIdentity,
    ctime_ns: int,
    content: Content,
    cache: IntegrityCache,
) -> Integrity:
    """A file's content verdict: remembered by identity and ctime, else checked."""
    verdict = cache.get(name, identity, ctime_ns)
    if verdict is None:
        verdict = check_regular(dir_fd, name, identity, content)
        if verdict is None:
            return Integrity.INVALID  # changed while we looked: decide again next time
        cache.put(name, identity, verdict, ctime_ns)
    return verdict.integrity


def _judged(
    dir_fd: int,
    checkpoint: Checkpoint,
    marker: str,
    marker_identity: FileIdentity,
    content: Content,
    cache: IntegrityCache,
) -> Checkpoint:
    """A group with its content verdict: remembered by identity, else its marker checked."""
    verdict = cache.get(checkpoint.name, checkpoint.identity)
    if verdict is None:
        verdict = check_regular(dir_fd, marker, marker_identity, content)
        if verdict is None:
            # Changed while we looked: decide again on the next scan.
            return replace(checkpoint, integrity=Integrity.INVALID)
        cache.put(checkpoint.name, checkpoint.identity, verdict)
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
    found = _group_parts(dir_fd, sorted(members, key=lambda n: (n != index_name, n)))
    if found is None:
        return replace(base, integrity=Integrity.UNREADABLE)
    parts, blocks = found
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
    return _judged(dir_fd, checkpoint, index_name, parts[0].identity, Content.TF_GROUP, cache)


def _group_parts(dir_fd: int, names: list[str]) -> tuple[list[Part], int] | None:
    """The group's files still there and the bytes deleting them frees; None if one of
    them cannot even be stat'ed."""
    parts: list[Part] = []
    blocks = 0
    for name in names:
        try:
            st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            continue
        except OSError:
            return None
        parts.append(Part(name, kind_of(st.st_mode), identity_of(st)))
        blocks += st.st_blocks * 512 if st.st_nlink == 1 else 0
    return parts, blocks
