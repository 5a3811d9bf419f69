"""The supervisor: builds the world, runs writers, checker and chaos, ends it all, counts.

Phases: the world and the shared step counter; the checker and the writers (the first
writer through another path to DIR); the chaos until the time is up; the writers stopped;
the final settle and prune preview; the last daemon stopped with SIGTERM; the checker
stopped. Whatever happens, every process started is ended and the bind mount undone.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import harness
from bench.soak import checker, writer
from bench.soak.chaos import Chaos
from bench.soak.daemon_logs import check_daemon_logs
from bench.soak.final_checks import FinalChecks
from bench.soak.guard import Guard
from bench.soak.journal import CAUSES, read_journal
from bench.soak.steps import SharedState
from bench.soak.violations import Violations, count
from bench.soak.world import METRICS, another_path, canary_problems, setup_world


@dataclass
class Soak:
    """One soak in `root`: `writers` writers for `seconds` against a guard keeping `keep`
    with `settle`; each daemon lives at most `max_alive` seconds."""

    root: Path
    seconds: float
    writers: int
    keep: int
    settle: float
    seed: int
    max_alive: float = 4.0
    progress: bool = False
    daemon_module: str = "ckptguard"

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.guarded = self.root / "guarded"
        self.control = self.root / "control"
        self.violations = Violations()
        self.children: list[subprocess.Popen[Any]] = []  # the checker, then the writers
        self.guard = Guard(
            self.daemon_module, self.guarded, self.keep, self.settle, self.control / "state-dir"
        )
        self.chaos = Chaos(
            self.guard,
            self.control,
            self.rng,
            max_alive=self.max_alive,
            violations=self.violations,
            children=self.children,
            progress=self.progress,
        )

    def run(self) -> dict[str, Any]:
        """The whole soak; the result document."""
        manifest = setup_world(self.root, self.rng)
        SharedState(self.control / "state").init()
        started = time.monotonic()
        alias = self.root / "alias"
        with another_path(self.guarded, alias) as alias_kind:
            try:
                outcome = self.phases(alias, started)
            finally:
                harness.cleanup()  # kills whatever still runs, after an error
                for daemon in self.chaos.daemons:
                    daemon.stop()
        return self.result(manifest, {**outcome, "alias": alias_kind}, started)

    def phases(self, alias: Path, started: float) -> dict[str, Any]:
        """Everything from the first writer to the checker's end; what the result needs."""
        self.start_roles(alias)
        daemon = self.chaos.run(time.monotonic() + self.seconds)
        chaos_seconds = time.monotonic() - started
        self.stop_writers()
        if not daemon.ready:
            self.chaos.ensure_ready(daemon)
        final = FinalChecks(self.guard, self.control, self.rng, self.violations)
        end_state = final.settle()
        planned = final.prune_preview()
        code = daemon.stop(signal.SIGTERM, timeout=20.0)
        if code != 0:
            self.violations.flag("7", "final_sigterm_exit", returncode=code)
        self.stop_checker()
        return {
            "chaos_seconds": round(chaos_seconds, 1),
            "end_state": end_state,
            "prune_would_delete": planned,
        }

    def spawn(self, command: list[str], log: Path) -> None:
        with log.open("ab") as out:
            child = harness.spawn(command, stdout=out, stderr=subprocess.STDOUT, cwd=harness.REPO)
        self.children.append(child)

    def start_roles(self, alias: Path) -> None:
        """The checker first, then the writers; writer 0 reaches DIR through `alias`."""
        command = checker.command(directory=self.guarded, control=self.control, keep=self.keep)
        self.spawn(command, self.control / "checker.log")
        for index in range(self.writers):
            command = writer.command(
                directory=alias if index == 0 else self.guarded,
                control=self.control,
                ident=index,
                seed=self.rng.randrange(2**32),
                settle=self.settle,
                metrics=self.guarded / METRICS,
            )
            self.spawn(command, self.control / f"writer-{index}.log")

    def stop_writers(self) -> None:
        (self.control / "stop-writers").touch()
        for child in self.children[1:]:
            if harness.reap(child, 60.0) != 0:
                raise RuntimeError(f"writer {child.args!r} failed: see {self.control}")

    def stop_checker(self) -> None:
        (self.control / "stop-checker").touch()
        if harness.reap(self.children[0], 120.0) != 0:
            raise RuntimeError(f"checker failed: see {self.control / 'checker.log'}")

    def result(
        self, manifest: dict[str, Any], run: dict[str, Any], started: float
    ) -> dict[str, Any]:
        """The result document: what was done, what the daemons logged, violations counted."""
        journal = read_journal(self.control / "journal.jsonl")
        checked = json.loads((self.control / "checker.json").read_text())
        logs = check_daemon_logs(
            self.chaos.daemons,
            guarded=self.guarded,
            journal=journal,
            manifest=manifest,
            violations=self.violations,
        )
        found = self.all_violations(manifest, journal, checked)
        actions = Counter(
            line["action"] for line in journal if line["action"] in CAUSES and line["who"] != "main"
        )
        restarts = self.chaos.restarts
        return {
            "seconds": self.seconds,
            "chaos_seconds": run["chaos_seconds"],
            "wall_seconds": round(time.monotonic() - started, 1),
            "seed": self.seed,
            "writers": self.writers,
            "keep": self.keep,
            "settle": self.settle,
            "writer_events": sum(actions.values()),
            "writer_actions": dict(sorted(actions.items())),
            "journal_notes": dict(
                Counter(line["action"] for line in journal if line["action"] not in CAUSES)
            ),
            "restarts": {"SIGKILL": restarts["SIGKILL"], "SIGTERM": restarts["SIGTERM"]},
            "alias": run["alias"],
            "daemon_starts": len(self.chaos.daemons),
            "daemon_deleted": logs["events"].get("deleted", 0),
            "daemon_log": logs,
            "checker": {k: v for k, v in checked.items() if k != "violations"},
            "end_state": run["end_state"],
            "prune_would_delete": run["prune_would_delete"],
            "violations": count(found),
            "violation_details": found[:50],
            "canaries_intact": not any(v["kind"].startswith("canary") for v in found),
            "workdir": str(self.root),
        }

    def all_violations(
        self, manifest: dict[str, Any], journal: list[dict[str, Any]], checked: dict[str, Any]
    ) -> list[dict[str, Any]]:
        """The canaries checked once more; then every violation: the supervisor's, the
        writers' (from the journal) and the checker's."""
        for invariant, what in canary_problems(manifest):
            self.violations.flag(invariant, "canary_at_end", what=what)
        return [
            *self.violations.found,
            *(line for line in journal if line["action"] == "violation"),
            *checked["violations"],
        ]
