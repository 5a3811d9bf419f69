"""Size budgets, shared budgets, kept verdicts and the unchanged-rescan shortcut on a bucket
prefix (moto's S3 server): what a local directory has, an object store honours too."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from support import OLD, PRESET_OBJECTS, name_of, run_cli, upload, wait_for, write_checkpoint

from ckptguard.core.layouts import layout_for
from ckptguard.core.model import MinFree, MinFreeUnit, Policy
from ckptguard.engine.cycle import Look, cycle
from ckptguard.engine.executors import Deleter
from ckptguard.store.remote.location import parse
from ckptguard.store.remote.store import RemoteStore

SIZE = len(PRESET_OBJECTS["keras"](1)[name_of(1)])  # every keras checkpoint here


def keras_in(bucket: Any, *steps: int, prefix: str = "run") -> None:
    for step in steps:
        upload(bucket.fs, f"{bucket.name}/{prefix}", PRESET_OBJECTS["keras"](step))


def entries_of(done: Any) -> dict[str, dict[str, Any]]:
    assert done.returncode == 0, done.stderr
    return {e["path"]: e for e in json.loads(done.stdout)["entries"]}


def test_max_size_on_a_bucket(bucket: Any) -> None:
    """--max-size counts a prefix's objects: the oldest go until the rest fit, and prune
    deletes exactly those."""
    keras_in(bucket, 1, 2, 3, 4)
    args = ("--dir", bucket.url(), "--keep", "10", "--max-size", f"{2 * SIZE + SIZE // 2}B")
    entries = entries_of(run_cli("audit", "--json", *args))
    deleted = {p.rsplit("/", 1)[1] for p, e in entries.items() if e["action"] == "delete"}
    assert deleted == {name_of(1), name_of(2)}
    assert all(
        e["reason_codes"] == ["over_budget"] for e in entries.values() if e["action"] == "delete"
    )
    assert run_cli("prune", "--execute", *args).returncode == 0
    assert bucket.keys() == {name_of(3), name_of(4)}


def shared_config(tmp_path: Path, bucket: Any, models: Path, budget: int) -> Path:
    """A bucket prefix and a local directory under one `[budgets]` entry."""
    config = tmp_path / "ckptguard.toml"
    config.write_text(
        f'settle = 0\nkeep = 10\n\n[budgets]\nboth = "{budget}B"\n\n'
        f'[[directory]]\npath = "{bucket.url()}"\nbudget = "both"\n\n'
        f'[[directory]]\npath = "{models}"\nbudget = "both"\n'
    )
    return config


def test_a_budget_shared_by_a_bucket_and_a_directory(
    bucket: Any, models: Path, tmp_path: Path
) -> None:
    """One budget over a prefix and a directory: the oldest checkpoints give way wherever
    they are (the directory's back-dated ones first, each store keeping its newest)."""
    write_checkpoint(models, 1, mtime=OLD)
    write_checkpoint(models, 2, mtime=OLD + 60)
    keras_in(bucket, 1, 2)
    config = shared_config(tmp_path, bucket, models, 2 * SIZE)
    entries = entries_of(run_cli("audit", "--json", "--config", str(config)))
    deleted = {p for p, e in entries.items() if e["action"] == "delete"}
    assert deleted == {str(models / name_of(1)), f"{bucket.url()}/{name_of(1)}"}
    assert run_cli("prune", "--execute", "--config", str(config)).returncode == 0
    assert bucket.keys() == {name_of(2)}
    assert sorted(p.name for p in models.iterdir()) == [name_of(2)]


def test_a_shared_budget_holds_in_the_daemon(
    bucket: Any, models: Path, tmp_path: Path, guard_running: Callable[..., Any]
) -> None:
    """The daemon's bucket guard plans with what the directory's guard last saw, and the
    other way round: together they bring the group under its budget."""
    write_checkpoint(models, 1, mtime=OLD)
    write_checkpoint(models, 2, mtime=OLD + 60)
    keras_in(bucket, 1, 2)
    config = shared_config(tmp_path, bucket, models, 2 * SIZE)
    fast = ("--poll-interval", "0.3", "--rescan-interval", "1")
    with guard_running("--config", str(config), *fast) as guard:
        wait_for(
            lambda: bucket.keys() == {name_of(2)} and len(list(models.iterdir())) == 1,
            timeout=30,
            message="the group to fit its budget",
        )
        guard.stop()
    assert sorted(p.name for p in models.iterdir()) == [name_of(2)]
    assert len(guard.events_named("deleted")) == 2


def test_verdicts_of_objects_are_not_kept_across_runs(bucket: Any, tmp_path: Path) -> None:
    """prune --execute keeps a directory's verdicts in the state directory; an object
    store's are remembered within one run only, and leave no file there."""
    keras_in(bucket, 1, 2, 3)
    state = tmp_path / "state"
    args = ("--dir", bucket.url(), "--keep", "2", "--state-dir", str(state))
    done = run_cli("prune", "--execute", *args)
    assert done.returncode == 0, done.stderr
    assert bucket.keys() == {name_of(2), name_of(3)}
    assert not list(state.glob("verdicts-*"))


def test_an_unchanged_listing_keeps_the_plan(bucket: Any) -> None:
    """A listing of exactly the objects the last survey was made from gives that survey
    back: its plan stands and nothing is read again. An upload, or a pointer object
    rewritten under the same size, is looked at afresh."""
    keras_in(bucket, 1, 2, 3)
    bucket.fs.pipe(f"{bucket.name}/run/latest", b"checkpoint_step_1.keras")
    store = RemoteStore(parse(bucket.url()), bucket.fs)
    reads: list[str] = []
    read = store.read
    # Counting what the store reads: instrumenting, not replacing, its ranged reads.
    store.read = lambda obj, start, end: reads.append(obj.name) or read(obj, start, end)
    layout = layout_for("keras")
    policy = Policy(keep=1, min_free=MinFree(MinFreeUnit.BYTES, 0), settle_seconds=0)

    def again(done: Any) -> Any:
        look = Look(previous=done.inventory, previous_plan=done.plan)
        return cycle(store, layout, policy, Deleter(), now=time.time(), look=look)

    first = cycle(store, layout, policy, Deleter(), now=time.time())
    assert [d.checkpoint.name for d in first.plan.deletions] == [name_of(2)]
    assert bucket.keys() == {name_of(1), name_of(3), "latest"}  # 1 is named: kept
    settled = again(first)
    reads.clear()
    second = again(settled)
    assert second.inventory is settled.inventory and second.plan == settled.plan
    assert reads == []
    bucket.fs.pipe(f"{bucket.name}/run/latest", b"checkpoint_step_3.keras")
    keras_in(bucket, 4)
    third = again(second)
    assert third.inventory is not second.inventory and "latest" in reads
    assert bucket.keys() == {name_of(3), name_of(4), "latest"}
