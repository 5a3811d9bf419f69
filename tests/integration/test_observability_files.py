"""The files the daemon writes about itself, on real filesystems: history (appended,
rotated by size, never a half line), status files, the metrics textfile; and what each
does on a full disk: a message for the caller, never an exception."""

from __future__ import annotations

import json
import os
from pathlib import Path

from support import Mounts, fill

from ckptguard.service import history
from ckptguard.service.metrics import write_textfile
from ckptguard.service.status import (
    guarded_directories,
    read_status,
    remove_status,
    status_path,
    write_status,
)

RECORD = {"time": 1.0, "dir": "/srv/models", "event": "deleted", "checkpoint": "c", "step": 1}


def test_history_appends_reads_back_and_rotates_by_size(tmp_path: Path) -> None:
    """Past max_bytes the file becomes `.1` (replacing the older one): at most two files."""
    state = str(tmp_path / "state")
    for index in range(40):
        record = {**RECORD, "time": float(index), "step": index}
        assert history.append(state, "/srv/models", [record], max_bytes=1000) is None
    path = Path(history.history_path(state, "/srv/models"))
    assert path.stat().st_size <= 1000
    assert Path(f"{path}.1").stat().st_size <= 1000
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name, f"{path.name}.1"]
    steps = [r["step"] for r in history.read(state, "/srv/models")]
    assert steps == sorted(steps) and steps[-1] == 39 and len(steps) < 40
    assert path.stat().st_mode & 0o777 == 0o600


def test_history_of_every_directory_and_lines_that_are_not_records(tmp_path: Path) -> None:
    """Without a directory every history file is read; a broken line is skipped."""
    state = str(tmp_path / "state")
    assert history.append(state, "/a", [{**RECORD, "dir": "/a"}]) is None
    assert history.append(state, "/b", [{**RECORD, "dir": "/b"}]) is None
    with open(history.history_path(state, "/b"), "ab") as handle:
        handle.write(b'{"cut short\n[1, 2]\n')
    assert sorted(r["dir"] for r in history.read(state)) == ["/a", "/b"]


def test_history_on_a_full_disk_fails_with_a_message_and_leaves_no_half_line(
    tmp_path: Path, mounts: Mounts
) -> None:
    """ENOSPC: the caller is told, and what was written before still reads whole."""
    disk = mounts.tmpfs(tmp_path / "state", 64 * 1024)
    state = str(disk / "ckptguard")
    assert history.append(state, "/srv/models", [RECORD]) is None
    fill(disk / "filler")
    big = {**RECORD, "detail": "x" * 20_000}
    problem = history.append(state, "/srv/models", [big])
    assert problem is not None and "No space left on device" in problem
    lines = Path(history.history_path(state, "/srv/models")).read_bytes().splitlines()
    assert [json.loads(line) for line in lines] == [RECORD]


def test_status_file_is_replaced_whole_and_readable_by_all(tmp_path: Path) -> None:
    """Written to a temporary name and renamed; 0644; listed; removed."""
    run = str(tmp_path / "run")
    assert write_status(run, "/srv/models", {"status": {"n": 1}}) is None
    assert write_status(run, "/srv/models", {"status": {"n": 2}}) is None
    document, problem = read_status(run, "/srv/models")
    assert problem is None and document["status"] == {"n": 2}
    assert os.stat(status_path(run, "/srv/models")).st_mode & 0o777 == 0o644
    assert guarded_directories(run) == ["/srv/models"]
    assert len(os.listdir(run)) == 1, "a temporary file was left behind"
    remove_status(run, "/srv/models")
    assert guarded_directories(run) == []


def test_status_and_textfile_on_a_full_disk(tmp_path: Path, mounts: Mounts) -> None:
    """Each write fails with a message, leaves the old file as it was and no temporary."""
    disk = mounts.tmpfs(tmp_path / "run", 64 * 1024)
    assert write_status(str(disk), "/srv/models", {"status": {"n": 1}}) is None
    textfile = disk / "ckptguard.prom"
    assert write_textfile(str(textfile), b"ckptguard_x 1\n") is None
    fill(disk / "filler")
    before = sorted(os.listdir(disk))
    problem = write_status(str(disk), "/srv/models", {"status": {"n": "x" * 100_000}})
    assert problem is not None and "No space left on device" in problem
    problem = write_textfile(str(textfile), b"ckptguard_x 2\n" * 10_000)
    assert problem is not None and "No space left on device" in problem
    assert sorted(os.listdir(disk)) == before
    assert read_status(str(disk), "/srv/models")[0]["status"] == {"n": 1}
    assert textfile.read_bytes() == b"ckptguard_x 1\n"
    assert textfile.stat().st_mode & 0o777 == 0o644
