"""Runs restarted in a guarded directory, and content checks that fail everything.

Each test drives a real guard (a `ckptguard run` process or the CLI) over real files:
an earlier run's checkpoints, an hour old, and a new run saving below their steps.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from support import (
    OLD,
    TEMPLATE,
    Mounts,
    keras_bytes,
    run_cli,
    steps_in,
    wait_for,
    write_checkpoint,
    zip_bytes,
)

OLD_RUN = (25100, 25200, 25300)


def earlier_run(directory: Path) -> None:
    """The run that crashed: three checkpoints an hour old, a minute apart."""
    for index, step in enumerate(OLD_RUN):
        write_checkpoint(directory, step, mtime=OLD + 60 * index)


def test_audit_explains_a_restarted_run(models: Path) -> None:
    """audit keeps the new run's first save and names the earlier run in its reasons."""
    earlier_run(models)
    write_checkpoint(models, 100)
    table = run_cli("audit", "--dir", str(models), "--keep", "3")
    assert table.returncode == 0, table.stderr
    assert "RUN" in table.stdout.splitlines()[1]
    row = next(line for line in table.stdout.splitlines() if "checkpoint_step_100.keras" in line)
    assert "keep" in row and "2 (current)" in row
    assert re.search(
        "earlier run \\(steps 25100\u201325300, last saved 5[89]m ago\\)", table.stdout
    )

    doc = json.loads(run_cli("audit", "--dir", str(models), "--keep", "3", "--json").stdout)
    by_step = {e["step"]: e for e in doc["entries"]}
    assert by_step[100]["action"] == "keep" and by_step[100]["run"] == 2
    assert {by_step[s]["run"] for s in OLD_RUN} == {1}
    assert all(by_step[s]["action"] == "keep" for s in OLD_RUN)
    (summary,) = doc["summary"]["directories"]
    assert [(r["first_step"], r["last_step"], r["current"]) for r in summary["runs"]] == [
        (25100, 25300, False),
        (100, 100, True),
    ]


def test_a_run_restarted_under_the_guard_keeps_its_checkpoints(models: Path, guard_running) -> None:
    """A new run saving steps 100..500 beside an earlier run's 25100..25300: keep-3 applies
    within each run, the new run never loses its newest, and `new_run` is logged once."""
    earlier_run(models)
    with guard_running("--dir", str(models), "--keep", "3", "--min-free", "0") as guard:
        for step in (100, 200, 300, 400, 500):
            write_checkpoint(models, step)
            newest_three = [s for s in (100, 200, 300, 400, 500) if s <= step][-3:]
            wait_for(
                lambda expected=newest_three: steps_in(models) == [*expected, *OLD_RUN],
                timeout=10,
                message=f"the new run's newest three after step {step}",
            )
    logs = guard.events()
    new_runs = [e for e in logs if e["event"] == "new_run"]
    assert len(new_runs) == 1, new_runs
    assert new_runs[0]["first_step"] == 100
    deleted = sorted(e["step"] for e in logs if e["event"] == "deleted")
    assert deleted == [100, 200]


def test_a_run_resumed_from_an_earlier_step_is_the_current_run(models: Path) -> None:
    """Resuming from step 20000 below a run at 25300: the resumed saves are the current run
    and go last under pressure; the stale newest by step is kept too."""
    earlier_run(models)
    for step in (20100, 20200):
        write_checkpoint(models, step)
    done = run_cli(
        "prune", "--dir", str(models), "--keep", "3", "--min-free", "99%", "--min-keep", "2",
        "--execute", "--json",
    )  # fmt: skip
    doc = json.loads(done.stdout)
    assert done.returncode == 3, done.stderr  # 99% free cannot be met: exit 3
    # The earlier run goes first (but its step-newest stays); the current run keeps 2.
    assert steps_in(models) == [20100, 20200, 25300]
    reasons = {e["step"]: e["reason_codes"] for e in doc["entries"]}
    assert "newest_valid" in reasons[25300]
    assert "min_keep" in reasons[20100]


