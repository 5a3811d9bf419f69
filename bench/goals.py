"""The goals of issue 15, each with what was measured, the peer or floor measured in the
same run, and a verdict computed from the measurement (never assumed).

A goal whose condition this run did not meet (a --quick run's smaller counts, a part
that did not run) is "not measured", with why; the figure is still shown.
"""

from __future__ import annotations

from typing import Any

from bench.text import DASH, TIMES, multiple_text, multiples_spread, num, ratio, runs, spread_text

PHYSICAL_LIMIT = 2.0  # checkpoint sizes, saves one at a time
LATENCY_OTHERS = 10_000
LATENCY_P99_MS, LATENCY_P50_MS = 3.0, 1.0
STARTUP_FACTOR, STARTUP_SLACK_S = 5.0, 0.050  # within 5x bare `python -c pass` + 50 ms
AUDIT_SMALL_S = 0.25
IDLE_CPU, IDLE_RSS_MB = 0.02, 30.0  # CPU-s per minute; MB
MANY_CPU, MANY_RSS_MB = 0.1, 60.0
AUDIT_LARGE, WARM_RATIO, COLD_RATIO = 100_000, 5.0, 15.0
BURST_FILES, BURST_S = 10_000, 2.0

Goal = dict[str, str]


def verdict(measured: float | None, goal: float, unit: str, digits: int = 2) -> str:
    """`met` when `measured` is below `goal`, else by how much it missed."""
    if measured is None:
        return "not measured"
    if measured < goal:
        return "met"
    if unit == "x":  # a ratio goal: how many times the goal it took
        times = f"{measured / goal:.1f} times the goal"
        return f"**missed**: {num(measured, 0)}{TIMES} for {goal:g}{TIMES} ({times})"
    over = measured - goal
    return f"**missed** by {num(over, digits)} {unit} ({over / goal * 100:.0f}% over)"


def goals(results: dict[str, Any]) -> list[Goal]:
    """Every goal, in the order of the issue."""
    found: list[Goal] = []
    for part in (_survival, _latency, _startup, _idle, _scale, _storm):
        found += part(results)
    return found


def _part(results: dict[str, Any], key: str) -> dict[str, Any] | str:
    """A part's results, or why there are none."""
    part = results.get(key)
    if part is None:
        return "not run (see --only)"
    if "error" in part:
        return f"failed: {part['error']}"
    if "skipped" in part:
        return f"skipped: {part['skipped']}"
    return dict(part)


def _unmeasured(goals: list[str], why: str) -> list[Goal]:
    return [{"goal": g, "measured": DASH, "reference": DASH, "verdict": why} for g in goals]


SURVIVAL_GOALS = {
    "spaced": f"survival, 0.2 s between saves: {PHYSICAL_LIMIT:g} checkpoint sizes",
    "back-to-back": f"survival, back-to-back saves: {PHYSICAL_LIMIT:g} checkpoint sizes",
}


def _survival(results: dict[str, Any]) -> list[Goal]:
    part = _part(results, "survival")
    if isinstance(part, str):
        return _unmeasured([*SURVIVAL_GOALS.values(), "survival: at most in-process"], part)
    alloc, page = part["trainer"]["allocated_bytes"], part["trainer"]["page_bytes"]
    found = []
    for key, pattern in part["patterns"].items():
        guard, own = pattern["peers"].get("ckptguard"), pattern["peers"].get("in-process")
        if guard is None:
            continue
        worst = None if guard["never_completed"] else guard["summary"]["max"]
        measured = multiples_spread(guard["summary"], alloc, page) + " sizes"
        if guard["never_completed"]:
            measured += f"; {guard['never_completed']} run(s) never completed"
        limit = pattern["physical_limit"]
        in_process = own["summary"]["median"] if own else None
        reference = f"physical limit {multiple_text(limit, alloc, page)}" + (
            f"; in-process {multiple_text(in_process, alloc, page)}"
            f" (ckptguard {ratio(worst, in_process)} of it)"
            if in_process is not None
            else ""
        )
        if key in SURVIVAL_GOALS:
            found.append(
                {
                    "goal": SURVIVAL_GOALS[key],
                    "measured": measured,
                    "reference": reference,
                    "verdict": _size_verdict(worst, PHYSICAL_LIMIT, alloc, page),
                }
            )
        label = pattern["pattern"]["label"]
        found.append(
            {
                "goal": f"survival, {label}: at most in-process keep-3",
                "measured": measured,
                "reference": reference,
                "verdict": "not measured: no in-process run"
                if in_process is None
                else _size_verdict(worst, in_process, alloc, page),
            }
        )
    return found


