"""Free-space rules on a real, small filesystem: a 4 MiB tmpfs mounted for each test.

tmpfs allocates whole pages and has no reserved blocks, so the bytes the inventory
counts as freeable (st_blocks * 512) are exactly what unlinking returns, and the free
space measured after `prune --execute` must equal the plan's `free_after` to the byte.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support import (
    OLD,
    Mounts,
    free_bytes,
    name_of,
    needs_root,
    run_cli,
    write_checkpoint,
    write_truncated,
)

pytestmark = pytest.mark.root

PAYLOAD = 400 * 1024  # each checkpoint is about 100 pages
STEPS = list(range(100, 800, 100))  # seven checkpoints


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A fresh 4 MiB tmpfs, unmounted in teardown whatever the test did; one still busy
    (a file left open in it) is detached, and the leak fails the test."""
    needs_root()
    made = Mounts()
    yield made.tmpfs(tmp_path / "fs", 4 << 20)
    busy = made.close()
    if busy:
        pytest.fail("; ".join(busy))


def freeable(path: Path) -> int:
    return path.stat().st_blocks * 512


def fill(directory: Path) -> None:
    """Seven checkpoints of one run, written a minute apart."""
    for index, step in enumerate(STEPS):
        write_checkpoint(directory, step, payload_size=PAYLOAD, mtime=OLD + index * 60)


def prune_json(directory: Path, *flags: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """`prune --execute --json` as a subprocess: (the document, its one directory summary)."""
    done = run_cli("prune", "--dir", str(directory), "--execute", "--json", "--settle", "0", *flags)
    doc: dict[str, Any] = json.loads(done.stdout)
    (summary,) = doc["summary"]["directories"]
    # 3: the free-space target cannot be met, which the summary's shortfall says too.
    assert done.returncode == (3 if summary["shortfall"] else 0), done.stderr
    return doc, summary


def deleted_steps(doc: dict[str, Any]) -> list[int]:
    return [e["step"] for e in doc["entries"] if e.get("result") == "deleted"]


def test_prune_min_free_deletes_oldest_first_and_frees_exactly_what_it_promised(
    tmpfs: Path,
) -> None:
    """Corrupt first, then oldest steps; measured free space == plan's free_after."""
    fill(tmpfs)
    forged = write_truncated(tmpfs, 9000, mtime=OLD)
    page_aligned = freeable(tmpfs / name_of(100))
    assert all(freeable(tmpfs / name_of(s)) == page_aligned for s in STEPS)
    free_before = free_bytes(tmpfs)
    # Exactly enough for the corrupt file and two checkpoints: a third would overshoot.
    target = free_before + freeable(forged) + 2 * page_aligned
    assert target < os.statvfs(tmpfs).f_blocks * os.statvfs(tmpfs).f_frsize

    doc, summary = prune_json(tmpfs, "--min-free", f"{target}B", "--keep", "10")

    assert summary["free_now"] == free_before
    assert sorted(deleted_steps(doc)) == [100, 200, 9000]
    reasons = {e["step"]: e["reason_codes"] for e in doc["entries"]}
    assert reasons[9000] == ["corrupt_left", "corrupt_reclaim"]
    assert "free_space" in reasons[100]
    assert "free_space" in reasons[200]
    assert sorted(os.listdir(tmpfs)) == sorted(name_of(s) for s in STEPS[2:])
    assert summary["shortfall"] == 0
    assert summary["free_after"] == free_before + summary["bytes_freed"]
    assert free_bytes(tmpfs) == summary["free_after"] == target


def test_min_keep_floor_stops_free_space_deletions_and_says_so(tmpfs: Path) -> None:
    """Unreachable target: stop at --min-keep 3; shortfall in JSON, WARNING line in the table."""
    fill(tmpfs)
    before = sorted(os.listdir(tmpfs))
    total = os.statvfs(tmpfs).f_blocks * os.statvfs(tmpfs).f_frsize
    flags = ("--min-free", f"{total}B", "--keep", "10", "--min-keep", "3", "--settle", "0")

    table = run_cli("audit", "--dir", str(tmpfs), *flags)
    assert table.returncode == 3, table.stderr  # the target cannot be met: documented exit 3
    warnings = [line for line in table.stdout.splitlines() if line.strip().startswith("WARNING:")]
    assert len(warnings) == 1
    assert "cannot be met" in warnings[0]
    assert "--min-keep 3" in warnings[0]
    assert sorted(os.listdir(tmpfs)) == before  # audit deleted nothing

    doc, summary = prune_json(tmpfs, *flags)
    assert deleted_steps(doc) == [100, 200, 300, 400]
    assert sorted(os.listdir(tmpfs)) == sorted(name_of(s) for s in (500, 600, 700))
    assert summary["shortfall"] > 0
    assert summary["shortfall"] == summary["target_free"] - summary["free_after"]
    assert summary["warnings"] and "cannot be met" in summary["warnings"][0]
    assert doc["summary"]["shortfall"] == summary["shortfall"]
    floor = {e["step"]: e["reason_codes"] for e in doc["entries"]}
    assert "min_keep" in floor[500]
    assert "min_keep" in floor[600]
    assert free_bytes(tmpfs) == summary["free_after"]


def test_a_checkpoint_held_open_is_neither_counted_nor_deleted_for_space(
    tmpfs: Path, hold_open
) -> None:
    """A checkpoint held open elsewhere is skipped for space; the promise still holds exactly."""
    fill(tmpfs)
    held = tmpfs / name_of(100)
    target = free_bytes(tmpfs) + freeable(tmpfs / name_of(200))
    holder = hold_open(held)
    doc, summary = prune_json(tmpfs, "--min-free", f"{target}B", "--keep", "10")
    assert free_bytes(tmpfs) == summary["free_after"] == target
    assert deleted_steps(doc) == [200]
    entries = {e["step"]: e for e in doc["entries"]}
    assert "open_elsewhere" in entries[100]["reason_codes"]
    assert str(holder.pid) in " ".join(entries[100]["reasons"])
    assert held.is_file()
