"""What every benchmark needs: scratch space, real tmpfs mounts, a real `ckptguard run`
process (bench.guard_process, started from the checkout), /proc readings, and statistics.

Everything started or mounted here is registered, and `cleanup()` (called from a
`finally` in run.py) kills what is still running and unmounts what is still mounted.
"""

from __future__ import annotations

import contextlib
import importlib.util
import math
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from bench.checkpoint_files import TEMPLATE, keras_bytes, name_of
from bench.guard_process import GuardProcess, events_named

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"
TRAINER = BENCH / "trainer.py"
CRON = BENCH / "cron.py"
RESULTS = BENCH / "results"
PAGE = os.sysconf("SC_PAGE_SIZE")
CLOCK_TICK = os.sysconf("SC_CLK_TCK")

_processes: list[subprocess.Popen[Any]] = []
_mounts: list[Path] = []


def log(message: str) -> None:
    """Progress goes to stderr; stdout carries only the Markdown tables."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- checkpoints and other files ------------------------------------------------------------

TINY = keras_bytes(16, random_payload=True)  # a tiny but valid checkpoint: one page on tmpfs


def write_files(directory: Path, names: Iterable[str], data: bytes = b"") -> int:
    count = 0
    for name in names:
        fd = os.open(directory / name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            if data:
                os.write(fd, data)
        finally:
            os.close(fd)
        count += 1
    return count


def checkpoint_steps(directory: Path) -> list[int]:
    """Steps of the entries matching the template, ascending."""
    steps = []
    prefix, suffix = TEMPLATE.split("{step}")
    with os.scandir(directory) as entries:
        for entry in entries:
            name = entry.name
            if name.startswith(prefix) and name.endswith(suffix):
                middle = name[len(prefix) : len(name) - len(suffix)]
                if middle.isdigit():
                    steps.append(int(middle))
    return sorted(steps)


def allocated(size: int) -> int:
    """Bytes a file of `size` bytes occupies on tmpfs: whole pages."""
    return math.ceil(size / PAGE) * PAGE


# -- scratch space and tmpfs ----------------------------------------------------------------


def make_workdir() -> Path:
    return Path(tempfile.mkdtemp(prefix="ckptguard-bench-"))


def tmpfs_unavailable() -> str | None:
    """None when this process may mount a tmpfs, else why not."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return f"mounting a tmpfs needs root (running as uid {os.getuid()})"
    for tool in ("mount", "umount"):
        if shutil.which(tool) is None:
            return f"`{tool}` is not installed"
    return None


@contextlib.contextmanager
def tmpfs(where: Path, size: int) -> Iterator[Path]:
    """A real tmpfs of `size` bytes (rounded up to pages by the kernel) on `where`."""
    where.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(where)],
        check=True,
        capture_output=True,
    )
    _mounts.append(where)
    try:
        yield where
    finally:
        _umount(where)


def _umount(where: Path) -> None:
    done = subprocess.run(["umount", str(where)], check=False, capture_output=True)
    if done.returncode != 0:
        subprocess.run(["umount", "-l", str(where)], check=False, capture_output=True)
    with contextlib.suppress(ValueError):
        _mounts.remove(where)


@contextlib.contextmanager
def scratch_dir(workdir: Path, name: str, size: int) -> Iterator[Path]:
    """A tmpfs of `size` bytes when we may mount one, else a plain directory in `workdir`."""
    where = workdir / name
    if tmpfs_unavailable() is None:
        with tmpfs(where, size) as path:
            yield path
    else:
        where.mkdir(parents=True, exist_ok=True)
        try:
            yield where
        finally:
            shutil.rmtree(where, ignore_errors=True)


def fs_type(path: Path) -> str:
    """The filesystem type of the mount holding `path` (from /proc/self/mounts)."""
    best, kind = "", "unknown"
    real = os.path.realpath(path)
    with contextlib.suppress(OSError), open("/proc/self/mounts") as mounts:
        for line in mounts:
            parts = line.split()
            if len(parts) < 3:
                continue
            point = parts[1].replace("\\040", " ")
            if (real == point or real.startswith(point.rstrip("/") + "/")) and len(point) > len(
                best
            ):
                best, kind = point, parts[2]
    return kind


