"""Programs run as real processes: the CLI.

`ckptguard run` itself is started by bench/guard_process.py's GuardProcess, through the
`spawn` and `guard_running` fixtures of tests/conftest.py.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TRAINER = REPO / "bench" / "trainer.py"


def run_cli(
    *args: str, cwd: Path | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """`ckptguard ARGS` as a real subprocess of this interpreter."""
    return subprocess.run(
        [sys.executable, "-m", "ckptguard", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
        check=False,
    )
