"""The state directory on real files: atomic replacement, and reads that never trust too much."""

from __future__ import annotations

import os
from pathlib import Path

from support import run_cli

from ckptguard.service.state import read_state, state_path, write_state


def test_written_state_reads_back_and_replaces_the_old(tmp_path: Path) -> None:
    """A write creates the directory (0700), replaces the file whole and leaves no temporary."""
    state = tmp_path / "state"
    assert read_state(str(state), "/srv/models") == ({}, None)
    assert write_state(str(state), "/srv/models", {"metrics": [1]}) is None
    assert write_state(str(state), "/srv/models", {"metrics": [2]}) is None
    document, problem = read_state(str(state), "/srv/models")
    assert problem is None
    assert document["metrics"] == [2]
    assert document["directory"] == "/srv/models"
    assert [p.name for p in state.iterdir()] == [Path(state_path(str(state), "/srv/models")).name]
    assert state.stat().st_mode & 0o777 == 0o700


def test_a_file_kept_for_another_directory_is_not_used(tmp_path: Path) -> None:
    """A state file must name the directory it is read for (a copy or a hash collision)."""
    state = tmp_path / "state"
    assert write_state(str(state), "/srv/a", {"metrics": []}) is None
    os.rename(state_path(str(state), "/srv/a"), state_path(str(state), "/srv/b"))
    document, problem = read_state(str(state), "/srv/b")
    assert document == {}
    assert problem is not None and "another directory" in problem


def test_a_symlink_in_place_of_the_state_file_is_never_followed(tmp_path: Path) -> None:
    """Read: refused. Write: the link itself is replaced; its target is untouched."""
    state = tmp_path / "state"
    state.mkdir()
    target = tmp_path / "precious"
    target.write_text("keep me")
    Path(state_path(str(state), "/srv/models")).symlink_to(target)
    document, problem = read_state(str(state), "/srv/models")
    assert document == {} and problem is not None
    assert write_state(str(state), "/srv/models", {"metrics": []}) is None
    assert target.read_text() == "keep me"
    assert not Path(state_path(str(state), "/srv/models")).is_symlink()


def test_write_failure_is_a_message_not_an_exception(tmp_path: Path) -> None:
    """A state directory that cannot be created is reported to the caller, who carries on."""
    blocker = tmp_path / "file"
    blocker.write_text("")
    problem = write_state(str(blocker / "state"), "/srv/models", {"metrics": []})
    assert problem is not None and "Not a directory" in problem


def test_state_dir_inside_a_guarded_directory_is_refused(models: Path) -> None:
    """The guard's state never lives in a directory it guards."""
    result = run_cli("audit", "--dir", str(models), "--state-dir", str(models / "state"))
    assert result.returncode == 2
    assert "inside the guarded directory" in result.stderr
    assert not (models / "state").exists()
