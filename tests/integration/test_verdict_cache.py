"""Content verdicts kept across runs: they save reading files, and can never make one wrong.

`prune --execute` (and the daemon) keep each file's verdict in the state directory, keyed
by its identity and change time; `audit` reads them and writes nothing. A verdict file
someone else may write, a garbage one, or a file rewritten under the same size and mtime
only costs a fresh read.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from support import keras_bytes, run_cli, write_checkpoint

from ckptguard.service.state import state_path


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "state"
    monkeypatch.setenv("STATE_DIRECTORY", str(directory))
    return directory


def verdict_file(state: Path, models: Path) -> Path:
    return Path(state_path(str(state), os.path.realpath(models), "verdicts"))


def audit_states(models: Path) -> dict[int, str]:
    done = run_cli("audit", "--dir", str(models), "--keep", "10", "--json")
    assert done.returncode == 0, done.stderr
    return {e["step"]: e["state"] for e in json.loads(done.stdout)["entries"]}


def kept_verdicts(models: Path, state: Path) -> dict[str, str]:
    done = run_cli("prune", "--dir", str(models), "--keep", "10", "--execute")
    assert done.returncode == 0, done.stderr
    rows = json.loads(verdict_file(state, models).read_text())["verdicts"]
    return {row[0]: row[-1] for row in rows}


def test_prune_keeps_verdicts_and_audit_only_reads_them(models: Path, state: Path) -> None:
    """prune --execute writes one verdict per file; audit leaves the file as it was."""
    for step in (100, 200):
        write_checkpoint(models, step, mtime=1e9 + step)
    assert kept_verdicts(models, state) == {
        "checkpoint_step_100.keras": "valid",
        "checkpoint_step_200.keras": "valid",
    }
    before = verdict_file(state, models).read_bytes()
    assert audit_states(models) == {100: "complete", 200: "complete"}
    assert verdict_file(state, models).read_bytes() == before


def test_a_file_rewritten_under_its_old_size_and_mtime_is_read_again(
    models: Path, state: Path
) -> None:
    """Garbage written over a kept-valid checkpoint, its size and mtime put back: the change
    time differs, so the kept verdict is not used and the file is judged corrupt."""
    path = write_checkpoint(models, 100, mtime=1e9)
    write_checkpoint(models, 200, mtime=1e9 + 1)
    kept_verdicts(models, state)
    size = path.stat().st_size
    path.write_bytes(os.urandom(size))
    os.utime(path, (1e9, 1e9))
    assert audit_states(models)[100] == "corrupt"


@pytest.mark.parametrize("trouble", ["writable-by-others", "garbage"])
def test_an_untrusted_or_broken_verdict_file_only_costs_a_read(
    models: Path, state: Path, trouble: str
) -> None:
    """A verdict file that says a valid checkpoint is invalid is not believed when anyone
    but us may write it; a garbage one is ignored: both are read afresh."""
    path = write_checkpoint(models, 100, mtime=1e9)
    path.write_bytes(keras_bytes())
    os.utime(path, (1e9, 1e9))
    write_checkpoint(models, 200, mtime=1e9 + 1)
    kept_verdicts(models, state)
    kept = verdict_file(state, models)
    if trouble == "garbage":
        kept.write_text("{not json")
    else:
        document = json.loads(kept.read_text())
        document["verdicts"] = [[*row[:-1], "invalid"] for row in document["verdicts"]]
        kept.write_text(json.dumps(document))
        kept.chmod(0o666)
    assert audit_states(models) == {100: "complete", 200: "complete"}
