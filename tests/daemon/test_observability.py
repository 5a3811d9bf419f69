"""What a running guard tells: `status` and `history` of a real `ckptguard run` process,
its metrics endpoint, warnings with the --on-warning hook (JSON on stdin, a timeout that
kills a hanging command, never blocking the loop), and writes of its own that fail on a
full or read-only disk while the deletions go on."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from support import (
    Mounts,
    fill,
    http_get,
    run_cli,
    sample_value,
    train,
    wait_for,
    write_checkpoint,
)


def metrics_of(guard: Any) -> str:
    """What the guard's --metrics-listen endpoint serves now."""
    (listening,) = guard.events_named("metrics_listening")
    return http_get(f"http://127.0.0.1:{listening['port']}/metrics")


def status_json(*args: str) -> dict[str, Any]:
    result = run_cli("status", "--json", *args)
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout))


def test_a_guard_waiting_for_its_directory_reports_that_it_runs(
    guard_running: Any, tmp_path: Path
) -> None:
    """A guard waiting for a directory that does not exist yet has no look to show, but
    its status says it runs (and the liveness probe passes); once the directory appears
    and is looked at, the status shows it."""
    models = tmp_path / "models"
    with guard_running("--dir", str(models), "--free-check-interval", "0.2") as guard:
        (entry,) = wait_for(
            lambda: status_json("--dir", str(models))["directories"], message="a status"
        )
        assert entry["guard"]["pid"] == guard.pid and entry["status"] is None
        assert entry["directory"] == str(models)
        assert "not looked at yet" in run_cli("status", "--dir", str(models)).stdout
        assert run_cli("status", "--dir", str(models), "--alive").returncode == 0
        models.mkdir()
        write_checkpoint(models, 100)
        wait_for(
            lambda: status_json("--dir", str(models))["directories"][0]["status"],
            message="the status of its first look",
        )


def test_status_history_and_metrics_of_a_running_guard(guard_running, models: Path) -> None:
    """While it runs, `status` reads the guard's own view; `history` lists its deletions;
    the endpoint counts them. Once it stops, its status file is gone."""
    args = ("--dir", str(models), "--keep", "2", "--metrics-listen", "127.0.0.1:0")
    with guard_running(*args) as guard:
        train(models, 5)
        wait_for(lambda: len(guard.events_named("deleted")) == 3, message="three deletions")

        last: list[Any] = []

        def seen() -> dict[str, Any] | None:
            (entry,) = status_json("--dir", str(models))["directories"]
            last[:] = [entry["guard"], entry["status"]["saves"]]
            return entry if entry["status"]["saves"]["seen"] == 5 else None

        try:
            entry = wait_for(seen, message="the status to show five saves")
        except AssertionError as error:
            raise AssertionError(f"{error}; the status said {last}") from None
        assert entry["guard"]["running"] and entry["guard"]["pid"] == guard.pid
        assert entry["status"]["last_deletion"]["checkpoint"] == "checkpoint_step_300.keras"
        assert entry["status"]["checkpoints"]["complete"]["count"] == 2
        text = run_cli("status").stdout
        assert f"pid {guard.pid}" in text and "5 seen" in text
        assert "checkpoint_step_300.keras (step 300" in text
        records = json.loads(run_cli("history", "--dir", str(models), "--json").stdout)["records"]
        assert [(r["event"], r["step"], r["reason"]) for r in records] == [
            ("deleted", step, "beyond_keep") for step in (100, 200, 300)
        ]
        assert "beyond keep" in run_cli("history", "--since", "1h").stdout
        exposition = metrics_of(guard)
        labels = {"dir": str(models), "reason": "beyond_keep"}
        assert sample_value(exposition, "ckptguard_deletions_total", **labels) == 3
        assert sample_value(exposition, "ckptguard_saves_total", dir=str(models)) == 5
        assert sample_value(exposition, "ckptguard_newest_checkpoint_step", dir=str(models)) == 500
    (entry,) = status_json("--dir", str(models))["directories"]
    assert entry["guard"]["running"] is False


def test_stale_checkpoints_warn_run_the_hook_and_clear(
    guard_running, models: Path, tmp_path: Path
) -> None:
    """No new save for --stale-after: a log event, the STATUS= line, the metric, history,
    and the hook with the warning as JSON on stdin; a new save clears it."""
    received = tmp_path / "warning.json"
    write_checkpoint(models, 100)
    args = (
        "--dir",
        str(models),
        "--stale-after",
        "1s",
        "--on-warning",
        f"cat > {received}",
        "--metrics-listen",
        "127.0.0.1:0",
    )
    with guard_running(*args) as guard:
        warning = wait_for(lambda: guard.events_named("stale_checkpoints"), message="the warning")[
            0
        ]
        assert warning["newest_step"] == 100 and "training hung" in warning["message"]
        document = wait_for(lambda: received.exists() and received.read_text(), message="the hook")
        sent = json.loads(document)
        assert sent["warning"] == "stale_checkpoints" and sent["dir"] == str(models)
        assert sent["newest"] == "checkpoint_step_100.keras"
        guard.listener.wait_for("STATUS=")
        assert any(
            "no new checkpoint" in m for m in guard.listener.drain() if m.startswith("STATUS=")
        )
        flagged = {"dir": str(models), "code": "stale_checkpoints"}
        assert sample_value(metrics_of(guard), "ckptguard_warning", **flagged) == 1
        write_checkpoint(models, 200)
        wait_for(lambda: guard.events_named("warning_cleared"), message="the warning cleared")
        assert sample_value(metrics_of(guard), "ckptguard_warning", **flagged) == 0
    events = [r["event"] for r in json.loads(run_cli("history", "--json").stdout)["records"]]
    assert events[:2] == ["warning", "warning_cleared"]


