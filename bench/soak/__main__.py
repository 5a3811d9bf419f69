"""Run the chaos soak: `python -m bench.soak --seconds 30`.

Prints the Markdown table and writes the result document (JSON) to --json or to
bench/results/soak-STAMP-SECONDS.json; exits 1 when any invariant was violated or a
canary was touched. The work directory is kept when asked, when given, or on failure.

The writer and checker processes have entry points of their own, internal to the soak:
`python -m bench.soak.writer` and `python -m bench.soak.checker`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import shutil
import sys
import tempfile
from pathlib import Path

from bench import harness
from bench.soak.report import render
from bench.soak.supervisor import Soak


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.soak",
        description="A chaos soak: writers, an independent checker, and a daemon killed and "
        "restarted at random.",
    )
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--writers", type=int, default=3)
    parser.add_argument("--keep", type=int, default=3)
    parser.add_argument("--settle", type=float, default=1.5)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument(
        "--max-alive", type=float, default=4.0, help="longest life of one daemon, seconds"
    )
    parser.add_argument(
        "--daemon-module",
        default="ckptguard",
        help="run `python -m MODULE run|prune ...` (to check the soak against a broken guard)",
    )
    parser.add_argument(
        "--workdir", help="an empty directory to work in (default: a new one in /tmp)"
    )
    parser.add_argument(
        "--json", dest="json_out", help="write the result here (default: bench/results/)"
    )
    parser.add_argument("--keep-workdir", action="store_true", help="keep the work directory")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    seed: int = args.seed if args.seed is not None else random.randrange(2**32)
    root = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="ckptguard-soak-"))
    soak = Soak(
        root / "soak",
        args.seconds,
        args.writers,
        args.keep,
        args.settle,
        seed,
        max_alive=args.max_alive,
        progress=True,
        daemon_module=args.daemon_module,
    )
    result = soak.run()
    failed = any(result["violations"].values()) or not result["canaries_intact"]
    if args.json_out:
        out = Path(args.json_out)
    else:
        harness.RESULTS.mkdir(exist_ok=True)
        stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        out = harness.RESULTS / f"soak-{stamp}-{args.seconds:g}s.json"
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(render(result))
    print(f"\nresult: {out}\nseed: {seed}")
    if failed or args.keep_workdir or args.workdir:
        print(f"work directory kept: {root}")
    else:
        shutil.rmtree(root, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
