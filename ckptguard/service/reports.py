"""What a guard logs about its directory: each thing once, not on every cycle or retry."""

from __future__ import annotations

from typing import Any

from ckptguard.core.decisions import Plan, Result, Status
from ckptguard.service.events import Words, log_new_run, log_result, log_shortfall
from ckptguard.store.local.openfiles import hidden_processes


class Problems:
    """Problems of one directory, each logged once until it changes or goes away."""

    def __init__(self, log: Any, path: str) -> None:
        self._log = log
        self._path = path
        self._last: dict[str, str] = {}

    def report(self, event: str, **fields: Any) -> None:
        key = repr(sorted(fields.items()))
        if self._last.get(event) != key:
            self._last[event] = key
            self._log.warning(event, path=self._path, **fields)

    def solved(self, *events: str) -> None:
        for event in events:
            self._last.pop(event, None)

    def forget(self) -> None:
        self._last.clear()


class Reports:
    """One directory's results, shortfalls, runs and warnings, logged once each."""

    def __init__(self, log: Any, words: Words, problems: Problems) -> None:
        self._log = log
        self.words = words
        self._problems = problems
        self._seen: set[tuple[Any, ...]] = set()

    def forget(self) -> None:
        self._seen = set()

    def cycle(self, plan: Plan, results: tuple[Result, ...], previous: Plan | None) -> None:
        """Log each result once: a would-delete or a refusal repeated every cycle is noise."""
        current = set()
        for result in results:
            checkpoint = result.decision.checkpoint
            key = (result.status, checkpoint.name, checkpoint.identity)
            current.add(key)
            if result.status is Status.DELETED or key not in self._seen:
                log_result(plan, result, self._log, self.words)
        self._seen = current
        was_short = previous is not None and previous.shortfall > 0
        if plan.shortfall and not was_short:
            log_shortfall(plan, self._log, self.words)
        elif was_short and not plan.shortfall:
            self._log.info("free_space_recovered", directory=plan.directory, free=plan.free_after)
        if len(plan.runs) > max(1, len(previous.runs) if previous is not None else 0):
            log_new_run(plan, self._log)
        for code in ("check_suspect", "over_budget"):
            found = plan.warning(code)
            if found is not None:
                self._problems.report(code, message=self.words.notice(found))
            else:
                self._problems.solved(code)


def ready_facts(path: str, plan: Plan | None, is_open: bool) -> dict[str, Any]:
    """What the `ready` event says of a directory after the first look at it."""
    if plan is None or not is_open:
        return {"path": path, "waiting": True}
    if plan.disk.total == 0 and plan.target_free == 0:  # an object store: no free space
        return {"path": path, "checkpoints": len(plan.decisions), "kept": len(plan.kept)}
    return {
        "path": path,
        "checkpoints": len(plan.decisions),
        "kept": len(plan.kept),
        "free": plan.free_after,
        "target": plan.target_free,
        "shortfall": plan.shortfall,
    }


def warn_if_blind_to_open_files(log: Any) -> None:
    """Said once at start: processes whose open files this guard cannot see."""
    hidden = hidden_processes()
    if hidden:
        log.warning(
            "open_file_detection_limited",
            hidden_processes=hidden,
            consequence="checkpoints those processes hold open count as freeable",
            hint="run as root with CAP_SYS_PTRACE, or as the user running the training",
        )
