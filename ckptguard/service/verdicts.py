"""A guard's content verdicts kept in the state directory, so that a restart does not
read every unchanged checkpoint again.

Read once, when the directory is first opened; written after a full look (never on the
hot path of an event), and only when they changed. Both only save time: trouble is
reported once and costs reads, never a decision. Files only: an object store's verdicts
are remembered within one run (see `store.remote.store`).
"""

from __future__ import annotations

from ckptguard.service.reports import Problems
from ckptguard.service.state import load_verdicts, save_verdicts
from ckptguard.store.local.cache import IntegrityCache


class KeptVerdicts:
    def __init__(self, problems: Problems) -> None:
        self._problems = problems
        self.loaded = False

    def load(self, state_dir: str | None, real: str, cache: IntegrityCache) -> None:
        """Seed `cache` from the state directory, the first time only."""
        if self.loaded:
            return
        self.loaded = True
        problem = load_verdicts(state_dir, real, cache)
        if problem is not None:
            self._problems.report(
                "verdicts_unread", error=problem, consequence="content checks are read afresh"
            )

    def keep(self, state_dir: str | None, real: str, cache: IntegrityCache) -> None:
        """Write what was read, when it changed."""
        problem = save_verdicts(state_dir, real, cache)
        if problem is not None:
            self._problems.report(
                "verdicts_write_failed",
                error=problem,
                consequence="content checks are read afresh after a restart",
            )