# -- processes ------------------------------------------------------------------------------


def spawn(args: Sequence[str], **kwargs: Any) -> subprocess.Popen[Any]:
    proc = subprocess.Popen(list(args), **kwargs)
    _processes.append(proc)
    return proc


def reap(proc: subprocess.Popen[Any], timeout: float = 10.0) -> int:
    """Wait for `proc` (killing it past `timeout`) and forget it."""
    try:
        code = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        code = proc.wait(timeout=10)
    with contextlib.suppress(ValueError):
        _processes.remove(proc)
    return code


def cleanup() -> None:
    """Kill every process we started that still runs; unmount every tmpfs we mounted."""
    for proc in list(_processes):
        if proc.poll() is None:
            proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)
        _processes.remove(proc)
    for where in list(reversed(_mounts)):
        _umount(where)


def ckptguard_python() -> tuple[str, str]:
    """An interpreter that can run `-m ckptguard`, and `ckptguard --version`'s answer."""
    candidates = [sys.executable, str(REPO / ".venv" / "bin" / "python")]
    for python in dict.fromkeys(candidates):
        if not os.path.exists(python):
            continue
        done = subprocess.run(
            [python, "-m", "ckptguard", "--version"],
            capture_output=True,
            text=True,
            cwd=REPO,
            check=False,
        )
        if done.returncode == 0:
            return python, done.stdout.strip()
    raise SystemExit(
        "bench: no Python here can run `-m ckptguard`; install it first "
        "(python3 -m venv .venv && .venv/bin/pip install -e .)"
    )


def bytecode(python: str) -> dict[str, Any]:
    """Compile the checkout's package to byte-code, as installing it or a first run would.

    Where PYTHONDONTWRITEBYTECODE is set nothing else writes it, and every start of the
    CLI or the daemon would compile ckptguard from source again (a fifth of an audit of
    250 checkpoints). Writes `__pycache__/` beside the sources (gitignored)."""
    package = REPO / "ckptguard"
    sources = list(package.rglob("*.py"))
    missing = sum(1 for p in sources if not Path(importlib.util.cache_from_source(str(p))).exists())
    subprocess.run([python, "-m", "compileall", "-q", str(package)], check=True)
    return {"modules": len(sources), "without_bytecode_before": missing}


def ckptguard_command(python: str) -> list[str]:
    """How a user starts the CLI: the `ckptguard` script beside `python`, else `-m`."""
    script = Path(python).parent / "ckptguard"
    return [str(script)] if script.exists() else [python, "-m", "ckptguard"]


class Daemon(GuardProcess):
    """`python -m MODULE run --dir D [extra]` from the checkout, ended by `cleanup()` if
    still running. Its state directory is `log_path` with `.state` for a suffix (beside
    the log, in the bench's scratch space) unless `extra` names one.

    `start()` waits for READY=1 and raises without it; `launch()` and `is_ready()` let a
    caller (the chaos soak) watch for it, or kill the daemon before it comes.
    """

    def __init__(
        self,
        python: str,
        directory: Path,
        log_path: Path,
        extra: Sequence[str] = (),
        *,
        module: str = "ckptguard",
    ) -> None:
        state = (
            () if "--state-dir" in extra else ("--state-dir", str(log_path.with_suffix(".state")))
        )
        super().__init__(
            ("--dir", str(directory), *extra, *state),
            log_path=log_path,
            python=python,
            entry=("-m", module),
            cwd=REPO,
        )
        self.directory = directory

    def launch(self) -> Daemon:
        super().launch()
        assert self.proc is not None
        _processes.append(self.proc)
        return self

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int | None:
        code = super().stop(sig, timeout)
        if self.proc is not None:
            reap(self.proc)
        return code

    def outcome(self) -> dict[str, Any]:
        """How a stopped daemon fared: its exit code, what it logged, any Traceback."""
        events = self.events()
        return {
            "exit_code": self.exit_code,
            "deleted_logged": len(events_named(events, "deleted")),
            "events_lost_logged": len(events_named(events, "events_lost")),
            "traceback": "Traceback" in self.log_text(),
        }


