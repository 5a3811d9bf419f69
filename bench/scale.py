"""4. Scale: `ckptguard audit` on 10,000 and 100,000 checkpoints, and the daemon's catch-up.

Audit: the directory holds N tiny but valid `.keras` zips (400 bytes each, state
`complete`), so the audit opens every one as a zip, as it would real checkpoints. Its
wall time (output to /dev/null) is compared with the floor, a plain listing:
`find DIR -name 'checkpoint_step_*' | sort`, also to /dev/null. `ckptguard --version` is
timed too: the interpreter start and imports that every CLI call pays.

Catch-up: `ckptguard run --dir D` (defaults) runs on an empty D; 10,000 tiny valid
checkpoints made beforehand in a sibling directory on the same tmpfs are renamed into D
one by one, as fast as this process can (all "appear at once"); the clock runs until
exactly the newest 3 are left.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import time
from pathlib import Path
from typing import Any

from bench import harness
from bench.checkpoint_files import name_of

AUDIT_SIZES = (10_000, 100_000)
CATCH_UP = 10_000


def _timed(args: list[str], **kwargs: Any) -> tuple[float, int]:
    started = time.perf_counter()
    done = subprocess.run(
        args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False, **kwargs
    )
    return time.perf_counter() - started, done.returncode


def audit(*, python: str, workdir: Path, sizes: tuple[int, ...], repetitions: int) -> dict:
    rows = []
    for count in sizes:
        # Generous: tmpfs only takes the pages it uses (one per tiny zip).
        with harness.scratch_dir(workdir, "audit", 2 << 30) as directory:
            started = time.perf_counter()
            harness.write_files(directory, (name_of(s) for s in range(1, count + 1)), harness.TINY)
            created = time.perf_counter() - started
            audits, floors, startups, codes = [], [], [], set()
            floor_cmd = f"find {shlex.quote(str(directory))} -name 'checkpoint_step_*' | sort"
            for _ in range(repetitions):
                seconds, code = _timed(
                    [python, "-m", "ckptguard", "audit", "--dir", str(directory)], cwd=harness.REPO
                )
                audits.append(seconds)
                codes.add(code)
                floors.append(_timed(["bash", "-c", floor_cmd])[0])
                startups.append(
                    _timed([python, "-m", "ckptguard", "--version"], cwd=harness.REPO)[0]
                )
        audit_s, floor_s = harness.spread(audits), harness.spread(floors)
        row = {
            "checkpoints": count,
            "files": "tiny valid .keras zips (state complete)",
            "create_s": created,
            "audit_s": audit_s,
            "floor_s": floor_s,
            "startup_s": harness.spread(startups),
            "ratio": audit_s["median"] / floor_s["median"],
            "audit_exit_codes": sorted(codes),
            "audit_raw_s": audits,
            "floor_raw_s": floors,
        }
        rows.append(row)
        harness.log(
            f"scale: audit of {count} checkpoints {audit_s['median']:.2f} s, "
            f"find|sort {floor_s['median'] * 1000:.0f} ms, ratio {row['ratio']:.0f}x"
        )
    return {
        "floor_command": "find DIR -name 'checkpoint_step_*' | sort",
        "repetitions": repetitions,
        "rows": rows,
    }


def catch_up(*, python: str, workdir: Path, count: int, repetitions: int) -> dict[str, Any]:
    runs = []
    for rep in range(repetitions):
        with harness.scratch_dir(workdir, "catchup", 512 << 20) as root:
            staging, guarded = root / "staging", root / "guarded"
            staging.mkdir()
            guarded.mkdir()
            names = [name_of(s) for s in range(1, count + 1)]
            harness.write_files(staging, names, harness.TINY)
            daemon = harness.Daemon(python, guarded, workdir / f"catchup-{rep}.log")
            with daemon:
                started = time.perf_counter()
                for name in names:
                    os.rename(staging / name, guarded / name)
                moved = time.perf_counter()
                settled = harness.wait_settled(guarded, count, daemon)
                alive = daemon.alive()
            run = {
                "moves_s": moved - started,
                "settled": settled["settled"],
                "why_not": settled["why"],
                "settle_from_first_move_s": settled["at"] - started if settled["at"] else None,
                "settle_after_last_move_s": settled["at"] - moved if settled["at"] else None,
                "alive": alive,
                **daemon.outcome(),
            }
        runs.append(run)
        harness.log(
            f"scale: catch-up of {count}: "
            + (
                f"{run['settle_from_first_move_s']:.2f} s from the first move"
                if run["settled"]
                else f"NOT settled ({run['why_not']})"
            )
        )
    return {
        "checkpoints": count,
        "repetitions": repetitions,
        "from_first_move_s": harness.spread([r["settle_from_first_move_s"] for r in runs]),
        "after_last_move_s": harness.spread([r["settle_after_last_move_s"] for r in runs]),
        "moves_s": harness.spread([r["moves_s"] for r in runs]),
        "all_settled": all(r["settled"] for r in runs),
        "all_alive": all(r["alive"] for r in runs),
        "runs": runs,
    }
