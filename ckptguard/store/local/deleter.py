"""Deleting one planned checkpoint from a local directory: the only code that deletes.

Right before deleting, every entry of the checkpoint is stat'ed again without following
links (a directory's whole tree is measured again); it is deleted only if it is still
what the plan was made from (device, inode, size, newest mtime), and has neither been
named by a "latest" pointer nor pinned since (the pin is looked for last).

A checkpoint is deleted so that no moment shows a half-deleted one that still looks
complete: a group loses its marker (`.index`) first; a directory is first renamed out of
the checkpoint names, then emptied (markers first) through directory descriptors,
never following a link and never entering another mount (see `trees`).
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from collections.abc import Callable

from ckptguard.core.decisions import Decision, Result, Status
from ckptguard.core.layouts import MARKERS, group_stem
from ckptguard.core.model import Checkpoint, Kind, Part, Unit
from ckptguard.core.naming import pin_name
from ckptguard.store.local.entries import disk_state, entry_exists, identity_of, kind_of
from ckptguard.store.local.pointers import protected_by, read_pointers
from ckptguard.store.local.trees import DIR_FLAGS, Unwalkable, measure_tree, walk

# A directory being deleted is first renamed to this prefix, its inode and a random tag.
TRASH_PREFIX = ".ckptguard-deleting-"
_CHANGED = "changed since it was planned: not touched"


class PartlyDeleted(Exception):
    """Deletion stopped after the checkpoint stopped looking complete; `detail` says where."""


def delete_one(decision: Decision, dir_fd: int) -> Result:
    """Delete one planned checkpoint if it is still what was planned; never raises OSError."""
    try:
        return _delete_checked(decision, dir_fd)
    except OSError as error:
        return Result(decision, Status.FAILED, _describe(error))


def _delete_checked(decision: Decision, dir_fd: int) -> Result:
    checkpoint = decision.checkpoint
    try:
        refusal = _changed_since_planned(checkpoint, dir_fd)
    except FileNotFoundError:
        return Result(decision, Status.SKIPPED, "already gone")
    except OSError as error:
        return Result(decision, Status.FAILED, _describe(error))
    if refusal is not None:
        return Result(decision, Status.SKIPPED, refusal)
    free_before = disk_state(dir_fd).free
    last_look = _pinned_since(checkpoint.name, dir_fd)
    try:
        if checkpoint.unit is Unit.DIRECTORY:
            refusal = _delete_directory(checkpoint, dir_fd, last_look)
        else:
            refusal = _delete_files(checkpoint, dir_fd, last_look)
    except FileNotFoundError:
        return Result(decision, Status.SKIPPED, "already gone")
    except OSError as error:
        return Result(decision, Status.FAILED, _describe(error), free_before=free_before)
    except PartlyDeleted as partly:
        return Result(decision, Status.FAILED, str(partly), free_before=free_before)
    if refusal is not None:
        return Result(decision, Status.SKIPPED, refusal)
    return Result(
        decision, Status.DELETED, free_before=free_before, free_after=disk_state(dir_fd).free
    )


def _changed_since_planned(checkpoint: Checkpoint, dir_fd: int) -> str | None:
    """Why the checkpoint must be left alone (changed, or named by a pointer), or None."""
    if checkpoint.unit is Unit.GROUP:
        refusal = _group_changed(checkpoint, dir_fd)
    else:
        st = os.stat(checkpoint.name, dir_fd=dir_fd, follow_symlinks=False)
        refusal = _entry_changed(checkpoint, st)
    if refusal is None:
        pointer = protected_by(checkpoint, read_pointers(dir_fd))
        if pointer is not None:
            refusal = f"named by {pointer} since planned"
    return refusal


def _pinned_since(name: str, dir_fd: int) -> Callable[[], str | None]:
    """The last look, right before the step that cannot be undone: a pin made at any
    moment before it is honoured."""

    def look() -> str | None:
        if entry_exists(dir_fd, pin_name(name)):
            return f"pinned by {pin_name(name)} since planned"
        return None

    return look


def _delete_files(
    checkpoint: Checkpoint, dir_fd: int, last_look: Callable[[], str | None]
) -> str | None:
    """Unlink a file, or a group's files with the marker first; None when done, else why
    it was left alone."""
    parts = checkpoint.parts or (Part(checkpoint.name, Kind.REGULAR, checkpoint.identity),)
    refusal = last_look()
    if refusal is not None:
        return refusal
    os.unlink(parts[0].name, dir_fd=dir_fd)
    for part in parts[1:]:
        try:
            os.unlink(part.name, dir_fd=dir_fd)
        except FileNotFoundError:
            continue
        except OSError as error:
            raise PartlyDeleted(
                f"{_describe(error)} on {part.name}; {parts[0].name} is already deleted, "
                "so the rest no longer counts as a checkpoint"
            ) from None
    return None


def _delete_directory(
    checkpoint: Checkpoint, dir_fd: int, last_look: Callable[[], str | None]
) -> str | None:
    """Delete a directory checkpoint if its tree is still the one planned on.

    None when deleted; else why it was left alone.
    """
    try:
        fd = os.open(checkpoint.name, DIR_FLAGS, dir_fd=dir_fd)
    except OSError as error:
        if error.errno in (errno.ELOOP, errno.ENOTDIR):
            return _CHANGED  # swapped for a symlink or a file since the stat
        raise
    try:
        refusal = _tree_changed(checkpoint, fd, dir_fd) or last_look()
        if refusal is not None:
            return refusal
        trash = _rename_away(checkpoint, fd, dir_fd)
        if not trash.startswith(TRASH_PREFIX):
            return trash  # why it was not renamed
        _empty(fd, dir_fd, trash)
    finally:
        os.close(fd)
    return None


def _tree_changed(checkpoint: Checkpoint, fd: int, dir_fd: int) -> str | None:
    """Why the open directory is no longer the tree planned on, or None."""
    st = os.fstat(fd)
    if (st.st_dev, st.st_ino) != (checkpoint.identity.device, checkpoint.identity.inode):
        return _CHANGED
    try:
        if measure_tree(fd, dir_fd).identity != checkpoint.identity:
            return _CHANGED
    except FileNotFoundError:
        return _CHANGED  # something inside went away while we measured
    except Unwalkable as error:
        return f"{error}: not touched"
    return None


def _rename_away(checkpoint: Checkpoint, fd: int, dir_fd: int) -> str:
    """Rename the directory out of the checkpoint names: the trash name, or why not."""
    st = os.fstat(fd)
    # Unpredictable, so nobody can squat the name to block the deletion.
    trash = f"{TRASH_PREFIX}{st.st_ino}-{secrets.token_hex(6)}"
    if entry_exists(dir_fd, trash):
        raise OSError(errno.EEXIST, f"{trash} is in the way", trash)
    os.rename(checkpoint.name, trash, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    moved = os.stat(trash, dir_fd=dir_fd, follow_symlinks=False)
    if (moved.st_dev, moved.st_ino) == (st.st_dev, st.st_ino):
        return trash
    # Swapped between our open and the rename: put back what we moved, unless something
    # took the name meanwhile (a rename would replace it).
    if entry_exists(dir_fd, checkpoint.name):
        return f"changed while being deleted: what was there is now {trash}"
    os.rename(trash, checkpoint.name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    return "changed while being deleted: not touched"


def _empty(fd: int, dir_fd: int, trash: str) -> None:
    """Empty the renamed tree through its descriptor, markers first, then remove it."""
    try:
        walk(
            fd, dir_fd, _unlink_unless_directory, _remove_directory, first=MARKERS, vanished_ok=True
        )
        os.rmdir(trash, dir_fd=dir_fd)
    except (OSError, Unwalkable) as error:
        why = _describe(error) if isinstance(error, OSError) else str(error)
        raise PartlyDeleted(
            f"{why}; stopped partway, the rest is in {trash} (no longer a checkpoint)"
        ) from None


def _unlink_unless_directory(dir_fd: int, name: str, st: os.stat_result) -> None:
    if not stat.S_ISDIR(st.st_mode):
        # Removed by someone else meanwhile: what we wanted.
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name, dir_fd=dir_fd)


def _remove_directory(dir_fd: int, name: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.rmdir(name, dir_fd=dir_fd)


def _entry_changed(checkpoint: Checkpoint, st: os.stat_result) -> str | None:
    """Why the entry is no longer the one planned on, or None if it still is."""
    kind = kind_of(st.st_mode)
    if kind is not checkpoint.unit.expected_kind:
        return f"now a {kind.value}: not touched"
    if checkpoint.unit is Unit.DIRECTORY:
        planned = (checkpoint.identity.device, checkpoint.identity.inode)
        if (st.st_dev, st.st_ino) != planned:
            return _CHANGED
        return None  # its contents are compared once it is open
    if identity_of(st) != checkpoint.identity:
        return _CHANGED
    return None


def _group_changed(checkpoint: Checkpoint, dir_fd: int) -> str | None:
    """Every file of a group must still be the one planned on before any is deleted.

    A file that joined the group since (a shard of a save reusing the stem) also
    counts as a change: deleting the rest would leave it behind as a broken group.
    """
    prefix = checkpoint.name + "."
    members = {
        n for n in os.listdir(dir_fd) if n.startswith(prefix) and group_stem(n) == checkpoint.name
    }
    if members != {p.name for p in checkpoint.parts}:
        return "its files changed since it was planned: not touched"
    for part in checkpoint.parts:
        try:
            st = os.stat(part.name, dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            return f"{part.name} is gone: not touched"
        if kind_of(st.st_mode) is not Kind.REGULAR or identity_of(st) != part.identity:
            return f"{part.name} changed since it was planned: not touched"
    return None


def _describe(error: OSError) -> str:
    code = errno.errorcode.get(error.errno or 0, "E?")
    return f"{code}: {error.strerror}"
