"""Markdown tables and goal verdicts, made from the JSON results alone.

`python -m bench --render bench/results/FILE.json` prints them again for a saved run.
This module writes the opening, the goals (bench/goals.py), survival and latency;
bench/report_sections.py the other parts.
"""

from __future__ import annotations

from typing import Any

from bench import goals, report_sections
from bench.report_sections import opening
from bench.text import DASH, TIMES, multiple_text, multiples_spread, spread_text, table

PEER_ORDER = (
    "none",
    "in-process",
    "cron-5min",
    "cron-5s",
    "floor-inotify",
    "floor-watchdog",
    "ckptguard",
)
PARTS = ("survival", "latency", "startup", "idle", "scale", "storm")


def markdown(results: dict[str, Any]) -> str:
    out = _intro(results)
    out += ["", "### Goals", ""]
    out.append(
        "Each verdict is computed from this run's figures; the peer or floor beside it was"
        " measured in the same run."
    )
    out.append("")
    out += table(
        ["goal", "measured", "peer / floor, same run", "verdict"],
        [[g["goal"], g["measured"], g["reference"], g["verdict"]] for g in goals.goals(results)],
    )
    out += _survival(results)
    out += _latency(results)
    out += report_sections.startup(results)
    out += report_sections.idle(results)
    out += report_sections.scale(results)
    out += report_sections.storm(results)
    failed = [k for k in PARTS if "error" in (results.get(k) or {})]
    if failed:
        out += ["", "**Parts that failed to run:** " + ", ".join(failed) + " (see the JSON)."]
    return "\n".join(out) + "\n"


def _intro(results: dict[str, Any]) -> list[str]:
    meta = results["meta"]
    box = meta["machine"]
    load = ", ".join(f"{x:.2f}" for x in box.get("load_average_at_start", []))
    end = ", ".join(f"{x:.2f}" for x in box.get("load_average_at_end", []))
    out = ["## Performance", ""]
    out.append(
        f"Measured on {meta['started'][:10]} with `{meta['command']}` ({meta['mode']} run,"
        f" {meta['duration_s'] / 60:.1f} min): {box['cpu_model']}, {box['cores']} cores,"
        f" {box['memory_gib']:g} GiB RAM, Linux {box['kernel']}, Python {box['python']},"
        f" {box['ckptguard_version']} (commit {box['git']}); load average at start {load}"
        f", at the end {end}; fs.inotify.max_queued_events"
        f" {box.get('inotify_max_queued_events', 'n/a')}."
    )
    compiled = meta.get("bytecode")
    if compiled and compiled["without_bytecode_before"]:
        out.append(
            f"The checkout's byte-code was missing for {compiled['without_bytecode_before']}"
            f" of {compiled['modules']} modules (PYTHONDONTWRITEBYTECODE"
            f" {'set' if box.get('pythondontwritebytecode') else 'not set'}); it was compiled"
            " before measuring, as installing ckptguard does."
        )
    changed = box.get("git_at_end")
    if changed and changed != box["git"]:
        out += [
            "",
            f"**Warning:** the checkout changed during the run ({box['git']} at the start,"
            f" {changed} at the end), so later parts may have measured newer code.",
        ]
    out += [
        "",
        "Reproduce from a checkout, as root (the survival part mounts tmpfs; without root it"
        " is skipped and says so). The full run takes ~11 minutes on 2 cores; `--quick` is a"
        " one-minute smoke run:",
        "",
        "```sh",
        meta["reproduce"],
        "```",
        "",
        f"Figures are medians of repeated runs, with the spread (min{DASH}max) in parentheses."
        " The JSON beside the tables (bench/results/) holds every run and raw sample.",
        "",
        "**Peers** (what a user would pick instead):",
        "",
    ]
    for peer in results.get("peers") or []:
        out.append(f"- **{peer['label']}**: {_peer_text(peer)}")
    return out


def _peer_text(peer: dict[str, Any]) -> str:
    if peer["kind"] == "cron":
        return (
            "`bench/cron.py` deletes all but the newest 3 every period, standing for"
            f" {peer['real_world']}: {peer['cron_ratio']:g}x the save interval, scaled to"
            " the interval measured for each save pattern (and for the latency writer:"
            f" {peer['cron_period_s'] * 1000:.1f} ms). A long-lived loop (no process start"
            " per run, which favours it) that, like `find | sort -V | head -n -3 | xargs rm`,"
            " counts a save in progress among the newest 3"
        )
    if peer["kind"] == "ckptguard":
        return (
            "`ckptguard run --dir D` with default options, started before the trainer;"
            " READY=1 awaited on a real sd_notify socket"
        )
    if peer["kind"] == "in-process":
        return (
            "the training script deletes the oldest beyond 3 after each save"
            " (`bench/trainer.py --keep-in-process 3`)"
        )
    if peer["kind"] == "floor":
        return (
            f"latency only: `bench/floor_reader.py --via {peer['via']}`, on the close of"
            " checkpoint k deletes k-3 and does nothing else"
        )
    return "nothing deletes anything"


