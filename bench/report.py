"""Markdown tables and goal verdicts, made from the JSON results alone.

`python -m bench --render bench/results/FILE.json` prints them again for a saved run.
"""

from __future__ import annotations

import math
from typing import Any

# The goals from issue 5; the verdicts are computed from the measurements, never assumed.
LATENCY_P99_GOAL_MS = 20.0
IDLE_CPU_GOAL = 0.06  # CPU-s per minute
IDLE_RSS_GOAL_MB = 60.0
PHYSICAL_LIMIT = 2.0  # checkpoint sizes

DASH = "\u2013"  # en dash, for ranges in the tables
TIMES = "\u00d7"
PEER_ORDER = ("none", "in-process", "cron-5min", "cron-5s", "ckptguard")


def _num(value: float | None, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:,.{digits}f}"


def multiple_text(value: float | None, alloc: int, page: int) -> str:
    """A size in checkpoint sizes: `2.5`, or `2 + 1 page` for the lock-file rung."""
    if value is None:
        return "n/a"
    base = math.floor(value * 2 + 1e-9) / 2
    extra = round((value - base) * alloc / page)
    if extra == 0:
        return f"{value:g}"
    return f"{base:g} + {extra} page" + ("s" if extra > 1 else "")


def multiples_spread(spread: dict[str, Any], alloc: int, page: int) -> str:
    if spread.get("median") is None:
        return "n/a"
    text = multiple_text(spread["median"], alloc, page)
    if spread.get("n", 1) > 1 and spread["min"] != spread["max"]:
        low = multiple_text(spread["min"], alloc, page)
        high = multiple_text(spread["max"], alloc, page)
        text += f" ({low}{DASH}{high})"
    return text


def spread_text(
    spread: dict[str, Any] | None, *, scale: float = 1.0, digits: int = 2, unit: str = ""
) -> str:
    """`median unit (min-max)`, or just the value when there was one run."""
    if not spread or spread.get("median") is None:
        return "n/a"
    median = _num(spread["median"] * scale, digits)
    suffix = f" {unit}" if unit else ""
    if spread.get("n", 1) <= 1 or spread["min"] == spread["max"]:
        return f"{median}{suffix}"
    low, high = _num(spread["min"] * scale, digits), _num(spread["max"] * scale, digits)
    return f"{median}{suffix} ({low}{DASH}{high})"


def _verdict(measured: float | None, goal: float, unit: str, digits: int = 2) -> str:
    if measured is None:
        return "not measured"
    if measured < goal:
        return "met"
    over = measured - goal
    return f"**missed** by {_num(over, digits)} {unit} ({over / goal * 100:.0f}% over)".strip()


