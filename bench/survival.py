"""1. Survival: the smallest tmpfs, in checkpoint sizes, on which a 20-save run completes.

For each peer and repetition, real tmpfs mounts of increasing size (the ladder) are tried
until bench/trainer.py completes all its saves (exit 0) instead of dying of ENOSPC (28).
One "checkpoint size" is what one checkpoint occupies on tmpfs: its file size rounded up
to whole pages; mount sizes are multiples of that, rounded up to a page (the kernel
rounds tmpfs sizes to pages too). The physical limit is 2 sizes: one complete checkpoint
kept while the next is written. The ladder also has the rung "2 sizes + 1 page" right
above 2, from when ckptguard kept a lock file in the directory (one page on tmpfs); its
directory lock now writes nothing there, and the rung stays for comparison.
"""

from __future__ import annotations

import datetime
import itertools
import math
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from bench import harness
from bench.checkpoint_files import keras_bytes
from bench.peers import Peer, guarding

PAYLOAD = 1 << 20  # bytes of weights per checkpoint, as in tests/daemon/test_survival.py
SAVES = 20
LADDER = (1.5, 2.0, 2.5, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0, 20.0, 21.0)
TRAINER_TIMEOUT = 120.0


def checkpoint_file_size() -> int:
    return len(keras_bytes(PAYLOAD))


def measure_save_interval(workdir: Path) -> dict[str, Any]:
    """Seconds between the starts of consecutive saves of bench/trainer.py (its defaults)."""
    with harness.scratch_dir(workdir, "calibrate", 64 << 20) as directory:
        code, stamps, _ = _train(directory, ["--keep-in-process", "3"])
    if code != 0 or len(stamps) < 2:
        raise RuntimeError(f"calibration run of the trainer failed (exit {code})")
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    return {
        "save_interval_s": statistics.median(gaps),
        "save_interval_min_s": min(gaps),
        "save_interval_max_s": max(gaps),
        "saves": len(stamps),
    }


def trial(
    peer: Peer, multiple: float, alloc: int, python: str, workdir: Path, tag: str
) -> dict[str, Any]:
    """One 20-save trainer run beside `peer` on a fresh tmpfs of `multiple` sizes."""
    pages = math.ceil(multiple * alloc / harness.PAGE - 1e-9)
    size = pages * harness.PAGE
    mountpoint = workdir / "survival"
    record: dict[str, Any] = {"multiple": multiple, "pages": pages, "mount_bytes": size}
    with harness.tmpfs(mountpoint, size):
        vfs = os.statvfs(mountpoint)
        record["fs_bytes"] = vfs.f_blocks * vfs.f_frsize
        log_path = workdir / f"survival-{tag}-{peer.key}-{multiple:g}.log"
        started = time.perf_counter()
        with guarding(peer, mountpoint, python, log_path) as running:
            if running.daemon is not None:
                record["daemon_ready_s"] = running.daemon.ready_after
            code, starts, stderr = _train(mountpoint, running.trainer_args)
            record["peer_alive_after"] = running.alive()
        record["seconds"] = time.perf_counter() - started
        record["peer_exit"] = running.exit_code
        record["saves_started"] = len(starts)
        record["remaining_steps"] = harness.checkpoint_steps(mountpoint)
    record["trainer_exit"] = code
    if code == 0:
        record["outcome"] = "ok"
    elif code == 28:
        record["outcome"] = "enospc"
    else:
        record["outcome"] = "error"
        record["stderr_tail"] = stderr.strip().splitlines()[-3:]
    if running.daemon is not None:
        if record["peer_exit"] != 0 or not record["peer_alive_after"]:
            record["daemon_problem"] = True
        if record["outcome"] != "ok" or record.get("daemon_problem"):
            record["daemon_log_tail"] = running.daemon.log_text().strip().splitlines()[-5:]
        if record["outcome"] == "enospc" and len(starts) >= 2:
            record["room_made_after_ms"] = _room_made_after(running.daemon, starts)
    return record


def _train(directory: Path, extra: list[str]) -> tuple[int | None, list[float], str]:
    """Run the trainer; its exit code, the wall-clock start of each save, and stderr."""
    proc = harness.spawn(
        [
            sys.executable,
            str(harness.TRAINER),
            "--dir",
            str(directory),
            "--saves",
            str(SAVES),
            "--size",
            str(PAYLOAD),
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    starts: list[float] = []

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("saving checkpoint"):
                starts.append(time.time())

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
    return code, starts, stderr


def _room_made_after(daemon: harness.Daemon, starts: list[float]) -> float | None:
    """For the save that hit ENOSPC: ms from its start to the guard's next deletion.

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


def run(
    peers: list[Peer], *, python: str, workdir: Path, repetitions: int, ladder: tuple[float, ...]
) -> dict[str, Any]:
    reason = harness.tmpfs_unavailable()
    if reason is not None:
        harness.log(f"survival: skipped: {reason}")
        return {"skipped": reason}
    file_size = checkpoint_file_size()
    alloc = harness.allocated(file_size)
    if 2.0 in ladder:  # "2 sizes + 1 page": once the room ckptguard's lock file took
        ladder = tuple(sorted({*ladder, 2.0 + harness.PAGE / alloc}))
    results: dict[str, Any] = {
        "trainer": {
            "saves": SAVES,
            "payload_bytes": PAYLOAD,
            "file_bytes": file_size,
            "allocated_bytes": alloc,
            "page_bytes": harness.PAGE,
            "options": "bench/trainer.py defaults: 64 KiB chunks, 2 ms per chunk,"
            " 20 ms between saves",
        },
        "ladder": list(ladder),
        "repetitions": repetitions,
        "peers": {},
    }
    for peer in peers:
        smallest: list[float | None] = []
        trials = []
        for rep in range(repetitions):
            found = None
            for multiple in ladder:
                record = trial(peer, multiple, alloc, python, workdir, f"r{rep}")
                record["repetition"] = rep
                trials.append(record)
                if record["outcome"] == "error":
                    harness.log(f"survival: {peer.key} at {multiple:.4g}: {record['stderr_tail']}")
                if record["outcome"] == "ok":
                    found = multiple
                    break
            smallest.append(found)
            harness.log(
                f"survival: {peer.key} run {rep + 1}/{repetitions}: smallest "
                + (f"{found:.4g} sizes" if found is not None else f"> {ladder[-1]:g} sizes")
            )
        results["peers"][peer.key] = {
            "peer": peer.describe(),
            "smallest": smallest,
            "summary": harness.spread([s for s in smallest if s is not None]),
            "never_completed": sum(1 for s in smallest if s is None),
            "trials": trials,
        }
    return results
