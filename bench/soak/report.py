"""The Markdown table of a soak's result document."""

from __future__ import annotations

from typing import Any

from bench.soak.violations import INVARIANTS


def render(result: dict[str, Any]) -> str:
    """One row per measure, then one per invariant with its violation count."""
    actions = result["writer_actions"]
    breakdown = ", ".join(f"{a.replace('_start', '')} {n}" for a, n in actions.items())
    restarts = result["restarts"]
    rows = [
        (
            "duration",
            f"{result['chaos_seconds']:.0f} s of chaos ({result['wall_seconds']:.0f} s in all)",
        ),
        (
            "writers / keep / settle",
            f"{result['writers']} / {result['keep']} / {result['settle']:g} s",
        ),
        ("writer events", f"{result['writer_events']} ({breakdown})"),
        (
            "daemon restarts",
            f"{restarts['SIGKILL'] + restarts['SIGTERM']} "
            f"(SIGKILL {restarts['SIGKILL']}, SIGTERM {restarts['SIGTERM']})",
        ),
        ("daemon `deleted` events", str(result["daemon_deleted"])),
        ("checker samples", str(result["checker"].get("samples", 0))),
    ]
    rows += [(f"({k}) {text}", str(result["violations"][k])) for k, text in INVARIANTS.items()]
    rows.append(("canaries intact", "yes" if result["canaries_intact"] else "**NO**"))
    lines = ["| measure | value |", "|---|---|"]
    lines += [f"| {name} | {value} |" for name, value in rows]
    return "\n".join(lines)
