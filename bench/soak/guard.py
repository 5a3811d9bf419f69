"""The guard under test: `python -m MODULE run|prune` with the soak's options.

It keeps K checkpoints with a settle time, and the best by `val_loss` read from the
metrics file in DIR, remembering metric values across restarts in a state directory
(under control/, outside DIR).
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from bench import harness
from bench.soak.world import METRICS


@dataclass(frozen=True)
class Guard:
    """How to run the guard on DIR; `module` may name a broken one, to test the soak."""

    module: str
    directory: Path
    keep: int
    settle: float
    state_dir: Path

    def options(self) -> tuple[str, ...]:
        """Keep K and the best by val_loss from the metrics file; remember values."""
        return (
            *("--keep", str(self.keep), "--settle", str(self.settle)),
            *("--keep-best", "1", "--metric", "val_loss", "--metrics-file", METRICS),
            *("--state-dir", str(self.state_dir)),
        )

    def launch(self, log: Path) -> harness.Daemon:
        """`run` as a real process logging JSON to `log`; READY=1 is not waited for."""
        extra = (*self.options(), "--log-format", "json")
        daemon = harness.Daemon(sys.executable, self.directory, log, extra, module=self.module)
        return daemon.launch()

    def prune_preview(self) -> subprocess.CompletedProcess[str]:
        """`prune --json`: what one more cycle would delete, deleting nothing."""
        command = [sys.executable, "-m", self.module, "prune", "--dir", str(self.directory)]
        return subprocess.run(
            [*command, *self.options(), "--json"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            cwd=harness.REPO,
        )
