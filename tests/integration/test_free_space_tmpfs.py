"""Free-space rules on a real, small filesystem: a 4 MiB tmpfs mounted for each test.

tmpfs allocates whole pages and has no reserved blocks, so the bytes the inventory
counts as freeable (st_blocks * 512) are exactly what unlinking returns, and the free
space measured after `prune --execute` must equal the plan's `free_after` to the byte.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support import TEMPLATE, run_cli, write_checkpoint, write_truncated

pytestmark = pytest.mark.root

OLD = time.time() - 3600
PAYLOAD = 400 * 1024  # each checkpoint is about 100 pages
STEPS = list(range(100, 800, 100))  # seven checkpoints


def name_of(step: int) -> str:
    return TEMPLATE.format(step=step)


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A fresh 4 MiB tmpfs, unmounted in teardown whatever the test did."""
    if os.geteuid() != 0:
        pytest.skip(f"mounting a tmpfs needs root (running as uid {os.geteuid()})")
    mountpoint = tmp_path / "fs"
    mountpoint.mkdir()
    try:
        mounted = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=4m,mode=0755", "tmpfs", str(mountpoint)],
            capture_output=True,
            text=True,
            check=False,
        )
    except FileNotFoundError:
        pytest.skip("no mount(8) on this machine")
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield mountpoint
    finally:
        unmounted = subprocess.run(["umount", str(mountpoint)], capture_output=True, text=True)
        if unmounted.returncode != 0:  # still busy: detach it, then report the leak
            subprocess.run(["umount", "-l", str(mountpoint)], check=False)
            pytest.fail(f"umount {mountpoint}: {unmounted.stderr.strip()}")


def free_bytes(path: Path) -> int:
    vfs = os.statvfs(path)
    return vfs.f_bavail * vfs.f_frsize


def freeable(path: Path) -> int:
    return path.stat().st_blocks * 512


def fill(directory: Path) -> None:
    """Seven checkpoints of one run, written a minute apart."""
    for index, step in enumerate(STEPS):
        write_checkpoint(directory, step, payload_size=PAYLOAD, mtime=OLD + index * 60)


def prune_json(directory: Path, *flags: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """`prune --execute --json` as a subprocess: (the document, its one directory summary)."""
    done = run_cli("prune", "--dir", str(directory), "--execute", "--json", "--settle", "0", *flags)
    assert done.returncode == 0, done.stderr
    doc: dict[str, Any] = json.loads(done.stdout)
    (summary,) = doc["summary"]["directories"]
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

    doc, summary = prune_json(tmpfs, "--min-free", str(target), "--keep", "10")

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
    flags = ("--min-free", str(total), "--keep", "10", "--min-keep", "3", "--settle", "0")

    table = run_cli("audit", "--dir", str(tmpfs), *flags)
    assert table.returncode == 0, table.stderr
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


_HOLD = "import sys; f = open(sys.argv[1], 'rb'); print('open', flush=True); sys.stdin.read()"


def test_a_checkpoint_held_open_is_neither_counted_nor_deleted_for_space(tmpfs: Path) -> None:
    """A checkpoint held open elsewhere is skipped for space; the promise still holds exactly."""
    fill(tmpfs)
    held = tmpfs / name_of(100)
    target = free_bytes(tmpfs) + freeable(tmpfs / name_of(200))
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(held)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == "open\n"
        doc, summary = prune_json(tmpfs, "--min-free", str(target), "--keep", "10")
        assert free_bytes(tmpfs) == summary["free_after"] == target
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=30)
        assert holder.stdout is not None
        holder.stdout.close()
    assert deleted_steps(doc) == [200]
    entries = {e["step"]: e for e in doc["entries"]}
    assert "open_elsewhere" in entries[100]["reason_codes"]
    assert str(holder.pid) in " ".join(entries[100]["reasons"])
    assert held.is_file()
