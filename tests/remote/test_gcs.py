"""`gs://` against a real GCS JSON-API server (fake-gcs-server on 127.0.0.1): audit and
prune through the CLI, completeness from markers and ranged reads, and the lease's
conditional writes (`ifGenerationMatch`)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import structlog
from support import PRESET_NAMES, PRESET_OBJECTS, HandClock, run_cli, upload

from ckptguard.service.election import Election
from ckptguard.store.remote.lease import LeaseObject
from ckptguard.store.remote.location import parse
from ckptguard.store.remote.objects import ObjectChanged, list_objects, read_range

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


def test_soft_delete_into_trash(gcs_bucket: Any) -> None:
    """--trash-for copies a deleted checkpoint (server-side) under .ckptguard/trash/ first;
    copying it back restores it whole."""
    root = f"{gcs_bucket.name}/run"
    for step in (100, 200, 300):
        upload(gcs_bucket.fs, root, PRESET_OBJECTS["hf"](step))
    cli(gcs_bucket, "prune", "--execute", "--preset", "hf", "--keep", "2", "--trash-for", "7d")
    assert not any(k.startswith("checkpoint-100/") for k in set(gcs_bucket.keys()))
    trash = gcs_bucket.fs.find(f"{gcs_bucket.name}/.ckptguard/trash/run")
    assert len(trash) == 3 and all("/checkpoint-100/" in k for k in trash)
    batch = trash[0].split("/checkpoint-100/")[0]
    gcs_bucket.fs.copy(f"{batch}/checkpoint-100", f"{root}/checkpoint-100", recursive=True)
    assert audit(gcs_bucket, "--preset", "hf", "--keep", "3")["checkpoint-100"]["state"] == (
        "complete"
    )


def test_missing_bucket_is_one_line(gcs_bucket: Any) -> None:
    """A bucket that does not exist: exit 2, one line naming it, no traceback."""
    url = "gs://no-such-bucket-here/run"
    done = run_cli("prune", "--execute", "--dir", url, env=gcs_bucket.env, timeout=120)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and f"{url}: not found" in done.stderr


def lease_of(bucket: Any) -> LeaseObject:
    return LeaseObject(bucket.server.client(), parse(bucket.url()))


def test_lease_taken_only_if_absent(gcs_bucket: Any) -> None:
    """`ifGenerationMatch=0`: the first writer creates the lease; a second writer that
    also saw none is refused, and the lease still names the first."""
    first, second = lease_of(gcs_bucket), lease_of(gcs_bucket)
    assert first.read() is None
    version = first.write("a", 30.0, released=False, version=None)
    assert version is not None
    assert second.write("b", 30.0, released=False, version=None) is None
    record = second.read()
    assert record is not None and (record.holder, record.version) == ("a", version)


def test_lease_renewed_only_at_the_generation_read(gcs_bucket: Any) -> None:
    """`ifGenerationMatch=<generation>`: a renewal at the current generation succeeds and
    makes a new one; a write at a stale generation is refused and changes nothing."""
    holder, other = lease_of(gcs_bucket), lease_of(gcs_bucket)
    first = holder.write("a", 30.0, released=False, version=None)
    assert first is not None
    renewed = holder.write("a", 30.0, released=False, version=first)
    assert renewed is not None and renewed != first
    assert other.write("b", 30.0, released=False, version=first) is None
    record = other.read()
    assert record is not None and (record.holder, record.version) == ("a", renewed)
    taken = other.write("b", 30.0, released=False, version=renewed)
    assert taken is not None
    assert holder.write("a", 30.0, released=False, version=renewed) is None, "b wrote since"


def test_one_deleter_elected(gcs_bucket: Any) -> None:
    """Two guards' elections over the GCS lease: one deletes, the other stands by until
    the lease goes unrenewed for a whole lease time, then takes it over."""
    clock = HandClock()
    a, b = (
        Election(lease_of(gcs_bucket), 30.0, structlog.get_logger(), me=n, clock=clock)
        for n in "ab"
    )
    a.step()
    b.step()
    assert a.may_delete() and not b.may_delete() and b.holder == "a"
    clock.now += 29
    b.step()
    assert not b.may_delete()
    clock.now += 1
    b.step()
    assert b.may_delete() and not a.may_delete()
    a.step()
    assert not a.may_delete() and a.version is None, "its renewal is refused: b wrote since"


def test_ranged_read_is_of_the_generation_listed(gcs_bucket: Any) -> None:
    """A content check reads the object as it was listed: its generation, which GCS's
    listing shows as the object's version. Uploaded again since, the read is refused
    (looked at again on the next poll) instead of judging the new bytes as the old."""
    location = parse(gcs_bucket.url())
    upload(gcs_bucket.fs, location.root, {"checkpoint_step_1.keras": b"first version"})
    listed = list_objects(gcs_bucket.fs, location)["checkpoint_step_1.keras"]
    assert listed.version == str(gcs_bucket.fs.info(f"{location.root}/{listed.name}")["generation"])
    assert read_range(gcs_bucket.fs, location, listed, 0, 5) == b"first"
    upload(gcs_bucket.fs, location.root, {"checkpoint_step_1.keras": b"second version"})
    with pytest.raises(ObjectChanged):
        read_range(gcs_bucket.fs, location, listed, 0, 6)