# -- /proc ----------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """utime + stime of the whole process (all threads), from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat") as handle:
        text = handle.read()
    fields = text[text.rindex(")") + 2 :].split()
    # fields[0] is field 3 (state); utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICK


def status_kib(pid: int, key: str) -> int:
    """A `kB` value from /proc/<pid>/status, e.g. VmHWM (peak RSS) or VmRSS."""
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(key)


def thread_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


def thread_cpu_ns(pid: int) -> tuple[int, frozenset[int]]:
    """Nanoseconds on a CPU summed over the live threads of `pid` (the first field of
    /proc/PID/task/TID/schedstat, exact where 10 ms ticks are not), and their ids. A
    thread that ended no longer counts: compare the ids of two readings."""
    total, tids = 0, set()
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as handle:
                total += int(handle.read().split()[0])
        except (OSError, ValueError, IndexError):
            continue
        tids.add(int(tid))
    return total, frozenset(tids)


def sysctl(name: str) -> int | None:
    """An integer kernel setting from /proc/sys (`fs.inotify.max_queued_events`)."""
    try:
        with open("/proc/sys/" + name.replace(".", "/")) as handle:
            return int(handle.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


# -- statistics -----------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100), linear between closest ranks (numpy's default)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def spread(values: Sequence[float]) -> dict[str, Any]:
    """Median and min-max of repeated measurements."""
    clean = [v for v in values if v is not None and not math.isnan(v)]
    if not clean:
        return {"median": None, "min": None, "max": None, "n": 0}
    return {
        "median": statistics.median(clean),
        "min": min(clean),
        "max": max(clean),
        "n": len(clean),
    }


# -- the machine ----------------------------------------------------------------------------


def git_describe() -> str | None:
    """The checkout's commit, with `-dirty` when tracked files differ from it."""
    done = subprocess.run(
        ["git", "-C", str(REPO), "describe", "--always", "--dirty", "--abbrev=12"],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() or None


def machine(ckptguard_version: str, python: str) -> dict[str, Any]:
    cpu = "unknown"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory_kib = 0
    with contextlib.suppress(OSError), open("/proc/meminfo") as info:
        for line in info:
            if line.startswith("MemTotal:"):
                memory_kib = int(line.split()[1])
    commit = git_describe()
    return {
        "cpu_model": cpu,
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "memory_gib": round(memory_kib / 2**20, 1),
        "kernel": platform.release(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "python_daemon": python,
        "ckptguard_version": ckptguard_version,
        "git": commit,
        "root": tmpfs_unavailable() is None,
        "load_average_at_start": list(os.getloadavg()),
        "inotify_max_queued_events": sysctl("fs.inotify.max_queued_events"),
        "pythondontwritebytecode": bool(os.environ.get("PYTHONDONTWRITEBYTECODE")),
    }


def wait_settled(
    directory: Path, newest: int, daemon: Daemon, *, keep: int = 3, timeout: float = 300.0
) -> dict[str, Any]:
    """Wait until exactly checkpoints newest-keep+1..newest remain (keep-3 holds).

    Polls cheaply (is checkpoint newest-keep gone?) before listing the whole directory,
    so the poller takes little CPU from the daemon. Stops early if the daemon died.
    """
    expected = list(range(newest - keep + 1, newest + 1))
    sentinel = directory / name_of(newest - keep)
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if not daemon.alive():
            return {"settled": False, "at": None, "why": "daemon died"}
        if not sentinel.exists() and checkpoint_steps(directory) == expected:
            return {"settled": True, "at": time.perf_counter(), "why": None}
        time.sleep(0.002 if sentinel.exists() else 0.01)
    return {"settled": False, "at": None, "why": f"not settled within {timeout:g}s"}
