"""The chaos soak (`python -m bench.soak`) for 30 seconds: every invariant holds under random kills.

The soak ends the writers, checker and daemons it started itself; it runs in a process
group of its own so that, should it hang, all of them are ended together.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from support import REPO

SECONDS = 30
KEEP = 3

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def soak(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """One 30-second soak shared by the tests of this module; its result document."""
    workdir = tmp_path_factory.mktemp("soak")
    out = workdir / "result.json"
    command = [
        *(sys.executable, "-m", "bench.soak"),
        *("--seconds", str(SECONDS), "--keep", str(KEEP), "--settle", "1.5"),
        *("--max-alive", "2.5", "--workdir", str(workdir), "--json", str(out)),
    ]
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=REPO,
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=SECONDS + 240)
    finally:
        if process.poll() is None:  # timed out or interrupted: end the soak and its children
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
    assert out.exists(), f"the soak wrote no result (exit {process.returncode}):\n{output}"
    result = json.loads(out.read_text())
    result["output"] = output
    yield result


def test_no_invariant_is_violated(soak: dict[str, Any]) -> None:
    """Each invariant's violation count is 0 after 30 s of writers and daemon kills."""
    violated = {k: n for k, n in soak["violations"].items() if n}
    assert not violated, (
        f"{violated}\n{json.dumps(soak['violation_details'], indent=1)}\n{soak['output']}"
    )


def test_canaries_are_intact(soak: dict[str, Any]) -> None:
    """Canaries outside DIR, the symlinks into it, and non-matching files are untouched."""
    assert soak["canaries_intact"], soak["output"]


def test_the_soak_did_real_work(soak: dict[str, Any]) -> None:
    """Writers acted (one through a bind mount, one emptying the metrics file), the daemon
    was killed and restarted and deleted: not a vacuous pass."""
    actions = soak["writer_actions"]
    assert soak["writer_events"] >= 100, soak["output"]
    for action in (
        "create_start",
        "create_bad_start",
        "truncate",
        "pin",
        "delete",
        "truncate_metrics",
    ):
        assert actions.get(action, 0) >= 1, (action, actions)
    if os.geteuid() == 0:
        assert soak["alias"] == "bind mount", soak["output"]
    restarts = soak["restarts"]
    assert restarts["SIGKILL"] + restarts["SIGTERM"] >= 3, soak["output"]
    assert restarts["SIGKILL"] >= 1 and restarts["SIGTERM"] >= 1, restarts
    assert soak["daemon_deleted"] >= 20, soak["output"]
    assert soak["checker"]["samples"] >= 200, soak["checker"]
    assert soak["checker"]["daemon_removals_seen"] >= 10, soak["checker"]
    end = soak["end_state"]
    assert end["complete_left"] == KEEP, end
