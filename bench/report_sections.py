"""The tables of start-up, idle, scale and storm (bench/report.py writes the rest)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bench import goals
from bench.text import TIMES, num, ratio, runs, spread_text, table


def opening(results: dict[str, Any], key: str, title: str) -> tuple[Any, list[str]]:
    """A section's heading and its results; None instead when it did not run, with why."""
    part = results.get(key)
    out = ["", f"### {title}", ""]
    if part is None:
        return None, [*out, "Not run (see --only)."]
    if "error" in part:
        return None, [*out, f"Failed to run: {part['error']}"]
    return part, out


def startup(results: dict[str, Any]) -> list[str]:
    part, out = opening(results, "startup", "3. Start-up")
    if part is None:
        return out
    out.append(
        f"Wall time from spawn to exit, {runs(part['repetitions'])} of each command in turns"
        " (after one round not counted), output to /dev/null; the audit's directory holds"
        f" {part['audit_checkpoints']} tiny valid checkpoints and its state directory is empty"
        " (cold). Ratios are to bare `python -c pass` of the same interpreter, same run."
    )
    out.append("")
    seconds = part["seconds"]
    bare = seconds["bare"]["median"]
    labels = {
        "bare": "`python -c pass`",
        "version": "`ckptguard --version`",
        "help": "`ckptguard --help`",
        "audit": f"`ckptguard audit` of {part['audit_checkpoints']}",
    }
    rows = [
        [
            labels.get(key, key),
            spread_text(seconds[key], scale=1000, digits=0, unit="ms"),
            ratio(seconds[key]["median"], bare),
            ", ".join(map(str, part["exit_codes"][key])),
        ]
        for key in seconds
    ]
    out += table(["command", "wall time", f"{TIMES} bare", "exit"], rows)
    out += [
        "",
        "The import floor: peak RSS (VmHWM) of the same interpreter after importing only"
        " the daemon's dependencies, nothing of ckptguard:",
        "",
    ]
    modules = part["import_floor_modules"]
    return out + table(
        ["imports", "peak RSS"],
        [
            [f"`import {modules[k]}`" if modules[k] else "nothing", f"{num(mb, 1)} MB"]
            for k, mb in part["import_floor_rss_mb"].items()
        ],
    )


def idle(results: dict[str, Any]) -> list[str]:
    part, out = opening(results, "idle", "4. Idle cost: checkpoints guarded, nothing happening")
    if part is None:
        return out
    variants = part.get("variants") or {"keep": part}
    out.append(
        f"`ckptguard run` on {part['checkpoints']:,} tiny valid checkpoints. With the default"
        " keep 3 it would delete 997 of them at start, so two daemons ran side by side, each"
        " on its own directory: `--keep 1000` (the goal's figure) and `--keep-every 1`; a"
        " third guarded 100 directories of 100 checkpoints each. Measured for"
        f" {part['window_s']:.0f} s after READY=1; CPU = time on a CPU of every thread, from"
        f" /proc/PID/task/*/schedstat (exact), sampled every {part['sample_every_s']:g} s;"
        " peak RSS = VmHWM."
        + (
            " The window includes one periodic rescan (every 60 s); the busiest"
            f" {part['sample_every_s']:g} s sample is the one holding it."
            if part["window_s"] > 60
            else " The window is shorter than the 60 s rescan interval."
        )
    )
    out.append("")
    keys = list(variants)
    header = ["metric", *[f"`{_options(variants[k]['options'])}`" for k in keys]]

    def row(label: str, fmt: Callable[[dict[str, Any]], str]) -> list[str]:
        return [label, *[fmt(variants[k]) for k in keys]]

    rows = [
        row("CPU, whole window", lambda v: f"{v['cpu_s_per_min']:.4f} CPU-s/min"),
        row(
            f"CPU in the busiest {part['sample_every_s']:g} s sample",
            lambda v: f"{v['busiest_window_cpu_s']:.3f} CPU-s",
        ),
        row(
            "CPU in all other samples",
            lambda v: f"{num(v['other_windows_cpu_s_per_min'], 4)} CPU-s/min",
        ),
        row("CPU from 10 ms ticks", lambda v: f"{_ticks(v)} CPU-s/min"),
        row("peak RSS (VmHWM)", lambda v: f"{v['peak_rss_mb']:.1f} MB"),
        row(
            "start-up: spawn to READY=1",
            lambda v: f"{v['ready_after_s']:.2f} s, {v['startup_cpu_s']:.2f} CPU-s",
        ),
        row("threads", lambda v: str(v["threads"])),
        row(
            "checkpoints left, alive",
            lambda v: f"{v['checkpoints_left']:,}, {'yes' if v['alive'] else '**no**'}",
        ),
    ]
    return out + table(header, rows)


