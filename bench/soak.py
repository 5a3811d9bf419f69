"""A chaos soak: writers, an independent checker, and a daemon killed and restarted at random.

For a fixed time several writer processes create, rewrite, truncate, pin, unpin and delete
checkpoints in one guarded directory DIR, while `ckptguard run --dir DIR --keep K --settle S`
(a real subprocess) is killed with SIGKILL, sometimes stopped with SIGTERM, and restarted
at random intervals. A checker process samples DIR continuously. Canary files live
outside DIR (reached from inside through symlinks named like checkpoints), non-matching
canaries and permanently pinned checkpoints live inside it. One writer reaches DIR by
another path (a bind mount of it, as a container would; a symlink when not root). The
guard keeps the best checkpoint by `val_loss` from a CSV metrics file the writers append
to and, once the guard has recorded the best value, truncate at random (as a restarted
Keras `CSVLogger` does).

Writers never act on the newest complete checkpoint, act only on files they created
themselves, and journal every action (one JSON line each, O_APPEND, with a timestamp)
before doing it, so their own deletions, truncations and unpins are never mistaken for
the daemon's. Violations, counted separately (all must be 0):

1. the newest valid checkpoint deleted by someone other than a writer;
2. a file deleted while being written, a pinned checkpoint or a non-matching file deleted;
3. anything outside DIR changed, or the symlinks or their targets touched;
4. a complete checkpoint deleted while an older unpinned complete one remained;
5. a complete checkpoint deleted while fewer than K newer valid ones could exist (so
   something invalid was counted as valid), or, after the writers stop and K+2 more saves
   and some forged newer ones, the complete unpinned checkpoints left are not the K newest;
6. after the final settle, `ckptguard prune --json` would still delete something;
7. the daemon exited without being killed, or printed a Traceback;
b. the best checkpoint by the metric deleted (its row truncated away from the metrics file);
x. (extra) a corrupt file deleted although space was never short.

    python bench/soak.py --seconds 600      # Markdown table + bench/results/soak-*.json
    python bench/soak.py --seconds 30
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import datetime as dt
import fcntl
import hashlib
import io
import json
import os
import random
import re
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
import uuid
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
RESULTS = HERE.parent / "results"

FIRST_STEP, STEP_EVERY = 1000, 100
WRITER_MAX_STEP = 10**12  # writer steps stay below; canaries sit at both ends
PERMANENT_PINS = (1, 2, 3, WRITER_MAX_STEP)
CKPT = re.compile(r"checkpoint_step_([0-9]+)\.keras")
KERAS_MEMBERS = frozenset({"metadata.json", "config.json"})
PIN = ".keep"
WINDOW = 3.0  # seconds: longer than any scan-to-unlink of the daemon, used as a margin
INVARIANTS = {
    "1": "newest valid checkpoint deleted (not by a writer)",
    "2": "file being written, pinned checkpoint or non-matching file deleted",
    "3": "anything outside DIR changed; symlink or its target touched",
    "4": "complete checkpoint deleted while an older unpinned complete one remained",
    "5": "one of the K newest valid deleted, or end state not the K newest (invalid counted)",
    "6": "prune after the final settle would delete more",
    "7": "daemon exited on its own or printed a Traceback",
    "b": "best checkpoint by the metric deleted after its row was truncated away",
    "x": "corrupt file deleted although space was never short",
}
# The checkpoint with the best val_loss: below the writers' steps, never touched by them.
BEST_STEP = 500
METRICS = "training.log"
METRICS_HEADER = "step,val_loss\n"


# -- shared helpers ---------------------------------------------------------------------------


def name_of(step: int) -> str:
    return f"checkpoint_step_{step}.keras"


def writer_step(name: str) -> int | None:
    found = CKPT.fullmatch(name)
    if found is None:
        return None
    step = int(found.group(1))
    return step if FIRST_STEP <= step < WRITER_MAX_STEP else None


def keras_bytes(rng: random.Random, payload: int, *, model: bool = True) -> bytes:
    """A `.keras`-style zip (stored, central directory last), as Keras 3 writes it."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        if model:
            archive.writestr("metadata.json", '{"keras_version": "3.0.0"}')
            archive.writestr("config.json", '{"class_name": "Sequential"}')
        archive.writestr("model.weights.h5", rng.randbytes(payload))
    return buffer.getvalue()


def complete_at(dir_fd: int, name: str, ident: tuple[int, int, int]) -> bool | None:
    """Whether `name` is a complete Keras archive; None if it changed while we looked."""
    try:
        fd = os.open(
            name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dir_fd
        )
    except OSError:
        return None
    with os.fdopen(fd, "rb") as handle:
        st = os.fstat(fd)
        if (st.st_ino, st.st_size, st.st_mtime_ns) != ident:
            return None
        try:
            with zipfile.ZipFile(handle) as archive:
                members = set(archive.namelist())
        except Exception:  # noqa: BLE001 - anything unreadable is simply not complete
            members = set()
        st = os.fstat(fd)
        if (st.st_ino, st.st_size, st.st_mtime_ns) != ident:
            return None  # written to while we read it
    return members >= KERAS_MEMBERS


def now() -> float:
    """Wall-clock seconds: the one clock every process of the soak and the daemon share."""
    return time.time()


class Journal:
    """Append-only JSON lines; each line is one write(2) on an O_APPEND descriptor."""

    def __init__(self, path: Path, who: str) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        self.who = who

    def log(self, action: str, **fields: Any) -> None:
        line = json.dumps({"ts": now(), "who": self.who, "action": action, **fields})
        os.write(self.fd, (line + "\n").encode())

    def close(self) -> None:
        os.close(self.fd)


def read_journal(path: Path) -> list[dict[str, Any]]:
    lines = []
    with contextlib.suppress(FileNotFoundError), path.open() as handle:
        for line in handle:
            with contextlib.suppress(ValueError):
                lines.append(json.loads(line))
    return lines


