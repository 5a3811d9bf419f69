"""The deepspeed and megatron presets on directories their frameworks write.

DeepSpeed runs for real on the CPU where it is installed (the e2e extra). Megatron-LM's
training loop does not install or run without a GPU (megatron-core's `torch_dist` saver
calls torch.cuda), so its layout is built as it writes it, with the shards and the
`.metadata` from torch.distributed.checkpoint itself, which that format is made of:

- megatron/training/checkpointing.py (NVIDIA/Megatron-LM): `get_checkpoint_name` names
  the directory `iter_{:07d}`; `save_checkpoint` writes the tracker file
  `latest_checkpointed_iteration.txt` (the iteration, or `release`) in
  `iter_finalize_fn`, after every rank has saved (a barrier), so last of all.
- megatron/core/dist_checkpointing/serialization.py (`save`): `common.pt`, then the
  sharded strategy (DCP: `__0_0.distcp`, then `.metadata`), then, in a finalize
  function on rank 0, `metadata.json` (core.py `save_config`: the backends and versions).
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import pytest
from support import run_cli

from ckptguard.core.layouts import layout_for
from ckptguard.core.model import Integrity
from ckptguard.store.local.entries import open_directory
from ckptguard.store.local.scan import scan

HERE = Path(__file__).parent
OLD = time.time() - 2 * 3600


def back_date(path: Path, when: float) -> None:
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            os.utime(os.path.join(root, name), (when, when), follow_symlinks=False)
    os.utime(path, (when, when), follow_symlinks=False)


def audit(directory: Path, *args: str) -> dict[str, dict[str, Any]]:
    done = run_cli("audit", "--json", "--dir", str(directory), *args)
    assert done.returncode == 0, done.stderr
    return {os.path.basename(e["path"]): e for e in json.loads(done.stdout)["entries"]}


def integrity(directory: Path, preset: str) -> dict[str, Integrity]:
    fd = open_directory(str(directory))
    try:
        inventory = scan(fd, str(directory), layout_for(preset))
    finally:
        os.close(fd)
    return {c.name: c.integrity for c in inventory.checkpoints}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# ---- DeepSpeed, for real --------------------------------------------------------------------


@pytest.fixture(scope="module")
def deepspeed_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four checkpoints saved by DeepSpeed's engine on the CPU, back-dated past settling."""
    if importlib.util.find_spec("deepspeed") is None:
        pytest.skip("deepspeed comes with the e2e extra")
    directory = tmp_path_factory.mktemp("deepspeed")
    env = {**os.environ, "MASTER_PORT": str(free_port()), "DS_ACCELERATOR": "cpu"}
    done = subprocess.run(
        [sys.executable, str(HERE / "deepspeed_writer.py"), str(directory), "4"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    for entry in directory.iterdir():
        if entry.name.startswith("global_step"):
            back_date(entry, OLD)
    os.utime(directory / "latest", (OLD + 60, OLD + 60))
    return directory


def test_deepspeed_writes_what_the_preset_expects(deepspeed_run: Path) -> None:
    """DeepSpeed names its saves global_step<N>/, holding rank 0's model states, and its
    `latest` tag file names the newest."""
    names = sorted(p.name for p in deepspeed_run.iterdir())
    assert [n for n in names if n.startswith("global_step")] == [
        f"global_step{n}" for n in (1, 2, 3, 4)
    ]
    assert (deepspeed_run / "latest").read_text() == "global_step4"
    assert (deepspeed_run / "global_step1" / "mp_rank_00_model_states.pt").is_file()


def test_deepspeed_preset_keeps_the_newest_and_what_latest_names(deepspeed_run: Path) -> None:
    """`--preset deepspeed --keep 2`: four complete saves, the two oldest deleted, the one
    `latest` names kept (and protected by it)."""
    entries = audit(deepspeed_run, "--preset", "deepspeed", "--keep", "2")
    assert {n: (e["state"], e["action"]) for n, e in entries.items()} == {
        "global_step1": ("complete", "delete"),
        "global_step2": ("complete", "delete"),
        "global_step3": ("complete", "keep"),
        "global_step4": ("complete", "keep"),
    }
    assert entries["global_step4"]["protected_by"] == "latest"


def test_deepspeed_save_not_yet_in_latest_is_in_progress(
    deepspeed_run: Path, tmp_path: Path
) -> None:
    """A save written after `latest` (DeepSpeed writes the tag file last) is a save in
    progress, although its model states are there; it counts once `latest` names it."""
    copy = tmp_path / "run"
    subprocess.run(["cp", "-a", str(deepspeed_run), str(copy)], check=True)
    step5 = copy / "global_step5"
    subprocess.run(["cp", "-a", str(copy / "global_step4"), str(step5)], check=True)
    now = time.time()
    back_date(step5, now - 30)
    entries = audit(copy, "--preset", "deepspeed", "--keep", "1")
    assert entries["global_step5"]["state"] == "in_progress"
    assert entries["global_step4"]["action"] == "keep"
    assert integrity(copy, "deepspeed")["global_step5"] is Integrity.INVALID
    (copy / "latest").write_text("global_step5")
    assert integrity(copy, "deepspeed")["global_step5"] is Integrity.VALID
    entries = audit(copy, "--preset", "deepspeed", "--keep", "1")
    assert entries["global_step5"]["state"] == "complete"
    assert entries["global_step4"]["action"] == "delete"


# ---- Megatron-LM, as it writes its torch_dist checkpoints --------------------------------


def megatron_save(root: Path, iteration: int, *, finished: bool = True) -> Path:
    """`iter_<7 digits>/` as Megatron writes it: common.pt, DCP shards and .metadata
    (written by torch.distributed.checkpoint), then metadata.json (unless cut short)."""
    import torch
    import torch.distributed.checkpoint as dcp

    directory = root / f"iter_{iteration:07d}"
    directory.mkdir()
    torch.save({"iteration": iteration, "args": None}, directory / "common.pt")
    state = {"decoder.weight": torch.randn(64, 64)}
    with warnings.catch_warnings():
        # "torch.distributed is disabled...assuming...a single process": as meant here.
        warnings.simplefilter("ignore", UserWarning)
        dcp.save(state, storage_writer=dcp.FileSystemWriter(str(directory)), no_dist=True)
    if finished:
        config = {
            "sharded_backend": "torch_dist",
            "sharded_backend_version": 1,
            "common_backend": "torch",
            "common_backend_version": 1,
        }
        (directory / "metadata.json").write_text(json.dumps(config))
    return directory


@pytest.fixture
def megatron_run(tmp_path: Path) -> Path:
    if importlib.util.find_spec("torch") is None:
        pytest.skip("torch comes with the e2e extra")
    root = tmp_path / "checkpoints"
    root.mkdir()
    for index, iteration in enumerate((100, 200, 300)):
        back_date(megatron_save(root, iteration), OLD + index)
    tracker = root / "latest_checkpointed_iteration.txt"
    tracker.write_text("300")
    os.utime(tracker, (OLD + 10, OLD + 10))
    return root


def test_megatron_preset_reads_iter_directories_and_the_tracker(megatron_run: Path) -> None:
    """`iter_0000100/` is step 100; the three finished saves are complete; the tracker's
    iteration is kept and protected, the oldest goes with `--keep 2`."""
    entries = audit(megatron_run, "--preset", "megatron", "--keep", "2")
    assert {n: (e["step"], e["state"], e["action"]) for n, e in entries.items()} == {
        "iter_0000100": (100, "complete", "delete"),
        "iter_0000200": (200, "complete", "keep"),
        "iter_0000300": (300, "complete", "keep"),
    }
    assert entries["iter_0000300"]["protected_by"] == "latest_checkpointed_iteration.txt"


def test_megatron_save_without_metadata_json_or_tracker_is_not_complete(
    megatron_run: Path,
) -> None:
    """Shards and .metadata without metadata.json (the finalize step not reached) are no
    checkpoint; with metadata.json but newer than the tracker, the save is not declared
    yet; once the tracker names it, it is complete."""
    cut = megatron_save(megatron_run, 400, finished=False)
    assert integrity(megatron_run, "megatron")["iter_0000400"] is Integrity.INVALID
    (cut / "metadata.json").write_text('{"sharded_backend": "torch_dist"}')
    assert integrity(megatron_run, "megatron")["iter_0000400"] is Integrity.INVALID
    entries = audit(megatron_run, "--preset", "megatron", "--keep", "1")
    assert entries["iter_0000400"]["state"] == "in_progress"
    (megatron_run / "latest_checkpointed_iteration.txt").write_text("400")
    assert integrity(megatron_run, "megatron")["iter_0000400"] is Integrity.VALID


def test_megatron_legacy_format_is_judged_by_settling(tmp_path: Path) -> None:
    """The legacy format (`iter_N/mp_rank_00/model_optim_rng.pt`) has no end marker:
    unchecked, so complete once settled (and declared by the tracker)."""
    directory = tmp_path / "iter_0000050" / "mp_rank_00"
    directory.mkdir(parents=True)
    (directory / "model_optim_rng.pt").write_bytes(b"x" * 100)
    back_date(tmp_path / "iter_0000050", OLD)
    assert integrity(tmp_path, "megatron")["iter_0000050"] is Integrity.UNCHECKED
    entries = audit(tmp_path, "--preset", "megatron")
    assert entries["iter_0000050"]["state"] == "complete"
