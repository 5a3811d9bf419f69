"""The `audit` and `prune` commands on real directories, in-process and as a subprocess.

Tests taking the `cli` fixture run twice: through `ckptguard.cli.main(argv)` (output
captured with capsys) and as `python -m ckptguard` (support.run_cli). Tests taking
`cli_main` pin finer behaviour in-process only, to keep the suite fast.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import structlog
from support import OLD, name_of, run_cli, write_checkpoint, write_truncated
from support import immutable as made_immutable

from ckptguard import __version__
from ckptguard.face.cli import main

STEPS = list(range(100, 1100, 100))  # ten checkpoints


class Run(NamedTuple):
    code: int
    out: str
    err: str


Cli = Callable[..., Run]


@pytest.fixture(autouse=True)
def _reset_structlog() -> Iterator[None]:
    """`prune --execute` in-process points structlog at capsys' stream: undo that."""
    yield
    structlog.reset_defaults()


def _in_process(capsys: pytest.CaptureFixture[str]) -> Cli:
    def run(*argv: str) -> Run:
        capsys.readouterr()
        code = main(list(argv))
        captured = capsys.readouterr()
        return Run(code, captured.out, captured.err)

    return run


def _as_subprocess(*argv: str) -> Run:
    done = run_cli(*argv)
    return Run(done.returncode, done.stdout, done.stderr)


@pytest.fixture(params=["main", "subprocess"])
def cli(request: pytest.FixtureRequest, capsys: pytest.CaptureFixture[str]) -> Cli:
    """Run ckptguard with argv, in-process or as a subprocess; return (code, out, err)."""
    return _in_process(capsys) if request.param == "main" else _as_subprocess


@pytest.fixture
def cli_main(capsys: pytest.CaptureFixture[str]) -> Cli:
    """In-process only, for behaviour the subprocess runs above already cover end to end."""
    return _in_process(capsys)


@pytest.fixture
def ten(tmp_path: Path) -> Path:
    """Ten complete checkpoints, steps 100..1000, back-dated with mtimes in step order."""
    models = tmp_path / "models"
    models.mkdir()
    for index, step in enumerate(STEPS):
        write_checkpoint(models, step, mtime=OLD + index)
    return models


def listing(directory: Path) -> dict[str, tuple[int, int, int]]:
    """Name -> (inode, size, mtime) of every entry: equal listings mean nothing was touched."""
    return {
        p.name: (p.lstat().st_ino, p.lstat().st_size, p.lstat().st_mtime_ns)
        for p in directory.iterdir()
    }


def table_rows(out: str) -> dict[int, tuple[str, str]]:
    """Step -> (action cell, reasons) parsed from the table by the header's column offsets."""
    lines = out.splitlines()
    header = next(line for line in lines if line.lstrip().startswith("STEP"))
    file_at, action_at = header.index("CHECKPOINT"), header.index("ACTION")
    reasons_at = header.index("REASONS")
    rows = {}
    for line in lines[lines.index(header) + 1 :]:
        step = line[:file_at].strip()
        if not step.isdigit():
            break  # the summary line
        rows[int(step)] = (line[action_at:reasons_at].strip(), line[reasons_at:])
    return rows


def document(run: Run) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(run.out)
    return parsed


# --- audit --------------------------------------------------------------------------


def test_audit_keep_3_lists_seven_deletions_with_reasons_and_deletes_nothing(
    cli: Cli, ten: Path
) -> None:
    """`audit --keep 3` on 10 checkpoints: 7 'delete' rows with reasons, 3 kept, no file touched."""
    before = listing(ten)
    run = cli("audit", "--dir", str(ten), "--keep", "3")
    assert run.code == 0, run.err
    rows = table_rows(run.out)
    assert sorted(rows) == STEPS
    for step in STEPS[:7]:
        action, reasons = rows[step]
        assert action == "delete"
        assert "older than the 3 newest valid checkpoints" in reasons
    for step in STEPS[7:]:
        action, reasons = rows[step]
        assert action == "keep"
        assert "last 3" in reasons
    assert "newest valid checkpoint: never deleted" in rows[1000][1]
    assert "10 entries: 3 kept, 7 to delete" in run.out
    assert listing(ten) == before


