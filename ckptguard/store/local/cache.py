"""Content verdicts remembered by identity, so rescans do not reread unchanged checkpoints."""

from __future__ import annotations

from dataclasses import dataclass

from ckptguard.core.model import FileIdentity, Integrity

Metrics = tuple[tuple[str, float], ...]


@dataclass(frozen=True)
class Verdict:
    integrity: Integrity
    metrics: Metrics = ()


class IntegrityCache:
    """Remembers content checks by identity, so rescans do not reread unchanged checkpoints."""

    def __init__(self) -> None:
        self._results: dict[tuple[str, FileIdentity], Verdict] = {}

    def get(self, name: str, identity: FileIdentity) -> Verdict | None:
        return self._results.get((name, identity))

    def put(self, name: str, identity: FileIdentity, verdict: Verdict) -> None:
        self._results[(name, identity)] = verdict

    def retain(self, seen: set[tuple[str, FileIdentity]]) -> None:
        """Forget checkpoints that are gone, so the cache never outgrows the directory."""
        self._results = {k: v for k, v in self._results.items() if k in seen}
