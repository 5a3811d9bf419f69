"""The "cron" peer: every PERIOD seconds, delete all but the KEEP newest checkpoints by step.

What a user would otherwise put in a crontab, e.g. every minute:

    find DIR -name 'checkpoint_step_*.keras' | sort -V | head -n -3 | xargs -r rm -f

It is modelled as one long-lived loop on a fixed schedule (no process start-up per run,
which favours cron), and it is as naive as that crontab line: it counts a checkpoint still
being written as one of the newest.

    python bench/cron.py --dir D --period 0.011 --keep 3
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import sys
import time

NAME = re.compile(r"checkpoint_step_([0-9]+)\.keras")


def clean(directory: str, keep: int) -> int:
    """One cron run; returns how many files it deleted."""
    found = []
    for name in os.listdir(directory):
        match = NAME.fullmatch(name)
        if match:
            found.append((int(match.group(1)), name))
    found.sort()
    deleted = 0
    for _, name in found[: max(0, len(found) - keep)]:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(directory, name))
            deleted += 1
    return deleted


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", required=True)
    parser.add_argument("--period", type=float, required=True, help="seconds between runs")
    parser.add_argument("--keep", type=int, default=3)
    args = parser.parse_args(argv)

    clean(args.dir, args.keep)
    print("ready", flush=True)
    next_run = time.monotonic() + args.period
    while True:
        delay = next_run - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        clean(args.dir, args.keep)
        next_run += args.period
        if next_run < time.monotonic():  # overran: skip missed runs, as cron does
            next_run = time.monotonic() + args.period


if __name__ == "__main__":
    sys.exit(main())