def test_audit_json_document_shape(cli: Cli, ten: Path) -> None:
    """`--json` is one document: `entries` (step/path/size/state/action/reasons) + `summary`."""
    before = listing(ten)
    run = cli("audit", "--dir", str(ten), "--keep", "3", "--json")
    assert run.code == 0, run.err
    doc = document(run)
    assert set(doc) == {"entries", "summary"}
    entries = doc["entries"]
    assert [e["step"] for e in entries] == STEPS
    for entry in entries:
        assert {"step", "path", "size", "state", "action", "reasons"} <= set(entry)
        assert isinstance(entry["step"], int)
        assert entry["path"] == os.path.join(str(ten), name_of(entry["step"]))
        assert entry["size"] == (ten / name_of(entry["step"])).stat().st_size
        assert entry["state"] == "complete"
        assert entry["action"] in {"keep", "delete"}
        assert entry["reasons"]
        assert all(isinstance(r, str) and r for r in entry["reasons"])
    assert [e["action"] for e in entries] == ["delete"] * 7 + ["keep"] * 3
    summary = doc["summary"]
    assert isinstance(summary, dict)
    assert summary["checkpoints"] == 10
    assert summary["kept"] == 3
    assert summary["delete"] == 7
    (per_dir,) = summary["directories"]
    assert per_dir["directory"] == str(ten)
    assert per_dir["free_after"] == per_dir["free_now"] + summary["bytes_freed"]
    assert summary["bytes_freed"] > 0
    assert listing(ten) == before


def test_audit_json_is_the_only_stdout_and_stderr_stays_quiet(cli: Cli, ten: Path) -> None:
    """With `--json` stdout parses as one JSON value and nothing is written to stderr."""
    run = cli("audit", "--dir", str(ten), "--json")
    assert run.code == 0
    assert run.err == ""
    assert json.loads(run.out)["summary"]["checkpoints"] == 10


def test_audit_reports_every_matching_entry_kind(cli_main: Cli, ten: Path, tmp_path: Path) -> None:
    """Pinned, corrupt, in-progress, symlink and directory entries each get their state."""
    (ten / (name_of(200) + ".keep")).touch()
    write_truncated(ten, 5000, mtime=OLD)
    write_truncated(ten, 6000)  # modified just now: inside the settle window
    outside = write_checkpoint(tmp_path, 7000, mtime=OLD)
    (ten / name_of(7000)).symlink_to(outside)
    (ten / name_of(8000)).mkdir()
    run = cli_main("audit", "--dir", str(ten), "--json", "--settle", "60")
    assert run.code == 0, run.err
    states = {e["step"]: (e["state"], e["action"]) for e in document(run)["entries"]}
    assert states[200] == ("pinned", "keep")
    assert states[5000] == ("corrupt", "keep")
    assert states[6000] == ("in_progress", "keep")
    assert states[7000] == ("ignored", "keep")
    assert states[8000] == ("ignored", "keep")
    assert states[1000] == ("complete", "keep")


# --- prune --------------------------------------------------------------------------


def test_prune_without_execute_deletes_nothing(cli: Cli, ten: Path) -> None:
    """`prune` without `--execute` is a preview: same 7 planned deletions, nothing deleted."""
    before = listing(ten)
    run = cli("prune", "--dir", str(ten), "--keep", "3", "--json")
    assert run.code == 0, run.err
    entries = document(run)["entries"]
    assert [e["step"] for e in entries if e["action"] == "delete"] == STEPS[:7]
    assert {e.get("result") for e in entries if e["action"] == "delete"} == {"would_delete"}
    assert listing(ten) == before
    table = cli("prune", "--dir", str(ten), "--keep", "3")
    assert "7 to delete" in table.out
    assert listing(ten) == before


