"""Deleting one planned remote checkpoint: the only remote code that deletes.

Right before deleting, the checkpoint's objects are listed again (one listing of its
name as a key prefix, which also shows a pin `<name>.keep`), and it is deleted only if
they are exactly the objects planned on (keys, sizes, versions) and no pin or pointer
names it now. Only the keys planned on are deleted: an object uploaded since is never
touched. A checkpoint of several objects loses its completeness marker first (a
directory's marker, a group's `.index`), so a deletion cut short never leaves one that
looks complete; the rest then go in batches. With a trash, every object is first copied
there.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ckptguard.core.decisions import Decision, Result, Status
from ckptguard.core.layouts import MARKERS, Layout
from ckptguard.core.model import Checkpoint, Unit
from ckptguard.core.naming import pin_name
from ckptguard.store.remote.location import Location, describe
from ckptguard.store.remote.objects import ObjectInfo, delete_keys, identity_of, list_objects
from ckptguard.store.remote.trash import move_to_trash, trash_batch

_CHANGED = "changed since it was planned: not touched"


def delete_remote(
    fs: Any,
    location: Location,
    layout: Layout,
    decision: Decision,
    *,
    named_by_pointer: Callable[[Checkpoint], str | None],
    trash_at: float | None,
) -> Result:
    """Delete one planned checkpoint if it is still as planned; never raises for the
    store's trouble (a FAILED result says it). `trash_at`: the time of a soft deletion."""
    checkpoint = decision.checkpoint
    try:
        members, pinned = _members_now(fs, location, layout, checkpoint.name)
    except Exception as error:  # noqa: BLE001 - any SDK error: reported, nothing deleted
        return Result(decision, Status.FAILED, describe(error))
    if not members:
        return Result(decision, Status.SKIPPED, "already gone")
    if identity_of(members) != checkpoint.identity:
        return Result(decision, Status.SKIPPED, _CHANGED)
    if pinned:
        return Result(
            decision, Status.SKIPPED, f"pinned since it was planned ({pin_name(checkpoint.name)})"
        )
    pointer = named_by_pointer(checkpoint)
    if pointer is not None:
        return Result(decision, Status.SKIPPED, f"named by {pointer} since it was planned")
    try:
        if trash_at is not None:
            move_to_trash(fs, location, members, trash_batch(trash_at))
        first, rest = _in_order(checkpoint, members)
        delete_keys(fs, location, first)
    except Exception as error:  # noqa: BLE001 - nothing deleted yet, or only the marker
        return Result(decision, Status.FAILED, describe(error))
    try:
        delete_keys(fs, location, rest)
    except Exception as error:  # noqa: BLE001 - its marker is gone: it no longer looks complete
        return Result(decision, Status.FAILED, f"partly deleted (marker first): {describe(error)}")
    return Result(decision, Status.DELETED)


def _members_now(
    fs: Any, location: Location, layout: Layout, name: str
) -> tuple[list[ObjectInfo], bool]:
    """The objects of checkpoint `name` as they are now, and whether a pin names it."""
    listed = list_objects(fs, location, stem=name)
    members = [obj for key, obj in listed.items() if layout.key_of(key.split("/", 1)[0]) == name]
    return members, pin_name(name) in listed


def _in_order(checkpoint: Checkpoint, members: list[ObjectInfo]) -> tuple[list[str], list[str]]:
    """The keys to delete first (completeness markers), then the rest."""
    names = sorted(o.name for o in members)
    if checkpoint.unit is Unit.GROUP:
        first = [n for n in names if n == checkpoint.name + ".index"]
    elif checkpoint.unit is Unit.DIRECTORY:
        first = [n for n in names if n.rsplit("/", 1)[-1] in MARKERS]
    else:
        first = []
    return first, [n for n in names if n not in first]
