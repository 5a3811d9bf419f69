"""The --on-warning command runner on its own: JSON on stdin, one run per warning and
directory per interval, failures logged once until a run succeeds."""

from __future__ import annotations

import json
from pathlib import Path

from structlog.testing import capture_logs
from support import wait_for

from ckptguard.service.events import get_logger
from ckptguard.service.hooks import WarningHook


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def warning(directory: str, code: str = "stale_checkpoints") -> dict[str, object]:
    return {"warning": code, "dir": directory, "quiet_for": 700.0}


def test_rate_limited_per_warning_and_directory(tmp_path: Path) -> None:
    """The same warning of the same directory runs the command once per min_interval;
    another directory or another warning runs it at once."""
    out = tmp_path / "got.jsonl"
    clock = Clock()
    hook = WarningHook(f"cat >> {out}", timeout=10, log=get_logger(), min_interval=300, clock=clock)
    try:
        assert hook.offer(warning("/a"))
        assert not hook.offer(warning("/a")), "rate-limited"
        assert hook.offer(warning("/b"))
        assert hook.offer(warning("/a", "time_to_full"))
        clock.now += 301
        assert hook.offer(warning("/a"))
        wait_for(lambda: hook.runs == 4, message="four runs")
    finally:
        hook.close()
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(x["dir"], x["warning"]) for x in lines] == [
        ("/a", "stale_checkpoints"),
        ("/b", "stale_checkpoints"),
        ("/a", "time_to_full"),
        ("/a", "stale_checkpoints"),
    ]


def test_a_failing_command_is_logged_once_until_it_succeeds(tmp_path: Path) -> None:
    """Exit 3 twice: one event with its stderr, two counted; a success resets it."""
    flag = tmp_path / "ok"
    counted: list[str] = []
    command = f"test -e {flag} || {{ echo no pager here >&2; exit 3; }}"
    with capture_logs() as logs:
        hook = WarningHook(
            command, timeout=10, log=get_logger(), min_interval=0, counted=counted.append
        )
        try:
            for _ in range(2):
                hook.offer(warning("/a"))
            wait_for(lambda: hook.runs == 2, message="two runs")
            flag.touch()
            hook.offer(warning("/a"))
            wait_for(lambda: hook.runs == 3, message="a run that succeeds")
            flag.unlink()
            hook.offer(warning("/a"))
            wait_for(lambda: hook.runs == 4, message="a failure again")
        finally:
            hook.close()
    failed = [e for e in logs if e["event"] == "warning_hook_failed"]
    assert len(failed) == 2, "once, then once more after a success"
    assert failed[0]["error"] == "exited 3" and failed[0]["stderr"] == "no pager here"
    assert counted == ["hook_failed"] * 3
