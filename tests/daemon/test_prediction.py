"""The time-to-full prediction of a real guard on a real small tmpfs: a trainer saving
fast, and another writer filling the disk at a known rate. The prediction is checked
against the moment the free-space target really fails, and the warning is raised."""

from __future__ import annotations

import datetime
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from support import TRAINER, Filler, Mounts, run_cli, wait_for

MiB = 1 << 20
RATE = 4 * MiB  # bytes per second the other writer adds


def when(event: dict[str, Any]) -> float:
    return datetime.datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00")).timestamp()


def failed(guard: Any, trainer: subprocess.Popen[bytes]) -> float | None:
    """When the target failed: the guard's shortfall, or the trainer's save failing with
    ENOSPC (exit 28) first, when the disk filled between two of the guard's looks."""
    short = guard.events_named("free_space_shortfall")
    if short:
        return when(short[0])
    return time.time() if trainer.poll() == 28 else None


def predicted(models: Path) -> dict[str, Any] | None:
    """The running guard's prediction and when it was made, once it rests on 3 s of looks."""
    result = run_cli("status", "--json", "--dir", str(models))
    if result.returncode != 0:
        return None
    (entry,) = json.loads(result.stdout)["directories"]
    prediction = entry["status"]["prediction"]
    if not entry["guard"].get("running") or (prediction.get("span") or 0) < 3:
        return None
    return {"made": entry["guard"]["updated"], **prediction}


def test_predicted_time_to_full_is_within_ten_percent(
    spawn, tmp_path: Path, mounts: Mounts
) -> None:
    """Another writer fills a 40 MiB tmpfs at 4 MiB/s beside a trainer saving 256 KiB
    checkpoints: the guard predicts when its target fails within 10 %, warns before."""
    disk = mounts.tmpfs(tmp_path / "disk", 40 * MiB)
    models = disk / "models"
    models.mkdir()
    with Filler(disk / "dataset.bin", rate=RATE):
        guard = spawn(
            "--dir",
            str(models),
            "--keep",
            "3",
            "--free-check-interval",
            "0.2",
            "--warn-before",
            "30s",
        ).expect_ready()
        trainer = subprocess.Popen(
            [
                sys.executable,
                str(TRAINER),
                "--dir",
                str(models),
                "--saves",
                "1000",
                "--size",
                str(256 * 1024),
                "--train-pause",
                "0.1",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            made = wait_for(lambda: predicted(models), timeout=20, message="a prediction")
            warned = wait_for(lambda: guard.events_named("time_to_full"), message="the warning")
            assert "can no longer be met" in warned[0]["message"]
            wait_for(
                lambda: any(
                    "fails its free-space target in ~" in m for m in guard.listener.drain()
                ),
                message="the warning on the STATUS= line",
            )
            failed_at = wait_for(
                lambda: failed(guard, trainer), timeout=30, message="the target to fail"
            )
        finally:
            trainer.kill()
            trainer.wait()
    actual = failed_at - made["made"]
    assert actual > 2, "the prediction came too late to test"
    assert abs(made["seconds"] - actual) <= 0.10 * actual, (made, actual)
    assert abs(made["rate"] - RATE) <= 0.10 * RATE, made
    guard.stop()
