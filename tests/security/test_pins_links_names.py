"""A pin made at the last moment, a symlinked --dir retargeted, metrics named NaN.

Each test pins behaviour a user relies on and that an earlier version got wrong: a pin
created between the first checks and the unlink was missed; retargeting `current` from
one run's directory to the next was never noticed; a checkpoint whose name carries
`nan` once training diverged was never listed, counted or deleted.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from structlog.testing import capture_logs
from support import (
    events_named,
    keras_bytes,
    run_cli,
    settings_for,
    steps_in,
    wait_for,
    write_old,
)

from ckptguard.core.decisions import Status
from ckptguard.core.layouts import layout_for
from ckptguard.core.model import Policy
from ckptguard.core.naming import Template
from ckptguard.engine.cycle import survey
from ckptguard.engine.executors import Deleter
from ckptguard.store.local import deleter as executor
from ckptguard.store.local.directory import LocalStore
from ckptguard.store.local.entries import open_directory

# --- a pin made while the deletion is under way ------------------------------------------


@pytest.mark.parametrize("moment", ["read_pointers", "disk_state"])
def test_a_pin_made_during_the_last_checks_stops_the_unlink(
    models: Path, moment: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pin is looked for last, right before unlinkat: one made while the pointer files
    or free space are read is honoured."""
    for step in (100, 200):
        write_old(models, step)
    fd = open_directory(str(models))
    try:
        plan = survey(
            LocalStore(fd, str(models)), layout_for("keras"), Policy(keep=1), now=1e12
        ).plan
        (planned,) = plan.deletions
        pin = models / (planned.checkpoint.name + ".keep")
        original = getattr(executor, moment)

        def pin_meanwhile(*args: object) -> object:
            pin.touch()
            return original(*args)

        monkeypatch.setattr(executor, moment, pin_meanwhile)
        (result,) = Deleter().apply(plan, LocalStore(fd)).results
    finally:
        os.close(fd)
    assert result.status is Status.SKIPPED
    assert "pinned by checkpoint_step_100.keras.keep since planned" in result.detail
    assert steps_in(models) == [100, 200]


def test_a_pin_made_while_a_directory_is_measured_stops_the_rename(
    models: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """For a directory checkpoint, the pin is looked for after the tree is measured, right
    before it is renamed out of the checkpoint names."""
    for step in (100, 200):
        top = models / f"checkpoint-{step}"
        top.mkdir()
        (top / "trainer_state.json").write_text(json.dumps({"global_step": step}))
        (top / "model.safetensors").write_bytes(bytes(1000))
        os.utime(top / "model.safetensors", (1e9 + step, 1e9 + step))
    fd = open_directory(str(models))
    try:
        plan = survey(LocalStore(fd, str(models)), layout_for("hf"), Policy(keep=1), now=1e12).plan
        (planned,) = plan.deletions
        original = executor.measure_tree

        def pin_meanwhile(*args: int) -> object:
            (models / "checkpoint-100.keep").touch()
            return original(*args)

        monkeypatch.setattr(executor, "measure_tree", pin_meanwhile)
        (result,) = Deleter().apply(plan, LocalStore(fd)).results
    finally:
        os.close(fd)
    assert planned.checkpoint.name == "checkpoint-100"
    assert result.status is Status.SKIPPED, result.detail
    assert (models / "checkpoint-100" / "model.safetensors").exists()
    assert not [n for n in os.listdir(models) if n.startswith(executor.TRASH_PREFIX)]


# --- a symlinked --dir retargeted ----------------------------------------------------------


def test_a_retargeted_symlinked_dir_is_noticed_and_followed_on_reload(
    tmp_path: Path, start_daemon
) -> None:
    """`ln -sfn run2 current` while guarding `current`: the next rescan logs it once and
    keeps guarding run1; a reload follows the path to run2."""
    run1, run2, current = tmp_path / "run1", tmp_path / "run2", tmp_path / "current"
    for run in (run1, run2):
        run.mkdir()
        for step in (1, 2, 3):
            write_old(run, step)
    current.symlink_to(run1)
    settings = settings_for(current, keep=2, rescan_interval=3600)
    with capture_logs() as logs:
        daemon = start_daemon(settings, load_settings=lambda: settings)
        assert steps_in(run1) == [2, 3]
        (tmp_path / "next").symlink_to(run2)
        os.replace(tmp_path / "next", current)  # what `ln -sfn run2 current` does
        daemon.request_rescan()
        wait_for(lambda: events_named(logs, "directory_retargeted"), message="the notice")
        cycles = daemon.cycles
        daemon.request_rescan()
        wait_for(lambda: daemon.cycles > cycles, message="another full look")
        assert steps_in(run2) == [1, 2, 3]  # not followed without a reload
        daemon.request_reload()
        wait_for(lambda: steps_in(run2) == [2, 3], message="run2 guarded after the reload")
    (notice,) = events_named(logs, "directory_retargeted")
    assert notice["resolves_to"] == str(run2) and notice["guarding"] == str(run1)


# --- metrics named NaN or infinite -----------------------------------------------------------

NAMED = "ckpt_{step}_val_loss_{val_loss:.4f}.keras"


def test_checkpoints_named_with_nan_are_checkpoints_and_never_best(models: Path) -> None:
    """`ckpt_9_val_loss_nan.keras` is listed, counted by keep-N and deleted like any other;
    NaN never ranks best; -inf ranks best under min; the JSON stays JSON."""
    template = Template.parse(NAMED)
    values = {1: "0.5000", 2: "nan", 3: "-inf", 4: "nan", 5: "inf", 6: "0.9000", 7: "nan"}
    for step, value in values.items():
        path = models / template.text.replace("{step}", str(step)).replace("{val_loss:.4f}", value)
        path.write_bytes(keras_bytes())
        os.utime(path, (1e9 + step, 1e9 + step))
    flags = ("--pattern", NAMED, "--keep", "2", "--keep-best", "1", "--metric", "val_loss")
    done = run_cli("prune", "--dir", str(models), *flags, "--execute", "--json")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)  # NaN would make this invalid JSON
    by_step = {e["step"]: e for e in doc["entries"]}
    assert sorted(by_step) == list(values)
    assert by_step[2]["metrics"] == {"val_loss": "nan"} and "rank" not in by_step[2]
    assert by_step[3]["rank"] == 1 and by_step[3]["action"] == "keep"
    kept = sorted(template.step_of(n) or 0 for n in os.listdir(models))
    assert kept == [3, 6, 7]  # the best (-inf), and the newest two
