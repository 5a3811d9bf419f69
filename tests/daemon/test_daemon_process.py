"""`ckptguard run` as a real process: signals, the directory lock and sd_notify."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from support import TEMPLATE, wait_for, write_checkpoint


def count(directory: Path) -> int:
    return sum(1 for p in directory.glob(TEMPLATE.format(step="*")))


def test_sigterm_stops_cleanly_with_sd_notify(tmp_path: Path, spawn) -> None:
    """READY=1 after the first scan, STATUS=, WATCHDOG=1, then STOPPING=1 and exit 0 on SIGTERM."""
    for step in range(1, 5):
        write_checkpoint(tmp_path, step)
    guard = spawn("--dir", str(tmp_path), "--keep", "2", env={"WATCHDOG_USEC": "200000"})
    guard.listener.wait_for("READY=1")
    assert count(tmp_path) == 2, "READY must come after the first scan has acted"
    status = guard.listener.wait_for("STATUS=")
    assert "guarding 1 directories" in status and "2 checkpoints kept" in status
    guard.listener.wait_for("WATCHDOG=1", timeout=5)
    guard.proc.send_signal(signal.SIGTERM)
    assert guard.proc.wait(timeout=10) == 0
    guard.listener.wait_for("STOPPING=1")
    stderr = guard.log_text()
    assert "Traceback" not in stderr
    assert [e["event"] for e in guard.events()][-1] == "stopped"


def test_sigint_also_stops_cleanly(tmp_path: Path, spawn) -> None:
    """Ctrl-C (SIGINT) is a clean stop too, with exit code 0."""
    guard = spawn("--dir", str(tmp_path))
    guard.listener.wait_for("READY=1")
    guard.proc.send_signal(signal.SIGINT)
    assert guard.proc.wait(timeout=10) == 0


def test_sighup_reloads_good_config_and_rejects_bad(tmp_path: Path, spawn) -> None:
    """SIGHUP applies a valid new config; an invalid one is logged and the old one stays."""
    models = tmp_path / "models"
    models.mkdir()
    for step in range(1, 6):
        write_checkpoint(models, step)
    config = tmp_path / "ckptguard.toml"
    config.write_text(f'keep = 3\n[[directory]]\npath = "{models}"\n')
    guard = spawn("--config", str(config))
    guard.listener.wait_for("READY=1")
    assert count(models) == 3

    config.write_text(f'keep = 1\n[[directory]]\npath = "{models}"\n')
    guard.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: count(models) == 1, timeout=10, message="keep-1 after SIGHUP")

    config.write_text("keep = = broken\n")
    guard.listener.messages.clear()
    guard.proc.send_signal(signal.SIGHUP)
    guard.listener.wait_for("RELOADING=1")
    guard.listener.wait_for("READY=1")
    for step in range(10, 13):
        write_checkpoint(models, step)
    wait_for(lambda: count(models) == 1, timeout=10, message="old keep-1 still in force")
    guard.proc.send_signal(signal.SIGTERM)
    assert guard.proc.wait(timeout=10) == 0
    rejected = guard.events_named("reload_rejected")
    assert len(rejected) == 1 and "invalid TOML" in str(rejected[0]["problems"])


def test_second_daemon_on_same_directory_is_refused(tmp_path: Path, spawn) -> None:
    """The directory lock makes a second guard exit 2, naming the holder's pid and uid."""
    first = spawn("--dir", str(tmp_path))
    first.listener.wait_for("READY=1")
    second = spawn("--dir", str(tmp_path))
    assert second.proc.wait(timeout=20) == 2
    stderr = second.log_text()
    lines = [line for line in stderr.splitlines() if not line.startswith("{")]
    assert len(lines) == 1, stderr
    assert f"pid {first.pid} (uid {os.geteuid()})" in lines[0]
    assert "Traceback" not in stderr


def test_wait_lock_takes_over_when_the_first_guard_stops(tmp_path: Path, spawn) -> None:
    """With --wait-lock the second guard waits, then guards once the first one exits."""
    first = spawn("--dir", str(tmp_path))
    first.listener.wait_for("READY=1")
    second = spawn("--dir", str(tmp_path), "--keep", "1", "--wait-lock")
    for step in range(1, 4):
        write_checkpoint(tmp_path, step)
    wait_for(lambda: count(tmp_path) == 3, message="first guard keeps 3")
    first.proc.send_signal(signal.SIGTERM)
    assert first.proc.wait(timeout=10) == 0
    second.listener.wait_for("READY=1", timeout=20)
    assert count(tmp_path) == 1


def test_dry_run_process_deletes_nothing(tmp_path: Path, spawn) -> None:
    """`run --dry-run` logs would_delete events as JSON lines and deletes nothing."""
    for step in range(1, 6):
        write_checkpoint(tmp_path, step)
    guard = spawn("--dir", str(tmp_path), "--keep", "2", "--dry-run")
    guard.listener.wait_for("READY=1")
    guard.proc.send_signal(signal.SIGTERM)
    assert guard.proc.wait(timeout=10) == 0
    assert count(tmp_path) == 5
    would = guard.events_named("would_delete")
    assert sorted(e["step"] for e in would) == [1, 2, 3]
    assert all(e["reasons"] for e in would)


def test_bad_usage_exits_2_without_traceback(tmp_path: Path, spawn) -> None:
    """`run` on a regular file, or with a bad flag value, exits 2 with one error line."""
    a_file = tmp_path / "file"
    a_file.write_text("")
    for args in (
        ["--dir", str(a_file)],
        ["--dir", str(tmp_path), "--rescan-interval", "0"],
        ["--dir", str(tmp_path), "--log-format", "xml"],
    ):
        guard = spawn(*args)
        assert guard.proc.wait(timeout=20) == 2
        stderr = guard.log_text()
        assert len(stderr.strip().splitlines()) == 1, stderr
        assert stderr.startswith("ckptguard: error:") and "Traceback" not in stderr