def test_prune_execute_leaves_the_three_newest_valid_plus_pinned(cli: Cli, ten: Path) -> None:
    """`prune --keep 3 --execute` leaves exactly steps 800-1000 and the pinned one (+ its pin)."""
    (ten / (name_of(200) + ".keep")).touch()
    run = cli("prune", "--dir", str(ten), "--keep", "3", "--execute")
    assert run.code == 0, run.err
    assert sorted(os.listdir(ten)) == sorted(
        [name_of(800), name_of(900), name_of(1000), name_of(200), name_of(200) + ".keep"]
    )
    rows = table_rows(run.out)
    assert [s for s, (action, _) in rows.items() if action == "deleted"] == [
        100,
        300,
        400,
        500,
        600,
        700,
    ]
    assert "6 deleted" in run.out


def test_prune_execute_keeps_three_newest_valid_despite_forged_newest_files(
    cli: Cli, ten: Path, tmp_path: Path
) -> None:
    """Corrupt/zero-byte/symlinked 'newest' files never count: the 3 newest valid survive."""
    write_truncated(ten, 5000, mtime=OLD)
    (ten / name_of(999_999_999)).touch()
    os.utime(ten / name_of(999_999_999), (OLD, OLD))
    outside = write_checkpoint(tmp_path, 77, mtime=OLD)
    outside_before = outside.read_bytes()
    (ten / name_of(888_888)).symlink_to(outside)
    run = cli("prune", "--dir", str(ten), "--keep", "3", "--execute", "--json")
    assert run.code == 0, run.err
    assert sorted(os.listdir(ten)) == sorted(
        name_of(s) for s in (800, 900, 1000, 5000, 999_999_999, 888_888)
    )
    assert (ten / name_of(888_888)).is_symlink()
    assert outside.read_bytes() == outside_before


def test_prune_execute_logs_one_structured_event_per_deletion(ten: Path) -> None:
    """Each deletion is one JSON log event on stderr with path, step, size, reasons, free."""
    run = run_cli("prune", "--dir", str(ten), "--keep", "3", "--execute", "--json")
    assert run.returncode == 0, run.stderr
    events = [json.loads(line) for line in run.stderr.splitlines()]
    deleted = [e for e in events if e["event"] == "deleted"]
    assert [e["step"] for e in deleted] == STEPS[:7]
    for event in deleted:
        assert event["path"] == os.path.join(str(ten), name_of(event["step"]))
        assert event["size"] > 0
        assert event["reasons"] == ["older than the 3 newest valid checkpoints"]
        assert isinstance(event["free_before"], int)
        assert isinstance(event["free_after"], int)
    json.loads(run.stdout)  # the report on stdout stays one clean document


def test_prune_execute_twice_deletes_nothing_the_second_time(cli_main: Cli, ten: Path) -> None:
    """A second `prune --execute` right after the first finds nothing more to delete."""
    first = cli_main("prune", "--dir", str(ten), "--keep", "3", "--execute", "--json")
    assert first.code == 0, first.err
    assert document(first)["summary"]["delete"] == 7
    after_first = listing(ten)
    second = cli_main("prune", "--dir", str(ten), "--keep", "3", "--execute", "--json")
    assert second.code == 0, second.err
    assert document(second)["summary"]["delete"] == 0
    assert listing(ten) == after_first


@pytest.fixture
def immutable(ten: Path) -> Iterator[Path]:
    """Step 100 made undeletable with `chattr +i` (even for root); cleared in teardown."""
    with made_immutable(ten / name_of(100)) as target:
        yield target


