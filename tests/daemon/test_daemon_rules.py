"""The daemon with the rules of issue 16: a budget two guarded directories share, kept
under it as saves arrive in both (a real daemon in a thread, real files)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from support import settings_for, wait_for, write_checkpoint

from ckptguard.core.model import MinFree, MinFreeUnit


def checkpoints(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".keras"))


def test_a_shared_budget_holds_across_two_guarded_directories(
    tmp_path: Path, start_daemon: Any
) -> None:
    """Saves land in two directories sharing a budget of four checkpoints: the daemon
    keeps the group under it, each directory keeping at least its newest."""
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    size = write_checkpoint(first, 1).stat().st_size
    (first / "checkpoint_step_1.keras").unlink()
    settings = settings_for(
        first, second, keep=10, settle=0.0, min_free=MinFree(MinFreeUnit.BYTES, 0.0)
    )
    guards = tuple(replace(g, shared_budget=("pair", size * 4)) for g in settings.guards)
    daemon = start_daemon(replace(settings, guards=guards))
    for step in range(1, 6):
        write_checkpoint(first, step * 100, mtime=1_700_000_000 + step * 10)
        write_checkpoint(second, step * 100, mtime=1_700_000_000 + step * 10 + 1)

    def settled() -> bool:
        daemon.request_rescan()
        return len(checkpoints(first)) + len(checkpoints(second)) <= 4

    wait_for(settled, timeout=20, message="the group under its budget")
    assert "checkpoint_step_500.keras" in checkpoints(first)
    assert "checkpoint_step_500.keras" in checkpoints(second)
