"""A decision being built: the planner's rules add to it, and it is frozen at the end."""

from __future__ import annotations

from dataclasses import dataclass

from ckptguard.core.decisions import Action, Decision, Reason, ReasonCode, Run, State
from ckptguard.core.model import Checkpoint


@dataclass
class Draft:
    checkpoint: Checkpoint
    state: State
    action: Action
    reasons: list[Reason]
    rank: int | None = None
    run: Run | None = None
    gives_way: int | None = None

    def has(self, code: ReasonCode) -> bool:
        return any(r.code is code for r in self.reasons)

    @property
    def protected(self) -> bool:
        """Named by a pointer file, or kept because the content check is suspect."""
        return self.checkpoint.protected_by is not None or self.has(ReasonCode.CHECK_SUSPECT)

    def freeze(self) -> Decision:
        run = None if self.run is None else self.run.index
        return Decision(
            self.checkpoint,
            self.state,
            self.action,
            tuple(self.reasons),
            self.rank,
            run,
            self.gives_way,
        )
