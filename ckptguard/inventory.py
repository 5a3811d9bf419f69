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
    prefix, suffix = template.literal_ends
    checkpoints = []
    for name in names:
        # A cheap test first: directories may hold many thousands of other files.
        if not (name.startswith(prefix) and name.endswith(suffix)):
            continue
        checkpoint = _look_at(dir_fd, name, template, cache, pinned=pin_name(name) in names)
        if checkpoint is not None:
            checkpoints.append(checkpoint)
    cache.retain({(c.name, c.identity) for c in checkpoints})
    return _inventory(directory, checkpoints, dir_fd)


def refresh(
    dir_fd: int,
    previous: Inventory,
    names: set[str],
    template: Template,
    cache: IntegrityCache,
) -> Inventory:
    """The checkpoints of `previous` and the new `names` (events named them), looked at again.

    No listing, so other files in the directory cost nothing; every known checkpoint is
    still re-stat'ed, because a change no event reports (touch, chmod) alters identities.
    """
    kept: list[Checkpoint] = []
    for name in names | {c.name for c in previous.checkpoints}:
        checkpoint = _look_at(
            dir_fd, name, template, cache, pinned=entry_exists(dir_fd, pin_name(name))
        )
        if checkpoint is not None:
            kept.append(checkpoint)
    return _inventory(previous.directory, kept, dir_fd)


def _inventory(directory: str, checkpoints: list[Checkpoint], dir_fd: int) -> Inventory:
    checkpoints.sort(key=lambda c: (c.step, c.name))
    return Inventory(directory=directory, checkpoints=tuple(checkpoints), disk=disk_state(dir_fd))


def _look_at(
    dir_fd: int, name: str, template: Template, cache: IntegrityCache, *, pinned: bool
) -> Checkpoint | None:
    """The checkpoint entry `name` is now, or None if it is gone or no checkpoint."""
    matched = template.match(name)
    if matched is None:
        return None
    step, fields = matched
    try:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None  # deleted meanwhile: nothing to decide about
    identity = identity_of(st)
    kind = kind_of(st.st_mode)
    integrity = Integrity.UNCHECKED
    if kind is Kind.REGULAR and template.checks_zip:
        integrity = _cached_check(dir_fd, name, identity, cache)
    return Checkpoint(
        name=name,
        step=step,
        kind=kind,
        identity=identity,
        integrity=integrity,
        pinned=pinned,
        freeable=st.st_blocks * 512 if kind is Kind.REGULAR and st.st_nlink == 1 else 0,
        links=st.st_nlink,
        metrics=tuple(sorted(fields.items())),
    )


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
