"""The world the guard lives in: DIR with its canaries, and what must stay as it was.

Outside DIR: valid checkpoints and plain files, reached from inside through symlinks named
like checkpoints. Inside: files that do not match the pattern, a directory named like a
checkpoint, permanently pinned checkpoints, the best checkpoint by `val_loss` and the
metrics file naming it. A manifest records every canary's fingerprint; `canary_problems`
says which are missing or changed. One writer reaches DIR by another path (`another_path`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.checkpoint_files import name_of
from bench.soak.saves import keras_bytes
from bench.soak.steps import PIN, WRITER_MAX_STEP

PERMANENT_PINS = (1, 2, 3, WRITER_MAX_STEP)
# The checkpoint with the best val_loss: below the writers' steps, never touched by them.
BEST_STEP = 500
METRICS = "training.log"
METRICS_HEADER = "step,val_loss\n"


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
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
    }


def _outside(outside: Path, rng: random.Random) -> None:
    """Valid checkpoints (tempting if a symlink were followed) and plain data."""
    (outside / "checkpoint_step_0.keras").write_bytes(keras_bytes(rng, 20_000))
    (outside / "checkpoint_step_1000000000000000.keras").write_bytes(keras_bytes(rng, 20_000))
    (outside / "important.txt").write_text("do not delete\n")
    (outside / "sub").mkdir()
    (outside / "sub" / "checkpoint_step_1.keras").write_bytes(keras_bytes(rng, 10_000))


def _symlinks(guarded: Path, outside: Path) -> list[str]:
    """Inside DIR, named like checkpoints but symlinks: never followed, counted or deleted."""
    symlinks = {
        "checkpoint_step_0.keras": outside / "checkpoint_step_0.keras",  # oldest
        "checkpoint_step_1000000000000000.keras": outside
        / "checkpoint_step_1000000000000000.keras",
        "checkpoint_step_999.keras": outside,  # a link to the outside directory
    }
    for name, target in symlinks.items():
        (guarded / name).symlink_to(target)
    return list(symlinks)


def _not_matching(guarded: Path, rng: random.Random) -> list[str]:
    """Inside DIR, not matching the pattern: never deleted."""
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
    return sorted([*plain, "checkpoint_step_11.keras", "checkpoint_step_11.keras/inner.txt"])


def _pinned_and_best(guarded: Path, rng: random.Random) -> list[str]:
    """Permanently pinned checkpoints (the oldest, and one newer than anything the writers
    save) with their pins; the best checkpoint by val_loss, an old one kept only by
    keep-best, and the metrics file naming it."""
    for step in PERMANENT_PINS:
        (guarded / name_of(step)).write_bytes(keras_bytes(rng, 30_000))
        (guarded / (name_of(step) + PIN)).write_bytes(b"")
    (guarded / name_of(BEST_STEP)).write_bytes(keras_bytes(rng, 20_000))
    (guarded / METRICS).write_text(f"{METRICS_HEADER}{BEST_STEP},0.1\n")
    return sorted(n for s in PERMANENT_PINS for n in (name_of(s), name_of(s) + PIN))


def setup_world(root: Path, rng: random.Random) -> dict[str, Any]:
    """DIR, the outside canaries, symlinks, non-matching canaries and permanent pins; the
    manifest of their fingerprints, also written to control/manifest.json."""
    guarded, outside, control = root / "guarded", root / "outside", root / "control"
    for directory in (guarded, outside, control):
        directory.mkdir(parents=True)
    _outside(outside, rng)
    symlinks = _symlinks(guarded, outside)
    inside = _not_matching(guarded, rng)
    pins = _pinned_and_best(guarded, rng)
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


@contextlib.contextmanager
def another_path(guarded: Path, alias: Path) -> Iterator[str]:
    """`alias` made another path to DIR for one writer: a bind mount of it, as a container
    would see it, when root may mount; else a symlink. Yields which; unmounts at the end."""
    if os.geteuid() == 0:
        alias.mkdir()
        mounted = subprocess.run(
            ["mount", "--bind", str(guarded), str(alias)], capture_output=True, check=False
        )
        if mounted.returncode == 0:
            try:
                yield "bind mount"
            finally:
                subprocess.run(["umount", "-l", str(alias)], check=False)
            return
        alias.rmdir()
    alias.symlink_to(guarded)
    yield "symlink"
