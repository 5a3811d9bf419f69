"""2. Reaction latency: from a checkpoint's close to the excess checkpoint being gone.

The writer is this process. The directory starts with checkpoints 1-3 and N other,
non-matching files (`other_NNNNN.bin`, empty). Each save k streams 1 MiB into the final
path in 64 KiB chunks, pausing 40 ms after the first chunk: a real save takes seconds, so
the guard has long dealt with the file's creation when it is closed, and only the close
is measured. The clock starts right before close(), once the last byte is written: the
close wakes the guard, and on a busy machine the writer is at times descheduled inside
close() for milliseconds while the guard already acts, so a clock started after close()
returned would read 0 then (how often close() took over 1 ms is recorded). Then
`os.path.exists(checkpoint k-3)` is polled every ~0.1 ms until it is gone (keep 3). One
already gone before close() counts as 0 and is counted apart: cron deletes it while the
save is still being written, since it counts a save in progress among the newest 3.
Before each save the writer waits a random 0-5 ms (0 to one period for cron), so saves
land at random points of a cron schedule instead of locking step with it.
"""

from __future__ import annotations

import os
import random
import time
from pathlib import Path
from typing import Any

from bench import harness
from bench.checkpoint_files import keras_bytes, name_of
from bench.peers import Peer, guarding

PAYLOAD = 1 << 20
CHUNK = 64 << 10
IN_SAVE = 0.040  # seconds between a save's first chunk and the rest
JITTER = 0.005  # seconds: the random wait before each save is up to this (or a cron period)
POLL = 0.0001  # seconds between existence checks
COUNTS = (10, 1_000, 10_000)


def run_one(
    peer: Peer, others: int, saves: int, *, python: str, workdir: Path, tag: str
) -> dict[str, Any]:
    data = keras_bytes(PAYLOAD, random_payload=True)
    chunks = [data[i : i + CHUNK] for i in range(0, len(data), CHUNK)]
    timeout = 5.0 if peer.cron_period is None else 3 * peer.cron_period + 1.0
    jitter = JITTER if peer.cron_period is None else peer.cron_period
    rng = random.Random(f"{tag}-{peer.key}")
    samples: list[float] = []
    misses = early = slow_closes = 0
    with harness.scratch_dir(workdir, "latency", 256 << 20) as directory:
        harness.write_files(directory, (f"other_{i:05d}.bin" for i in range(others)))
        harness.write_files(directory, (name_of(s) for s in (1, 2, 3)), data)
        log_path = workdir / f"latency-{tag}-{peer.key}-{others}.log"
        with guarding(peer, directory, python, log_path) as running:
            for k in range(4, 4 + saves):
                time.sleep(rng.uniform(0, jitter))
                old = os.path.join(directory, name_of(k - 3))
                with open(os.path.join(directory, name_of(k)), "wb", buffering=0) as f:
                    f.write(chunks[0])
                    time.sleep(IN_SAVE)
                    for chunk in chunks[1:]:
                        f.write(chunk)
                    if peer.kind != "in-process" and not os.path.exists(old):
                        early += 1
                    closed = time.perf_counter()  # right before close()
                slow_closes += time.perf_counter() - closed > 0.001
                if peer.kind == "in-process":
                    os.unlink(old)
                deadline = closed + timeout
                while os.path.exists(old):
                    if time.perf_counter() > deadline:
                        misses += 1
                        break
                    time.sleep(POLL)
                else:
                    samples.append((time.perf_counter() - closed) * 1000)
            alive = running.alive()
        final = harness.checkpoint_steps(directory)
        expected = list(range(saves + 1, saves + 4))
    return {
        "others": others,
        "saves": saves,
        "samples": len(samples),
        "misses": misses,
        "gone_before_close": early,
        "close_over_1ms": slow_closes,
        "p50_ms": harness.percentile(samples, 50),
        "p95_ms": harness.percentile(samples, 95),
        "p99_ms": harness.percentile(samples, 99),
        "max_ms": max(samples) if samples else None,
        "mean_ms": sum(samples) / len(samples) if samples else None,
        "peer_alive_after": alive,
        "peer_exit": running.exit_code,
        "final_state_ok": final == expected,
        "raw_ms": [round(s, 4) for s in samples],
    }


def run(
    peers: list[Peer],
    *,
    python: str,
    workdir: Path,
    plan: dict[str, tuple[int, int]],
    counts: tuple[int, ...] = COUNTS,
) -> dict[str, Any]:
    """`plan` maps a peer key to (saves per run, repetitions)."""
    results: dict[str, Any] = {
        "method": {
            "checkpoint_payload_bytes": PAYLOAD,
            "chunk_bytes": CHUNK,
            "pause_in_save_s": IN_SAVE,
            "jitter_before_save_s": JITTER,
            "poll_interval_s": POLL,
            "fs": "tmpfs" if harness.tmpfs_unavailable() is None else harness.fs_type(workdir),
            "other_files": "empty files named other_NNNNN.bin",
        },
        "peers": {},
    }
    for peer in peers:
        if peer.key not in plan:
            continue
        saves, repetitions = plan[peer.key]
        rows = []
        for others in counts:
            runs = []
            for rep in range(repetitions):
                runs.append(
                    run_one(
                        peer, others, saves, python=python, workdir=workdir, tag=f"{rep}-{others}"
                    )
                )
            pooled = [s for r in runs for s in r["raw_ms"]]
            row = {
                "others": others,
                "saves_per_run": saves,
                "repetitions": repetitions,
                "misses": sum(r["misses"] for r in runs),
                "gone_before_close": sum(r["gone_before_close"] for r in runs),
                "close_over_1ms": sum(r["close_over_1ms"] for r in runs),
                "all_alive": all(r["peer_alive_after"] for r in runs),
                "all_final_ok": all(r["final_state_ok"] for r in runs),
                **{
                    key: harness.spread([r[key] for r in runs])
                    for key in ("p50_ms", "p95_ms", "p99_ms", "max_ms")
                },
                "pooled_p99_ms": harness.percentile(pooled, 99),
                "runs": runs,
            }
            rows.append(row)
            p50, p99 = row["p50_ms"]["median"], row["p99_ms"]["median"]
            harness.log(
                f"latency: {peer.key}, {others} other files: "
                + (f"p50 {p50:.2f} ms, p99 {p99:.2f} ms" if p99 is not None else "no samples")
                + f" (median of {repetitions} x {saves} saves)"
                + (f", {row['misses']} misses" if row["misses"] else "")
            )
        results["peers"][peer.key] = {"peer": peer.describe(), "rows": rows}
    return results
