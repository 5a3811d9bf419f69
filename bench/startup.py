"""Start-up: `ckptguard --version`, `--help` and an `audit` of 250 checkpoints, each beside
a bare `python -c pass` of the same interpreter, in the same run; and the peak RSS that
importing the daemon's dependencies costs before any of ckptguard runs (the import floor).

The commands run in turns (bare, --version, --help, audit, bare, ...), after one round
that is not counted (it fills the page cache; run.py has compiled the package's byte-code
before any part, as an install would), so that a busy moment of the machine falls on all
of them alike. Wall
time from spawn to exit, output to /dev/null. `ckptguard` is the console script beside
the interpreter, as a user runs it. The audit's directory holds 250 tiny valid
checkpoints (each opened as a zip), and its state directory is empty: an audit writes
none, so each run is a cold one.
"""

from __future__ import annotations

import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

from bench import harness
from bench.checkpoint_files import name_of

AUDIT_CHECKPOINTS = 250
REPETITIONS = 15
# (key, what it imports): the dependencies `ckptguard run` needs, alone and together
IMPORT_FLOORS = (
    ("bare", ""),
    ("psutil", "psutil"),
    ("watchdog", "watchdog.observers"),
    ("pydantic", "pydantic"),
    ("structlog", "structlog"),
    ("all four", "psutil, watchdog.observers, pydantic, structlog"),
)
PEAK_RSS = (
    "import sys\n"
    "for line in open('/proc/self/status'):\n"
    "    if line.startswith('VmHWM:'): sys.stdout.write(line.split()[1])\n"
)


def _timed(args: list[str]) -> tuple[float, int]:
    started = time.perf_counter()
    done = subprocess.run(
        args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False, cwd=harness.REPO
    )
    return time.perf_counter() - started, done.returncode


def _import_floor(python: str, modules: str) -> float:
    """Peak RSS in MB of an interpreter that imported `modules` and nothing else."""
    code = (f"import {modules}\n" if modules else "") + PEAK_RSS
    done = subprocess.run(
        [python, "-c", code], capture_output=True, text=True, check=True, cwd=harness.REPO
    )
    return int(done.stdout) * 1024 / 1e6


def run(*, python: str, workdir: Path, repetitions: int = REPETITIONS) -> dict[str, Any]:
    cli = harness.ckptguard_command(python)
    with harness.scratch_dir(workdir, "startup", 64 << 20) as directory:
        names = (name_of(s) for s in range(1, AUDIT_CHECKPOINTS + 1))
        harness.write_files(directory, names, harness.TINY)
        state = workdir / "startup-state"
        state.mkdir(exist_ok=True)
        commands = {
            "bare": [python, "-c", "pass"],
            "version": [*cli, "--version"],
            "help": [*cli, "--help"],
            "audit": [*cli, "audit", "--dir", str(directory), "--state-dir", str(state)],
        }
        times: dict[str, list[float]] = {key: [] for key in commands}
        codes: dict[str, set[int]] = {key: set() for key in commands}
        for round_ in range(repetitions + 1):
            for key, args in commands.items():
                seconds, code = _timed(args)
                codes[key].add(code)
                if round_:  # the first round is not counted
                    times[key].append(seconds)
    floors = {key: _import_floor(python, modules) for key, modules in IMPORT_FLOORS}
    result = {
        "repetitions": repetitions,
        "audit_checkpoints": AUDIT_CHECKPOINTS,
        "commands": {key: " ".join(args) for key, args in commands.items()},
        "seconds": {key: harness.spread(values) for key, values in times.items()},
        "raw_s": times,
        "exit_codes": {key: sorted(values) for key, values in codes.items()},
        "import_floor_rss_mb": floors,
        "import_floor_modules": dict(IMPORT_FLOORS),
    }
    medians = {key: statistics.median(values) * 1000 for key, values in times.items()}
    harness.log(
        "startup: "
        + ", ".join(f"{key} {ms:.0f} ms" for key, ms in medians.items())
        + "; import floor "
        + ", ".join(f"{key} {mb:.1f} MB" for key, mb in floors.items())
    )
    return result
