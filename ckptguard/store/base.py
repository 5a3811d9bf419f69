"""The seam between the engine and where checkpoints live.

The engine and the core never know which store they talk to. A store lists a
directory's (or a prefix's) entries with their identity and reads what each layout's
completeness check needs (`survey`), says who holds checkpoints open where it can tell
(`holders`), deletes one planned checkpoint if it is still as planned (`delete`), and
reports the space left (`disk`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from ckptguard.core.decisions import Decision, Result
from ckptguard.core.layouts import Layout
from ckptguard.core.model import DiskState, Inventory


class Store(Protocol):
    @property
    def location(self) -> str:
        """Where the checkpoints are, as people name it (a path, a URL)."""
        ...

    def survey(
        self,
        layout: Layout,
        *,
        changed: set[str] | None = None,
        previous: Inventory | None = None,
        progress: Callable[[], None] | None = None,
    ) -> Inventory:
        """Every checkpoint of `layout` with its identity and content verdict.

        With `changed` (entry names an event named) and `previous`, only those and the
        checkpoints already known are looked at again: a store may skip the listing.
        With `previous` alone, a store may return `previous` itself (with today's disk)
        when it sees that nothing changed.
        `progress` is called after each checkpoint looked at.
        """
        ...

    def holders(self, inventory: Inventory) -> Inventory:
        """The inventory with the processes holding checkpoints open (and whether to
        write), where the store can tell; unchanged where it cannot."""
        ...

    def delete(self, decision: Decision) -> Result:
        """Delete one planned checkpoint if it is still what the plan was made from;
        trouble is a SKIPPED or FAILED result, never an exception."""
        ...

    def disk(self) -> DiskState:
        """The space the store has and has free."""
        ...
