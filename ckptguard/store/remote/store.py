"""A prefix of an object store as a `Store`: S3, GCS, or any fsspec filesystem.

One listing per survey (key, size, version, time of every object); content checks by
ranged reads, remembered by identity so an unchanged checkpoint is not read again (within
a run: verdicts kept in the state directory are for files only); a listing unchanged since
the last survey gives back that survey's inventory, so the daemon's plan stands;
deletion re-checks each checkpoint's objects right before (see `deleter`). An object
store has no free space to speak of: `disk()` is `NO_DISK`, and the policy a remote guard
plans with asks for none.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ckptguard.core.decisions import Decision, Result
from ckptguard.core.layouts import Layout
from ckptguard.core.model import Checkpoint, DiskState, Inventory
from ckptguard.store.local.cache import IntegrityCache
from ckptguard.store.local.pointers import MAX_POINTER_BYTES, protected_by
from ckptguard.store.remote.deleter import delete_remote
from ckptguard.store.remote.location import Location, filesystem, parse
from ckptguard.store.remote.objects import ObjectInfo, list_objects, read_current, read_range
from ckptguard.store.remote.survey import checkpoints, read_pointers

# An object store has neither a size nor free space: a free-space target never applies.
NO_DISK = DiskState(total=0, free=0)


class RemoteStore:
    """The objects below `location`; `fs` is its fsspec filesystem (made when not given).

    `trash_for`: seconds a deleted checkpoint stays in the trash (None: deleted at once);
    `clock` dates trash batches.
    """

    def __init__(
        self,
        location: Location,
        fs: Any = None,
        *,
        cache: IntegrityCache | None = None,
        trash_for: float | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        import time

        self.where = location
        self.fs = fs if fs is not None else filesystem(location)
        self.cache = cache if cache is not None else IntegrityCache()
        self.trash_for = trash_for
        self._clock = clock or time.time
        self._layout: Layout | None = None
        self._objects: dict[str, ObjectInfo] = {}
        self._surveyed: Inventory | None = None  # what the last listing was made into
        self.listed = 0  # objects in the last listing

    @classmethod
    def open(cls, url: str, **options: Any) -> RemoteStore:
        return cls(parse(url), **options)

    def close(self) -> None:
        """Nothing to release: requests hold no descriptor between calls."""

    @property
    def location(self) -> str:
        return self.where.url

    def read(self, obj: ObjectInfo, start: int, end: int) -> bytes:
        return read_range(self.fs, self.where, obj, start, end)

    def survey(
        self,
        layout: Layout,
        *,
        changed: set[str] | None = None,
        previous: Inventory | None = None,
        progress: Callable[[], None] | None = None,
    ) -> Inventory:
        """One listing of the prefix, always: there are no events to build on. When it
        lists exactly the objects (keys, sizes, versions, times) the inventory `previous`
        was made from, under the same layout, `previous` itself is the answer: nothing is
        read again (not even a pointer object), and the plan made from it may stand."""
        objects = list_objects(self.fs, self.where)
        self.listed = len(objects)
        if self._unchanged(layout, objects, previous):
            assert previous is not None
            return previous
        self._layout, self._objects = layout, objects
        found = checkpoints(objects, layout, self.read, self.cache)
        if progress is not None:
            progress()
        self._surveyed = Inventory(self.where.url, tuple(found), NO_DISK, layout.preset)
        return self._surveyed

    def _unchanged(
        self, layout: Layout, objects: dict[str, ObjectInfo], previous: Inventory | None
    ) -> bool:
        """Whether `previous` is what this store last made from this very listing (an
        inventory with deletions taken out, or made elsewhere, never is)."""
        last = self._surveyed
        return (
            previous is not None
            and last is not None
            and previous.checkpoints is last.checkpoints
            and layout == self._layout
            and objects == self._objects
        )

    def holders(self, inventory: Inventory) -> Inventory:
        """No store can say who is writing an object: uploads appear whole or not at all."""
        return inventory

    def delete(self, decision: Decision) -> Result:
        assert self._layout is not None, "delete() before survey()"
        trash_at = self._clock() if self.trash_for is not None else None
        return delete_remote(
            self.fs,
            self.where,
            self._layout,
            decision,
            named_by_pointer=self._named_by_pointer,
            trash_at=trash_at,
        )

    def _named_by_pointer(self, checkpoint: Checkpoint) -> str | None:
        """The pointer object naming `checkpoint` now: each is read again, as it is now."""
        return protected_by(checkpoint, read_pointers(self._current))

    def _current(self, name: str) -> bytes | None:
        try:
            return read_current(self.fs, self.where, name, MAX_POINTER_BYTES + 1)
        except FileNotFoundError:
            return None

    def disk(self) -> DiskState:
        return NO_DISK
