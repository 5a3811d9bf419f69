"""The details a newcomer meets: configuration where admins look, exit 3 for a target
that cannot be met, values echoed as typed, a preview that says how to delete, and the
terminal's lines (-q, -v) rendered from real log events."""

from __future__ import annotations

import io
import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import structlog
from support import run_cli, write_checkpoint

from bench import harness
from bench.checkpoint_files import name_of
from ckptguard.face.logs import configure


@pytest.fixture
def etc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A stand-in for /etc/ckptguard, named by $CKPTGUARD_CONFIG."""
    directory = tmp_path / "etc"
    (directory / "conf.d").mkdir(parents=True)
    monkeypatch.setenv("CKPTGUARD_CONFIG", str(directory / "ckptguard.toml"))
    return directory


def steps(models: Path, *numbers: int) -> Path:
    for step in numbers:
        write_checkpoint(models, step)
    return models


def audit_json(*argv: str) -> dict:
    done = run_cli("audit", "--json", *argv)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def kept(document: dict) -> list[int]:
    return [e["step"] for e in document["entries"] if e["action"] == "keep"]


def test_default_config_and_its_drop_ins(etc: Path, models: Path) -> None:
    """The default config is read, then conf.d/*.toml in name order: a later key wins and
    directories add up; --config reads its file alone."""
    steps(models, 100, 200, 300, 400, 500)
    (etc / "ckptguard.toml").write_text("keep = 4\n")
    (etc / "conf.d" / "10-models.toml").write_text(f'[[directory]]\npath = "{models}"\n')
    assert kept(audit_json()) == [200, 300, 400, 500]
    (etc / "conf.d" / "20-keep.toml").write_text("keep = 2\n")
    assert kept(audit_json()) == [400, 500]
    other = etc.parent / "other.toml"
    other.write_text(f'keep = 1\n[[directory]]\npath = "{models}"\n')
    assert kept(audit_json("--config", str(other))) == [500]


def test_a_bad_drop_in_is_named_with_its_key(etc: Path, models: Path) -> None:
    """A typo in a drop-in: exit 2, one line naming that file and the key, with a hint."""
    (etc / "ckptguard.toml").write_text("keep = 3\n")
    (etc / "conf.d" / "50-typo.toml").write_text("kep = 2\n")
    done = run_cli("audit", "--dir", str(models))
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"ckptguard: error: config {etc}/conf.d/50-typo.toml: kep: unknown key (did you mean keep?)"
    ]


def test_named_config_must_exist_and_empty_means_none(
    tmp_path: Path, models: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """$CKPTGUARD_CONFIG naming a missing file is an error; empty, it means no config."""
    monkeypatch.setenv("CKPTGUARD_CONFIG", str(tmp_path / "missing.toml"))
    assert "no such file" in run_cli("audit", "--dir", str(models)).stderr
    monkeypatch.setenv("CKPTGUARD_CONFIG", "")
    assert run_cli("audit", "--dir", str(models)).returncode == 0


def test_unreachable_target_exits_3_and_echoes_the_value_as_typed(models: Path) -> None:
    """audit and prune exit 3 when the free-space target cannot be met, saying so with
    --min-free as the user wrote it; 0 when it can."""
    steps(models, 100, 200)
    table = run_cli("audit", "--dir", str(models), "--min-free", "1000T")
    assert table.returncode == 3, table.stderr
    assert "(--min-free 1000T) cannot be met" in table.stdout
    assert run_cli("prune", "--dir", str(models), "--min-free", "1000T", "--json").returncode == 3
    assert run_cli("audit", "--dir", str(models), "--min-free", "1M").returncode == 0


def test_prune_preview_says_how_to_delete(models: Path) -> None:
    """`prune` without --execute deletes nothing and ends by saying how to delete."""
    steps(models, 100, 200, 300, 400)
    done = run_cli("prune", "--dir", str(models))
    assert done.returncode == 0
    assert done.stdout.rstrip().endswith("preview only, nothing deleted: add --execute to delete")
    assert len(list(models.iterdir())) == 4


def rendered(verbosity: int, log_format: str = "console") -> str:
    """Real log events through configure(): a deletion, a shortfall warning."""
    stream = io.StringIO()
    configure(log_format, stream=stream, verbosity=verbosity)
    log = structlog.get_logger("ckptguard")
    log.info(
        "deleted",
        path="/srv/models/checkpoint_step_24900.keras",
        step=24900,
        size=84_000_000,
        reasons=["older than the 3 newest valid checkpoints"],
        free_before=12_216_000_000,
        free_after=12_300_000_000,
    )
    log.warning("free_space_shortfall", directory="/srv/models", message="target cannot be met")
    return stream.getvalue()


def test_terminal_lines_quiet_and_verbose() -> None:
    """One short line per event; -q keeps only warnings; -v adds every field; json is JSON."""
    normal = rendered(0)
    assert (
        "deleted checkpoint_step_24900.keras (84.0 MB): older than the 3 newest valid "
        "checkpoints; 12.3 GB free"
    ) in normal
    assert "warning: target cannot be met" in normal
    assert "\x1b[" not in normal  # a StringIO is no terminal: no colour
    quiet = rendered(-1)
    assert "deleted" not in quiet and "target cannot be met" in quiet
    assert "free_before=12216000000" in rendered(1)
    lines = rendered(0, "json").splitlines()
    assert json.loads(lines[0])["event"] == "deleted"


def test_version_and_help_stay_light_and_document_exit_3() -> None:
    """--version and --help import no rich, argcomplete, pydantic, structlog or watchdog;
    the help of audit and prune documents exit 3."""
    import subprocess
    import sys

    probe = (
        "import sys; from ckptguard.face.cli import main; main(['--version']); "
        "main(['audit', '--help']); print(' '.join(sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    loaded = set(done.stdout.split())
    assert not loaded & {"rich", "argcomplete", "pydantic", "structlog", "watchdog"}
    help_text = " ".join(done.stdout.split())
    assert "3 (audit, prune) the free-space target cannot be met" in help_text


def test_a_reader_that_stops_early_is_no_error(models: Path) -> None:
    """`ckptguard audit | head -1`: the reader closes the pipe after one line; ckptguard
    stops quietly as a shell tool does (status 141, nothing on stderr)."""
    harness.write_files(models, (name_of(s) for s in range(1, 3001)), harness.TINY)
    shell = f"{shlex.quote(sys.executable)} -m ckptguard audit --dir {shlex.quote(str(models))}"
    done = subprocess.run(
        ["bash", "-c", f"set -o pipefail; {shell} | head -1"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.stdout.startswith(str(models)), done.stdout
    assert done.stderr == ""
    assert done.returncode == 141