def _size_verdict(worst: float | None, goal: float, alloc: int, page: int) -> str:
    """Met when every run survived at `goal` sizes or less (the worst run counts)."""
    if worst is None:
        return "**missed**: a run never completed on the ladder"
    if worst <= goal + 1e-9:
        return "met in every run"
    over = worst - goal
    pages = round(over * alloc / page)
    return f"**missed** by {over:.3g} sizes ({pages} pages of {page} B) in the worst run"


def _latency(results: dict[str, Any]) -> list[Goal]:
    names = [
        f"reaction p99 < {LATENCY_P99_MS:g} ms, {LATENCY_OTHERS:,} other files",
        f"reaction p50 < {LATENCY_P50_MS:g} ms, {LATENCY_OTHERS:,} other files",
    ]
    part = _part(results, "latency")
    if isinstance(part, str):
        return _unmeasured(names, part)

    def row(key: str) -> dict[str, Any] | None:
        rows = (part["peers"].get(key) or {}).get("rows", [])
        return next((r for r in rows if r["others"] == LATENCY_OTHERS), None)

    guard, floors = row("ckptguard"), {k: row(f"floor-{k}") for k in ("inotify", "watchdog")}
    if guard is None:
        return _unmeasured(names, f"not measured: no ckptguard row with {LATENCY_OTHERS:,} files")
    found = []
    for name, key, goal in zip(
        names, ("p99_ms", "p50_ms"), (LATENCY_P99_MS, LATENCY_P50_MS), strict=True
    ):
        value = guard[key]["median"]
        reference = "; ".join(
            f"{via} floor {num(floor[key]['median'])} ms (ckptguard"
            f" {ratio(value, floor[key]['median'])})"
            for via, floor in floors.items()
            if floor is not None
        )
        found.append(
            {
                "goal": name,
                "measured": spread_text(guard[key], unit="ms")
                + f" (median of {runs(guard['repetitions'])})",
                "reference": reference or "no floor measured",
                "verdict": verdict(value, goal, "ms"),
            }
        )
    return found


def _startup(results: dict[str, Any]) -> list[Goal]:
    names = {
        "version": f"`ckptguard --version` within {STARTUP_FACTOR:g}x bare python + 50 ms",
        "help": f"`ckptguard --help` within {STARTUP_FACTOR:g}x bare python + 50 ms",
        "audit": "`ckptguard audit` of 250 checkpoints within 0.25 s",
    }
    part = _part(results, "startup")
    if isinstance(part, str):
        return _unmeasured(list(names.values()), part)
    seconds = part["seconds"]
    bare = seconds["bare"]["median"]
    found = []
    for key, name in names.items():
        value = seconds[key]["median"]
        goal = AUDIT_SMALL_S if key == "audit" else STARTUP_FACTOR * bare + STARTUP_SLACK_S
        found.append(
            {
                "goal": name,
                "measured": spread_text(seconds[key], scale=1000, digits=0, unit="ms"),
                "reference": f"bare `python -c pass` {num(bare * 1000, 0)} ms"
                f" (ckptguard {ratio(value, bare)})"
                + ("" if key == "audit" else f"; bound {num(goal * 1000, 0)} ms"),
                "verdict": verdict(value * 1000, goal * 1000, "ms", 0),
            }
        )
    return found


def _idle(results: dict[str, Any]) -> list[Goal]:
    checks = [
        ("keep", f"idle, 1,000 checkpoints: < {IDLE_CPU:g} CPU-s/min", "cpu", IDLE_CPU),
        ("keep", f"idle, 1,000 checkpoints: peak RSS < {IDLE_RSS_MB:g} MB", "rss", IDLE_RSS_MB),
        ("many", f"100 directories x 100: < {MANY_CPU:g} CPU-s/min", "cpu", MANY_CPU),
        ("many", f"100 directories x 100: peak RSS < {MANY_RSS_MB:g} MB", "rss", MANY_RSS_MB),
    ]
    part = _part(results, "idle")
    if isinstance(part, str):
        return _unmeasured([c[1] for c in checks], part)
    floors = (results.get("startup") or {}).get("import_floor_rss_mb") or {}
    found = []
    for variant, name, kind, goal in checks:
        got = part["variants"].get(variant)
        if got is None:
            found += _unmeasured([name], f"not measured: no `{variant}` daemon")
            continue
        if kind == "cpu":
            found.append(_idle_cpu(name, got, goal))
            continue
        reference = (
            f"import floor: bare interpreter {num(floors['bare'], 1)} MB, its four"
            f" dependencies imported {num(floors['all four'], 1)} MB"
            if floors
            else "no import floor measured"
        )
        found.append(
            {
                "goal": name,
                "measured": f"{num(got['peak_rss_mb'], 1)} MB",
                "reference": reference,
                "verdict": verdict(got["peak_rss_mb"], goal, "MB", 1),
            }
        )
    return found