def test_prune_exits_1_when_a_deletion_fails(cli: Cli, ten: Path, immutable: Path) -> None:
    """An undeletable (immutable) planned file: exit 1, 'failed' with the errno, others deleted."""
    run = cli("prune", "--dir", str(ten), "--keep", "3", "--execute", "--json")
    assert run.code == 1
    assert "ckptguard: error: some deletions failed" in run.err
    assert "Traceback" not in run.err
    results = {e["step"]: (e.get("result"), e.get("detail", "")) for e in document(run)["entries"]}
    status, detail = results[100]
    assert status == "failed"
    assert "EPERM" in detail
    assert {results[s][0] for s in STEPS[1:7]} == {"deleted"}
    assert immutable.is_file()
    assert sorted(os.listdir(ten)) == sorted(name_of(s) for s in (100, 800, 900, 1000))


def test_prune_table_shows_the_failed_deletion(cli_main: Cli, ten: Path, immutable: Path) -> None:
    """The table marks the failed row 'failed' and names the file and errno in the summary."""
    run = cli_main("prune", "--dir", str(ten), "--keep", "3", "--execute")
    assert run.code == 1
    assert table_rows(run.out)[100][0] == "failed"
    assert f"{immutable.name} failed: EPERM" in run.out


# --- version and config -------------------------------------------------------------


def test_version_flag_prints_the_version_and_exits_0(cli: Cli) -> None:
    """`ckptguard --version` prints 'ckptguard <version>' on stdout and exits 0."""
    run = cli("--version")
    assert run.code == 0
    assert run.out == f"ckptguard {__version__}\n"


