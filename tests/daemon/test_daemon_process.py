"""`ckptguard run` as a real process: signals, the directory lock and sd_notify."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import TEMPLATE, NotifyListener, wait_for, write_checkpoint


@pytest.fixture
def listener() -> Iterator[NotifyListener]:
    notify = NotifyListener()
    yield notify
    notify.close()


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[object]:
    """Start `ckptguard run ARGS` processes; kill any still running at the end."""
    procs: list[subprocess.Popen[str]] = []

    def start(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        inherited = {
            k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC")
        }
        full_env = {**inherited, **(env or {})}
        proc = subprocess.Popen(
            [sys.executable, "-m", "ckptguard", "run", "--log-format", "json", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=full_env,
        )
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=10)


def events(stderr: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]


def count(directory: Path) -> int:
    return sum(1 for p in directory.glob(TEMPLATE.format(step="*")))


def test_sigterm_stops_cleanly_with_sd_notify(tmp_path: Path, spawn, listener) -> None:
    """READY=1 after the first scan, STATUS=, WATCHDOG=1, then STOPPING=1 and exit 0 on SIGTERM."""
    for step in range(1, 5):
        write_checkpoint(tmp_path, step)
    env = {"NOTIFY_SOCKET": listener.name, "WATCHDOG_USEC": "200000"}
    proc = spawn("--dir", str(tmp_path), "--keep", "2", env=env)
    listener.wait_for("READY=1")
    assert count(tmp_path) == 2, "READY must come after the first scan has acted"
    status = listener.wait_for("STATUS=")
    assert "guarding 1 directories" in status and "2 checkpoints kept" in status
    listener.wait_for("WATCHDOG=1", timeout=5)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0
    listener.wait_for("STOPPING=1")
    _, stderr = proc.communicate()
    assert "Traceback" not in stderr
    assert [e["event"] for e in events(stderr)][-1] == "stopped"


def test_sigint_also_stops_cleanly(tmp_path: Path, spawn, listener) -> None:
    """Ctrl-C (SIGINT) is a clean stop too, with exit code 0."""
    proc = spawn("--dir", str(tmp_path), env={"NOTIFY_SOCKET": listener.name})
    listener.wait_for("READY=1")
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=10) == 0


def test_sighup_reloads_good_config_and_rejects_bad(tmp_path: Path, spawn, listener) -> None:
    """SIGHUP applies a valid new config; an invalid one is logged and the old one stays."""
    models = tmp_path / "models"
    models.mkdir()
    for step in range(1, 6):
        write_checkpoint(models, step)
    config = tmp_path / "ckptguard.toml"
    config.write_text(f'keep = 3\n[[directory]]\npath = "{models}"\n')
    proc = spawn("--config", str(config), env={"NOTIFY_SOCKET": listener.name})
    listener.wait_for("READY=1")
    assert count(models) == 3

    config.write_text(f'keep = 1\n[[directory]]\npath = "{models}"\n')
    proc.send_signal(signal.SIGHUP)
    wait_for(lambda: count(models) == 1, timeout=10, message="keep-1 after SIGHUP")

    config.write_text("keep = = broken\n")
    listener.messages.clear()
    proc.send_signal(signal.SIGHUP)
    listener.wait_for("RELOADING=1")
    listener.wait_for("READY=1")
    for step in range(10, 13):
        write_checkpoint(models, step)
    wait_for(lambda: count(models) == 1, timeout=10, message="old keep-1 still in force")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0
    _, stderr = proc.communicate()
    rejected = [e for e in events(stderr) if e["event"] == "reload_rejected"]
    assert len(rejected) == 1 and "invalid TOML" in str(rejected[0]["problems"])


def test_second_daemon_on_same_directory_is_refused(tmp_path: Path, spawn, listener) -> None:
    """The directory lock makes a second guard exit 2, naming the holder's pid and uid."""
    first = spawn("--dir", str(tmp_path), env={"NOTIFY_SOCKET": listener.name})
    listener.wait_for("READY=1")
    second = spawn("--dir", str(tmp_path))
    assert second.wait(timeout=20) == 2
    _, stderr = second.communicate()
    lines = [line for line in stderr.splitlines() if not line.startswith("{")]
    assert len(lines) == 1, stderr
    assert f"pid {first.pid} (uid {os.geteuid()})" in lines[0]
    assert "Traceback" not in stderr


def test_wait_lock_takes_over_when_the_first_guard_stops(tmp_path: Path, spawn) -> None:
    """With --wait-lock the second guard waits, then guards once the first one exits."""
    first_notify, second_notify = NotifyListener(), NotifyListener()
    try:
        first = spawn("--dir", str(tmp_path), env={"NOTIFY_SOCKET": first_notify.name})
        first_notify.wait_for("READY=1")
        spawn(
            "--dir",
            str(tmp_path),
            "--keep",
            "1",
            "--wait-lock",
            env={"NOTIFY_SOCKET": second_notify.name},
        )
        for step in range(1, 4):
            write_checkpoint(tmp_path, step)
        wait_for(lambda: count(tmp_path) == 3, message="first guard keeps 3")
        first.send_signal(signal.SIGTERM)
        assert first.wait(timeout=10) == 0
        second_notify.wait_for("READY=1", timeout=20)
        assert count(tmp_path) == 1
    finally:
        first_notify.close()
        second_notify.close()


def test_dry_run_process_deletes_nothing(tmp_path: Path, spawn, listener) -> None:
    """`run --dry-run` logs would_delete events as JSON lines and deletes nothing."""
    for step in range(1, 6):
        write_checkpoint(tmp_path, step)
    proc = spawn(
        "--dir", str(tmp_path), "--keep", "2", "--dry-run", env={"NOTIFY_SOCKET": listener.name}
    )
    listener.wait_for("READY=1")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0
    _, stderr = proc.communicate()
    assert count(tmp_path) == 5
    would = [e for e in events(stderr) if e["event"] == "would_delete"]
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
        proc = spawn(*args)
        assert proc.wait(timeout=20) == 2
        _, stderr = proc.communicate()
        assert len(stderr.strip().splitlines()) == 1, stderr
        assert stderr.startswith("ckptguard: error:") and "Traceback" not in stderr
