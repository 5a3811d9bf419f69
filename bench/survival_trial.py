"""One survival trial: a trainer run beside a peer on a fresh tmpfs of a given size.

bench/survival.py chooses the sizes and patterns; this module mounts, runs and records.
"""

from __future__ import annotations

import datetime
import math
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from bench import harness
from bench.peers import Peer, guarding

PAYLOAD = 1 << 20  # bytes of weights per checkpoint, as in tests/daemon/test_survival.py
SAVES = 20
TRAINER_TIMEOUT = 120.0


def mount_bytes(multiple: float, alloc: int) -> int:
    """A mount of `multiple` checkpoint sizes, in bytes rounded up to whole pages."""
    return math.ceil(multiple * alloc / harness.PAGE - 1e-9) * harness.PAGE


def trial(
    peer: Peer,
    trainer_args: list[str],
    multiple: float,
    *,
    tag: str,
    alloc: int,
    python: str,
    workdir: Path,
    saves: int = SAVES,
    in_flight: int = 1,
) -> dict[str, Any]:
    """One `saves`-save trainer run beside `peer` on a fresh tmpfs of `multiple` sizes."""
    size = mount_bytes(multiple, alloc)
    mountpoint = workdir / "survival"
    record: dict[str, Any] = {
        "multiple": multiple,
        "pages": size // harness.PAGE,
        "mount_bytes": size,
    }
    with harness.tmpfs(mountpoint, size):
        vfs = os.statvfs(mountpoint)
        record["fs_bytes"] = vfs.f_blocks * vfs.f_frsize
        log_path = workdir / f"survival-{tag}-{peer.key}-{multiple:g}.log"
        started = time.perf_counter()
        with guarding(peer, mountpoint, python, log_path) as running:
            if running.daemon is not None:
                record["daemon_ready_s"] = running.daemon.ready_after
            args = [*trainer_args, *running.trainer_args]
            code, starts, lost, stderr = run_trainer(mountpoint, args, saves=saves)
            record["peer_alive_after"] = running.alive()
        record["seconds"] = time.perf_counter() - started
        record["peer_exit"] = running.exit_code
        record["saves_started"] = len(starts)
        record["lost_while_written"] = lost
        record["remaining_steps"] = harness.checkpoint_steps(mountpoint)
    record["trainer_exit"] = code
    record["outcome"] = {0: "ok", 28: "enospc"}.get(code, "error") if code is not None else "error"
    if record["outcome"] == "error":
        record["stderr_tail"] = stderr.strip().splitlines()[-3:]
    if running.daemon is not None:
        if record["peer_exit"] != 0 or not record["peer_alive_after"]:
            record["daemon_problem"] = True
        if record["outcome"] != "ok" or record.get("daemon_problem"):
            record["daemon_log_tail"] = running.daemon.log_text().strip().splitlines()[-5:]
        if record["outcome"] == "enospc" and len(starts) >= 2 and in_flight == 1:
            record["room_made_after_ms"] = _room_made_after(running.daemon, starts)
    return record


def run_trainer(
    directory: Path, extra: list[str], *, saves: int = SAVES
) -> tuple[int | None, list[float], int, str]:
    """Run the trainer: its exit code, the wall-clock start of each save, how many saves
    were unlinked while being written, and its stderr."""
    proc = harness.spawn(
        [
            sys.executable,
            str(harness.TRAINER),
            "--dir",
            str(directory),
            "--saves",
            str(saves),
            "--size",
            str(PAYLOAD),
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    starts: list[float] = []
    lost: list[str] = []

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("saving checkpoint"):
                starts.append(time.time())
            elif line.startswith("unlinked while written"):
                lost.append(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        proc.wait(timeout=TRAINER_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
    reader.join(10)
    assert proc.stderr is not None
    stderr = proc.stderr.read()
    proc.stderr.close()
    if proc.stdout is not None:
        proc.stdout.close()
    code = harness.reap(proc)
    return code, starts, len(lost), stderr


def _room_made_after(daemon: harness.Daemon, starts: list[float]) -> float | None:
    """For the save that hit ENOSPC (saves one at a time): ms from its start to the
    guard's next deletion.

    The trainer writes its first chunk right after opening the file, so a deletion that
    lands after the save began came too late for it. None: no deletion after the
    previous save began.
    """
    failed, previous = starts[-1], starts[-2]
    for event in daemon.events():
        if event.get("event") != "deleted":
            continue
        stamp = datetime.datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00"))
        if stamp.timestamp() > previous:
            return (stamp.timestamp() - failed) * 1000
    return None