def _peer_label(results: dict[str, Any], key: str) -> str:
    for peer in results.get("peers") or []:
        if peer["key"] == key:
            return str(peer["label"])
    return key


def _survival(results: dict[str, Any]) -> list[str]:
    part, out = opening(results, "survival", "1. Survival: the smallest filesystem a run survives")
    if part is None:
        return out
    if "skipped" in part:
        return [*out, f"Skipped: {part['skipped']}."]
    trainer = part["trainer"]
    alloc, page = trainer["allocated_bytes"], trainer["page_bytes"]
    patterns = part["patterns"]
    runs = ", ".join(f"{k} {v}" for k, v in part["repetitions"].items())
    out.append(
        f"bench/trainer.py, {trainer['saves']} saves of a {trainer['file_bytes']:,}-byte"
        f" checkpoint (1 MiB of weights), streamed into the final path ({trainer['options']})."
        f" One size = its footprint on tmpfs, {alloc:,} bytes ({alloc // page} pages of"
        f" {page} bytes); mounts are multiples of that, rounded up to a page. Real tmpfs"
        " mounts were tried smallest first, from the last rung below the pattern's physical"
        " limit, until all saves completed. Runs per peer and pattern: "
        f"{runs}. The physical limit: at each close, the newest complete checkpoint before"
        " it, the one just closed and what the other open saves have written."
    )
    out.append("")
    header = ["peer", *(f"{p['pattern']['label']}" for p in patterns.values())]
    rows = [
        [
            "physical limit",
            *(multiple_text(p["physical_limit"], alloc, page) for p in patterns.values()),
        ],
        [
            "save interval (measured)",
            *(f"{p['calibration']['save_interval_s'] * 1000:.0f} ms" for p in patterns.values()),
        ],
    ]
    for key in PEER_ORDER:
        if not any(key in p["peers"] for p in patterns.values()):
            continue
        cells = [_label_smallest(p, key, alloc, page) for p in patterns.values()]
        rows.append([_peer_label(results, key), *cells])
    out += table(header, rows)
    out += ["", "Smallest tmpfs that survived, in checkpoint sizes. Details per trial:", ""]
    out += table(
        ["pattern", "peer", "largest that hit ENOSPC", "saves deleted while written", "notes"],
        [row for p in patterns.values() for row in _detail_rows(results, p, alloc, page)],
    )
    return out


def _label_smallest(pattern: dict[str, Any], key: str, alloc: int, page: int) -> str:
    peer = pattern["peers"].get(key)
    if peer is None:
        return DASH
    if peer["summary"]["median"] is None:
        return f"> {multiple_text(pattern['ladder'][-1], alloc, page)}"
    text = multiples_spread(peer["summary"], alloc, page)
    if peer["never_completed"]:
        text += f"; {peer['never_completed']} run(s) never completed"
    lost = sum(t["lost_while_written"] for t in peer["trials"] if t["outcome"] == "ok")
    if lost:
        text += f" ({lost} save{'s' if lost > 1 else ''} deleted while written)"
    return text


def _detail_rows(
    results: dict[str, Any], pattern: dict[str, Any], alloc: int, page: int
) -> list[list[str]]:
    rows = []
    for key in PEER_ORDER:
        peer = pattern["peers"].get(key)
        if peer is None:
            continue
        failures = [t for t in peer["trials"] if t["outcome"] != "ok"]
        largest = max((t["multiple"] for t in failures), default=None)
        notes = []
        errors = sum(1 for t in peer["trials"] if t["outcome"] == "error")
        if errors:
            notes.append(f"{errors} trainer error(s)")
        late = sorted(
            t["room_made_after_ms"] for t in failures if t.get("room_made_after_ms") is not None
        )
        if late:
            notes.append(
                "the guard's first deletion after the previous save began came "
                + ", ".join(f"{x:+.1f}" for x in late)
                + " ms from the failing save's start"
            )
        problems = sum(1 for t in peer["trials"] if t.get("daemon_problem"))
        if problems:
            notes.append(f"daemon died or exited non-zero in {problems} trial(s)")
        rows.append(
            [
                pattern["pattern"]["label"],
                _peer_label(results, key),
                DASH if largest is None else multiple_text(largest, alloc, page),
                str(peer["lost_while_written"]),
                "; ".join(notes) or DASH,
            ]
        )
    return rows


def _latency(results: dict[str, Any]) -> list[str]:
    part, out = opening(
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
        f"{DASH}max over runs). **in-process** is the writer deleting the file itself right"
        " after close; the two **floors** are the least an outside process can do. A"
        " checkpoint already gone before close() counts as 0 ms and in the column"
        ' "gone before close" (cron counts the save in progress among the newest 3). The'
        " last column counts the saves whose close() call itself took over 1 ms."
    )
    out.append("")
    rows = []
    for key in PEER_ORDER:
        peer = part["peers"].get(key)
        for row in (peer or {}).get("rows", []):
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
    header = ["peer", "other files", "p50 ms", "p95 ms", "p99 ms", "max ms"]
    header += [f"saves {TIMES} runs", "gone before close", "close() > 1 ms"]
    return out + table(header, rows)
