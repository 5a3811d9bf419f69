"""The daemon guarding directory and group checkpoints, driven by filesystem events alone.

Rescans and free-space checks are an hour apart here, so every deletion proves that an
event inside (or beside) a checkpoint woke the daemon.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from support import TF_MAGIC, settings_for, wait_for

from ckptguard.core.layouts import layout_for
from ckptguard.service.settings import Settings

HOUR = 3600.0


def guarded(directory: Path, preset: str, *, keep: int) -> Settings:
    settings = settings_for(directory, keep=keep, rescan_interval=HOUR, free_check_interval=HOUR)
    guard = replace(settings.guards[0], layout=layout_for(preset))
    return replace(settings, guards=(guard,))


def listing(directory: Path) -> list[str]:
    return sorted(n for n in os.listdir(directory) if not n.startswith(".ckptguard"))


def test_hf_checkpoints_are_pruned_as_trainer_state_lands(
    tmp_path: Path, start_daemon: Any
) -> None:
    """hf: the close of trainer_state.json inside a new checkpoint dir triggers keep-N."""
    start_daemon(guarded(tmp_path, "hf", keep=2))
    for step in (100, 200, 300, 400):
        directory = tmp_path / f"checkpoint-{step}"
        directory.mkdir()
        (directory / "model.safetensors").write_bytes(os.urandom(4096))
        (directory / "trainer_state.json").write_text(f'{{"global_step": {step}}}')
    wait_for(
        lambda: listing(tmp_path) == ["checkpoint-300", "checkpoint-400"],
        timeout=10,
        message="the two newest hf checkpoints only",
    )


def test_unfinished_hf_checkpoint_is_left_alone(tmp_path: Path, start_daemon: Any) -> None:
    """A checkpoint dir still without its marker is neither counted nor deleted."""
    start_daemon(guarded(tmp_path, "hf", keep=1))
    writing = tmp_path / "checkpoint-500"
    writing.mkdir()
    (writing / "model.safetensors").write_bytes(os.urandom(4096))
    for step in (100, 200):
        directory = tmp_path / f"checkpoint-{step}"
        directory.mkdir()
        (directory / "trainer_state.json").write_text(f'{{"global_step": {step}}}')
    wait_for(
        lambda: listing(tmp_path) == ["checkpoint-200", "checkpoint-500"],
        timeout=10,
        message="keep-1 among complete checkpoints, the unfinished one untouched",
    )
    assert (writing / "model.safetensors").stat().st_size == 4096


def test_tf_groups_are_pruned_when_the_index_lands(tmp_path: Path, start_daemon: Any) -> None:
    """tf: writing `.index` (the last file of a save) triggers keep-N on whole groups."""
    start_daemon(guarded(tmp_path, "tf", keep=1))
    for n in (1, 2, 3):
        (tmp_path / f"ckpt-{n}.data-00000-of-00001").write_bytes(os.urandom(4096))
        (tmp_path / f"ckpt-{n}.index").write_bytes(os.urandom(100) + TF_MAGIC)
        (tmp_path / "checkpoint").write_text(f'model_checkpoint_path: "ckpt-{n}"\n')
    wait_for(
        lambda: listing(tmp_path) == ["checkpoint", "ckpt-3.data-00000-of-00001", "ckpt-3.index"],
        timeout=10,
        message="only the newest group and the state file",
    )


def test_orbax_rename_into_place_triggers_pruning(tmp_path: Path, start_daemon: Any) -> None:
    """orbax: a temporary dir renamed to its step is a finished checkpoint."""
    start_daemon(guarded(tmp_path, "orbax", keep=1))
    for step in (10, 20, 30):
        temporary = tmp_path / f"{step}.orbax-checkpoint-tmp-1700000000"
        (temporary / "default").mkdir(parents=True)
        (temporary / "default" / "array").write_bytes(os.urandom(2048))
        temporary.rename(tmp_path / str(step))
    wait_for(lambda: listing(tmp_path) == ["30"], timeout=10, message="the newest step only")


def test_dcp_real_saves_are_pruned(tmp_path: Path, start_daemon: Any) -> None:
    """dcp: real torch.distributed.checkpoint saves, each finished by its .metadata."""
    torch = pytest.importorskip("torch", reason="torch is in the e2e extra")
    import torch.distributed.checkpoint as dcp

    start_daemon(guarded(tmp_path, "dcp", keep=1))
    for step in (1, 2, 3):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "no process group": a single-process save
            dcp.save({"weight": torch.ones(512)}, checkpoint_id=str(tmp_path / f"step-{step}"))
    wait_for(lambda: listing(tmp_path) == ["step-3"], timeout=10, message="the newest save only")
    assert sorted(os.listdir(tmp_path / "step-3")) == [".metadata", "__0_0.distcp"]
