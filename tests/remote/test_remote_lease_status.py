"""`ckptguard status` of guards electing one deleter of a bucket prefix (moto's S3
server): the standby names the holder, and says so once it took the lease over; and
`status --alive` judges an idle bucket guard by the status it refreshes."""

from __future__ import annotations

import json
import os
import signal
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

from support import PRESET_OBJECTS, run_cli, upload, wait_for

from ckptguard.service.status import read_status

FAST = ("--settle", "0", "--poll-interval", "0.3")


def status(url: str, run: Path, *extra: str) -> Any:
    """`ckptguard status --dir URL` as seen from the runtime directory `run`."""
    env = {**os.environ, "RUNTIME_DIRECTORY": str(run)}
    return run_cli("status", "--dir", url, *extra, env=env)


def lease_in(url: str, run: Path) -> dict[str, Any]:
    result = status(url, run, "--json")
    assert result.returncode == 0, result.stderr
    (entry,) = json.loads(result.stdout)["directories"]
    assert entry["guard"]["running"], entry
    return dict(entry["guard"]["lease"])


def test_standby_names_the_holder_then_takes_over(
    bucket: Any, tmp_path: Path, spawn: Callable[..., Any]
) -> None:
    """Two guards of one prefix, each with its own runtime directory (as on two hosts):
    the holder's status says it holds the lease, the standby's names the holder (host,
    pid, since when as the lease records it); the holder killed with SIGKILL, the
    standby takes the lease over and its status says so."""
    for step in (1, 2, 3):
        upload(bucket.fs, f"{bucket.name}/run", PRESET_OBJECTS["keras"](step))
    runs = [tmp_path / "run-first", tmp_path / "run-second"]
    args = ("--dir", bucket.url(), "--keep", "2", "--lease-time", "3", *FAST)
    first = spawn(*args, env={"RUNTIME_DIRECTORY": str(runs[0])}).expect_ready()
    held = wait_for(
        lambda: (lease := lease_in(bucket.url(), runs[0]))["role"] == "holder" and lease,
        message="the first guard to hold the lease",
    )
    me = {"host": socket.gethostname(), "pid": first.pid}
    assert {k: held["holder"][k] for k in me} == me
    second = spawn(*args, env={"RUNTIME_DIRECTORY": str(runs[1])}).expect_ready()
    standby = wait_for(
        lambda: (lease := lease_in(bucket.url(), runs[1]))["role"] == "standby" and lease,
        message="the second guard to stand by",
    )
    assert standby["holder"] == held["holder"] and standby["since"] == held["since"]
    assert standby["lease"] == f"s3://{bucket.name}/.ckptguard/lease/run"
    assert standby["lease_time"] == 3.0 and isinstance(standby["expires"], float)
    text = status(bucket.url(), runs[1]).stdout
    assert f"{me['host']} pid {first.pid} holds it" in text and "stands by" in text
    assert "object storage, no free-space target" in text and "target fails" not in text
    assert "held by this guard" in status(bucket.url(), runs[0]).stdout
    first.stop(signal.SIGKILL)
    taken = wait_for(
        lambda: (lease := lease_in(bucket.url(), runs[1]))["role"] == "holder" and lease,
        timeout=3 * 2 + 10,  # the lease time, a poll or two, and the CLI's own start
        message="the standby's status to say it took the lease over",
    )
    assert taken["holder"]["pid"] == second.pid and taken["since"] >= held["since"]
    assert "held by this guard" in status(bucket.url(), runs[1]).stdout
    second.stop()
    assert second.events_named("lease_taken")[0]["previous"] == held["holder"]["name"]


def test_alive_probe_of_an_idle_bucket_guard(
    bucket: Any, runtime_directory: Path, guard_running: Callable[..., Any]
) -> None:
    """A bucket guard that lists only every 10 minutes still refreshes its status every
    turn of its loop, so `status --alive` passes long after its last look; once stopped,
    the probe fails, one line each time."""
    upload(bucket.fs, f"{bucket.name}/run", PRESET_OBJECTS["keras"](1))
    args = ("--dir", bucket.url(), "--poll-interval", "600", "--free-check-interval", "0.2")

    def written() -> dict[str, Any]:
        return read_status(str(runtime_directory), bucket.url())[0]

    with guard_running(*args):
        first = wait_for(written, message="a status file")
        # Three refresh periods (of 1 s) later, with no listing in between:
        later = first["guard"]["updated"] + 3 * first["guard"]["refresh_every"]
        wait_for(
            lambda: written()["guard"]["updated"] > later,
            message="the status to be refreshed while idle",
        )
        alive = status(bucket.url(), runtime_directory, "--alive")
        assert alive.returncode == 0 and alive.stdout.startswith("alive: "), alive
        assert len(alive.stdout.splitlines()) == 1
    gone = status(bucket.url(), runtime_directory, "--alive")
    assert gone.returncode == 1 and gone.stdout.startswith("not alive: "), gone
    assert len(gone.stdout.splitlines()) == 1 and not gone.stderr
