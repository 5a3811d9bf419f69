"""ckptguard's benchmark suite: ckptguard against what a user would pick instead.

    python -m bench            # the full suite, ~11 minutes on 2 cores (root: tmpfs mounts)
    python -m bench --quick    # a smoke run, under a minute
    python bench/run.py ...    # the same
    python -m bench --render bench/results/FILE.json   # the tables of a saved run again

Prints Markdown tables on stdout (progress goes to stderr) and writes the results, with
the machine they were measured on, to bench/results/ as JSON (and the tables as .md).
See bench/README.md for what is measured and how.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import signal
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

if __package__ in (None, ""):  # `python bench/run.py`: make `bench` importable
    _here = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _here]
    sys.path.insert(0, str(_here.parent))

from bench import (
    goals,
    harness,
    idle,
    latency,
    peers,
    report,
    scale,
    startup,
    storm,
    survival,
    survival_trial,
)

PARTS = ("survival", "latency", "startup", "idle", "scale", "storm")

FULL: dict[str, Any] = {
    # Runs per peer kind and save pattern: ckptguard races the trainer, so three; the
    # others are one run each (the in-process deletion and "none" are deterministic).
    "survival_repetitions": {"ckptguard": 3, "default": 1},
    "ladder": survival.LADDER,
    "survival_patterns": tuple(p.key for p in survival.PATTERNS),
    "survival_peers": None,
    "survival_saves": survival_trial.SAVES,
    # peer key -> (saves per run, runs). One run of the peers and floors, three of
    # ckptguard; the slow cron takes ~0.7 s per save, so it gets fewer saves.
    "latency_plan": {
        "in-process": (200, 1),
        "cron-5min": (200, 1),
        "cron-5s": (15, 1),
        "floor-inotify": (200, 1),
        "floor-watchdog": (200, 1),
        "ckptguard": (200, 3),
    },
    "latency_counts": latency.COUNTS,
    "startup_repetitions": startup.REPETITIONS,
    "idle_window": 65.0,
    "audit_sizes": scale.AUDIT_SIZES,
    "audit_repetitions": 3,
    "catch_up_count": scale.CATCH_UP,
    "catch_up_repetitions": 3,
    "storm_count": storm.FILES,
    "storm_repetitions": 3,
}
QUICK: dict[str, Any] = {
    "survival_repetitions": {"default": 1},
    "ladder": (2.0, 4.0, 21.0),
    "survival_patterns": tuple(p.key for p in survival.PATTERNS),
    "survival_peers": ("in-process", "cron-5min", "ckptguard"),
    "survival_saves": 10,
    "latency_plan": {
        "in-process": (20, 1),
        "cron-5min": (20, 1),
        "floor-inotify": (20, 1),
        "floor-watchdog": (20, 1),
        "ckptguard": (30, 1),
    },
    "latency_counts": (10, 10_000),
    "startup_repetitions": 3,
    "idle_window": 5.0,
    "audit_sizes": (5_000,),
    "audit_repetitions": 1,
    "catch_up_count": 5_000,
    "catch_up_repetitions": 1,
    "storm_count": 5_000,
    "storm_repetitions": 1,
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description="ckptguard's benchmark suite (see bench/README.md)"
    )
    parser.add_argument("--quick", action="store_true", help="a short smoke run (< 1 minute)")
    parser.add_argument(
        "--only",
        default=",".join(PARTS),
        help=f"comma-separated parts to run (default: all of {','.join(PARTS)})",
    )
    parser.add_argument("--out", type=Path, help="JSON file to write (default: bench/results/)")
    parser.add_argument("--render", type=Path, help="print the tables of a saved JSON and exit")
    args = parser.parse_args(argv)
    args.only = [p.strip() for p in args.only.split(",") if p.strip()]
    unknown = [p for p in args.only if p not in PARTS]
    if unknown:
        parser.error(f"--only: unknown part(s) {', '.join(unknown)}; choose from {PARTS}")
    return args


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # unwinds through every `finally`: cleanup runs


def _guarded(name: str, action: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run one part; a failure is recorded and reported, and the other parts still run."""
    started = time.perf_counter()
    harness.log(f"{name}: starting")
    try:
        result = action()
    except Exception as error:  # noqa: BLE001 - reported in the JSON and the tables
        traceback.print_exc()
        result = {"error": f"{type(error).__name__}: {error}"}
    result["part_seconds"] = time.perf_counter() - started
    harness.log(f"{name}: done in {result['part_seconds']:.1f} s")
    return result