class SharedState:
    """The next step to save and the newest published complete step, under an flock."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def init(self) -> None:
        self.path.write_text(json.dumps({"next": FIRST_STEP, "max_done": 0}))

    def _with(self, operation: int, change: Any = None) -> dict[str, int]:
        fd = os.open(self.path, os.O_RDWR | os.O_CLOEXEC)
        try:
            fcntl.flock(fd, operation)
            data = json.loads(os.pread(fd, 4096, 0))
            if change is not None:
                change(data)
                blob = json.dumps(data).encode()
                os.ftruncate(fd, 0)
                os.pwrite(fd, blob, 0)
            return dict(data)
        finally:
            os.close(fd)

    def take_step(self) -> int:
        taken: list[int] = []

        def advance(data: dict[str, int]) -> None:
            taken.append(data["next"])
            data["next"] += STEP_EVERY

        self._with(fcntl.LOCK_EX, advance)
        return taken[0]

    def publish(self, step: int) -> None:
        def raise_max(data: dict[str, int]) -> None:
            data["max_done"] = max(data["max_done"], step)

        self._with(fcntl.LOCK_EX, raise_max)

    def max_done(self) -> int:
        return self._with(fcntl.LOCK_SH)["max_done"]


class Completions:
    """When each writer save completed (from the journal): the newest complete step at `t`."""

    def __init__(self, journal: list[dict[str, Any]]) -> None:
        done = sorted(
            (line["ts"], line["step"]) for line in journal if line["action"] == "create_done"
        )
        self.times = [ts for ts, _ in done]
        self.steps = {step for _, step in done}  # every step that was once a complete save
        self.newest: list[int] = []
        for _, step in done:
            self.newest.append(max(step, self.newest[-1] if self.newest else 0))

    def newest_by(self, t: float) -> int:
        index = bisect.bisect_right(self.times, t)
        return self.newest[index - 1] if index else 0


# Journal lines that are causes (written before the action); the rest are notes after it.
CAUSES = frozenset(
    {
        "create_start",
        "create_bad_start",
        "rewrite_start",
        "truncate",
        "pin",
        "unpin",
        "delete",
        "truncate_metrics",
    }
)
CAUSES_ALL = CAUSES | {"create_done", "create_bad_done", "rewrite_done", "pin_lost"}


# -- canaries ----------------------------------------------------------------------------------


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fingerprint(path: Path) -> dict[str, Any]:
    """What an entry is, without following it: kind, identity, and content or link target."""
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode):
        return {"kind": "symlink", "ino": st.st_ino, "target": os.readlink(path)}
    if stat.S_ISDIR(st.st_mode):
        return {"kind": "dir", "ino": st.st_ino, "names": sorted(os.listdir(path))}
    return {
        "kind": "file",
        "ino": st.st_ino,
        "size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
        "sha256": file_digest(path),
    }


def setup_world(root: Path, rng: random.Random) -> dict[str, Any]:
    """DIR, the outside canaries, symlinks, non-matching canaries and permanent pins."""
    guarded, outside, control = root / "guarded", root / "outside", root / "control"
    for directory in (guarded, outside, control):
        directory.mkdir(parents=True)
    # Outside DIR: valid checkpoints (tempting if a symlink were followed) and plain data.
    (outside / "checkpoint_step_0.keras").write_bytes(keras_bytes(rng, 20_000))
    (outside / "checkpoint_step_1000000000000000.keras").write_bytes(keras_bytes(rng, 20_000))
    (outside / "important.txt").write_text("do not delete\n")
    (outside / "sub").mkdir()
    (outside / "sub" / "checkpoint_step_1.keras").write_bytes(keras_bytes(rng, 10_000))
    # Inside DIR, named like checkpoints but symlinks: never followed, counted or deleted.
    symlinks = {
        "checkpoint_step_0.keras": outside / "checkpoint_step_0.keras",  # oldest
        "checkpoint_step_1000000000000000.keras": outside
        / "checkpoint_step_1000000000000000.keras",
        "checkpoint_step_999.keras": outside,  # a link to the outside directory
    }
    for name, target in symlinks.items():
        (guarded / name).symlink_to(target)
    # Inside DIR, not matching the pattern: never deleted.
    valid = keras_bytes(rng, 5_000)
    plain = {
        "notes.txt": b"training notes\n",
        "tmpab12cd34": rng.randbytes(3000),
        "checkpoint_step_5.keras.bak": valid,
        "checkpoint_step_6.keras.tmp": valid,
        "checkpoint_step_+7.keras": valid,
        "checkpoint_step_-7.keras": valid,
        "checkpoint_step_\u0667.keras": valid,  # ARABIC-INDIC DIGIT SEVEN
        ".checkpoint_step_8.keras": valid,
        "checkpoint_step_9.keras.keep": b"",  # a pin for nothing
        "checkpoint_step_10.h5": valid,
        "checkpoint_step_18446744073709551617.keras": valid,  # 2**64 + 1: not a step
    }
    for name, data in plain.items():
        (guarded / name).write_bytes(data)
    (guarded / "checkpoint_step_11.keras").mkdir()  # a directory named like a checkpoint
    (guarded / "checkpoint_step_11.keras" / "inner.txt").write_text("inside a directory\n")
    # Permanently pinned checkpoints: oldest, and one newer than anything the writers save.
    for step in PERMANENT_PINS:
        (guarded / name_of(step)).write_bytes(keras_bytes(rng, 30_000))
        (guarded / (name_of(step) + PIN)).write_bytes(b"")
    # The best checkpoint by val_loss, an old one: kept only by keep-best.
    (guarded / name_of(BEST_STEP)).write_bytes(keras_bytes(rng, 20_000))
    (guarded / METRICS).write_text(f"{METRICS_HEADER}{BEST_STEP},0.1\n")
    inside = sorted([*plain, "checkpoint_step_11.keras", "checkpoint_step_11.keras/inner.txt"])
    pins = sorted(n for s in PERMANENT_PINS for n in (name_of(s), name_of(s) + PIN))
    outside_names = sorted(str(p.relative_to(outside)) for p in outside.rglob("*"))
    manifest = {
        "guarded": str(guarded),
        "outside": str(outside),
        "inside": {n: fingerprint(guarded / n) for n in inside},
        "pinned": {n: fingerprint(guarded / n) for n in pins},
        "symlinks": {n: fingerprint(guarded / n) for n in symlinks},
        "best": {name_of(BEST_STEP): fingerprint(guarded / name_of(BEST_STEP))},
        "outside_files": {n: fingerprint(outside / n) for n in outside_names},
    }
    (control / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return manifest


def canary_problems(manifest: dict[str, Any]) -> list[tuple[str, str]]:
    """(invariant, what) for each canary that is missing or changed."""
    guarded, outside = Path(manifest["guarded"]), Path(manifest["outside"])
    problems: list[tuple[str, str]] = []
    groups = (
        ("2", guarded, manifest["inside"]),
        ("2", guarded, manifest["pinned"]),
        ("b", guarded, manifest["best"]),
        ("3", guarded, manifest["symlinks"]),
        ("3", outside, manifest["outside_files"]),
    )
    for invariant, base, expected in groups:
        for name, before in expected.items():
            try:
                after = fingerprint(base / name)
            except OSError as error:
                problems.append((invariant, f"{base / name}: {error.strerror}"))
                continue
            if after != before:
                problems.append((invariant, f"{base / name}: changed {before} -> {after}"))
    names = sorted(str(p.relative_to(outside)) for p in outside.rglob("*"))
    if names != sorted(manifest["outside_files"]):
        problems.append(("3", f"{outside}: entries now {names}"))
    return problems


# -- writers -----------------------------------------------------------------------------------


@dataclass
class Own:
    step: int
    ino: int
    complete: bool
    pinned: bool = False


class Writer:
    """One training-job-like process: acts only on its own files, never on the newest."""

    ACTIONS = (
        "create",
        "create_bad",
        "rewrite",
        "truncate",
        "pin",
        "unpin",
        "delete",
        "truncate_metrics",
    )
    WEIGHTS = (40, 6, 10, 10, 10, 8, 12, 2)

    def __init__(
        self, ident: int, directory: Path, control: Path, seed: int, settle: float, metrics: Path
    ):
        self.rng = random.Random(seed)
        self.dir = directory  # for one writer, another path to DIR (a bind mount)
        self.metrics = metrics
        self.state_dir = control / "state-dir"
        self.state = SharedState(control / "state")
        self.journal = Journal(control / "journal.jsonl", f"w{ident}")
        self.stop_file = control / "stop-writers"
        self.settle = settle
        self.mine: dict[int, Own] = {}
        self.next_sweep = 0.0

    def path(self, step: int) -> Path:
        return self.dir / name_of(step)

    def run(self) -> int:
        try:
            while not self.stop_file.exists():
                action = self.rng.choices(self.ACTIONS, self.WEIGHTS)[0]
                getattr(self, f"do_{action}")()
                if time.monotonic() >= self.next_sweep:
                    self.sweep()
                    self.next_sweep = time.monotonic() + 1.0
                time.sleep(self.rng.uniform(0.0, 0.05))
            self.sweep()
            self.journal.log("writer_done", files=len(self.mine))
        finally:
            self.journal.close()
        return 0

    def violation(self, invariant: str, kind: str, step: int, **detail: Any) -> None:
        self.journal.log("violation", invariant=invariant, kind=kind, step=step, **detail)

    # -- bookkeeping -------------------------------------------------------------------------

    def sweep(self) -> None:
        for own in list(self.mine.values()):
            self.present(own)

    def present(self, own: Own) -> bool:
        """Whether our file is still there; a pinned one gone is a violation."""
        try:
            same = os.lstat(self.path(own.step)).st_ino == own.ino
        except FileNotFoundError:
            same = False
        if same:
            return True
        if own.pinned:
            self.violation("2", "pinned_deleted", own.step)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(str(self.path(own.step)) + PIN)
        self.journal.log("gone", step=own.step, complete=own.complete, pinned=own.pinned)
        del self.mine[own.step]
        return False

    def pick(self, wanted: Any) -> Own | None:
        """One of our files below the newest published complete step, never the newest."""
        limit = self.state.max_done()
        candidates = [o for o in self.mine.values() if o.step < limit and wanted(o)]
        if not candidates:
            return None
        own = self.rng.choice(candidates)
        return own if self.present(own) else None

    def stream(self, step: int, data: bytes, *, create: bool, kind: str) -> int | None:
        """Write `data` into the final path slowly, as Keras does; the inode, or None.

        A deletion seen before the last chunk (the file is not a complete archive yet) is a
        violation; one after the last chunk but before close is only counted: the file is a
        complete checkpoint by then, which is what the daemon is allowed to judge.
        """
        flags = os.O_WRONLY | os.O_CLOEXEC | (os.O_CREAT | os.O_EXCL if create else os.O_TRUNC)
        try:
            fd = os.open(self.path(step), flags, 0o644)
        except FileNotFoundError:
            return None
        slow = self.rng.random() < 0.1
        longest = self.settle * 0.5
        chunk = self.rng.choice((4096, 8192, 16384))
        pieces = [data[i : i + chunk] for i in range(0, len(data), chunk)] or [b""]
        try:
            for index, piece in enumerate(pieces):
                if index == len(pieces) - 1 and os.fstat(fd).st_nlink == 0:
                    self.violation("2", "deleted_while_written", step, phase=kind)
                    return None
                view = memoryview(piece)
                while view:
                    view = view[os.write(fd, view) :]
                if index < len(pieces) - 1:
                    pause = self.rng.uniform(0.1, longest) if slow else self.rng.uniform(0, 0.03)
                    time.sleep(pause)
            st = os.fstat(fd)
        finally:
            os.close(fd)
        if st.st_nlink == 0:
            self.journal.log("deleted_before_close", step=step, phase=kind)
            return None
        return st.st_ino

    # -- actions -----------------------------------------------------------------------------

    def do_create(self) -> None:
        step = self.state.take_step()
        data = keras_bytes(self.rng, self.rng.randint(10_000, 90_000))
        self.journal.log("create_start", step=step, size=len(data))
        ino = self.stream(step, data, create=True, kind="create")
        if ino is None:
            return
        self.mine[step] = Own(step, ino, complete=True)
        self.journal.log("create_done", step=step, ino=ino)
        self.state.publish(step)
        with open(self.metrics, "a") as log:  # worse than the best, always
            log.write(f"{step},{1 + self.rng.random():.4f}\n")

    def do_truncate_metrics(self) -> None:
        """A restarted CSVLogger empties the log; only once the guard has seen the best
        value (a guard cannot remember what it never read)."""
        recorded = [p for p in self.state_dir.glob("*.json") if name_of(BEST_STEP) in p.read_text()]
        if not recorded:
            return
        self.journal.log("truncate_metrics")
        with open(self.metrics, "w") as log:
            log.write(METRICS_HEADER)

    def do_create_bad(self) -> None:
        """A save that crashed halfway, or a forged "newest": empty, garbage, not a model."""
        step = self.state.take_step()
        kind = self.rng.choice(("abandoned", "empty", "garbage", "not_a_model"))
        if kind == "abandoned":
            whole = keras_bytes(self.rng, self.rng.randint(10_000, 90_000))
            data = whole[: int(len(whole) * self.rng.uniform(0.1, 0.9))]
        elif kind == "empty":
            data = b""
        elif kind == "garbage":
            data = self.rng.randbytes(self.rng.randint(100, 50_000))
        else:
            data = keras_bytes(self.rng, self.rng.randint(1000, 20_000), model=False)
        self.journal.log("create_bad_start", step=step, kind=kind)
        ino = self.stream(step, data, create=True, kind=kind)
        if ino is None:
            return
        self.mine[step] = Own(step, ino, complete=False)
        self.journal.log("create_bad_done", step=step, kind=kind, ino=ino)

    def do_rewrite(self) -> None:
        """Save again into an existing path (truncate, stream): only pinned or corrupt ones.

        A complete unpinned file may be deleted by the daemon at any moment (it may be
        beyond keep-N); starting to rewrite it in the microseconds between the daemon's
        last check and its unlink is a race no unlink can close, so it is not provoked.
        """
        own = self.pick(lambda o: o.pinned or not o.complete)
        if own is None:
            return
        data = keras_bytes(self.rng, self.rng.randint(10_000, 90_000))
        self.journal.log("rewrite_start", step=own.step, pinned=own.pinned)
        ino = self.stream(own.step, data, create=False, kind="rewrite")
        if ino is None:
            self.present(own)
            return
        own.complete = True
        self.journal.log("rewrite_done", step=own.step, ino=ino)

    def do_truncate(self) -> None:
        own = self.pick(lambda o: True)
        if own is None:
            return
        path = self.path(own.step)
        try:
            size = os.lstat(path).st_size
            self.journal.log("truncate", step=own.step, pinned=own.pinned)
            os.truncate(path, int(size * self.rng.uniform(0.0, 0.9)))
        except FileNotFoundError:
            self.present(own)
            return
        own.complete = False

    def do_pin(self) -> None:
        own = self.pick(lambda o: not o.pinned)
        if own is None:
            return
        sidecar = str(self.path(own.step)) + PIN
        self.journal.log("pin", step=own.step)
        os.close(os.open(sidecar, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644))
        # A deletion already under way (checked before the pin existed) may still land: wait
        # it out, and count the pin only if the file outlived it.
        time.sleep(0.5)
        try:
            same = os.lstat(self.path(own.step)).st_ino == own.ino
        except FileNotFoundError:
            same = False
        if same:
            own.pinned = True
            return
        self.journal.log("pin_lost", step=own.step)
        os.unlink(sidecar)
        del self.mine[own.step]

    def do_unpin(self) -> None:
        own = self.pick(lambda o: o.pinned)
        if own is None:
            return
        self.journal.log("unpin", step=own.step)
        os.unlink(str(self.path(own.step)) + PIN)
        own.pinned = False

    def do_delete(self) -> None:
        corrupt_first = self.rng.random() < 0.6
        own = self.pick(lambda o: not o.complete) if corrupt_first else None
        own = own or self.pick(lambda o: True)
        if own is None:
            return
        self.journal.log("delete", step=own.step, pinned=own.pinned)
        try:
            os.unlink(self.path(own.step))
        except FileNotFoundError:
            self.present(own)
            return
        if own.pinned:
            os.unlink(str(self.path(own.step)) + PIN)
        del self.mine[own.step]


# -- checker -----------------------------------------------------------------------------------

Entry = tuple[tuple[int, int, int], "bool | None"]  # (ino, size, mtime_ns), complete


@dataclass
class Run:
    """Consecutive samples that saw the same state: listed first/last at these times."""

    first_start: float
    first_end: float
    last_start: float
    entries: dict[int, Entry]
    pins: frozenset[int]


@dataclass
class Checker:
    directory: Path
    control: Path
    manifest: dict[str, Any]
    keep: int
    runs: list[Run] = field(default_factory=list)
    samples: int = 0
    canary_checks: int = 0
    violations: list[dict[str, Any]] = field(default_factory=list)
    seen: set[tuple[str, str]] = field(default_factory=set)
    cache: dict[tuple[int, tuple[int, int, int]], bool] = field(default_factory=dict)

    def flag(self, invariant: str, kind: str, **detail: Any) -> None:
        key = (invariant, kind + json.dumps(detail, sort_keys=True, default=str))
        if key not in self.seen:
            self.seen.add(key)
            self.violations.append({"invariant": invariant, "kind": kind, "ts": now(), **detail})

    def observe(self, dir_fd: int) -> tuple[dict[int, Entry], frozenset[int]]:
        entries: dict[int, Entry] = {}
        pins = set()
        cache: dict[tuple[int, tuple[int, int, int]], bool] = {}
        for name in os.listdir(dir_fd):
            if name.endswith(PIN):
                step = writer_step(name[: -len(PIN)])
                if step is not None:
                    pins.add(step)
                continue
            step = writer_step(name)
            if step is None:
                continue
            try:
                st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            except FileNotFoundError:
                continue
            if not stat.S_ISREG(st.st_mode):
                continue
            ident = (st.st_ino, st.st_size, st.st_mtime_ns)
            complete = self.cache.get((step, ident))
            if complete is None:
                complete = complete_at(dir_fd, name, ident)
            if complete is not None:
                cache[(step, ident)] = complete
            entries[step] = (ident, complete)
        self.cache = cache
        return entries, frozenset(pins)

    def run(self) -> None:
        state = SharedState(self.control / "state")
        stop = self.control / "stop-checker"
        dir_fd = os.open(self.directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        next_canaries = 0.0
        try:
            while not stop.exists():
                start = now()
                entries, pins = self.observe(dir_fd)
                end = now()
                self.samples += 1
                last = self.runs[-1] if self.runs else None
                if last is not None and last.entries == entries and last.pins == pins:
                    last.last_start = start
                else:
                    self.runs.append(Run(start, end, start, entries, pins))
                self.check_newest(dir_fd, state, entries)
                if time.monotonic() >= next_canaries:
                    for invariant, what in canary_problems(self.manifest):
                        self.flag(invariant, "canary", what=what)
                    self.canary_checks += 1
                    next_canaries = time.monotonic() + 0.25
                time.sleep(0.01)
        finally:
            os.close(dir_fd)

    def check_newest(self, dir_fd: int, state: SharedState, entries: dict[int, Entry]) -> None:
        """(1) The newest published complete checkpoint, which no writer touches, is there."""
        newest = state.max_done()
        if newest < FIRST_STEP or newest in entries:
            return
        try:
            os.stat(name_of(newest), dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            if state.max_done() == newest:
                self.flag("1", "newest_missing", step=newest)

    def analyse(self, journal: list[dict[str, Any]]) -> dict[str, Any]:
        """Attribute every disappearance seen between samples to a writer or to the daemon."""
        by_step: dict[int, list[tuple[float, str]]] = {}
        for line in journal:
            if "step" in line:
                by_step.setdefault(line["step"], []).append((line["ts"], line["action"]))
        for acts in by_step.values():
            acts.sort()
        # When a step became (again) complete or unpinned: it may count toward keep-N.
        revivals = sorted(
            (ts, step)
            for step, acts in by_step.items()
            for ts, a in acts
            if a in ("create_done", "rewrite_done", "unpin")
        )
        completions = Completions(journal)
        removed_by_writer = {
            line["step"]: line["ts"] for line in journal if line["action"] == "delete"
        }

        def actions(step: int, lo: float, hi: float) -> set[str]:
            acts = by_step.get(step, [])
            first = bisect.bisect_left(acts, (lo, ""))
            return {a for ts, a in acts[first:] if ts <= hi and a in CAUSES_ALL}

        starts = [r.first_start for r in self.runs]
        bad_only = {"create_bad_start", "create_bad_done"}
        daemon_removed = 0
        for previous, current in zip(self.runs, self.runs[1:], strict=False):
            for step in previous.entries.keys() - current.entries.keys():
                hi = current.first_end + 1.0
                if removed_by_writer.get(step, float("inf")) <= hi:
                    continue
                daemon_removed += 1
                lo = previous.last_start - WINDOW - 1.0
                acts = actions(step, lo, hi)
                complete = previous.entries[step][1]
                pinned = step in previous.pins
                where = {"step": step, "between": [previous.last_start, current.first_start]}
                if pinned and not acts & {"pin", "pin_lost", "unpin", "delete"}:
                    self.flag("2", "pinned_deleted", **where)
                if complete is False and not pinned and acts <= bad_only:
                    self.flag("x", "corrupt_deleted", **where, journal=sorted(acts))
                was_complete = complete is True or "create_done" in actions(step, 0, hi)
                if was_complete and completions.newest_by(hi) <= step:
                    self.flag("1", "newest_deleted", **where)
                if was_complete:
                    self.check_order(step, previous, current, starts, actions, hi)
                    self.check_keep(step, previous, current, starts, revivals, hi)
        return {"daemon_removals_seen": daemon_removed}

    def check_order(
        self, step: int, previous: Run, current: Run, starts: list[float], actions: Any, hi: float
    ) -> None:
        """(4) No older complete unpinned checkpoint, unchanged throughout, outlived it."""
        index = bisect.bisect_left(starts, previous.last_start - WINDOW) - 1
        if index < 0:
            return
        base = self.runs[index]
        for older, entry in base.entries.items():
            if older >= step or entry[1] is not True or older in base.pins:
                continue
            if current.entries.get(older) != entry or older in current.pins:
                continue
            if actions(older, base.first_start - 1.0, hi):
                continue
            self.flag(
                "4",
                "newer_deleted_first",
                step=step,
                older_kept=older,
                between=[previous.last_start, current.first_start],
            )

    def check_keep(
        self,
        step: int,
        previous: Run,
        current: Run,
        starts: list[float],
        revivals: list[tuple[float, int]],
        hi: float,
    ) -> None:
        """(5) A complete checkpoint goes only when K newer valid ones exist.

        Counts every newer step that could have been complete and unpinned when the daemon
        looked: so in a sample before (longer ago than any scan-to-unlink), in the last
        sample with it, or made complete or unpinned by a writer meanwhile. Fewer than K
        means something not valid (corrupt, forged, a symlink) was counted as valid.
        """
        index = bisect.bisect_left(starts, previous.last_start - WINDOW) - 1
        if index < 0:
            return
        base = self.runs[index]
        lo = base.first_start - 1.0
        possible = {
            n
            for run in (base, previous)
            for n, (_, complete) in run.entries.items()
            if n > step and complete is not False and n not in run.pins
        }
        first = bisect.bisect_left(revivals, (lo, 0))
        last = bisect.bisect_right(revivals, (hi, 2**63))
        possible |= {n for _, n in revivals[first:last] if n > step}
        if len(possible) < self.keep:
            self.flag(
                "5",
                "deleted_within_keep",
                step=step,
                newer_valid_at_most=sorted(possible),
                between=[previous.last_start, current.first_start],
            )


def checker_main(directory: Path, control: Path, keep: int) -> int:
    manifest = json.loads((control / "manifest.json").read_text())
    checker = Checker(directory, control, manifest, keep)
    result: dict[str, Any] = {}
    try:
        checker.run()
        result = checker.analyse(read_journal(control / "journal.jsonl"))
    finally:
        result.update(
            samples=checker.samples,
            state_changes=len(checker.runs),
            canary_checks=checker.canary_checks,
            violations=checker.violations,
        )
        (control / "checker.json").write_text(json.dumps(result, indent=1))
    return 0


# -- the daemon under test ---------------------------------------------------------------------


class NotifyListener:
    """A real sd_notify receiver (abstract datagram socket) to see READY=1."""

    def __init__(self) -> None:
        self.name = f"@ckptguard-soak-{uuid.uuid4().hex}"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind("\0" + self.name[1:])
        self.sock.settimeout(0.05)

    def ready(self) -> bool:
        try:
            data = self.sock.recv(65536)
        except (TimeoutError, BlockingIOError):
            return False
        return "READY=1" in data.decode(errors="replace").splitlines()

    def close(self) -> None:
        self.sock.close()


@dataclass
class Daemon:
    process: subprocess.Popen[bytes]
    listener: NotifyListener
    log: Path
    ready: bool = False

    def wait_ready(self, timeout: float = 30.0) -> bool:
        deadline = time.monotonic() + timeout
        while not self.ready and time.monotonic() < deadline and self.process.poll() is None:
            self.ready = self.listener.ready()
        return self.ready

    def stop(self, sig: int, timeout: float = 20.0) -> int | None:
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(sig)
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            code = None
        self.listener.close()
        return code


# -- the orchestrator --------------------------------------------------------------------------


@dataclass
class Soak:
    root: Path
    seconds: float
    writers: int
    keep: int
    settle: float
    seed: int
    max_alive: float = 4.0
    progress: bool = False
    daemon_module: str = "ckptguard"
    rng: random.Random = field(init=False)
    daemons: list[Daemon] = field(default_factory=list)
    children: list[subprocess.Popen[bytes]] = field(default_factory=list)
    violations: list[dict[str, Any]] = field(default_factory=list)
    restarts: Counter[str] = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.guarded = self.root / "guarded"
        self.control = self.root / "control"

    def flag(self, invariant: str, kind: str, **detail: Any) -> None:
        self.violations.append({"invariant": invariant, "kind": kind, "ts": now(), **detail})

    def spawn(self, *args: str, log: Path) -> subprocess.Popen[bytes]:
        with log.open("ab") as out:
            process = subprocess.Popen(
                [sys.executable, str(HERE), *args], stdout=out, stderr=subprocess.STDOUT
            )
        self.children.append(process)
        return process

    def best_flags(self) -> tuple[str, ...]:
        """Keep the best by val_loss from the metrics file; remember values across restarts."""
        return (
            *("--keep-best", "1", "--metric", "val_loss", "--metrics-file", METRICS),
            *("--state-dir", str(self.control / "state-dir")),
        )

    def alias(self) -> tuple[Path, str]:
        """Another path to DIR for one writer: a bind mount as root, else a symlink."""
        alias = self.root / "alias"
        if os.geteuid() == 0:
            alias.mkdir()
            mounted = subprocess.run(
                ["mount", "--bind", str(self.guarded), str(alias)], capture_output=True, check=False
            )
            if mounted.returncode == 0:
                return alias, "bind mount"
            alias.rmdir()
        alias.symlink_to(self.guarded)
        return alias, "symlink"

    def start_daemon(self) -> Daemon:
        listener = NotifyListener()
        log = self.control / f"daemon-{len(self.daemons):04d}.log"
        env = {**os.environ, "NOTIFY_SOCKET": listener.name}
        command = [
            sys.executable,
            "-m",
            self.daemon_module,
            "run",
            "--dir",
            str(self.guarded),
            "--keep",
            str(self.keep),
            "--settle",
            str(self.settle),
            *self.best_flags(),
            "--log-format",
            "json",
        ]
        with log.open("wb") as out:
            process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
        daemon = Daemon(process, listener, log)
        self.daemons.append(daemon)
        return daemon

    def ensure_ready(self, daemon: Daemon) -> bool:
        if daemon.wait_ready():
            return True
        code = daemon.process.poll()
        self.flag("7", "not_ready", log=daemon.log.name, returncode=code)
        return False

    def supervise(self, daemon: Daemon, seconds: float, deadline: float) -> bool:
        """Let the daemon live `seconds` (or until `deadline`); False if it died on its own."""
        until = min(time.monotonic() + seconds, deadline)
        while time.monotonic() < until:
            if not daemon.ready:
                daemon.ready = daemon.listener.ready()
            else:
                time.sleep(0.05)
            if daemon.process.poll() is not None:
                self.flag("7", "exited", log=daemon.log.name, returncode=daemon.process.returncode)
                daemon.listener.close()
                return False
            self.check_children()
        return True

    def check_children(self) -> None:
        for child in self.children:
            code = child.poll()
            if code not in (None, 0):
                raise RuntimeError(f"soak process {child.args} failed with {code}")

    def chaos(self, deadline: float) -> Daemon:
        """Kill and restart the daemon until `deadline`; returns the one left running."""
        daemon = self.start_daemon()
        self.ensure_ready(daemon)
        next_report = time.monotonic() + 30
        while True:
            quick = not daemon.ready  # killed during start-up, before READY=1
            alive = self.rng.uniform(0.05, 0.6) if quick else self.rng.uniform(0.3, self.max_alive)
            if not self.supervise(daemon, alive, deadline):
                daemon = self.start_daemon()
                self.ensure_ready(daemon)
                continue
            if time.monotonic() >= deadline:
                return daemon
            term = daemon.ready and (self.rng.random() < 0.25 or self.restarts["SIGTERM"] == 0)
            if term:
                code = daemon.stop(signal.SIGTERM)
                self.restarts["SIGTERM"] += 1
                if code != 0:
                    self.flag("7", "sigterm_exit", log=daemon.log.name, returncode=code)
            else:
                daemon.stop(signal.SIGKILL)
                self.restarts["SIGKILL"] += 1
            time.sleep(self.rng.uniform(0.0, 0.8))  # the directory goes unguarded a while
            daemon = self.start_daemon()
            if self.rng.random() < 0.8:
                self.ensure_ready(daemon)
            if self.progress and time.monotonic() >= next_report:
                next_report += 30
                left = deadline - time.monotonic()
                print(f"soak: {left:.0f}s left, restarts {dict(self.restarts)}", file=sys.stderr)

    def observe(self) -> tuple[dict[int, Entry], frozenset[int]]:
        dir_fd = os.open(self.guarded, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            return Checker(self.guarded, self.control, {}, self.keep).observe(dir_fd)
        finally:
            os.close(dir_fd)

    def final_settle(self) -> dict[str, Any]:
        """(5) With the writers stopped, save K+2 more checkpoints, then forge broken newer ones.

        Once the daemon has settled, the complete unpinned checkpoints left must be exactly
        the K newest of those saves: a forged, corrupt or linked "newest" counted as valid
        would push one of them out. Everything else (pinned, corrupt) must be untouched.
        """
        entries, pins = self.observe()
        at_stop = sorted(s for s, (_, c) in entries.items() if c is True and s not in pins)
        others = {s: e for s, e in entries.items() if s not in at_stop}
        state = SharedState(self.control / "state")
        journal = Journal(self.control / "journal.jsonl", "main")
        fresh: list[int] = []
        forged: dict[int, bytes] = {}
        try:
            for _ in range(self.keep + 2):
                step = state.take_step()
                journal.log("create_start", step=step)
                (self.guarded / name_of(step)).write_bytes(keras_bytes(self.rng, 20_000))
                journal.log("create_done", step=step)
                state.publish(step)
                fresh.append(step)
            whole = keras_bytes(self.rng, 20_000)
            broken = (
                b"",
                whole[: len(whole) // 2],
                keras_bytes(self.rng, 2000, model=False),
                self.rng.randbytes(5000),
            )
            for data in broken:
                step = state.take_step()
                journal.log("create_bad_start", step=step)
                (self.guarded / name_of(step)).write_bytes(data)
                journal.log("create_bad_done", step=step)
                forged[step] = data
        finally:
            journal.close()
        expected = fresh[-self.keep :]

        def valid_left() -> tuple[list[int], dict[int, Entry]]:
            current, current_pins = self.observe()
            return sorted(
                s for s, (_, c) in current.items() if c is True and s not in current_pins
            ), current

        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and valid_left()[0] != expected:
            time.sleep(0.1)
        time.sleep(max(2.0, self.settle + 0.5))  # past the settle window; let anything late land
        left, current = valid_left()
        if left != expected:
            self.flag("5", "end_state", expected=expected, left=left, complete_at_stop=at_stop)
        if fresh[-1] not in current:
            self.flag("5", "newest_missing_at_end", step=fresh[-1])
        for step in forged:
            if step not in current:
                self.flag("x", "forged_deleted", step=step)
        for step, entry in others.items():
            if current.get(step) != entry:
                invariant = "2" if step in pins else "x"
                self.flag(invariant, "missing_at_end", step=step, pinned=step in pins)
        return {
            "complete_at_stop": len(at_stop),
            "saved_after_stop": len(fresh),
            "forged_after_stop": len(forged),
            "complete_left": len(left),
            "other_files_left": len(others),
        }

    def prune_preview(self) -> int:
        """(6) Re-planning right after the daemon settled deletes nothing more."""
        result = subprocess.run(
            [
                *(sys.executable, "-m", self.daemon_module, "prune", "--dir", str(self.guarded)),
                *("--keep", str(self.keep), "--settle", str(self.settle), "--json"),
                *self.best_flags(),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if result.returncode != 0:
            self.flag("6", "prune_failed", returncode=result.returncode, stderr=result.stderr)
            return -1
        document = json.loads(result.stdout)
        planned = [e["path"] for e in document["entries"] if e["action"] == "delete"]
        for path in planned:
            self.flag("6", "would_delete", path=path)
        return len(planned)

    def daemon_logs(
        self, journal: list[dict[str, Any]], manifest: dict[str, Any]
    ) -> dict[str, Any]:
        """Counts from every daemon's JSON log, and the checks that need its timestamps."""
        events: Counter[str] = Counter()
        reasons: Counter[str] = Counter()
        completions = Completions(journal)
        non_json = 0
        for daemon in self.daemons:
            for raw in daemon.log.read_text(errors="replace").splitlines():
                if "Traceback" in raw:
                    self.flag("7", "traceback", log=daemon.log.name, line=raw[:300])
                try:
                    record = json.loads(raw)
                except ValueError:
                    non_json += 1
                    continue
                event = record.get("event", "?")
                events[event] += 1
                if event != "deleted":
                    continue
                reasons.update(record.get("reasons", []))
                path, step = record["path"], record["step"]
                name = os.path.basename(path)
                if os.path.dirname(path) != str(self.guarded) or name in manifest["symlinks"]:
                    self.flag("3", "deleted_outside_or_symlink", path=path)
                elif writer_step(name) != step:
                    self.flag("2", "deleted_canary_or_pinned", path=path)
                when = dt.datetime.fromisoformat(record["timestamp"].replace("Z", "+00:00"))
                newest = completions.newest_by(when.timestamp() + 0.5)
                if step in completions.steps and newest <= step:
                    self.flag(
                        "1", "deleted_newest_logged", path=path, timestamp=record["timestamp"]
                    )
        return {
            "events": dict(events),
            "deleted_reasons": dict(reasons),
            "non_json_lines": non_json,
        }

    def run(self) -> dict[str, Any]:
        manifest = setup_world(self.root, self.rng)
        SharedState(self.control / "state").init()
        started = time.monotonic()
        daemon: Daemon | None = None
        alias, alias_kind = self.alias()
        try:
            self.spawn(
                "_checker",
                str(self.guarded),
                str(self.control),
                str(self.keep),
                log=self.control / "checker.log",
            )
            for index in range(self.writers):
                self.spawn(
                    "_writer",
                    str(alias if index == 0 else self.guarded),
                    str(self.control),
                    str(index),
                    str(self.rng.randrange(2**32)),
                    str(self.settle),
                    str(self.guarded / METRICS),
                    log=self.control / f"writer-{index}.log",
                )
            daemon = self.chaos(time.monotonic() + self.seconds)
            chaos_seconds = time.monotonic() - started
            (self.control / "stop-writers").touch()
            for writer in self.children[1:]:
                if writer.wait(60) != 0:
                    raise RuntimeError(f"writer {writer.args} failed: see {self.control}")
            if not daemon.ready:
                self.ensure_ready(daemon)
            end_state = self.final_settle()
            planned = self.prune_preview()
            code = daemon.stop(signal.SIGTERM)
            if code != 0:
                self.flag("7", "final_sigterm_exit", returncode=code)
            (self.control / "stop-checker").touch()
            if self.children[0].wait(120) != 0:
                raise RuntimeError(f"checker failed: see {self.control / 'checker.log'}")
        finally:
            for process in [*(d.process for d in self.daemons), *self.children]:
                if process.poll() is None:
                    process.kill()
                    process.wait()
            for d in self.daemons:
                d.listener.close()
            if alias_kind == "bind mount":
                subprocess.run(["umount", "-l", str(alias)], check=False)
        journal = read_journal(self.control / "journal.jsonl")
        checker = json.loads((self.control / "checker.json").read_text())
        logs = self.daemon_logs(journal, manifest)
        for invariant, what in canary_problems(manifest):
            self.flag(invariant, "canary_at_end", what=what)
        for line in journal:
            if line["action"] == "violation":
                self.violations.append(line)
        self.violations.extend(checker["violations"])
        actions = Counter(
            line["action"] for line in journal if line["action"] in CAUSES and line["who"] != "main"
        )
        subjects: dict[str, set[str]] = {key: set() for key in INVARIANTS}
        for violation in self.violations:  # one count per thing harmed, whoever noticed it
            subject = next(
                (violation[k] for k in ("step", "path", "what", "log") if k in violation),
                violation["kind"],
            )
            subjects[violation["invariant"]].add(str(subject))
        counts = {key: len(found) for key, found in subjects.items()}
        canaries_intact = not any(v["kind"].startswith("canary") for v in self.violations)
        return {
            "seconds": self.seconds,
            "chaos_seconds": round(chaos_seconds, 1),
            "wall_seconds": round(time.monotonic() - started, 1),
            "seed": self.seed,
            "writers": self.writers,
            "keep": self.keep,
            "settle": self.settle,
            "writer_events": sum(actions.values()),
            "writer_actions": dict(sorted(actions.items())),
            "journal_notes": dict(
                Counter(line["action"] for line in journal if line["action"] not in CAUSES)
            ),
            "restarts": {"SIGKILL": self.restarts["SIGKILL"], "SIGTERM": self.restarts["SIGTERM"]},
            "alias": alias_kind,
            "daemon_starts": len(self.daemons),
            "daemon_deleted": logs["events"].get("deleted", 0),
            "daemon_log": logs,
            "checker": {k: v for k, v in checker.items() if k != "violations"},
            "end_state": end_state,
            "prune_would_delete": planned,
            "violations": counts,
            "violation_details": self.violations[:50],
            "canaries_intact": canaries_intact,
            "workdir": str(self.root),
        }


