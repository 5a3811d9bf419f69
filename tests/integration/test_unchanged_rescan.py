"""A rescan that finds nothing changed costs a listing and a stat per checkpoint, and
anything a plan rests on that did change is still seen."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from support import KERAS, TEMPLATE, write_checkpoint

from ckptguard.core.model import MinFree, MinFreeUnit, Policy
from ckptguard.engine.cycle import Look, cycle
from ckptguard.engine.executors import AuditExecutor
from ckptguard.store.local.directory import LocalStore
from ckptguard.store.local.entries import open_directory
from ckptguard.store.local.scan import scan, unchanged


def change_content(models: Path) -> None:
    path = models / TEMPLATE.format(step=2)
    st = path.stat()
    path.write_bytes(path.read_bytes())  # same bytes, a new mtime
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1))


CHANGES = {
    "content": change_content,
    "new checkpoint": lambda m: write_checkpoint(m, 4),
    "deleted checkpoint": lambda m: (m / TEMPLATE.format(step=1)).unlink(),
    "pin": lambda m: (m / (TEMPLATE.format(step=1) + ".keep")).touch(),
    "pointer": lambda m: (m / "latest").write_text(TEMPLATE.format(step=1)),
    "hard link": lambda m: os.link(m / TEMPLATE.format(step=1), m.parent / "elsewhere"),
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_any_change_a_plan_rests_on_is_seen(models: Path, change: str) -> None:
    """Nothing changed: the previous inventory itself; one change of any kind: None, so the
    directory is scanned again."""
    for step in (1, 2, 3):
        write_checkpoint(models, step, mtime=1e9 + step)
    fd = open_directory(str(models))
    try:
        previous = scan(fd, str(models), KERAS)
        again = unchanged(fd, previous, KERAS)
        assert again is not None and again.checkpoints is previous.checkpoints
        CHANGES[change](models)
        assert unchanged(fd, previous, KERAS) is None
    finally:
        os.close(fd)


def test_unfinished_entries_are_always_looked_at_again(models: Path) -> None:
    """An entry that is not (yet) a complete checkpoint may become one with time alone:
    no shortcut then."""
    write_checkpoint(models, 1)
    (models / TEMPLATE.format(step=2)).write_bytes(b"half a save")
    fd = open_directory(str(models))
    try:
        previous = scan(fd, str(models), KERAS)
        assert unchanged(fd, previous, KERAS) is None
    finally:
        os.close(fd)


@pytest.mark.parametrize("keep_within", [None, 3600.0])
def test_a_plan_that_time_alone_changes_is_made_again(models: Path, keep_within) -> None:
    """A keep-within window counts back from `now` while the newest checkpoint is dated
    in the future: the same files, looked at later, may keep less. Without the window,
    the plan made earlier stands."""
    now = time.time()
    write_checkpoint(models, 1, mtime=now - 50 * 60)
    write_checkpoint(models, 2, mtime=now + 2 * 3600)  # a clock ahead, or a forged date
    policy = Policy(keep=1, keep_within=keep_within, min_free=MinFree(MinFreeUnit.BYTES, 0))
    store = LocalStore.open(str(models))
    try:
        first = cycle(store, KERAS, policy, AuditExecutor(), now=now)
        later = cycle(
            store,
            KERAS,
            policy,
            AuditExecutor(),
            now=now + 20 * 60,
            look=Look(previous=first.inventory, previous_plan=first.plan),
        )
    finally:
        store.close()
    assert [d.checkpoint.step for d in first.plan.deletions] == ([] if keep_within else [1])
    assert [d.checkpoint.step for d in later.plan.deletions] == [1]
