"""Content verdicts remembered by identity, so rescans do not reread unchanged checkpoints.

A file's verdict is also keyed by its change time (ctime), which no one can set: a file
rewritten with the same size and its mtime put back is read again. Verdicts of files can
be kept across runs (`rows`, `seed`); those of directories and groups, measured as
whole trees, only within one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ckptguard.core.model import FileIdentity, Integrity

Metrics = tuple[tuple[str, float], ...]
# A file's verdict as kept across runs: name, device, inode, size, mtime, ctime, integrity.
Row = tuple[str, int, int, int, int, int, str]


@dataclass(frozen=True)
class Verdict:
    integrity: Integrity
    metrics: Metrics = ()


class IntegrityCache:
    def __init__(self) -> None:
        self._results: dict[tuple[str, FileIdentity], tuple[int, Verdict]] = {}
        # Whether verdicts were added or forgotten since the last `rows()`.
        self.changed = False

    def get(self, name: str, identity: FileIdentity, ctime_ns: int = 0) -> Verdict | None:
        found = self._results.get((name, identity))
        if found is None or found[0] != ctime_ns:
            return None
        return found[1]

    def put(self, name: str, identity: FileIdentity, verdict: Verdict, ctime_ns: int = 0) -> None:
        self._results[(name, identity)] = (ctime_ns, verdict)
        self.changed = True

    def retain(self, seen: set[tuple[str, FileIdentity]]) -> None:
        """Forget checkpoints that are gone, so the cache never outgrows the directory."""
        kept = {k: v for k, v in self._results.items() if k in seen}
        self.changed = self.changed or len(kept) != len(self._results)
        self._results = kept

    def rows(self) -> list[Row]:
        """The verdicts of files, to keep across runs; clears `changed`."""
        self.changed = False
        return [
            (name, i.device, i.inode, i.size, i.mtime_ns, ctime, verdict.integrity.value)
            for (name, i), (ctime, verdict) in self._results.items()
            if ctime and not verdict.metrics and verdict.integrity is not Integrity.UNREADABLE
        ]

    def seed(self, rows: Iterable[Row]) -> None:
        """Verdicts kept from an earlier run (read from a trusted file)."""
        for name, device, inode, size, mtime, ctime, integrity in rows:
            if not ctime:
                continue  # only files are kept across runs, and a file has a change time
            identity = FileIdentity(device, inode, size, mtime)
            self._results[(name, identity)] = (ctime, Verdict(Integrity(integrity)))