def test_saves_finishing_out_of_order_are_one_run(models: Path, tmp_path: Path) -> None:
    """Asynchronous saves overlap: step 100's file is created, step 200 is written whole,
    then step 100 finishes last. Its birth time shows it began first: one run, and keep-1
    keeps step 200 only."""
    data = keras_bytes()
    late = models / TEMPLATE.format(step=100)
    with open(late, "wb") as out:
        out.write(data[:100])
        out.flush()
        written = write_checkpoint(models, 200).stat().st_mtime_ns
        probe = tmp_path / "clock"  # file times move in ticks: wait for the next one
        wait_for(lambda: probe.write_bytes(b"") == 0 and probe.stat().st_mtime_ns > written)
        out.write(data[100:])
    assert late.stat().st_mtime_ns > (models / TEMPLATE.format(step=200)).stat().st_mtime_ns
    doc = json.loads(run_cli("audit", "--dir", str(models), "--keep", "1", "--json").stdout)
    (summary,) = doc["summary"]["directories"]
    assert len(summary["runs"]) == 1
    assert [e["step"] for e in doc["entries"] if e["action"] == "delete"] == [100]


def not_keras(payload: int) -> bytes:
    """A zip that is no Keras archive: what a newer format or a wrong --preset looks like."""
    return zip_bytes({"model.safetensors": bytes(payload)})


@pytest.mark.root
def test_when_nothing_passes_the_check_the_newest_stay_on_a_full_disk(
    tmp_path: Path, mounts: Mounts, guard_running
) -> None:
    """A full tmpfs of archives that all fail the keras check: prune deletes none of the
    newest --min-keep, audit and the daemon warn."""
    fs = mounts.tmpfs(tmp_path / "fs", 4 * 2**20)
    for step in (100, 200, 300, 400):
        path = fs / TEMPLATE.format(step=step)
        path.write_bytes(not_keras(600 * 1024))
        os.utime(path, (OLD + step, OLD + step))
    flags = ("--dir", str(fs), "--min-free", "90%", "--min-keep", "2", "--settle", "1")
    audit = run_cli("audit", *flags)
    assert audit.returncode == 3, audit.stderr  # 90% free cannot be met: exit 3
    assert (
        f"WARNING: no checkpoint in {fs} passes the keras preset's completeness check; "
        "is --preset right?"
    ) in audit.stdout
    done = run_cli("prune", *flags, "--execute")
    assert done.returncode == 3, done.stderr  # still short: the floor keeps the newest 2
    assert steps_in(fs) == [300, 400]  # the older two reclaimed for space, no more

    with guard_running(*flags) as guard:
        path = fs / TEMPLATE.format(step=500)
        path.write_bytes(not_keras(600 * 1024))
        wait_for(lambda: steps_in(fs) == [400, 500], timeout=30, message="reclaim of 300")
    warnings = [e for e in guard.events() if e["event"] == "check_suspect"]
    assert len(warnings) == 1, warnings
    assert "is --preset right?" in warnings[0]["message"]


def test_same_step_written_twice_the_later_spelling_is_newer(models: Path) -> None:
    """`checkpoint_step_0100.keras` written after `checkpoint_step_100.keras` is the one kept
    by --keep 1, and the other way round, whatever the names sort as."""
    for first, second in (("0100", "100"), ("100", "0100")):
        for name in os.listdir(models):
            os.unlink(models / name)
        older = models / TEMPLATE.format(step=first)
        older.write_bytes(keras_bytes())
        os.utime(older, (OLD, OLD))
        newer = models / TEMPLATE.format(step=second)
        newer.write_bytes(keras_bytes())
        done = run_cli("prune", "--dir", str(models), "--keep", "1", "--execute")
        assert done.returncode == 0, done.stderr
        assert os.listdir(models) == [newer.name]