def measure(args: argparse.Namespace, command: str) -> dict[str, Any]:
    config = QUICK if args.quick else FULL
    python, version = harness.ckptguard_python()
    bytecode = harness.bytecode(python)
    started_at = datetime.datetime.now(datetime.timezone.utc)
    started = time.perf_counter()
    results: dict[str, Any] = {
        "meta": {
            "command": command,
            "reproduce": "python3 -m venv .venv && .venv/bin/pip install -e .\n"
            ".venv/bin/python -m bench" + (" --quick" if args.quick else ""),
            "mode": "quick" if args.quick else "full",
            "parts": args.only,
            "started": started_at.isoformat(timespec="seconds"),
            "machine": harness.machine(version, python),
            "bytecode": bytecode,
            "config": {k: v for k, v in config.items() if k != "latency_plan"}
            | {"latency_plan": {k: list(v) for k, v in config["latency_plan"].items()}},
        }
    }
    workdir = harness.make_workdir()
    try:
        calibration = survival.measure_save_interval(workdir)
        results["calibration"] = calibration
        harness.log(f"trainer saves every {calibration['save_interval_s'] * 1000:.1f} ms")
        all_peers = peers.make_peers(calibration["save_interval_s"]) + peers.make_floors()
        results["peers"] = [p.describe() for p in all_peers]
        if "survival" in args.only:
            results["survival"] = _guarded(
                "survival",
                lambda: survival.run(
                    python=python,
                    workdir=workdir,
                    repetitions=config["survival_repetitions"],
                    ladder=config["ladder"],
                    patterns=config["survival_patterns"],
                    peers=config["survival_peers"],
                    saves=config["survival_saves"],
                ),
            )
        if "latency" in args.only:
            results["latency"] = _guarded(
                "latency",
                lambda: latency.run(
                    all_peers,
                    python=python,
                    workdir=workdir,
                    plan=config["latency_plan"],
                    counts=config["latency_counts"],
                ),
            )
        if "startup" in args.only:
            results["startup"] = _guarded(
                "startup",
                lambda: startup.run(
                    python=python, workdir=workdir, repetitions=config["startup_repetitions"]
                ),
            )
        if "idle" in args.only:
            results["idle"] = _guarded(
                "idle",
                lambda: idle.run(python=python, workdir=workdir, window=config["idle_window"]),
            )
        if "scale" in args.only:
            results["scale"] = {
                "audit": _guarded(
                    "scale/audit",
                    lambda: scale.audit(
                        python=python,
                        workdir=workdir,
                        sizes=config["audit_sizes"],
                        repetitions=config["audit_repetitions"],
                    ),
                ),
                "catch_up": _guarded(
                    "scale/catch-up",
                    lambda: scale.catch_up(
                        python=python,
                        workdir=workdir,
                        count=config["catch_up_count"],
                        repetitions=config["catch_up_repetitions"],
                    ),
                ),
            }
        if "storm" in args.only:
            results["storm"] = _guarded(
                "storm",
                lambda: storm.run(
                    python=python,
                    workdir=workdir,
                    count=config["storm_count"],
                    repetitions=config["storm_repetitions"],
                ),
            )
    finally:
        harness.cleanup()
        shutil.rmtree(workdir, ignore_errors=True)
    results["meta"]["duration_s"] = time.perf_counter() - started
    results["meta"]["machine"]["load_average_at_end"] = list(os.getloadavg())
    # Another checkout user may change ckptguard/ while the suite runs: say so if it did.
    results["meta"]["machine"]["git_at_end"] = harness.git_describe()
    results["goals"] = goals.goals(results)
    return results


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.render:
        print(report.markdown(json.loads(args.render.read_text())), end="")
        return 0
    signal.signal(signal.SIGTERM, _on_sigterm)
    command = "python -m bench" + "".join(f" {a}" for a in (argv or sys.argv[1:]))
    results = measure(args, command)
    out = args.out
    if out is None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        out = harness.RESULTS / f"bench-{stamp}-{results['meta']['mode']}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1) + "\n")
    text = report.markdown(results)
    out.with_suffix(".md").write_text(text)
    print(text, end="")
    harness.log(f"results: {out} (tables: {out.with_suffix('.md')})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
