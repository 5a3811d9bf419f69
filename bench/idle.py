"""3. Idle cost: CPU and peak RSS of `ckptguard run` guarding 1,000 checkpoints, nothing happening.

The directory holds 1,000 tiny valid `.keras` zips. With the default keep 3 the daemon
would delete 997 of them at start and then guard only 3, so one option must change; two
daemons run side by side over the same window, each on its own directory:
`--keep 1000` (the headline figure) and `--keep-every 1` (keep 3, but every step is a
milestone, so all 1,000 are kept too, through a different rule).

CPU is the time on a CPU of every thread, in nanoseconds, from
/proc/<pid>/task/*/schedstat, sampled every 5 s from READY=1 on (utime + stime from
/proc/<pid>/stat is recorded too, but counts 10 ms ticks: 0.01 CPU-s/min over 65 s, too
coarse for a goal of 0.02; it is the figure used if a thread ended in the window, which
schedstat would miss); peak RSS is VmHWM from /proc/<pid>/status at the end, in MB of
10^6 bytes. The full window (65 s)
includes one periodic rescan (every 60 s by default), as every minute of a real idle
daemon does; a short window (--quick) does not.

A third daemon, measured over the same window, guards many directories at once: 100
directories of 100 checkpoints each (`--dir` 100 times, `--keep 100`).
"""

from __future__ import annotations

import contextlib
import itertools
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import harness
from bench.checkpoint_files import name_of

CHECKPOINTS = 1_000
SAMPLE_EVERY = 5.0
VARIANTS = (("keep", ["--keep", str(CHECKPOINTS)]), ("keep-every", ["--keep-every", "1"]))
MANY_DIRECTORIES, EACH = 100, 100


@dataclass(frozen=True)
class Sample:
    at: float  # seconds since the window began
    ticks_cpu: float  # CPU-s from /proc/PID/stat (10 ms ticks)
    cpu_ns: int  # from schedstat, live threads
    threads: frozenset[int]

    @classmethod
    def take(cls, pid: int, at: float) -> Sample:
        cpu_ns, threads = harness.thread_cpu_ns(pid)
        return cls(at, harness.cpu_seconds(pid), cpu_ns, threads)

    def cpu(self, exact: bool) -> float:
        return self.cpu_ns / 1e9 if exact else self.ticks_cpu


def _measure(daemon: harness.Daemon, samples: list[Sample]) -> dict[str, Any]:
    pid = daemon.pid
    first, last = samples[0], samples[-1]
    # schedstat is exact, but forgets a thread that ended: then the ticks are used.
    exact = last.cpu_ns > 0 and all(s.threads == first.threads for s in samples)
    seconds = last.at
    cpu = last.cpu(exact) - first.cpu(exact)
    deltas = [
        (b.cpu(exact) - a.cpu(exact), b.at - a.at)
        for a, b in itertools.pairwise(samples)
        if b.at > a.at
    ]
    busiest = max(deltas, default=(0.0, 0.0))
    rest_seconds = seconds - busiest[1]
    return {
        "window_s": seconds,
        "cpu_source": "schedstat" if exact else "ticks",
        "startup_cpu_s": first.ticks_cpu,
        "ready_after_s": daemon.ready_after,
        "cpu_s": cpu,
        "cpu_s_per_min": cpu / seconds * 60,
        "ticks_cpu_s_per_min": (last.ticks_cpu - first.ticks_cpu) / seconds * 60,
        "cpu_resolution_s_per_min": (1e-9 if exact else 1 / harness.CLOCK_TICK) / seconds * 60,
        "window_cpu_s_per_min": harness.spread([c / t * 60 for c, t in deltas]),
        # the 5 s window holding the periodic rescan (if any) is the busiest one
        "busiest_window_cpu_s": busiest[0],
        "other_windows_cpu_s_per_min": (cpu - busiest[0]) / rest_seconds * 60
        if rest_seconds > 0
        else None,
        "sample_every_s": SAMPLE_EVERY,
        "peak_rss_mb": harness.status_kib(pid, "VmHWM") * 1024 / 1e6,
        "rss_end_mb": harness.status_kib(pid, "VmRSS") * 1024 / 1e6,
        "threads": harness.thread_count(pid),
        "alive": daemon.alive(),
    }


def run(*, python: str, workdir: Path, window: float) -> dict[str, Any]:
    with contextlib.ExitStack() as stack:
        daemons: dict[str, tuple[harness.Daemon, Path]] = {}
        for key, options in VARIANTS:
            directory = stack.enter_context(harness.scratch_dir(workdir, f"idle-{key}", 64 << 20))
            names = (name_of(s) for s in range(1, CHECKPOINTS + 1))
            harness.write_files(directory, names, harness.TINY)
            daemon = harness.Daemon(python, directory, workdir / f"idle-{key}.log", extra=options)
            daemons[key] = (stack.enter_context(daemon), directory)
        many = stack.enter_context(harness.scratch_dir(workdir, "idle-many", 128 << 20))
        first, options = _many_directories(many)
        daemon = harness.Daemon(python, first, workdir / "idle-many.log", extra=options)
        daemons["many"] = (stack.enter_context(daemon), many)
        started = time.perf_counter()
        samples = {key: [Sample.take(d.pid, 0.0)] for key, (d, _) in daemons.items()}
        while (elapsed := time.perf_counter() - started) < window:
            time.sleep(min(SAMPLE_EVERY, window - elapsed))
            now = time.perf_counter() - started
            for key, (daemon, _) in daemons.items():
                samples[key].append(Sample.take(daemon.pid, now))
        results: dict[str, Any] = {}
        for key, options in VARIANTS:
            daemon, directory = daemons[key]
            result = _measure(daemon, samples[key])
            result["options"] = options
            result["checkpoints"] = CHECKPOINTS
            result["checkpoints_left"] = len(harness.checkpoint_steps(directory))
            results[key] = result
        daemon, many = daemons["many"]
        results["many"] = _measure(daemon, samples["many"])
        results["many"]["options"] = ["--dir", "D1", "...", "--dir", "D100", "--keep", "100"]
        results["many"]["checkpoints"] = MANY_DIRECTORIES * EACH
        results["many"]["checkpoints_left"] = sum(
            len(harness.checkpoint_steps(d)) for d in sorted(many.iterdir())
        )
    for key in [*(k for k, _ in VARIANTS), "many"]:
        daemon = daemons[key][0]
        results[key]["exit_code"] = daemon.exit_code
        harness.log(
            f"idle ({' '.join(results[key]['options'])}): {results[key]['cpu_s_per_min']:.3f}"
            f" CPU-s/min over {results[key]['window_s']:.0f} s, peak RSS"
            f" {results[key]['peak_rss_mb']:.1f} MB"
        )
    results["many"]["exit_code"] = daemons["many"][0].exit_code
    # The headline figures are those of `--keep 1000`.
    return {**results["keep"], "variants": results}


def _many_directories(root: Path) -> tuple[Path, list[str]]:
    """The first directory, and the options naming the other 99 and the policy."""
    directories = []
    for index in range(MANY_DIRECTORIES):
        directory = root / f"run-{index:03d}"
        directory.mkdir()
        harness.write_files(directory, (name_of(s) for s in range(1, EACH + 1)), harness.TINY)
        directories.append(directory)
    others = [option for d in directories[1:] for option in ("--dir", str(d))]
    return directories[0], [*others, "--keep", str(EACH)]
