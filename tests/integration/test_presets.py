"""Every preset audited on its framework's real layout: states, sizes, reasons, pointers.

Files come from the real libraries where they are installed (`torch.save`,
`torch.distributed.checkpoint`, `h5py`, the e2e extra); layouts of frameworks too big to
install here (TensorFlow, Orbax, Hugging Face) are built as those frameworks write them.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import shutil
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from support import TF_MAGIC, keras_bytes, run_cli, zip_bytes

from ckptguard.core.layouts import PRESETS, layout_for
from ckptguard.core.model import Integrity
from ckptguard.face.cli import main
from ckptguard.store.local.cache import IntegrityCache
from ckptguard.store.local.entries import open_directory
from ckptguard.store.local.pointers import read_small
from ckptguard.store.local.scan import refresh, scan
from ckptguard.store.local.trees import measure_tree

OLD = time.time() - 2 * 3600
QUIET = time.time() - 1200  # a long pause inside a directory save, under the 1-hour limit


def age(path: Path, when: float = OLD) -> None:
    """Back-date `path` and everything in it, so no entry is inside the settle window."""
    if path.is_dir() and not path.is_symlink():
        for root, dirs, files in os.walk(path):
            for name in dirs + files:
                os.utime(os.path.join(root, name), (when, when), follow_symlinks=False)
    os.utime(path, (when, when), follow_symlinks=False)


def audit(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, dict[str, Any]]:
    """`ckptguard audit --json ARGS` in-process: each entry by its file name."""
    capsys.readouterr()
    assert main(["audit", "--json", *args]) == 0
    document = json.loads(capsys.readouterr().out)
    return {os.path.basename(e["path"]): e for e in document["entries"]}


def states(entries: dict[str, dict[str, Any]]) -> dict[str, tuple[str, str]]:
    return {name: (e["state"], e["action"]) for name, e in entries.items()}


# ---- hf: checkpoint-{step}/ directories, complete with trainer_state.json ------------------


def hf_checkpoint(
    out: Path, step: int, *, eval_loss: float | None = None, complete: bool = True
) -> Path:
    """A Trainer checkpoint: weights, optimizer, and trainer_state.json written last."""
    directory = out / f"checkpoint-{step}"
    directory.mkdir()
    (directory / "model.safetensors").write_bytes(os.urandom(3000))
    (directory / "optimizer.pt").write_bytes(os.urandom(2000))
    (directory / "config.json").write_text("{}")
    if complete:
        history: list[dict[str, Any]] = [{"step": step, "loss": 2.0, "epoch": 1.0}]
        if eval_loss is not None:
            history.append({"step": step, "eval_loss": eval_loss, "epoch": 1.0})
        state = {"global_step": step, "log_history": history, "best_metric": None}
        (directory / "trainer_state.json").write_text(json.dumps(state))
    age(directory)
    return directory


def test_hf_states_sizes_and_reasons(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """hf: complete dirs counted and sized whole; no trainer_state.json means not complete.

    An unfinished one older than a complete one was abandoned (corrupt); newer than every
    complete one it is a save that may pause between files, however long ago it moved.
    """
    for step in (100, 200, 300):
        hf_checkpoint(tmp_path, step)
    hf_checkpoint(tmp_path, 250, complete=False)  # crashed mid-save, then training went on
    hf_checkpoint(tmp_path, 400, complete=False)  # quiet: gathering optimizer state, say
    age(tmp_path / "checkpoint-400", QUIET)
    hf_checkpoint(tmp_path, 500, complete=False)
    age(tmp_path / "checkpoint-500", time.time())  # being written now
    (tmp_path / "runs").mkdir()  # TensorBoard logs: not a checkpoint
    (tmp_path / "checkpoint-600").mkdir()
    (tmp_path / "checkpoint-600" / "trainer_state.json").write_text('{"global_step": 1}')
    age(tmp_path / "checkpoint-600", QUIET)  # a state that is not this checkpoint's
    hf_checkpoint(tmp_path, 700, complete=False)  # quiet for over an hour: abandoned
    entries = audit(capsys, "--preset", "hf", "--dir", str(tmp_path), "--keep", "2")
    assert states(entries) == {
        "checkpoint-100": ("complete", "delete"),
        "checkpoint-200": ("complete", "keep"),
        "checkpoint-250": ("corrupt", "keep"),
        "checkpoint-300": ("complete", "keep"),
        "checkpoint-400": ("in_progress", "keep"),
        "checkpoint-500": ("in_progress", "keep"),
        "checkpoint-600": ("in_progress", "keep"),
        "checkpoint-700": ("corrupt", "keep"),
    }
    assert "may pause between files" in entries["checkpoint-400"]["reasons"][0]
    files = list((tmp_path / "checkpoint-100").iterdir())
    assert entries["checkpoint-100"]["size"] == sum(f.stat().st_size for f in files)
    assert entries["checkpoint-100"]["unit"] == "directory"
    assert entries["checkpoint-100"]["reason_codes"] == ["beyond_keep"]


def test_hf_keep_best_from_each_trainer_state(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """hf: --metric eval_loss comes from each checkpoint's own trainer_state.json."""
    for step, loss in ((100, 0.9), (200, 0.2), (300, 0.5), (400, 0.7)):
        hf_checkpoint(tmp_path, step, eval_loss=loss)
    entries = audit(
        capsys,
        *("--preset", "hf", "--dir", str(tmp_path), "--keep", "1"),
        *("--keep-best", "1", "--metric", "eval_loss"),
    )
    assert {n for n, e in entries.items() if e["action"] == "delete"} == {
        "checkpoint-100",
        "checkpoint-300",
    }
    assert entries["checkpoint-200"]["rank"] == 1
    assert "best" in entries["checkpoint-200"]["reason_codes"]
    assert entries["checkpoint-300"]["metrics"]["eval_loss"] == 0.5
    assert entries["checkpoint-300"]["metric_sources"]["eval_loss"] == "checkpoint"


