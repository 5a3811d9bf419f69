"""4. Scale: `ckptguard audit` on 10,000 and 100,000 checkpoints, cold and warm, and the
daemon's catch-up.

Audit: the directory holds N tiny but valid `.keras` zips (400 bytes each, state
`complete`), so a cold audit opens every one as a zip, as it would real checkpoints. Its
wall time (output to /dev/null) is compared with the floor, a plain listing:
`find DIR -name 'checkpoint_step_*' | sort`, also to /dev/null, in the same run.
- cold: `audit --dir D --state-dir S` with S empty (an audit writes nothing, so it stays
  empty): no verdict is known;
- warm: verdicts known. `prune --execute --keep 1000000 --dir D --state-dir W` runs once
  first (it deletes nothing and saves the verdict cache into W; timed too), then
  `audit --dir D --state-dir W`.
Cold, warm and the floor run in turns, so that a busy moment falls on all of them alike.

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


def _timed(args: list[str]) -> tuple[float, int]:
    started = time.perf_counter()
    done = subprocess.run(
        args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False, cwd=harness.REPO
    )
    return time.perf_counter() - started, done.returncode


def audit(
    *, python: str, workdir: Path, sizes: tuple[int, ...], repetitions: int
) -> dict[str, Any]:
    cli = harness.ckptguard_command(python)
    rows = []
    for count in sizes:
        # Generous: tmpfs only takes the pages it uses (one per tiny zip).
        with harness.scratch_dir(workdir, "audit", 2 << 30) as directory:
            started = time.perf_counter()
            harness.write_files(directory, (name_of(s) for s in range(1, count + 1)), harness.TINY)
            created = time.perf_counter() - started
            cold, warm = workdir / f"audit-cold-{count}", workdir / f"audit-warm-{count}"
            cold.mkdir()
            fill = [*cli, "prune", "--execute", "--keep", "1000000", "--dir", str(directory)]
            prune_s, prune_code = _timed([*fill, "--state-dir", str(warm)])
            left = len(harness.checkpoint_steps(directory))
            floor_cmd = f"find {shlex.quote(str(directory))} -name 'checkpoint_step_*' | sort"
            commands = {
                "cold": [*cli, "audit", "--dir", str(directory), "--state-dir", str(cold)],
                "warm": [*cli, "audit", "--dir", str(directory), "--state-dir", str(warm)],
                "floor": ["bash", "-c", floor_cmd],
            }
            times: dict[str, list[float]] = {key: [] for key in commands}
            codes: set[int] = set()
            for _ in range(repetitions):
                for key, args in commands.items():
                    seconds, code = _timed(args)
                    times[key].append(seconds)
                    if key != "floor":
                        codes.add(code)
        row = _audit_row(count, times)
        row |= {
            "create_s": created,
            "fill_cache_s": prune_s,
            "fill_cache_exit_code": prune_code,
            "left_after_fill": left,
            "verdict_files": sorted(p.name for p in warm.glob("verdicts-*")),
            "audit_exit_codes": sorted(codes),
        }
        rows.append(row)
        harness.log(
            f"scale: audit of {count} checkpoints cold {row['cold_s']['median']:.2f} s"
            f" ({row['cold_ratio']:.0f}x), warm {row['warm_s']['median']:.2f} s"
            f" ({row['warm_ratio']:.0f}x), find|sort {row['floor_s']['median'] * 1000:.0f} ms"
        )
    return {
        "floor_command": "find DIR -name 'checkpoint_step_*' | sort",
        "fill_command": "ckptguard prune --execute --keep 1000000 --dir DIR --state-dir W",
        "repetitions": repetitions,
        "rows": rows,
    }


def _audit_row(count: int, times: dict[str, list[float]]) -> dict[str, Any]:
    spreads = {key: harness.spread(values) for key, values in times.items()}
    floor = spreads["floor"]["median"]
    return {
        "checkpoints": count,
        "files": "tiny valid .keras zips (state complete)",
        **{f"{key}_s": spread for key, spread in spreads.items()},
        "cold_ratio": spreads["cold"]["median"] / floor,
        "warm_ratio": spreads["warm"]["median"] / floor,
        "raw_s": times,
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