def test_version_loads_no_heavy_library() -> None:
    """`ckptguard --version` imports only the parser: no logging, validation or watching
    library, and no object store's SDK (the remote store's errors load none)."""
    code = (
        "import sys; from ckptguard.face.cli import main; main(['--version']); "
        "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    loaded = set(done.stdout.splitlines()[-1].split())
    heavy = {"structlog", "pydantic", "watchdog", "psutil", "fsspec", "s3fs", "botocore", "rich"}
    assert "ckptguard" in loaded and not loaded & heavy


def test_help_exits_0(cli_main: Cli) -> None:
    """`ckptguard audit --help` prints usage naming the policy options and exits 0."""
    run = cli_main("audit", "--help")
    assert run.code == 0
    assert "--min-free" in run.out
    assert "--keep" in run.out


@pytest.fixture
def two_dirs(tmp_path: Path) -> tuple[Path, Path, Path]:
    """Two directories of ten checkpoints and a config: top-level keep=5, second dir keep=2."""
    first, second = tmp_path / "a", tmp_path / "b"
    for directory in (first, second):
        directory.mkdir()
        for index, step in enumerate(STEPS):
            write_checkpoint(directory, step, mtime=OLD + index)
    config = tmp_path / "ckptguard.toml"
    config.write_text(
        f'keep = 5\nmin_free = "0"\n\n[[directory]]\npath = {json.dumps(str(first))}\n\n'
        f"[[directory]]\npath = {json.dumps(str(second))}\nkeep = 2\n"
    )
    return config, first, second


def kept_per_dir(run: Run) -> dict[str, int]:
    return {d["directory"]: d["kept"] for d in document(run)["summary"]["directories"]}


def test_config_file_top_level_keys_and_directory_entries(
    cli: Cli, two_dirs: tuple[Path, Path, Path]
) -> None:
    """Without --dir the config's directories are guarded; an entry's key beats top-level."""
    config, first, second = two_dirs
    run = cli("audit", "--config", str(config), "--json")
    assert run.code == 0, run.err
    assert kept_per_dir(run) == {str(first): 5, str(second): 2}


def test_flags_override_config_values(cli_main: Cli, two_dirs: tuple[Path, Path, Path]) -> None:
    """`--keep 4` beats both the file's top-level keep=5 and an entry's keep=2."""
    config, first, second = two_dirs
    run = cli_main("audit", "--config", str(config), "--keep", "4", "--json")
    assert run.code == 0, run.err
    assert kept_per_dir(run) == {str(first): 4, str(second): 4}


def test_dir_flag_selects_a_config_directory_and_its_policy(
    cli_main: Cli, two_dirs: tuple[Path, Path, Path]
) -> None:
    """`--dir B --config F` guards only B, with B's `[[directory]]` policy from the file."""
    config, _, second = two_dirs
    run = cli_main("audit", "--config", str(config), "--dir", str(second), "--json")
    assert run.code == 0, run.err
    assert kept_per_dir(run) == {str(second): 2}


def test_prune_execute_follows_the_config(cli: Cli, two_dirs: tuple[Path, Path, Path]) -> None:
    """`prune --config F --execute` deletes per directory policy: 5 left in A, 2 in B."""
    config, first, second = two_dirs
    run = cli("prune", "--config", str(config), "--execute", "--json")
    assert run.code == 0, run.err
    assert sorted(os.listdir(first)) == sorted(name_of(s) for s in STEPS[5:])
    assert sorted(os.listdir(second)) == sorted(name_of(s) for s in STEPS[8:])


def test_settle_and_pattern_come_from_the_config_and_yield_to_flags(
    cli_main: Cli, tmp_path: Path
) -> None:
    """Config `pattern` picks the names and `settle = 0` applies unless `--settle` overrides it."""
    models = tmp_path / "models"
    models.mkdir()
    write_checkpoint(models, 1, mtime=OLD)
    fresh = models / "ckpt-2.keras"
    fresh.write_bytes(b"PK\x03\x04 half a zip")
    write_checkpoint(models, 3, mtime=OLD)  # checkpoint_step_3.keras: not this pattern
    (models / "ckpt-1.keras").write_bytes((models / name_of(1)).read_bytes())
    os.utime(models / "ckpt-1.keras", (OLD, OLD))
    config = tmp_path / "c.toml"
    config.write_text(
        f'settle = 0\npattern = "ckpt-{{step}}.keras"\n[[directory]]\npath = "{models}"\n'
    )
    from_file = cli_main("audit", "--config", str(config), "--json")
    assert from_file.code == 0, from_file.err
    states = {e["path"]: e["state"] for e in document(from_file)["entries"]}
    assert states == {str(models / "ckpt-1.keras"): "complete", str(fresh): "corrupt"}
    overridden = cli_main("audit", "--config", str(config), "--settle", "600", "--json")
    states = {e["path"]: e["state"] for e in document(overridden)["entries"]}
    assert states[str(fresh)] == "in_progress"


def test_check_config_accepts_a_valid_file(
    cli_main: Cli, two_dirs: tuple[Path, Path, Path]
) -> None:
    """`check-config --config F` validates the file and reports each directory's policy."""
    config, first, second = two_dirs
    run = cli_main("check-config", "--config", str(config))
    assert run.code == 0, run.err
    lines = run.out.splitlines()
    assert lines[0] == f"{config}: OK, 2 directories:"
    assert lines[1].startswith(f"  {first}: checkpoint_step_{{step}}.keras (keras): keep the ")
    assert lines[2].startswith(f"  {second}: ")


def test_relative_directory_in_config_is_relative_to_the_config_file(
    tmp_path, capsys, monkeypatch
) -> None:
    """`path = "models"` in /etc/x/ckptguard.toml means /etc/x/models, wherever we run."""
    from support import write_checkpoint

    from ckptguard.face.cli import main

    models = tmp_path / "conf" / "models"
    models.mkdir(parents=True)
    for step in range(1, 5):
        write_checkpoint(models, step)
    config = tmp_path / "conf" / "ckptguard.toml"
    config.write_text('keep = 1\n[[directory]]\npath = "models"\n')
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert main(["prune", "--config", str(config), "--execute"]) == 0
    assert sorted(p.name for p in models.iterdir()) == ["checkpoint_step_4.keras"]
