"""Programs run as real processes: the CLI, and what is read from their output.

`ckptguard run` itself is started by bench/guard_process.py's GuardProcess, through the
`spawn` and `guard_running` fixtures of tests/conftest.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TRAINER = REPO / "bench" / "trainer.py"
NOBODY = 65534  # the uid and gid of `nobody`


def run_cli(
    *args: str,
    cwd: Path | None = None,
    timeout: float = 60,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """`ckptguard ARGS` as a real subprocess of this interpreter; `env` is its whole
    environment (this process' when not given)."""
    return subprocess.run(
        [sys.executable, "-m", "ckptguard", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
        env=None if env is None else dict(env),
        check=False,
    )


def is_json(line: str) -> bool:
    try:
        json.loads(line)
    except ValueError:
        return False
    return True


def tail(text: str, lines: int = 30) -> str:
    """The last `lines` lines of `text`: enough of a long log for a failure message."""
    return "\n".join(text.splitlines()[-lines:])


def train(directory: Path, saves: int, *, first_step: int = 100, size: int = 65536) -> None:
    """A simulated training run (bench/trainer.py): `saves` checkpoints written the way
    Keras writes them, a step of 100 apart, 50 ms of training between saves."""
    subprocess.run(
        [
            sys.executable,
            str(TRAINER),
            "--dir",
            str(directory),
            "--saves",
            str(saves),
            "--size",
            str(size),
            "--train-pause",
            "0.05",
            "--first-step",
            str(first_step),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