def goals(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each goal of the issue with what was measured and whether it was met."""
    found: list[dict[str, Any]] = []
    survival = results.get("survival") or {}
    guard = (survival.get("peers") or {}).get("ckptguard")
    if guard:
        median = guard["summary"]["median"]
        never = guard["never_completed"]
        alloc = survival["trainer"]["allocated_bytes"]
        page = survival["trainer"]["page_bytes"]
        if median is None:
            verdict = "**missed**: never completed on the ladder"
        elif median <= PHYSICAL_LIMIT and not never:
            verdict = "met"
        else:
            over = median - PHYSICAL_LIMIT
            pages = round(over * alloc / page)
            verdict = f"**missed** by {over:.3g} checkpoint sizes" + (
                f" ({pages} page{'s' if pages > 1 else ''} of {page} bytes)"
                if pages < alloc // page
                else ""
            )
        found.append(
            {
                "goal": "survival: ckptguard reaches the physical limit"
                f" ({PHYSICAL_LIMIT:g} sizes)",
                "measured": f"{multiples_spread(guard['summary'], alloc, page)} (checkpoint sizes)",
                "verdict": verdict,
            }
        )
    elif "skipped" in survival:
        found.append(
            {
                "goal": "survival: ckptguard reaches the physical limit (2 sizes)",
                "measured": "skipped",
                "verdict": f"not measured: {survival['skipped']}",
            }
        )
    latency = ((results.get("latency") or {}).get("peers") or {}).get("ckptguard")
    for row in (latency or {}).get("rows", []):
        p99 = row["p99_ms"]["median"]
        worst = row["p99_ms"]["max"]
        verdict = _verdict(p99, LATENCY_P99_GOAL_MS, "ms")
        if verdict == "met" and worst is not None and worst >= LATENCY_P99_GOAL_MS:
            verdict = f"met by the median; the worst run's p99 was {_num(worst)} ms"
        if row["misses"]:
            verdict += f"; {row['misses']} saves never cleaned up"
        found.append(
            {
                "goal": f"latency p99 < {LATENCY_P99_GOAL_MS:g} ms, {row['others']:,} other files",
                "measured": spread_text(row["p99_ms"], unit="ms"),
                "verdict": verdict,
            }
        )
    idle = results.get("idle")
    if idle and "error" not in idle:
        cpu = idle["cpu_s_per_min"]
        found.append(
            {
                "goal": f"idle CPU < {IDLE_CPU_GOAL:g} CPU-s/min",
                "measured": f"{_num(cpu, 3)} CPU-s/min over {idle['window_s']:.0f} s"
                f" (`{' '.join(idle['options'])}`)",
                "verdict": _verdict(cpu, IDLE_CPU_GOAL, "CPU-s/min", 3)
                if idle["cpu_resolution_s_per_min"] < IDLE_CPU_GOAL
                else "inconclusive: the window is too short for 10 ms ticks to resolve"
                f" {IDLE_CPU_GOAL:g} (resolution {idle['cpu_resolution_s_per_min']:.3f})",
            }
        )
        found.append(
            {
                "goal": f"idle peak RSS < {IDLE_RSS_GOAL_MB:g} MB",
                "measured": f"{_num(idle['peak_rss_mb'], 1)} MB",
                "verdict": _verdict(idle["peak_rss_mb"], IDLE_RSS_GOAL_MB, "MB", 1),
            }
        )
    storm = results.get("storm")
    if storm and "error" not in storm:
        ok = storm["no_crash"] and storm["final_state_ok"]
        found.append(
            {
                "goal": f"event storm ({storm['files']:,} files): no crash, keep-3 holds",
                "measured": "alive, exit 0, correct"
                if ok
                else "see the storm table: a run crashed or left a wrong state",
                "verdict": "met" if ok else "**missed**",
            }
        )
    return found


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _peer_label(results: dict[str, Any], key: str) -> str:
    for part in ("survival", "latency"):
        peers = (results.get(part) or {}).get("peers") or {}
        if key in peers:
            return str(peers[key]["peer"]["label"])
    return key


def markdown(results: dict[str, Any]) -> str:
    meta = results["meta"]
    box = meta["machine"]
    out: list[str] = ["## Performance", ""]
    load = ", ".join(f"{x:.2f}" for x in box.get("load_average_at_start", []))
    end = ", ".join(f"{x:.2f}" for x in box.get("load_average_at_end", []))
    out.append(
        f"Measured on {meta['started'][:10]} with `{meta['command']}` ({meta['mode']} run,"
        f" {meta['duration_s'] / 60:.1f} min): {box['cpu_model']}, {box['cores']} cores,"
        f" {box['memory_gib']:g} GiB RAM, Linux {box['kernel']}, Python {box['python']},"
        f" {box['ckptguard_version']} (commit {box['git']}); load average at start {load}"
        f", at the end {end}."
    )
    changed = box.get("git_at_end")
    if changed and changed != box["git"]:
        out.append("")
        out.append(
            f"**Warning:** the checkout changed during the run ({box['git']} at the start,"
            f" {changed} at the end), so later parts may have measured newer code."
        )
    out.append("")
    out.append(
        "Reproduce from a checkout, as root (the survival part mounts tmpfs; without root it is"
        " skipped and says so). The full run takes ~10 minutes on 2 cores; `--quick` is a"
        " one-minute smoke run:"
    )
    out += ["", "```sh", meta["reproduce"], "```", ""]
    out.append(
        f"Figures are medians of repeated runs, with the spread (min{DASH}max) in parentheses. "
        "The JSON beside the table (bench/results/) holds every run and raw sample."
    )
    calibration = results.get("calibration") or {}
    peers = results.get("peers") or []
    out += ["", "**Peers** (what a user would pick instead):", ""]
    for peer in peers:
        line = f"- **{peer['label']}**: "
        if peer["kind"] == "cron":
            line += (
                f"`bench/cron.py` deletes all but the newest 3 every"
                f" {peer['cron_period_s'] * 1000:.1f} ms here, standing for {peer['real_world']}"
            )
        elif peer["kind"] == "ckptguard":
            line += (
                "`ckptguard run --dir D` with default options, started before the trainer;"
                " READY=1 awaited on a real sd_notify socket"
            )
        elif peer["kind"] == "in-process":
            line += "the training script deletes the oldest beyond 3 after each save"
            line += " (`bench/trainer.py --keep-in-process 3`)"
        else:
            line += "nothing deletes anything"
        out.append(line)
    if calibration:
        out += [
            "",
            f"Cron scaling: the simulated trainer saves every"
            f" {calibration['save_interval_s'] * 1000:.1f} ms (median) instead of every few"
            " minutes, so a 60 s cron is scaled by the same factor: its period is"
            " 60 s / (real save interval) times the measured save interval. The cron peer is"
            " a long-lived loop (no process start per run, which favours it) that, like"
            " `find | sort -V | head -n -3 | xargs rm`, counts a save in progress as one of"
            " the newest 3.",
        ]

    out += ["", "### Goals", ""]
    out += _table(
        ["goal", "measured", "verdict"],
        [[g["goal"], g["measured"], g["verdict"]] for g in goals(results)],
    )
    out += _survival(results)
    out += _latency(results)
    out += _idle(results)
    out += _scale(results)
    out += _storm(results)
    failed = [k for k in ("survival", "latency", "idle", "scale", "storm") if _error(results, k)]
    if failed:
        out += ["", "**Parts that failed to run:** " + ", ".join(failed) + " (see the JSON)."]
    return "\n".join(out) + "\n"


def _error(results: dict[str, Any], key: str) -> str | None:
    part = results.get(key)
    return part.get("error") if isinstance(part, dict) else None


def _opening(results: dict[str, Any], key: str, title: str) -> tuple[Any, list[str]]:
    """A section's heading and its results; None instead when it did not run, with why."""
    part = results.get(key)
    out = ["", f"### {title}", ""]
    if part is None:
        return None, [*out, "Not run (see --only)."]
    if "error" in part:
        return None, [*out, f"Failed to run: {part['error']}"]
    return part, out


def _survival(results: dict[str, Any]) -> list[str]:
    part, out = _opening(results, "survival", "1. Survival: smallest filesystem for a 20-save run")
    if part is None:
        return out
    if "skipped" in part:
        return [*out, f"Skipped: {part['skipped']}."]
    trainer = part["trainer"]
    alloc, page = trainer["allocated_bytes"], trainer["page_bytes"]
    ladder = ", ".join(multiple_text(x, alloc, page) for x in part["ladder"])
    out.append(
        f"bench/trainer.py, {trainer['saves']} saves of a {trainer['file_bytes']:,}-byte"
        f" checkpoint (1 MiB of weights), streamed into the final path ({trainer['options']})."
        f" One size = its footprint on tmpfs, {alloc:,} bytes ({alloc // page} pages of"
        f" {page} bytes); mount sizes are multiples of that, rounded up to a page, so 2 sizes"
        f" hold exactly two checkpoints and nothing else. Real tmpfs mounts of {ladder}"
        f" sizes were tried, smallest first, until all saves completed;"
        f" {part['repetitions']} runs per peer. The physical limit is 2 sizes.",
    )
    out.append("")
    rows = []
    for key in PEER_ORDER:
        peer = part["peers"].get(key)
        if peer is None:
            continue
        never = peer["never_completed"]
        value = multiples_spread(peer["summary"], alloc, page)
        if peer["summary"]["median"] is None:
            value = f"> {multiple_text(part['ladder'][-1], alloc, page)}"
        elif never:
            value += f"; {never} run(s) never completed"
        failures = [t for t in peer["trials"] if t["outcome"] != "ok"]
        largest_fail = max((t["multiple"] for t in failures), default=None)
        errors = sum(1 for t in peer["trials"] if t["outcome"] == "error")
        note = "" if largest_fail is None else multiple_text(largest_fail, alloc, page)
        if errors:
            note += f"; {errors} trainer error(s)"
        late = [
            t["room_made_after_ms"]
            for t in failures
            if t.get("room_made_after_ms") is not None and t["multiple"] > PHYSICAL_LIMIT
        ]
        if late:
            note += (
                "; there the guard's deletion came "
                + ", ".join(f"{x:+.0f}" for x in sorted(late))
                + " ms after the failing save began (the trainer pauses 20 ms between saves)"
            )
        problems = sum(1 for t in peer["trials"] if t.get("daemon_problem"))
        if problems:
            note += f"; daemon died or exited non-zero in {problems} trial(s)"
        rows.append([_peer_label(results, key), value, note or DASH])
    out += _table(
        ["peer", "smallest tmpfs that survives, in checkpoint sizes", "largest that hit ENOSPC"],
        rows,
    )
    return out


def _latency(results: dict[str, Any]) -> list[str]:
    part, out = _opening(
        results, "latency", "2. Reaction latency: close() of checkpoint k to checkpoint k-3 gone"
    )
    if part is None:
        return out
    method = part["method"]
    out.append(
        "Measured by the writer: each save streams a 1 MiB checkpoint into its final path,"
        f" pausing {method['pause_in_save_s'] * 1000:g} ms after the first 64 KiB (a real save"
        " lasts seconds: the guard has handled the file's creation before it closes); the"
        " clock starts right before close(), once the last byte is written, and stops when the"
        f" checkpoint 3 saves older is gone (polled every {method['poll_interval_s'] * 1000:g}"
        f" ms), on {method['fs']}, with {method['other_files']} beside the checkpoints. Saves"
        f" start after a random wait (0{DASH}{method['jitter_before_save_s'] * 1000:g} ms; 0 to"
        " one period for cron). Per row: percentiles of each run, median over runs (min"
        f"{DASH}max over runs). **none** never deletes; **in-process** is the writer deleting"
        " the file itself right after close (the measurement's floor). A checkpoint already"
        " gone before close() counts as 0 ms and in the last column: cron counts the save in"
        " progress among the newest 3, so it deletes while a save is still being written."
        " The last column counts the saves whose close() call itself took over 1 ms: the close"
        " wakes the guard, whose threads then take the writer's CPU on a 2-core machine"
        " (measured from the writer's side, the latencies include that wait)."
    )
    out.append("")
    rows = []
    for key in PEER_ORDER:
        peer = part["peers"].get(key)
        if peer is None:
            continue
        for row in peer["rows"]:
            rows.append(
                [
                    _peer_label(results, key),
                    f"{row['others']:,}",
                    spread_text(row["p50_ms"]),
                    spread_text(row["p95_ms"]),
                    spread_text(row["p99_ms"]),
                    spread_text(row["max_ms"]),
                    f"{row['saves_per_run']} {TIMES} {row['repetitions']}"
                    + (f", {row['misses']} missed" if row["misses"] else ""),
                    str(row.get("gone_before_close", 0)),
                    str(row.get("close_over_1ms", "n/a")),
                ]
            )
    out += _table(
        [
            "peer",
            "other files",
            "p50 ms",
            "p95 ms",
            "p99 ms",
            "max ms",
            f"saves {TIMES} runs",
            "gone before close",
            "close() > 1 ms",
        ],
        rows,
    )
    return out


def _idle(results: dict[str, Any]) -> list[str]:
    part, out = _opening(
        results, "idle", "3. Idle cost: guarding 1,000 checkpoints, nothing happening"
    )
    if part is None:
        return out
    variants = part.get("variants") or {"keep": part}
    out.append(
        f"`ckptguard run --dir D` on {part['checkpoints']:,} tiny valid checkpoints. With the"
        " default keep 3 it would delete 997 of them at start, so two daemons ran side by"
        " side, each on its own directory: `--keep 1000` (the goal's figure) and"
        " `--keep-every 1` (every step a milestone). Measured for"
        f" {part['window_s']:.0f} s after READY=1; CPU from /proc/PID/stat (10 ms ticks:"
        f" resolution {part['cpu_resolution_s_per_min']:.3f} CPU-s/min), sampled every"
        f" {part['sample_every_s']:g} s; peak RSS = VmHWM."
        + (
            " The window includes one periodic rescan (every 60 s); the busiest"
            f" {part['sample_every_s']:g} s sample is the one holding it."
            if part["window_s"] > 60
            else " The window is shorter than the 60 s rescan interval."
        )
    )
    out.append("")
    keys = list(variants)
    header = ["metric", *[f"`{' '.join(variants[k]['options'])}`" for k in keys], "goal"]

    def row(label: str, fmt: Any, goal: str = DASH) -> list[str]:
        return [label, *[fmt(variants[k]) for k in keys], goal]

    rows = [
        row(
            "CPU, whole window",
            lambda v: f"{v['cpu_s_per_min']:.3f} CPU-s/min",
            f"< {IDLE_CPU_GOAL:g} CPU-s/min",
        ),
        row(
            f"CPU in the busiest {part['sample_every_s']:g} s sample",
            lambda v: f"{v['busiest_window_cpu_s']:.2f} CPU-s",
        ),
        row(
            "CPU in all other samples",
            lambda v: f"{_num(v['other_windows_cpu_s_per_min'], 3)} CPU-s/min",
        ),
        row(
            "peak RSS (VmHWM)",
            lambda v: f"{v['peak_rss_mb']:.1f} MB",
            f"< {IDLE_RSS_GOAL_MB:g} MB",
        ),
        row("RSS at the end", lambda v: f"{v['rss_end_mb']:.1f} MB"),
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
    out += _table(header, rows)
    return out


def _scale(results: dict[str, Any]) -> list[str]:
    part, out = _opening(results, "scale", "4. Scale")
    if part is None:
        return out
    audit = part.get("audit")
    if audit and "error" not in audit:
        out.append(
            "`ckptguard audit --dir D` (default table to /dev/null) on tiny but valid `.keras`"
            " zips, each opened as a zip, beside the floor `"
            + audit["floor_command"]
            + f"`; {audit['repetitions']} runs each. The CLI start-up alone"
            " (`ckptguard --version`) is shown for scale."
        )
        out.append("")
        rows = [
            [
                f"{row['checkpoints']:,}",
                spread_text(row["audit_s"], unit="s"),
                spread_text(row["floor_s"], scale=1000, digits=0, unit="ms"),
                f"{row['ratio']:,.0f}{TIMES}",
                spread_text(row["startup_s"], unit="s"),
            ]
            for row in audit["rows"]
        ]
        header = ["checkpoints", "ckptguard audit", "find \\| sort", "ratio", "start-up alone"]
        out += _table(header, rows)
    elif audit:
        out.append(f"Audit failed to run: {audit['error']}")
    catch = part.get("catch_up")
    if catch and "error" not in catch:
        out += [
            "",
            f"Catch-up: {catch['checkpoints']:,} valid checkpoints renamed into a guarded"
            " directory one by one as fast as possible (from a sibling directory on the same"
            " tmpfs), until only the newest 3 are left;"
            f" {catch['repetitions']} runs.",
            "",
        ]
        lost = sum(r["events_lost_logged"] for r in catch["runs"])
        out += _table(
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
    elif catch:
        out.append(f"Catch-up failed to run: {catch['error']}")
    return out


def _storm(results: dict[str, Any]) -> list[str]:
    part, out = _opening(results, "storm", "5. Event storm")
    if part is None:
        return out
    out.append(
        f"{part['files']:,} tiny valid checkpoints written straight into a guarded directory"
        f" (beside {part['other_files']} unrelated files) as fast as one process can, while"
        f" `ckptguard run --dir D` (defaults) runs; {part['repetitions']} runs."
    )
    out.append("")
    runs = part["runs"]
    lost = [r["events_lost_logged"] for r in runs]
    out += _table(
        ["burst took", "settled after the burst", "alive, exit 0", "final state", "overflows"],
        [
            [
                spread_text(part["burst_s"], unit="s"),
                spread_text(part["settle_after_burst_s"], unit="s"),
                f"{sum(1 for r in runs if r['alive'] and r['exit_code'] == 0)}/{len(runs)}",
                "newest 3 + all others left"
                if part["final_state_ok"]
                else "**wrong in "
                + f"{sum(1 for r in runs if not r['final_state_ok'])}/{len(runs)}**",
                ", ".join(str(x) for x in lost) + " (events_lost → full rescan)",
            ]
        ],
    )
    return out
