"""Soft deletion: a checkpoint's objects copied under a trash prefix before they go, and
the trash emptied once its time is up.

The trash of `s3://bucket/prefix` is `s3://bucket/.ckptguard/trash/prefix/@<UTC time>-<tag>/`,
holding the checkpoint's objects under their names; copying them back undoes the
deletion. It lies outside the guarded prefix, as everything the guard writes does.
"""

from __future__ import annotations

import datetime
import secrets
from typing import Any

from ckptguard.store.remote.location import Location
from ckptguard.store.remote.objects import ObjectInfo, delete_keys, list_objects

GUARD_PREFIX = ".ckptguard"
_STAMP = "%Y%m%dT%H%M%SZ"


def guard_location(location: Location, area: str) -> Location:
    """The place, outside the guarded prefix, where the guard keeps its `area` (trash, lease)."""
    inner = f"{GUARD_PREFIX}/{area}" + (f"/{location.prefix}" if location.prefix else "")
    return Location(
        f"{location.scheme}://{location.bucket}/{inner}", location.scheme, location.bucket, inner
    )


def trash_batch(now: float) -> str:
    """A new batch name: when it was deleted (UTC) and a random tag."""
    stamp = datetime.datetime.fromtimestamp(now, datetime.timezone.utc).strftime(_STAMP)
    return f"@{stamp}-{secrets.token_hex(4)}"


def batch_time(name: str) -> float | None:
    """When a batch was deleted, from its name; None for anything else."""
    if not name.startswith("@"):
        return None
    try:
        stamp = datetime.datetime.strptime(name[1:].split("-", 1)[0], _STAMP)
    except ValueError:
        return None
    return stamp.replace(tzinfo=datetime.timezone.utc).timestamp()


def move_to_trash(fs: Any, location: Location, objects: list[ObjectInfo], batch: str) -> None:
    """Copy the objects into the trash batch (server-side copies); the caller deletes."""
    trash = guard_location(location, "trash")
    for obj in objects:
        source = f"{location.bucket}/{location.key(obj.name)}"
        fs.copy(source, f"{trash.bucket}/{trash.key(batch + '/' + obj.name)}")


def empty_trash(fs: Any, location: Location, keep_for: float, now: float) -> int:
    """Delete the trash batches older than `keep_for` seconds; the number of objects gone."""
    trash = guard_location(location, "trash")
    try:
        found = list_objects(fs, trash)
    except FileNotFoundError:
        return 0
    expired = [
        name
        for name in found
        if (when := batch_time(name.split("/", 1)[0])) is not None and now - when >= keep_for
    ]
    delete_keys(fs, trash, expired)
    return len(expired)