def render(result: dict[str, Any]) -> str:
    actions = result["writer_actions"]
    breakdown = ", ".join(f"{a.replace('_start', '')} {n}" for a, n in actions.items())
    restarts = result["restarts"]
    rows = [
        (
            "duration",
            f"{result['chaos_seconds']:.0f} s of chaos ({result['wall_seconds']:.0f} s in all)",
        ),
        (
            "writers / keep / settle",
            f"{result['writers']} / {result['keep']} / {result['settle']:g} s",
        ),
        ("writer events", f"{result['writer_events']} ({breakdown})"),
        (
            "daemon restarts",
            f"{restarts['SIGKILL'] + restarts['SIGTERM']} "
            f"(SIGKILL {restarts['SIGKILL']}, SIGTERM {restarts['SIGTERM']})",
        ),
        ("daemon `deleted` events", str(result["daemon_deleted"])),
        ("checker samples", str(result["checker"].get("samples", 0))),
    ]
    rows += [(f"({k}) {text}", str(result["violations"][k])) for k, text in INVARIANTS.items()]
    rows.append(("canaries intact", "yes" if result["canaries_intact"] else "**NO**"))
    lines = ["| measure | value |", "|---|---|"]
    lines += [f"| {name} | {value} |" for name, value in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "_writer":
        directory, control, ident, seed, settle, metrics = argv[1:7]
        writer = Writer(
            int(ident), Path(directory), Path(control), int(seed), float(settle), Path(metrics)
        )
        return writer.run()
    if argv and argv[0] == "_checker":
        return checker_main(Path(argv[1]), Path(argv[2]), int(argv[3]))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--writers", type=int, default=3)
    parser.add_argument("--keep", type=int, default=3)
    parser.add_argument("--settle", type=float, default=1.5)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument(
        "--max-alive", type=float, default=4.0, help="longest life of one daemon, seconds"
    )
    parser.add_argument(
        "--daemon-module",
        default="ckptguard",
        help="run `python -m MODULE run|prune ...` (to check the soak against a broken guard)",
    )
    parser.add_argument(
        "--workdir", help="an empty directory to work in (default: a new one in /tmp)"
    )
    parser.add_argument(
        "--json", dest="json_out", help="write the result here (default: bench/results/)"
    )
    parser.add_argument("--keep-workdir", action="store_true", help="keep the work directory")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.randrange(2**32)
    root = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="ckptguard-soak-"))
    soak = Soak(
        root / "soak",
        args.seconds,
        args.writers,
        args.keep,
        args.settle,
        seed,
        max_alive=args.max_alive,
        progress=True,
        daemon_module=args.daemon_module,
    )
    result = soak.run()
    failed = any(result["violations"].values()) or not result["canaries_intact"]
    if args.json_out:
        out = Path(args.json_out)
    else:
        RESULTS.mkdir(exist_ok=True)
        stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        out = RESULTS / f"soak-{stamp}-{args.seconds:g}s.json"
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(render(result))
    print(f"\nresult: {out}\nseed: {seed}")
    if failed or args.keep_workdir or args.workdir:
        print(f"work directory kept: {root}")
    else:
        import shutil

        shutil.rmtree(root, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
