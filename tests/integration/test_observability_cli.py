"""`status`, `history` and the observability options from the command line, as a user
types them: what is shown with no guard running, and every bad value refused in one line."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from support import run_cli, write_checkpoint

# `ckptguard ARGS` in an interpreter where prometheus_client cannot be imported.
WITHOUT_PROMETHEUS = (
    "import sys; sys.modules['prometheus_client'] = None; "
    "from ckptguard.face.cli import main; sys.exit(main(sys.argv[1:]))"
)


def one_error_line(result: subprocess.CompletedProcess[str], fragment: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("ckptguard: error: ") and fragment in lines[0], lines[0]


def test_status_without_a_guard_is_computed_from_the_directory(models: Path) -> None:
    """No guard: the checkpoints, space and rhythm from one look, and no prediction."""
    for step in (100, 200, 300):
        write_checkpoint(models, step)
    result = run_cli("status", "--dir", str(models), "--keep", "2")
    assert result.returncode == 0, result.stderr
    assert "no guard is running" in result.stdout
    assert "2 complete" in result.stdout
    assert "step 300" in result.stdout
    assert "only a running guard" in result.stdout
    document = json.loads(run_cli("status", "--dir", str(models), "--json").stdout)
    (entry,) = document["directories"]
    assert entry["guard"] == {"running": False, "last": None}
    assert entry["status"]["newest"]["step"] == 300
    assert entry["status"]["prediction"]["seconds"] is None
    assert sorted(p.name for p in models.iterdir()) == sorted(
        f"checkpoint_step_{s}.keras" for s in (100, 200, 300)
    ), "status deletes nothing"


def test_status_with_nothing_to_show_says_so_in_one_line(tmp_path: Path) -> None:
    """No --dir and no guard running: exit 2, naming what to give. (Its own runtime
    directory: as root, /run/ckptguard may hold a real guard's status.)"""
    runtime = {**os.environ, "RUNTIME_DIRECTORY": str(tmp_path)}
    one_error_line(run_cli("status", env=runtime), "no guard is running")


def test_alive_probe_without_a_guard_fails_in_one_line(models: Path) -> None:
    """`status --alive` with no guard running: exit 1, one line on stdout, nothing else
    (the directory is not looked at)."""
    result = run_cli("status", "--dir", str(models), "--alive")
    assert result.returncode == 1 and not result.stderr, result
    assert result.stdout == f"not alive: {models}: no guard reports a status for it\n"


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--alive"], "status --alive: give --dir DIR"),
        (["--dir", ".", "--alive", "--max-age", "soon"], "--max-age soon: not a duration"),
        (["--dir", ".", "--alive", "--max-age", "0"], "--max-age 0: must be more than 0"),
        (["--dir", ".", "--max-age", "30"], "--max-age: only with --alive"),
    ],
    ids=["no-dir", "bad-age", "zero-age", "no-alive"],
)
def test_alive_probe_usage_errors(args: list[str], fragment: str) -> None:
    """Each misuse of the probe's options is one line, exit 2."""
    one_error_line(run_cli("status", *args), fragment)


def test_history_empty_and_bad_since(tmp_path: Path) -> None:
    """An empty history says so; a bad --since is one line."""
    result = run_cli("history", "--state-dir", str(tmp_path))
    assert result.returncode == 0 and result.stdout.strip() == "no history yet"
    one_error_line(run_cli("history", "--since", "soon"), "--since soon: not a duration")


@pytest.mark.parametrize("command", ["run", "check-config"])
@pytest.mark.parametrize("flag", ["--metrics-textfile", "--metrics-listen"])
def test_metrics_without_prometheus_client_name_the_extra(
    tmp_path: Path, models: Path, command: str, flag: str
) -> None:
    """Without the `metrics` extra, a metrics option (a flag of `run`, a key of the
    config that `check-config` reads) is refused in one line naming the extra."""
    value = str(tmp_path / "ckptguard.prom") if flag == "--metrics-textfile" else "9184"
    key = flag.removeprefix("--").replace("-", "_")
    config = tmp_path / "ckptguard.toml"
    in_file = command == "check-config"
    config.write_text(
        (f'{key} = "{value}"\n' if in_file else "") + f'[[directory]]\npath = "{models}"\n'
    )
    given = [] if in_file else [flag, value]
    result = subprocess.run(
        [sys.executable, "-c", WITHOUT_PROMETHEUS, command, "--config", str(config), *given],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    one_error_line(result, f"{flag} needs prometheus_client: pip install 'ckptguard[metrics]'")


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--metrics-textfile", "/tmp/ckptguard.txt"], "must end in .prom"),
        (["--metrics-textfile", "/nonexistent/ckptguard.prom"], "no such directory"),
        (["--metrics-listen", "localhost:http"], "not HOST:PORT"),
        (["--metrics-listen", "127.0.0.1:70000"], "not HOST:PORT"),
        (["--warn-before", "soon"], "--warn-before: not a duration"),
        (["--stale-after", "0"], "--stale-after: must be more than 0"),
        (["--on-warning-timeout", "-1"], "--on-warning-timeout"),
    ],
    ids=["suffix", "no-directory", "port-name", "port-range", "warn", "stale", "timeout"],
)
def test_bad_observability_options(models: Path, args: list[str], fragment: str) -> None:
    """Each bad value is one line naming the option; the daemon does not start."""
    one_error_line(run_cli("run", "--dir", str(models), *args), fragment)


def test_metrics_textfile_inside_the_guarded_directory_is_refused(models: Path) -> None:
    """The guard writes nothing into a directory it guards."""
    result = run_cli("run", "--dir", str(models), "--metrics-textfile", str(models / "m.prom"))
    one_error_line(result, "inside the guarded directory")


def test_metrics_listen_on_a_taken_port_is_refused(models: Path) -> None:
    """An address in use: exit 2 in one line, naming the option."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli("run", "--dir", str(models), "--metrics-listen", f"127.0.0.1:{port}")
    assert result.returncode == 2, result.stderr
    assert f"ckptguard: error: --metrics-listen 127.0.0.1:{port}: " in result.stderr
    assert "Traceback" not in result.stderr


def test_version_does_not_import_prometheus_client() -> None:
    """`--version` stays fast: prometheus_client is imported only by a metrics option."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "ckptguard", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0
    assert "ckptguard.service.metrics" not in result.stderr
    assert "prometheus_client" not in result.stderr
