"""Looking at a directory: which entries match the template, what they are, and the disk.

Everything is read through a directory file descriptor with no-follow stats, so a
symlink named like a checkpoint is reported as such and never followed.
"""

from __future__ import annotations

import errno
import os
import stat
import zipfile

from ckptguard.model import (
    Checkpoint,
    DiskState,
    FileIdentity,
    Integrity,
    Inventory,
    Kind,
)
from ckptguard.naming import Template, pin_name

# Members every Keras 3 `.keras` archive holds; a zip without them is not a model.
KERAS_MEMBERS = frozenset({"metadata.json", "config.json"})
_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


class IntegrityCache:
    """Remembers content checks by file identity, so rescans do not reread unchanged files."""

    def __init__(self) -> None:
        self._results: dict[tuple[str, FileIdentity], Integrity] = {}

    def get(self, name: str, identity: FileIdentity) -> Integrity | None:
        return self._results.get((name, identity))

    def put(self, name: str, identity: FileIdentity, integrity: Integrity) -> None:
        self._results[(name, identity)] = integrity

    def retain(self, seen: set[tuple[str, FileIdentity]]) -> None:
        """Forget files that are gone, so the cache never outgrows the directory."""
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
    template: Template,
    *,
    cache: IntegrityCache | None = None,
) -> Inventory:
    """Every entry of the directory that matches `template`, with facts but no judgement."""
    cache = cache if cache is not None else IntegrityCache()
    names = set(os.listdir(dir_fd))
    checkpoints: list[Checkpoint] = []
    seen: set[tuple[str, FileIdentity]] = set()
    prefix, suffix = template.literal_ends
    for name in names:
        # A cheap test first: directories may hold many thousands of other files.
        if not (name.startswith(prefix) and name.endswith(suffix)):
            continue
        matched = template.match(name)
        if matched is None:
            continue
        step, fields = matched
        try:
            st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            continue  # deleted since the listing: nothing to decide about
        identity = identity_of(st)
        kind = kind_of(st.st_mode)
        integrity = Integrity.UNCHECKED
        if kind is Kind.REGULAR and template.checks_zip:
            integrity = _cached_check(dir_fd, name, identity, cache)
            seen.add((name, identity))
        checkpoints.append(
            Checkpoint(
                name=name,
                step=step,
                kind=kind,
                identity=identity,
                integrity=integrity,
                pinned=pin_name(name) in names,
                freeable=st.st_blocks * 512 if kind is Kind.REGULAR and st.st_nlink == 1 else 0,
                links=st.st_nlink,
                metrics=tuple(sorted(fields.items())),
            )
        )
    cache.retain(seen)
    checkpoints.sort(key=lambda c: (c.step, c.name))
    return Inventory(directory=directory, checkpoints=tuple(checkpoints), disk=disk_state(dir_fd))


def _cached_check(
    dir_fd: int, name: str, identity: FileIdentity, cache: IntegrityCache
) -> Integrity:
    known = cache.get(name, identity)
    if known is not None:
        return known
    result = check_keras_zip(dir_fd, name, identity)
    if result is None:
        return Integrity.INVALID  # changed while we looked: decide again on the next scan
    cache.put(name, identity, result)
    return result


def check_keras_zip(dir_fd: int, name: str, identity: FileIdentity) -> Integrity | None:
    """VALID when `name` is a readable Keras archive; None if it changed while we looked.

    A Keras save streams a zip into the final path and writes the central directory
    last, so a file still being written, truncated or forged fails to open as one.
    """
    try:
        fd = os.open(name, _OPEN_FLAGS, dir_fd=dir_fd)
    except OSError as error:
        if error.errno in (errno.EACCES, errno.EPERM):
            return Integrity.UNREADABLE
        if error.errno in (errno.ELOOP, errno.ENOENT, errno.ENXIO):
            return None  # swapped for a symlink or removed since lstat
        raise
    with os.fdopen(fd, "rb") as handle:
        if identity_of(os.fstat(fd)) != identity:
            return None
        try:
            with zipfile.ZipFile(handle) as archive:
                members = set(archive.namelist())
        except Exception:  # noqa: BLE001 - any malformed input just means "not valid"
            return Integrity.INVALID
    return Integrity.VALID if members >= KERAS_MEMBERS else Integrity.INVALID