def _idle_cpu(name: str, got: dict[str, Any], goal: float) -> Goal:
    measured = (
        f"{num(got['cpu_s_per_min'], 3)} CPU-s/min over {got['window_s']:.0f} s"
        f" ({got.get('cpu_source', 'ticks')})"
    )
    if got["window_s"] < 60:
        why = "not measured: the window holds no periodic rescan (60 s)"
    elif got["cpu_resolution_s_per_min"] >= goal / 2:
        why = f"not measured: resolution {got['cpu_resolution_s_per_min']:.3f} CPU-s/min"
    else:
        why = verdict(got["cpu_s_per_min"], goal, "CPU-s/min", 3)
    between = got.get("other_windows_cpu_s_per_min")
    return {
        "goal": name,
        "measured": measured,
        "reference": f"between rescans {num(between, 3)} CPU-s/min; rescan window"
        f" {num(got['busiest_window_cpu_s'], 3)} CPU-s",
        "verdict": why,
    }


def _scale(results: dict[str, Any]) -> list[Goal]:
    names = {
        "warm": f"audit of {AUDIT_LARGE:,}, verdicts known: within {WARM_RATIO:g}x `find \\| sort`",
        "cold": f"audit of {AUDIT_LARGE:,}, cold: within {COLD_RATIO:g}x `find \\| sort`",
    }
    part = _part(results, "scale")
    audit = part if isinstance(part, str) else _part(part, "audit")
    if isinstance(audit, str):
        return _unmeasured(list(names.values()), audit)
    rows = audit["rows"]
    row = next((r for r in rows if r["checkpoints"] == AUDIT_LARGE), rows[-1] if rows else None)
    if row is None:
        return _unmeasured(list(names.values()), "not measured: no audit row")
    found = []
    for key, name in names.items():
        goal = WARM_RATIO if key == "warm" else COLD_RATIO
        why: str = verdict(row[f"{key}_ratio"], goal, "x", 1)
        if row["checkpoints"] != AUDIT_LARGE:
            why = f"not measured: this run audited {row['checkpoints']:,}"
        found.append(
            {
                "goal": name,
                "measured": f"{spread_text(row[f'{key}_s'], unit='s')}:"
                f" {ratio(row[f'{key}_s']['median'], row['floor_s']['median'])}",
                "reference": "`find \\| sort` "
                + spread_text(row["floor_s"], scale=1000, digits=0, unit="ms"),
                "verdict": why,
            }
        )
    return found


def _storm(results: dict[str, Any]) -> list[Goal]:
    name = f"burst of {BURST_FILES:,} checkpoints settled within {BURST_S:g} s"
    part = _part(results, "storm")
    if isinstance(part, str):
        return _unmeasured([name], part)
    wrong = [r for r in part["runs"] if not r["final_state_ok"]]
    if not part["no_crash"]:
        why = "**missed**: a daemon died, exited non-zero or logged a traceback"
    elif wrong:
        why = f"**missed**: {len(wrong)} of {len(part['runs'])} runs did not settle" + "".join(
            f"; {r['why_not'] or 'other files lost'}" for r in wrong
        )
    elif part["files"] != BURST_FILES:
        why = f"not measured: this run wrote {part['files']:,}"
    else:
        why = verdict(part["settle_after_burst_s"]["median"], BURST_S, "s")
    lost = [r["events_lost_logged"] for r in part["runs"]]
    return [
        {
            "goal": name,
            "measured": spread_text(part["settle_after_burst_s"], unit="s") + " after the burst",
            "reference": f"inotify overflows per run: {', '.join(map(str, lost))}"
            f" (queue {results['meta']['machine'].get('inotify_max_queued_events')})",
            "verdict": why,
        }
    ]