def test_hf_pointer_file_protects_its_target(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A DeepSpeed-style `latest` naming an old checkpoint keeps it; `latest` is no checkpoint."""
    for step in (100, 200, 300):
        hf_checkpoint(tmp_path, step)
    (tmp_path / "latest").write_text("checkpoint-100\n")
    entries = audit(capsys, "--preset", "hf", "--dir", str(tmp_path), "--keep", "1")
    assert entries["checkpoint-100"]["action"] == "keep"
    assert entries["checkpoint-100"]["protected_by"] == "latest"
    assert entries["checkpoint-200"]["action"] == "delete"
    assert "latest" not in entries


def test_audit_preset_hf_as_the_user_types_it(tmp_path: Path) -> None:
    """`ckptguard audit --preset hf --dir out/` prints the table; nothing is deleted."""
    out = tmp_path / "out"
    out.mkdir()
    for step in (500, 1000, 1500, 2000):
        hf_checkpoint(out, step)
    before = sorted(os.listdir(out))
    done = run_cli("audit", "--preset", "hf", "--dir", "out/", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "checkpoint-500/" in done.stdout
    assert "older than the 3 newest valid checkpoints" in done.stdout
    assert sorted(os.listdir(out)) == before


def test_prune_deletes_a_directory_checkpoint_whole(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """prune --execute removes old checkpoint dirs entirely and leaves no trash behind."""
    for step in (100, 200, 300):
        hf_checkpoint(tmp_path, step)
    (tmp_path / "checkpoint-100" / "nested" / "deeper").mkdir(parents=True)
    (tmp_path / "checkpoint-100" / "nested" / "deeper" / "shard.bin").write_bytes(b"x" * 100)
    outside = tmp_path.parent / f"{tmp_path.name}-outside.bin"
    outside.write_bytes(b"precious")
    (tmp_path / "checkpoint-100" / "link").symlink_to(outside)
    age(tmp_path / "checkpoint-100")
    code = main(["prune", "--execute", "--preset", "hf", "--dir", str(tmp_path), "--keep", "2"])
    assert code == 0
    assert sorted(os.listdir(tmp_path)) == ["checkpoint-200", "checkpoint-300"]
    assert outside.read_bytes() == b"precious"


# ---- dcp: torch.distributed.checkpoint directories, complete with .metadata -----------------


def dcp_save(directory: Path) -> None:
    torch = pytest.importorskip("torch", reason="torch is in the e2e extra")
    import torch.distributed.checkpoint as dcp

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "no process group": a single-process save
        dcp.save({"weight": torch.ones(64), "bias": torch.zeros(8)}, checkpoint_id=str(directory))


def test_dcp_real_saves(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """dcp: real torch.distributed.checkpoint saves; without .metadata a save is unfinished."""
    for step in (10, 20, 30, 40, 50):
        dcp_save(tmp_path / f"step-{step}")
    (tmp_path / "step-20" / ".metadata").unlink()  # the last thing DCP writes
    (tmp_path / "step-50" / ".metadata").unlink()
    (tmp_path / "step-40" / ".metadata").write_bytes(b"\x80\x04")  # not a whole pickle
    for step in (10, 20, 30):
        age(tmp_path / f"step-{step}")
    for step in (40, 50):
        age(tmp_path / f"step-{step}", QUIET)  # newer than every complete one, quiet 20 min
    entries = audit(capsys, "--preset", "dcp", "--dir", str(tmp_path), "--keep", "1")
    assert states(entries) == {
        "step-10": ("complete", "delete"),
        "step-20": ("corrupt", "keep"),
        "step-30": ("complete", "keep"),
        "step-40": ("in_progress", "keep"),
        "step-50": ("in_progress", "keep"),
    }


def test_dcp_megatron_iteration_pointer(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """latest_checkpointed_iteration.txt protects the checkpoint of that step."""
    for step in (10, 20, 30):
        dcp_save(tmp_path / f"step-{step}")
        age(tmp_path / f"step-{step}")
    (tmp_path / "latest_checkpointed_iteration.txt").write_text("10\n")
    entries = audit(capsys, "--preset", "dcp", "--dir", str(tmp_path), "--keep", "1")
    assert entries["step-10"]["protected_by"] == "latest_checkpointed_iteration.txt"
    assert states(entries)["step-10"] == ("complete", "keep")
    assert states(entries)["step-20"] == ("complete", "delete")


# ---- tf: ckpt-{n}.index + ckpt-{n}.data-?????-of-????? groups -------------------------------


def tf_checkpoint(directory: Path, n: int, *, shards: int = 1, index: bool = True) -> None:
    """What tf.train.Checkpoint.save writes: data shards, then the `.index` table."""
    for i in range(shards):
        (directory / f"ckpt-{n}.data-{i:05d}-of-{shards:05d}").write_bytes(os.urandom(4000))
    if index:
        (directory / f"ckpt-{n}.index").write_bytes(os.urandom(200) + TF_MAGIC)


def test_tf_groups(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """tf: a group needs its index and every shard; the `checkpoint` file names a kept one."""
    tf_checkpoint(tmp_path, 1)
    tf_checkpoint(tmp_path, 2, shards=2)
    tf_checkpoint(tmp_path, 3)
    tf_checkpoint(tmp_path, 7)
    tf_checkpoint(tmp_path, 4, shards=3)
    (tmp_path / "ckpt-4.data-00001-of-00003").unlink()  # a shard missing
    tf_checkpoint(tmp_path, 5, index=False)  # died before the index
    (tmp_path / "ckpt-6.index").write_bytes(b"not a table" * 10)  # forged index
    (tmp_path / "ckpt-6.data-00000-of-00001").write_bytes(b"x")
    (tmp_path / "checkpoint").write_text(
        'model_checkpoint_path: "ckpt-1"\nall_model_checkpoint_paths: "ckpt-1"\n'
    )
    for entry in tmp_path.iterdir():
        age(entry)
    entries = audit(capsys, "--preset", "tf", "--dir", str(tmp_path), "--keep", "1")
    assert states(entries) == {
        "ckpt-1": ("complete", "keep"),
        "ckpt-2": ("complete", "delete"),
        "ckpt-3": ("complete", "delete"),
        "ckpt-4": ("corrupt", "keep"),
        "ckpt-5": ("corrupt", "keep"),
        "ckpt-6": ("corrupt", "keep"),
        "ckpt-7": ("complete", "keep"),
    }
    assert entries["ckpt-1"]["protected_by"] == "checkpoint"
    assert entries["ckpt-2"]["parts"][0] == "ckpt-2.index"  # the marker goes first
    assert entries["ckpt-2"]["size"] == 4000 * 2 + 208
    assert "checkpoint" not in entries


def test_tf_prune_leaves_state_file_and_removes_whole_groups(tmp_path: Path) -> None:
    """prune --execute deletes every file of a group and never the `checkpoint` file."""
    for n in (1, 2, 3):
        tf_checkpoint(tmp_path, n, shards=2)
    (tmp_path / "checkpoint").write_text('model_checkpoint_path: "ckpt-3"\n')
    for entry in tmp_path.iterdir():
        age(entry)
    assert (
        main(["prune", "--execute", "--preset", "tf", "--dir", str(tmp_path), "--keep", "1"]) == 0
    )
    assert sorted(os.listdir(tmp_path)) == [
        "checkpoint",
        "ckpt-3.data-00000-of-00002",
        "ckpt-3.data-00001-of-00002",
        "ckpt-3.index",
    ]


# ---- orbax: step directories renamed into place ------------------------------------------


def test_orbax_ignores_temporary_directories(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """orbax: final step dirs count; `*.orbax-checkpoint-tmp-*` are neither counted nor touched."""
    for step in (1000, 2000, 3000):
        (tmp_path / str(step) / "default").mkdir(parents=True)
        (tmp_path / str(step) / "default" / "array").write_bytes(os.urandom(500))
        (tmp_path / str(step) / "_CHECKPOINT_METADATA").write_text("{}")
        age(tmp_path / str(step))
    (tmp_path / "4000.orbax-checkpoint-tmp-1700000000").mkdir()
    (tmp_path / "500").mkdir()  # an empty step directory: not a checkpoint
    age(tmp_path / "500")
    entries = audit(capsys, "--preset", "orbax", "--dir", str(tmp_path), "--keep", "2")
    assert states(entries) == {
        "1000": ("complete", "delete"),
        "2000": ("complete", "keep"),
        "3000": ("complete", "keep"),
        "500": ("corrupt", "keep"),
    }


def test_orbax_commit_success_marker(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """orbax on stores without rename: a step dir holding commit_success.txt is complete."""
    (tmp_path / "100").mkdir()
    (tmp_path / "100" / "commit_success.txt").write_text("ok")
    age(tmp_path / "100")
    entries = audit(capsys, "--preset", "orbax", "--dir", str(tmp_path))
    assert states(entries) == {"100": ("complete", "keep")}


# ---- torch and lightning: torch.save zips ---------------------------------------------------


def torch_save(path: Path) -> None:
    torch = pytest.importorskip("torch", reason="torch is in the e2e extra")
    torch.save({"weight": torch.ones(256), "step": 1}, path)


@pytest.mark.parametrize(
    ("preset", "name_of"),
    [
        pytest.param("torch", lambda step: f"checkpoint_{step}.pt", id="torch"),
        pytest.param("lightning", lambda step: f"epoch={step // 100}-step={step}.ckpt", id="pl"),
    ],
)
def test_torch_save_files(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    preset: str,
    name_of: Callable[[int], str],
) -> None:
    """torch/lightning: real torch.save zips are complete; cut short or forged are not."""
    for step in (100, 200, 300):
        torch_save(tmp_path / name_of(step))
    data = (tmp_path / name_of(300)).read_bytes()
    (tmp_path / name_of(400)).write_bytes(data[: len(data) // 2])  # cut short
    (tmp_path / name_of(500)).write_bytes(b"PK\x03\x04" + os.urandom(2000))  # forged zip
    (tmp_path / name_of(600)).write_bytes(data[: len(data) // 2])  # being written now
    for step in (100, 200, 300, 400, 500):
        age(tmp_path / name_of(step))
    entries = audit(capsys, "--preset", preset, "--dir", str(tmp_path), "--keep", "2")
    assert states(entries) == {
        name_of(100): ("complete", "delete"),
        name_of(200): ("complete", "keep"),
        name_of(300): ("complete", "keep"),
        name_of(400): ("corrupt", "keep"),
        name_of(500): ("corrupt", "keep"),
        name_of(600): ("in_progress", "keep"),
    }


def test_torch_legacy_pickle_is_judged_by_age(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A pre-1.6 torch.save pickle has no end marker: complete once settled, never corrupt."""
    torch = pytest.importorskip("torch", reason="torch is in the e2e extra")
    path = tmp_path / "checkpoint_7.pt"
    torch.save({"w": torch.ones(4)}, path, _use_new_zipfile_serialization=False)
    age(path)
    entries = audit(capsys, "--preset", "torch", "--dir", str(tmp_path))
    assert states(entries) == {"checkpoint_7.pt": ("complete", "keep")}


def test_lightning_last_ckpt(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """lightning: last.ckpt is never a checkpoint to count; as a symlink it protects its target."""
    names = [f"epoch={e}-step={s}.ckpt" for e, s in ((0, 100), (1, 200), (2, 300))]
    for name in names:
        torch_save(tmp_path / name)
        age(tmp_path / name)
    (tmp_path / "last.ckpt").symlink_to(names[0])
    entries = audit(capsys, "--preset", "lightning", "--dir", str(tmp_path), "--keep", "1")
    assert "last.ckpt" not in entries
    assert entries[names[0]]["protected_by"] == "last.ckpt"
    assert states(entries) == {
        names[0]: ("complete", "keep"),
        names[1]: ("complete", "delete"),
        names[2]: ("complete", "keep"),
    }
    (tmp_path / "last.ckpt").unlink()
    shutil.copyfile(tmp_path / names[2], tmp_path / "last.ckpt")  # save_last=True: a copy
    entries = audit(capsys, "--preset", "lightning", "--dir", str(tmp_path), "--keep", "1")
    assert "last.ckpt" not in entries
    assert {n for n, e in entries.items() if e["action"] == "delete"} == set(names[:2])


# ---- keras: .keras zips and .weights.h5 HDF5 files -------------------------------------------


def test_keras_weights_h5(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """keras .weights.h5: closed HDF5 files are complete; cut short or still open are not."""
    h5py = pytest.importorskip("h5py", reason="h5py comes with keras (the e2e extra)")
    numpy = pytest.importorskip("numpy")

    def name_of(step: int) -> str:
        return f"ckpt_{step}.weights.h5"

    for step in (1, 2, 3):
        with h5py.File(tmp_path / name_of(step), "w") as handle:
            handle["dense/kernel"] = numpy.ones((64, 64))
    data = (tmp_path / name_of(3)).read_bytes()
    (tmp_path / name_of(4)).write_bytes(data[:-1000])  # cut short
    with h5py.File(tmp_path / "open.h5", "w") as handle:
        handle["dense/kernel"] = numpy.ones((64, 64))
        handle.flush()
        handle["dense/bias"] = numpy.ones(4000)
        # A copy taken while the file is still open for writing: what a crash leaves.
        shutil.copyfile(tmp_path / "open.h5", tmp_path / name_of(5))
    (tmp_path / name_of(6)).write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 100)  # forged
    for step in range(1, 7):
        age(tmp_path / name_of(step))
    entries = audit(
        capsys, "--dir", str(tmp_path), "--pattern", "ckpt_{step}.weights.h5", "--keep", "1"
    )
    assert states(entries) == {
        name_of(1): ("complete", "delete"),
        name_of(2): ("complete", "delete"),
        name_of(3): ("complete", "keep"),
        name_of(4): ("corrupt", "keep"),
        name_of(5): ("corrupt", "keep"),
        name_of(6): ("corrupt", "keep"),
    }


# ---- every preset ---------------------------------------------------------------------------


@pytest.mark.parametrize("preset", PRESETS)
def test_every_preset_leaves_pointer_files_alone(preset: str, tmp_path: Path) -> None:
    """Under every preset, prune never deletes a pointer file, whatever it contains."""
    pointers = {
        "latest": "global_step1",
        "checkpoint": 'model_checkpoint_path: "nothing"\n',
        "latest_checkpointed_iteration.txt": "1\n",
        "last.ckpt": "a copy",
    }
    for name, text in pointers.items():
        (tmp_path / name).write_text(text)
        age(tmp_path / name)
    assert (
        main(["prune", "--execute", "--preset", preset, "--dir", str(tmp_path), "--keep", "1"]) == 0
    )
    assert {p.name: p.read_text() for p in tmp_path.iterdir()} == pointers


@pytest.mark.parametrize("preset", PRESETS)
def test_every_preset_has_a_default_pattern(preset: str) -> None:
    """Each preset's default pattern parses, so `--preset NAME` alone is enough."""
    layout = layout_for(preset)
    name = re.sub(r"\{(?!step\})[^}]*\}", "1", layout.template.name_for(42))
    assert layout.template.step_of(name) == 42


def test_unknown_preset_is_a_usage_error(tmp_path: Path) -> None:
    """A preset that does not exist: exit 2 and one line naming the flag."""
    done = run_cli("audit", "--preset", "jax", "--dir", str(tmp_path))
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1
    assert "--preset" in done.stderr


# ---- pointer files and config ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("pointer", "content", "protected"),
    [
        pytest.param("checkpoint", 'model_checkpoint_path: "/abs/run/ckpt-1"\n', 1, id="tf-abs"),
        pytest.param("latest", "ckpt-1", 1, id="latest-text"),
        pytest.param("latest", "ckpt-1" + " " * 5000, None, id="latest-too-long"),
        pytest.param("latest", "", None, id="latest-empty"),
        pytest.param("latest_checkpointed_iteration.txt", "2", 2, id="megatron-step"),
        pytest.param("latest_checkpointed_iteration.txt", "release", None, id="megatron-release"),
        pytest.param("checkpoint", "garbage without a path", None, id="tf-garbage"),
    ],
)
def test_pointer_contents(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    pointer: str,
    content: str,
    protected: int | None,
) -> None:
    """What each pointer file names; unreadable, oversized or odd contents name nothing."""
    for n in (1, 2, 3):
        tf_checkpoint(tmp_path, n)
    (tmp_path / pointer).write_text(content)
    for entry in tmp_path.iterdir():
        age(entry)
    entries = audit(capsys, "--preset", "tf", "--dir", str(tmp_path), "--keep", "1")
    named = {n for n, e in entries.items() if e.get("protected_by") == pointer}
    assert named == (set() if protected is None else {f"ckpt-{protected}"})


def test_pointer_that_is_a_fifo_or_directory_names_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A FIFO named `latest` must not block the scan; a directory named `checkpoint` is no file."""
    for n in (1, 2):
        tf_checkpoint(tmp_path, n)
    os.mkfifo(tmp_path / "latest")
    (tmp_path / "checkpoint").mkdir()
    for entry in tmp_path.iterdir():
        age(entry)
    entries = audit(capsys, "--preset", "tf", "--dir", str(tmp_path), "--keep", "1")
    assert states(entries) == {"ckpt-1": ("complete", "delete"), "ckpt-2": ("complete", "keep")}


def test_latest_symlink_to_a_directory_checkpoint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A `latest` symlink (with a trailing slash) protects the directory it names."""
    for step in (100, 200, 300):
        hf_checkpoint(tmp_path, step)
    (tmp_path / "latest").symlink_to("checkpoint-100/")
    entries = audit(capsys, "--preset", "hf", "--dir", str(tmp_path), "--keep", "1")
    assert entries["checkpoint-100"]["protected_by"] == "latest"
    assert entries["checkpoint-100"]["action"] == "keep"


def test_config_file_sets_a_preset_per_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`preset` in a [[directory]] entry applies to that directory only."""
    hf_out, keras_out = tmp_path / "hf", tmp_path / "keras"
    hf_out.mkdir()
    keras_out.mkdir()
    for step in (1, 2):
        hf_checkpoint(hf_out, step)
    config = tmp_path / "ckptguard.toml"
    config.write_text(
        'keep = 1\n[[directory]]\npath = "hf"\npreset = "hf"\n[[directory]]\npath = "keras"\n'
    )
    capsys.readouterr()
    assert main(["audit", "--json", "--config", str(config)]) == 0
    document = json.loads(capsys.readouterr().out)
    assert [os.path.basename(e["path"]) for e in document["entries"]] == [
        "checkpoint-1",
        "checkpoint-2",
    ]


# ---- inventory details ------------------------------------------------------------------------


def test_event_refresh_walks_only_named_or_visibly_changed_directories(tmp_path: Path) -> None:
    """An event re-walks the checkpoint it names; others are re-walked only if they changed."""
    for step in (100, 200):
        hf_checkpoint(tmp_path, step)
    layout = layout_for("hf")
    cache = IntegrityCache()
    fd = open_directory(str(tmp_path))
    try:
        first = scan(fd, str(tmp_path), layout, cache=cache)
        sizes = {c.name: c.size for c in first.checkpoints}
        with open(tmp_path / "checkpoint-100" / "optimizer.pt", "ab") as handle:
            handle.write(b"x" * 10)  # a write inside: its close event names the checkpoint
        quiet = refresh(fd, first, set(), layout, cache)
        named = refresh(fd, first, {"checkpoint-100"}, layout, cache)
        (tmp_path / "checkpoint-200" / "extra.bin").write_bytes(b"y" * 7)  # top mtime moves
        moved = refresh(fd, first, set(), layout, cache)
    finally:
        os.close(fd)
    by_name = {c.name: c.size for c in quiet.checkpoints}
    assert by_name == sizes  # not named, top unchanged: the last walk stands
    assert {c.name: c.size for c in named.checkpoints}["checkpoint-100"] == sizes[
        "checkpoint-100"
    ] + 10
    assert {c.name: c.size for c in moved.checkpoints}["checkpoint-200"] == sizes[
        "checkpoint-200"
    ] + 7


def test_pointer_read_never_raises_on_a_directory(tmp_path: Path) -> None:
    """A pointer swapped for a directory between its stat and its open reads as nothing."""
    (tmp_path / "latest").mkdir()
    fd = open_directory(str(tmp_path))
    before = len(os.listdir("/proc/self/fd"))
    try:
        assert read_small(fd, "latest", 4096) is None
        assert len(os.listdir("/proc/self/fd")) == before  # and no descriptor leaked
    finally:
        os.close(fd)


def test_a_directory_changing_under_every_walk_stays_known(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A tree that keeps changing while walked is a save in progress, kept in the inventory.

    Dropping it would leave it unseen until the next full rescan if no other event came;
    a walk that keeps meeting vanishing entries cannot be staged reliably, so it is
    injected here.
    """
    import ckptguard.store.local.directories as inventory

    hf_checkpoint(tmp_path, 100)
    hf_checkpoint(tmp_path, 200)
    age(tmp_path / "checkpoint-200", time.time())

    def always_changing(top: int, parent: int) -> object:
        if os.readlink(f"/proc/self/fd/{top}").endswith("checkpoint-200"):
            raise FileNotFoundError(2, "vanished mid-walk")
        return measure_tree(top, parent)

    monkeypatch.setattr(inventory, "measure_tree", always_changing)
    fd = open_directory(str(tmp_path))
    try:
        found = {c.name: c for c in scan(fd, str(tmp_path), layout_for("hf")).checkpoints}
    finally:
        os.close(fd)
    assert found["checkpoint-200"].integrity is Integrity.INVALID
    assert found["checkpoint-200"].reclaimable == 0  # never deleted on such a reading
    assert found["checkpoint-100"].integrity is Integrity.VALID


def test_marker_renamed_into_place_is_seen_with_a_coarse_clock(tmp_path: Path) -> None:
    """DCP renames .metadata.tmp to .metadata: same total size, and on a filesystem with
    one-second timestamps the same newest mtime. A look just before the rename must not
    be remembered as the checkpoint's verdict."""
    dcp_save(tmp_path / "step-10")
    directory = tmp_path / "step-10"
    (directory / ".metadata").rename(directory / ".metadata.tmp")
    age(directory)
    layout, cache = layout_for("dcp"), IntegrityCache()
    fd = open_directory(str(tmp_path))
    try:
        before = scan(fd, str(tmp_path), layout, cache=cache).checkpoints[0]
        (directory / ".metadata.tmp").rename(directory / ".metadata")
        age(directory)  # what a coarse clock shows: nothing moved
        after = scan(fd, str(tmp_path), layout, cache=cache).checkpoints[0]
    finally:
        os.close(fd)
    assert before.identity == after.identity  # the walk cannot tell the two apart
    assert (before.integrity, after.integrity) == (Integrity.INVALID, Integrity.VALID)


def test_trainer_state_too_big_to_parse_is_judged_by_its_head(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Over the parse limit, the head's global_step decides; such a checkpoint has no metrics."""
    from ckptguard.store.local.formats import MAX_STATE_BYTES

    rows = [{"step": s, "loss": 1.0} for s in range(MAX_STATE_BYTES // 20)]
    for step, stated in ((100, 100), (200, 200), (300, 7)):
        directory = tmp_path / f"checkpoint-{step}"
        directory.mkdir()
        (directory / "model.safetensors").write_bytes(b"w" * 100)
        state = {"best_metric": None, "global_step": stated, "log_history": rows}
        (directory / "trainer_state.json").write_text(json.dumps(state, indent=2, sort_keys=True))
        assert (directory / "trainer_state.json").stat().st_size > MAX_STATE_BYTES
        age(directory)
    entries = audit(capsys, "--preset", "hf", "--dir", str(tmp_path), "--keep", "1")
    assert states(entries) == {
        "checkpoint-100": ("complete", "delete"),
        "checkpoint-200": ("complete", "keep"),
        "checkpoint-300": ("corrupt", "keep"),
    }
    assert "metrics" not in entries["checkpoint-200"]


def test_scans_report_progress_per_checkpoint(tmp_path: Path) -> None:
    """The daemon's watchdog hook runs after each checkpoint, also in event refreshes."""
    for step in (1, 2, 3):
        hf_checkpoint(tmp_path, step)
    calls: list[int] = []
    fd = open_directory(str(tmp_path))
    try:
        first = scan(fd, str(tmp_path), layout_for("hf"), progress=lambda: calls.append(1))
        assert len(calls) == 3
        refresh(
            fd,
            first,
            {"checkpoint-9"},
            layout_for("hf"),
            IntegrityCache(),
            progress=lambda: calls.append(2),
        )
    finally:
        os.close(fd)
    assert calls.count(2) == 4  # three known, one named


# ---- every preset: complete, in progress, corrupt, pointer --------------------------------


def _write(preset: str, directory: Path, name: str, step: int, complete: bool) -> None:
    """One checkpoint as `preset`'s framework lays it out: whole, or cut off mid-save."""
    path = directory / name
    if preset in ("keras", "torch", "lightning"):
        torch_zip = zip_bytes(dict.fromkeys(("archive/data.pkl", "archive/version"), b"x" * 2000))
        data = keras_bytes() if preset == "keras" else torch_zip
        path.write_bytes(data if complete else data[: len(data) // 2])
    elif preset == "tf":
        (directory / f"{name}.data-00000-of-00001").write_bytes(b"d" * 3000)
        if complete:
            (directory / f"{name}.index").write_bytes(b"\0" * 100 + TF_MAGIC)
    elif preset == "orbax" and not complete:
        path.mkdir()  # an empty step directory: nothing Orbax would have renamed into place
    else:
        path.mkdir()
        (path / "weights.bin").write_bytes(b"w" * 3000)
        if complete and preset == "hf":
            (path / "trainer_state.json").write_text(json.dumps({"global_step": step}))
        elif complete and preset in ("dcp", "megatron"):
            (path / ".metadata").write_bytes(pickle.dumps({"planner": "default"}))
            if preset == "megatron":
                (path / "metadata.json").write_text('{"sharded_backend": "torch_dist"}')
        elif complete and preset == "deepspeed":
            states = zip_bytes({"archive/data.pkl": b"x" * 2000})
            (path / "mp_rank_00_model_states.pt").write_bytes(states)


@pytest.mark.parametrize("preset", PRESETS)
def test_every_preset_states_and_pointer(
    preset: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each preset: complete, corrupt, in progress, and a checkpoint `latest` names."""
    layout = layout_for(preset)

    def name_of(step: int) -> str:
        return re.sub(r"\{(?!step\})[^}]*\}", "1", layout.template.name_for(step))

    plan = {100: True, 200: False, 300: True, 400: True}
    for step, complete in plan.items():
        _write(preset, tmp_path, name_of(step), step, complete)
    for entry in tmp_path.iterdir():
        age(entry)
    if preset == "orbax":  # Orbax writes under a temporary name, renamed when done
        (tmp_path / f"{name_of(500)}.orbax-checkpoint-tmp-1700000000").mkdir()
    else:
        _write(preset, tmp_path, name_of(500), 500, complete=False)  # being written now
    (tmp_path / "latest").write_text(name_of(100))
    before = sorted(os.listdir(tmp_path))
    entries = audit(capsys, "--preset", preset, "--dir", str(tmp_path), "--keep", "1")
    expected = {
        name_of(100): ("complete", "keep"),
        name_of(200): ("corrupt", "keep"),
        name_of(300): ("complete", "delete"),
        name_of(400): ("complete", "keep"),
        name_of(500): ("in_progress", "keep"),
    }
    if preset == "orbax":
        del expected[name_of(500)]  # not a checkpoint until renamed into place
    assert states(entries) == expected
    assert entries[name_of(100)]["protected_by"] == "latest"
    assert entries[name_of(300)]["size"] > 0
    assert sorted(os.listdir(tmp_path)) == before  # audit never deletes