def _options(options: list[str]) -> str:
    return " ".join(options) if len(options) < 6 else "--dir D1 ... --dir D100 --keep 100"


def _ticks(variant: dict[str, Any]) -> str:
    return num(variant.get("ticks_cpu_s_per_min", variant["cpu_s_per_min"]), 3)


def scale(results: dict[str, Any]) -> list[str]:
    part, out = opening(results, "scale", "5. Scale")
    if part is None:
        return out
    audit = part.get("audit")
    if audit and "error" not in audit:
        out.append(
            "`ckptguard audit --dir D --state-dir S` (default table to /dev/null) on tiny but"
            " valid `.keras` zips beside the floor `" + audit["floor_command"] + "`, in turns; "
            f"{runs(audit['repetitions'])} each. Cold: S empty, every checkpoint is opened as"
            " a zip. Warm: the verdicts known, S filled once by `"
            + audit["fill_command"]
            + "` (deletes nothing; its time in the last column)."
        )
        out.append("")
        rows = [
            [
                f"{row['checkpoints']:,}",
                spread_text(row["cold_s"], unit="s"),
                spread_text(row["warm_s"], unit="s"),
                spread_text(row["floor_s"], scale=1000, digits=0, unit="ms"),
                ratio(row["cold_s"]["median"], row["floor_s"]["median"]),
                ratio(row["warm_s"]["median"], row["floor_s"]["median"]),
                f"{num(row['fill_cache_s'])} s",
            ]
            for row in audit["rows"]
        ]
        header = ["checkpoints", "audit, cold", "audit, warm", "find \\| sort"]
        header += ["cold ratio", "warm ratio", "prune --execute filling S"]
        out += table(header, rows)
    elif audit:
        out.append(f"Audit failed to run: {audit['error']}")
    return out + _catch_up(part.get("catch_up"))


def _catch_up(catch: dict[str, Any] | None) -> list[str]:
    if not catch:
        return []
    if "error" in catch:
        return ["", f"Catch-up failed to run: {catch['error']}"]
    out = [
        "",
        f"Catch-up: {catch['checkpoints']:,} valid checkpoints renamed into a guarded"
        " directory one by one as fast as possible (from a sibling directory on the same"
        f" tmpfs), until only the newest 3 are left; {runs(catch['repetitions'])}.",
        "",
    ]
    lost = sum(r["events_lost_logged"] for r in catch["runs"])
    return out + table(
        ["renames took", "settled after the last rename", "from the first", "notes"],
        [
            [
                spread_text(catch["moves_s"], unit="s"),
                spread_text(catch["after_last_move_s"], unit="s"),
                spread_text(catch["from_first_move_s"], unit="s"),
                ("all settled" if catch["all_settled"] else "**did not settle**")
                + ("" if catch["all_alive"] else ", **daemon died**")
                + (f", {lost} inotify overflow(s) → full rescan" if lost else ""),
            ]
        ],
    )


def storm(results: dict[str, Any]) -> list[str]:
    part, out = opening(results, "storm", "6. Event storm")
    if part is None:
        return out
    out.append(
        f"{part['files']:,} tiny valid checkpoints written straight into a guarded directory"
        f" (beside {part['other_files']} unrelated files) as fast as one process can, while"
        f" `ckptguard run --dir D` (defaults) runs; {runs(part['repetitions'])}. Goal: settled"
        f" within {goals.BURST_S:g} s of the burst."
    )
    out.append("")
    each = part["runs"]
    lost = [r["events_lost_logged"] for r in each]
    return out + table(
        ["burst took", "settled after the burst", "alive, exit 0", "final state", "overflows"],
        [
            [
                spread_text(part["burst_s"], unit="s"),
                spread_text(part["settle_after_burst_s"], unit="s"),
                f"{sum(1 for r in each if r['alive'] and r['exit_code'] == 0)}/{len(each)}",
                "newest 3 + all others left" if part["final_state_ok"] else _wrong(each),
                ", ".join(str(x) for x in lost) + " (events_lost → full rescan)",
            ]
        ],
    )


def _wrong(each: list[dict[str, Any]]) -> str:
    """Which runs did not settle, and what they left."""
    wrong = [r for r in each if not r["final_state_ok"]]
    left = "; ".join(
        f"{r['why_not']}, left {', '.join(map(str, r.get('left_over', [])))}" for r in wrong
    )
    return f"**wrong in {len(wrong)}/{len(each)}** ({left})"
