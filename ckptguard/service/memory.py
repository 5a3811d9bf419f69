"""A guard's metric values: the metrics file, and what was read from it before.

Values are remembered in the state directory, outside the guarded filesystem; they are
read when guarding begins and written after a cycle's deletions, only when they changed.
A state write that fails is logged once and tried again later: it never delays a deletion.
"""

from __future__ import annotations

from typing import Any

from ckptguard.core.recall import MetricMemory
from ckptguard.engine.cycle import Assessment, KnownMetrics
from ckptguard.service.reports import Problems
from ckptguard.service.state import load_memory, save_memory
from ckptguard.store.local.metrics import MetricsError, MetricsSource


class GuardMemory:
    def __init__(self, log: Any, problems: Problems) -> None:
        self._log = log
        self._problems = problems
        self._source: MetricsSource | None = None
        # None until loaded from the state directory; `saved` as last written there.
        self.memory: MetricMemory | None = None
        self.saved: MetricMemory | None = None
        # Checkpoints whose rows the metrics file lost or changed, as last logged.
        self._lost: frozenset[str] = frozenset()
        self._changed: frozenset[str] = frozenset()

    def known(
        self, metrics_file: str | None, state_dir: str | None, real_path: str
    ) -> KnownMetrics | None:
        """The metrics file's table and the values read before; trouble is logged once.

        A metrics file that cannot be read keeps its last good table, and values read
        before still rank checkpoints.
        """
        if metrics_file is None:
            return None
        if self._source is None or self._source.path != metrics_file:
            self._source = MetricsSource(metrics_file)
        if self.memory is None:
            self.memory = self._load(state_dir, real_path)
        try:
            table = self._source.table()
        except MetricsError as error:
            self._problems.report(
                "metrics_unavailable",
                error=str(error),
                consequence="only values read before rank checkpoints until it can be read",
            )
            return KnownMetrics(metrics_file, None, self.memory)
        self._problems.solved("metrics_unavailable")
        return KnownMetrics(metrics_file, table, self.memory)

    def _load(self, state_dir: str | None, real_path: str) -> MetricMemory:
        memory, problem = load_memory(state_dir, real_path)
        if problem is not None:
            self._problems.report(
                "state_read_failed",
                error=problem,
                consequence="metric values read before this run are not used",
            )
        self.saved = memory
        return memory

    def save(self, state_dir: str | None, real_path: str) -> None:
        """Write the memory when it changed; a failure is logged once and retried later."""
        if state_dir is None or self.memory is None or self.memory == self.saved:
            return
        problem = save_memory(state_dir, real_path, self.memory)
        if problem is not None:
            self._problems.report(
                "state_write_failed",
                error=problem,
                consequence="metric values read now are not remembered across restarts",
            )
            return
        self.saved = self.memory
        self._problems.solved("state_write_failed")

    def report_rows(self, path: str, found: Assessment, metrics_file: str) -> None:
        """Log once when the metrics file loses or changes rows of more checkpoints."""
        lost, changed = frozenset(found.rows_lost), frozenset(found.rows_changed)
        if lost - self._lost:
            self._log.warning(
                "metrics_rows_lost",
                path=path,
                metrics_file=metrics_file,
                checkpoints=sorted(lost),
                action="using the values read before",
            )
        if changed - self._changed:
            self._log.warning(
                "metrics_rows_changed",
                path=path,
                metrics_file=metrics_file,
                checkpoints=sorted(changed),
                action="using the values read first (the new rows are another run's?)",
            )
        self._lost, self._changed = lost, changed
