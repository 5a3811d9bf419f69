"""A local directory as a `Store`: everything through one directory file descriptor."""

from __future__ import annotations

import os
from collections.abc import Callable

from ckptguard.core.decisions import Decision, Result
from ckptguard.core.layouts import Layout
from ckptguard.core.model import DiskState, Inventory
from ckptguard.store.local.cache import IntegrityCache
from ckptguard.store.local.deleter import delete_one
from ckptguard.store.local.entries import disk_state, open_directory
from ckptguard.store.local.openfiles import with_holders
from ckptguard.store.local.scan import refresh, scan, unchanged


class LocalStore:
    """The directory behind `dir_fd`, which the caller opened (and closes).

    Content verdicts are remembered in `cache` by identity, across surveys.
    """

    def __init__(self, dir_fd: int, location: str = "", cache: IntegrityCache | None = None):
        self.dir_fd = dir_fd
        self._location = location
        self.cache = cache if cache is not None else IntegrityCache()

    @classmethod
    def open(cls, path: str) -> LocalStore:
        """The directory at `path` (a symlink to one is followed once, here)."""
        return cls(open_directory(path), path)

    def close(self) -> None:
        os.close(self.dir_fd)

    @property
    def location(self) -> str:
        return self._location

    def survey(
        self,
        layout: Layout,
        *,
        changed: set[str] | None = None,
        previous: Inventory | None = None,
        progress: Callable[[], None] | None = None,
    ) -> Inventory:
        if changed is not None and previous is not None:
            return refresh(self.dir_fd, previous, changed, layout, self.cache, progress=progress)
        if previous is not None and (same := unchanged(self.dir_fd, previous, layout)):
            return same
        return scan(self.dir_fd, self._location, layout, cache=self.cache, progress=progress)

    def holders(self, inventory: Inventory) -> Inventory:
        return with_holders(inventory)

    def delete(self, decision: Decision) -> Result:
        return delete_one(decision, self.dir_fd)

    def disk(self) -> DiskState:
        return disk_state(self.dir_fd)
