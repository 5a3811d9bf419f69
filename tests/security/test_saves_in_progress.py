"""Saves in progress and files held open, however their writer reaches the directory.

Training usually runs in a container with the checkpoint volume bind-mounted, while the
guard runs on the host: the writer's path differs from the guard's. These tests make
that real (a bind mount in another mount namespace, made with `unshare --mount`), and
check that a save paused mid-write is never taken for garbage, that a reader through an
alias keeps its file, and that an HDF5 file flushed mid-write does not pass for complete.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import (
    OLD,
    Mounts,
    can_mount_tmpfs,
    fill,
    keras_bytes,
    name_of,
    run_cli,
    steps_in,
    wait_for,
)

MiB = 1 << 20

# Writes the first half of a checkpoint, says so, waits for a line on stdin, writes the
# rest and closes: a save that pauses mid-write (gathering optimizer state, say).
WRITER = textwrap.dedent(
    """
    import sys
    data = open(sys.argv[2], "rb").read()
    with open(sys.argv[1], "wb") as out:
        out.write(data[: len(data) // 2])
        out.flush()
        print("half", flush=True)
        sys.stdin.readline()
        out.write(data[len(data) // 2 :])
    print("done", flush=True)
    """
)
# Holds a file open for reading until stdin closes: an evaluation job.
READER = textwrap.dedent(
    """
    import sys
    with open(sys.argv[1], "rb") as held:
        print("open", flush=True)
        sys.stdin.readline()
    """
)


def needs_unshare() -> None:
    reason = can_mount_tmpfs()
    if reason:
        pytest.skip(reason)
    if shutil.which("unshare") is None:
        pytest.skip("unshare(1) not installed")


@pytest.fixture
def volume(tmp_path: Path, mounts: Mounts) -> Path:
    """A 12 MiB tmpfs holding three complete 1 MiB checkpoints, an hour old."""
    needs_unshare()
    fs = mounts.tmpfs(tmp_path / "m", 12 * MiB)
    for step in (1, 2, 3):
        path = fs / name_of(step)
        path.write_bytes(keras_bytes(MiB, random_payload=True))
        os.utime(path, (OLD + step, OLD + step))
    return fs


def in_other_namespace(volume: Path, alias: Path, script: str, *args: str) -> subprocess.Popen[str]:
    """Run `script` in a new mount namespace where `volume` is bind-mounted at `alias`,
    as a container would see the checkpoint volume."""
    alias.mkdir(exist_ok=True)
    command = (
        f"mount --bind {volume} {alias} && exec {sys.executable} -c "
        f"{shlex_quote(script)} " + " ".join(shlex_quote(a) for a in args)
    )
    return subprocess.Popen(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", command],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def shlex_quote(text: str) -> str:
    import shlex

    return shlex.quote(text)


def test_a_save_paused_through_a_bind_mount_is_never_taken_for_garbage(
    volume: Path, tmp_path: Path, guard_running
) -> None:
    """The issue's reproduction: a writer in another mount namespace writes half of step 4
    through its own path, pauses past --settle; the disk fills; the guard frees space from
    the complete checkpoints and leaves step 4 alone; the save then completes."""
    source = tmp_path / "source.keras"
    source.write_bytes(keras_bytes(MiB, random_payload=True))
    flags = ("--dir", str(volume), "--keep", "5", "--settle", "1", "--min-keep", "1")
    with guard_running(*flags) as guard:
        alias = tmp_path / "alias"
        writer = in_other_namespace(volume, alias, WRITER, str(alias / name_of(4)), str(source))
        assert writer.stdout is not None and writer.stdin is not None
        assert writer.stdout.readline() == "half\n"
        paused = time.monotonic()
        wait_for(lambda: time.monotonic() - paused > 2.0, message="a pause longer than --settle")
        fill(volume / "other-data.bin")  # another process fills the disk to the last byte
        # The guard acts on the pressure: the oldest complete checkpoints go.
        wait_for(lambda: 1 not in steps_in(volume), timeout=20, message="room made from step 1")
        assert 4 in steps_in(volume), "the save in progress was deleted"
        os.unlink(volume / "other-data.bin")
        writer.stdin.write("go\n")
        writer.stdin.flush()
        assert writer.stdout.readline() == "done\n"
        assert writer.wait(timeout=30) == 0
        wait_for(lambda: 4 in steps_in(volume), message="the finished save")
        writer.stdout.close()
        writer.stdin.close()
    assert (volume / name_of(4)).read_bytes() == source.read_bytes()
    deleted = [e["step"] for e in guard.events() if e["event"] == "deleted"]
    assert 4 not in deleted


def test_a_reader_through_a_bind_mount_holds_its_checkpoint(volume: Path, tmp_path: Path) -> None:
    """An evaluation job reading step 2 through its own path: under pressure, deleting step 2
    would free nothing, so prune passes over it and names the holder."""
    reader = in_other_namespace(
        volume, tmp_path / "alias", READER, str(tmp_path / "alias" / name_of(2))
    )
    assert reader.stdout is not None and reader.stdin is not None
    try:
        assert reader.stdout.readline() == "open\n"
        flags = ("--min-free", "99%", "--execute", "--json", "--settle", "0")
        done = run_cli("prune", "--dir", str(volume), *flags)
        assert done.returncode == 3, done.stderr  # 99% free cannot be met: exit 3
        by_step = {e["step"]: e for e in json.loads(done.stdout)["entries"]}
        assert by_step[2]["action"] == "keep"
        assert "open_elsewhere" in by_step[2]["reason_codes"]
        assert by_step[1]["action"] == "delete"
        assert steps_in(volume) == [2, 3]
    finally:
        reader.stdin.close()
        reader.wait(timeout=30)
        reader.stdout.close()


H5_WRITER = textwrap.dedent(
    """
    import sys
    import h5py
    import numpy as np
    with h5py.File(sys.argv[1], "w") as f:
        f.create_dataset("layer0", data=np.ones((256, 256)))
        f.flush()
        print("flushed", flush=True)
        sys.stdin.readline()
        f.create_dataset("layer1", data=np.ones((256, 256)))
    print("closed", flush=True)
    """
)


@pytest.fixture
def flushed_h5(models: Path) -> Iterator[tuple[Path, subprocess.Popen[str]]]:
    """A complete `ckpt_1.weights.h5`, and `ckpt_2.weights.h5` flushed mid-write by a writer
    that still holds it open."""
    pytest.importorskip("h5py", reason="needs h5py (the e2e extra)")
    complete = subprocess.Popen(
        [sys.executable, "-c", H5_WRITER, str(models / "ckpt_1.weights.h5")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert complete.communicate("go\n", timeout=60)[0] == "flushed\nclosed\n"
    writer = subprocess.Popen(
        [sys.executable, "-c", H5_WRITER, str(models / "ckpt_2.weights.h5")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert writer.stdout is not None and writer.stdin is not None
    try:
        assert writer.stdout.readline() == "flushed\n"
        yield models, writer
    finally:
        writer.stdin.close()
        writer.wait(timeout=60)
        writer.stdout.close()


H5_FLAGS = ("--pattern", "ckpt_{step}.weights.h5", "--keep", "1", "--settle", "0")


def test_an_hdf5_file_flushed_mid_write_does_not_pass_for_complete(flushed_h5) -> None:
    """After h5py's flush() the superblock looks whole; held open for writing, it is still a
    save in progress, and `prune --keep 1` keeps the complete previous checkpoint."""
    from ckptguard.core.model import Integrity
    from ckptguard.store.local.formats import check_hdf5

    models, _ = flushed_h5
    partial = models / "ckpt_2.weights.h5"
    with open(partial, "rb") as handle:  # the content check alone would call it complete
        assert check_hdf5(handle, partial.stat().st_size) is Integrity.VALID
    done = run_cli("prune", "--dir", str(models), *H5_FLAGS, "--execute", "--json")
    assert done.returncode == 0, done.stderr
    by_step = {e["step"]: e for e in json.loads(done.stdout)["entries"]}
    assert by_step[2]["state"] == "in_progress"
    assert "held open for writing" in " ".join(by_step[2]["reasons"])
    assert by_step[1]["action"] == "keep"
    assert sorted(os.listdir(models)) == ["ckpt_1.weights.h5", "ckpt_2.weights.h5"]


def test_the_daemon_waits_for_an_hdf5_save_to_close(flushed_h5, guard_running) -> None:
    """Under the daemon, the flushed-but-open file is in progress until closed; then it is
    the newest and the previous one goes."""
    models, writer = flushed_h5
    with guard_running("--dir", str(models), *H5_FLAGS) as guard:
        assert (models / "ckpt_1.weights.h5").exists()
        writer.stdin.write("go\n")  # type: ignore[union-attr]
        writer.stdin.flush()  # type: ignore[union-attr]
        assert writer.stdout.readline() == "closed\n"  # type: ignore[union-attr]
        wait_for(
            lambda: not (models / "ckpt_1.weights.h5").exists(),
            timeout=20,
            message="the previous checkpoint deleted once the save closed",
        )
    deleted = [e["step"] for e in guard.events() if e["event"] == "deleted"]
    assert deleted == [1]
