"""`gs://` against a real GCS JSON-API server (fake-gcs-server on 127.0.0.1): audit and
prune through the CLI, completeness from markers and ranged reads."""

from __future__ import annotations

import json
from typing import Any

import pytest
from support import PRESET_NAMES, PRESET_OBJECTS, run_cli, upload

# keras: one object, judged by a ranged read of its zip's end; hf: a marker object
# (trainer_state.json, parsed); tf: an index's table magic (ranged) beside its shards;
# dcp: a whole pickle's last byte (ranged) in .metadata.
PRESETS = ("keras", "hf", "tf", "dcp")
SINGLE = ("keras",)


def cli(bucket: Any, *args: str) -> Any:
    done = run_cli(*args, "--settle", "0", "--dir", bucket.url(), env=bucket.env, timeout=120)
    assert done.returncode == 0, done.stderr
    return done


def audit(bucket: Any, *args: str) -> dict[str, dict[str, Any]]:
    """The audit's entries by name."""
    done = cli(bucket, "audit", "--json", *args)
    return {e["path"].rsplit("/", 1)[-1]: e for e in json.loads(done.stdout)["entries"]}


def checkpoint_of(key: str) -> str:
    """The checkpoint an object key belongs to (`ckpt-1.index` and `ckpt-1.data-...` to
    `ckpt-1`, `checkpoint-1/x` to `checkpoint-1`)."""
    return key.split("/")[0].split(".data")[0].removesuffix(".index")


@pytest.mark.parametrize("preset", PRESETS)
def test_audited_and_pruned(gcs_bucket: Any, preset: str) -> None:
    """Complete saves count, a save cut short is never complete, and prune --execute
    deletes exactly the checkpoints audit said, every object of them and nothing else."""
    root = f"{gcs_bucket.name}/run"
    for step in (100, 200, 300, 400):
        upload(gcs_bucket.fs, root, PRESET_OBJECTS[preset](step))
    upload(gcs_bucket.fs, root, PRESET_OBJECTS[preset](500, complete=False))
    name = PRESET_NAMES[preset].format
    entries = audit(gcs_bucket, "--preset", preset, "--keep", "2")
    assert {n: e["state"] for n, e in entries.items()} == {
        **{name(step): "complete" for step in (100, 200, 300, 400)},
        name(500): "corrupt" if preset in SINGLE else "in_progress",
    }
    assert {n for n, e in entries.items() if e["action"] == "delete"} == {name(100), name(200)}
    before = gcs_bucket.keys()
    cli(gcs_bucket, "prune", "--execute", "--preset", preset, "--keep", "2")
    gone = before - gcs_bucket.keys()
    assert {checkpoint_of(k) for k in gone} == {name(100), name(200)}
    assert {k for k in before if checkpoint_of(k) in (name(100), name(200))} == gone


def test_keras_object_replaced_by_a_whole_one(gcs_bucket: Any) -> None:
    """A `.keras` object cut short is corrupt; uploaded again whole (a new generation),
    the next audit reads its tail again and finds it complete."""
    root = f"{gcs_bucket.name}/run"
    upload(gcs_bucket.fs, root, PRESET_OBJECTS["keras"](100, complete=False))
    assert audit(gcs_bucket, "--preset", "keras")["checkpoint_step_100.keras"]["state"] == (
        "corrupt"
    )
    upload(gcs_bucket.fs, root, PRESET_OBJECTS["keras"](100))
    assert audit(gcs_bucket, "--preset", "keras")["checkpoint_step_100.keras"]["state"] == (
        "complete"
    )