def hanging(marker: str, guard: Any) -> list[int]:
    """Pids of processes whose command line holds `marker`, but for the guard's own."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        if int(pid) == guard.pid:
            continue
        try:
            if marker.encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(int(pid))
        except OSError:
            continue
    return found


def test_a_hanging_hook_is_killed_at_its_timeout_and_never_blocks(
    guard_running, tmp_path: Path
) -> None:
    """`sleep` as the hook: while it hangs, saves are still deleted; at the timeout its
    whole session is killed; two such failures are counted twice and logged once."""
    first, second = tmp_path / "a", tmp_path / "b"
    for directory in (first, second):
        directory.mkdir()
        write_checkpoint(directory, 100)
    marker = "61.2345"
    args = (
        "--dir",
        str(first),
        "--dir",
        str(second),
        "--keep",
        "2",
        "--stale-after",
        "1s",
        "--on-warning",
        f"sleep {marker}; true",
        "--on-warning-timeout",
        "2",
        "--metrics-listen",
        "127.0.0.1:0",
    )
    with guard_running(*args) as guard:
        wait_for(lambda: hanging(marker, guard), message="the hook to start")
        train(first, 4, first_step=200)
        wait_for(lambda: len(guard.events_named("deleted")) >= 3, message="deletions")
        assert hanging(marker, guard), "the deletions had to wait for the hook"
        assert not guard.events_named("warning_hook_failed")
        failed = wait_for(lambda: guard.events_named("warning_hook_failed"), timeout=15)
        assert failed[0]["error"] == "timed out after 2s: killed"

        def timeouts() -> float | None:
            return sample_value(metrics_of(guard), "ckptguard_errors_total", kind="hook_timeout")

        wait_for(lambda: timeouts() == 2, timeout=15, message="the second hook's timeout")
        wait_for(lambda: not hanging(marker, guard), message="the hook's session to be killed")
        assert len(guard.events_named("warning_hook_failed")) == 1


@pytest.mark.parametrize("trouble", ["full", "read-only"])
def test_own_writes_that_fail_never_stop_a_deletion(
    spawn, models: Path, tmp_path: Path, mounts: Mounts, trouble: str
) -> None:
    """State, history, status and metrics textfile on a full (ENOSPC) or read-only disk:
    every save is still handled, each kind of failure is logged once and counted."""
    disk = mounts.tmpfs(tmp_path / "own", 256 * 1024)
    (disk / "state").mkdir()
    (disk / "run").mkdir()
    if trouble == "full":
        fill(disk / "filler")
    else:
        disk = mounts.bind_read_only(disk, tmp_path / "own-ro")
    guard = spawn(
        "--dir",
        str(models),
        "--keep",
        "2",
        "--state-dir",
        str(disk / "state"),
        "--metrics-textfile",
        str(disk / "run" / "ckptguard.prom"),
        "--metrics-listen",
        "127.0.0.1:0",
        env={"RUNTIME_DIRECTORY": str(disk / "run")},
    )
    guard.expect_ready()
    train(models, 6)
    wait_for(lambda: len(guard.events_named("deleted")) == 4, message="four deletions")
    wait_for(
        lambda: (
            sorted(p.name for p in models.iterdir())
            == ["checkpoint_step_500.keras", "checkpoint_step_600.keras"]
        ),
        message="two checkpoints left",
    )
    exposition = metrics_of(guard)
    for kind in ("history_write", "status_write", "metrics_write"):
        wait_for(lambda kind=kind: len(guard.events_named(f"{kind}_failed")) == 1, message=kind)
        counted = sample_value(metrics_of(guard), "ckptguard_errors_total", kind=kind)
        assert counted is not None and counted >= 1, (kind, exposition)
    assert sample_value(exposition, "ckptguard_errors_total", kind="status_write") > 1
    guard.stop()
    for kind in ("history_write", "status_write", "metrics_write"):
        assert len(guard.events_named(f"{kind}_failed")) == 1, kind
    assert "Traceback" not in guard.log_text()


def test_status_finds_a_template_instance_in_its_own_runtime_directory(
    spawn, models: Path, runtime_directory: Path
) -> None:
    """ckptguard@.service keeps its status in /run/ckptguard/<instance>: `status` with no
    --dir looks there too."""
    guard = spawn(
        "--dir", str(models), env={"RUNTIME_DIRECTORY": str(runtime_directory / "srv-models")}
    ).expect_ready()
    wait_for(
        lambda: (runtime_directory / "srv-models").is_dir() and run_cli("status").returncode == 0
    )
    assert f"pid {guard.pid}" in run_cli("status").stdout
    guard.stop()
