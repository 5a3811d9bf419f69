"""5. Event storm: 10,000 checkpoints written in a burst into a guarded directory.

`ckptguard run --dir D` (defaults) guards D, which also holds 100 unrelated files. This
process then writes 10,000 tiny valid checkpoints straight into D (open, write, close:
each one a create and a close-after-write event, plus a delete event for every file the
daemon removes, well past inotify's default queue of 16,384 events). Checked: the
daemon stays alive, exactly the newest 3 checkpoints and all 100 other files are left,
it exits 0 on SIGTERM, and no traceback is logged. Timed: the burst, and from its end
until the directory settles.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from bench import harness
from bench.checkpoint_files import name_of

FILES = 10_000
OTHERS = 100
# Long past the goal (2 s) and the settle window (10 s) that ends a save whose close was
# lost: a run not settled by then is recorded as such, with what was left over.
SETTLE_TIMEOUT = 30.0


def run(*, python: str, workdir: Path, count: int = FILES, repetitions: int) -> dict[str, Any]:
    runs = []
    for rep in range(repetitions):
        with harness.scratch_dir(workdir, "storm", 512 << 20) as directory:
            others = [f"notes_{i:03d}.txt" for i in range(OTHERS)]
            harness.write_files(directory, others, b"not a checkpoint\n")
            daemon = harness.Daemon(python, directory, workdir / f"storm-{rep}.log")
            with daemon:
                started = time.perf_counter()
                harness.write_files(
                    directory, (name_of(s) for s in range(1, count + 1)), harness.TINY
                )
                burst_end = time.perf_counter()
                alive_after_burst = daemon.alive()
                settled = harness.wait_settled(directory, count, daemon, timeout=SETTLE_TIMEOUT)
                alive = daemon.alive()
            others_left = sum(1 for name in others if (directory / name).exists())
            run = {
                "burst_s": burst_end - started,
                "settled": settled["settled"],
                "why_not": settled["why"],
                "settle_after_burst_s": settled["at"] - burst_end if settled["at"] else None,
                "settle_from_start_s": settled["at"] - started if settled["at"] else None,
                "alive_after_burst": alive_after_burst,
                "alive": alive,
                "final_checkpoints": harness.checkpoint_steps(directory)[-5:],
                "left_over": harness.checkpoint_steps(directory)[:-3][:20],
                "others_left": others_left,
                "final_state_ok": settled["settled"] and others_left == OTHERS,
                **daemon.outcome(),
            }
        runs.append(run)
        harness.log(
            f"storm: {count} files in {run['burst_s']:.2f} s; "
            + (
                f"settled {run['settle_after_burst_s']:.2f} s after the burst"
                if run["settled"]
                else f"NOT settled ({run['why_not']})"
            )
            + f"; alive {run['alive']}, exit {run['exit_code']}"
        )
    return {
        "files": count,
        "other_files": OTHERS,
        "repetitions": repetitions,
        "burst_s": harness.spread([r["burst_s"] for r in runs]),
        "settle_after_burst_s": harness.spread([r["settle_after_burst_s"] for r in runs]),
        "settle_from_start_s": harness.spread([r["settle_from_start_s"] for r in runs]),
        "no_crash": all(r["alive"] and r["exit_code"] == 0 and not r["traceback"] for r in runs),
        "final_state_ok": all(r["final_state_ok"] for r in runs),
        "runs": runs,
    }
