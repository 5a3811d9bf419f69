"""audit and prune on every preset's layout in a real S3 bucket (moto's server), through
the CLI; and the failures a user meets, each one line with nothing deleted."""

from __future__ import annotations

import json
from typing import Any

import pytest
from support import (
    PRESET_NAMES,
    PRESET_OBJECTS,
    MotoServer,
    new_bucket,
    run_cli,
    s3fs_client,
    upload,
)

from ckptguard.core.layouts import PRESETS


def audit_json(*args: str) -> dict[str, dict[str, Any]]:
    """The audit's entries by name (the `bucket` fixture points the SDK at its server)."""
    done = run_cli("audit", "--json", "--settle", "0", *args, timeout=120)
    assert done.returncode == 0, done.stderr
    return {e["path"].rsplit("/", 1)[-1]: e for e in json.loads(done.stdout)["entries"]}


@pytest.mark.parametrize("preset", PRESETS)
def test_every_preset_audited_and_pruned(bucket: Any, preset: str) -> None:
    """Complete saves count, the newest keep-N stay, a save cut short before its marker is
    never complete, and prune --execute deletes exactly what audit said (all objects)."""
    root = f"{bucket.name}/run"
    for step in (100, 200, 300, 400):
        upload(bucket.fs, root, PRESET_OBJECTS[preset](step))
    upload(bucket.fs, root, PRESET_OBJECTS[preset](500, complete=False))
    name = PRESET_NAMES[preset].format
    entries = audit_json("--dir", bucket.url(), "--preset", preset, "--keep", "2")
    assert {n: e["state"] for n, e in entries.items()} == {
        name(100): "complete",
        name(200): "complete",
        name(300): "complete",
        name(400): "complete",
        # A one-object save is whole or absent on S3; half an upload's bytes fail the
        # check like a truncated file. A save without its marker is still being written.
        name(500): "corrupt" if preset in ("keras", "torch", "lightning") else "in_progress",
    }
    assert {n for n, e in entries.items() if e["action"] == "delete"} == {name(100), name(200)}
    before = bucket.keys()
    done = run_cli(
        "prune",
        "--execute",
        "--settle",
        "0",
        "--dir",
        bucket.url(),
        "--preset",
        preset,
        "--keep",
        "2",
    )
    assert done.returncode == 0, done.stderr
    gone = before - bucket.keys()
    assert {k.split("/")[0].split(".data")[0].removesuffix(".index") for k in gone} == {
        name(100),
        name(200),
    }
    assert all(not k.startswith((name(300), name(400), name(500))) for k in gone)


def test_orbax_rename_into_place(bucket: Any) -> None:
    """Orbax renamed into place (a copy, then a delete, on S3): complete only once its step
    metadata is there and its temporary is gone; never for objects merely existing."""
    root = f"{bucket.name}/run"
    upload(bucket.fs, root, PRESET_OBJECTS["orbax"](100))
    tmp = "200.orbax-checkpoint-tmp-1712345678"
    upload(bucket.fs, root, {f"{tmp}/state/a": b"x" * 100, f"{tmp}/_CHECKPOINT_METADATA": b"{}"})
    upload(bucket.fs, root, {"200/state/a": b"x" * 100, "200/_CHECKPOINT_METADATA": b"{}"})
    upload(bucket.fs, root, {"300/state/a": b"x" * 100})  # written in place, not finalized
    entries = audit_json("--dir", bucket.url(), "--preset", "orbax")
    assert entries["200"]["state"] == "in_progress"  # its temporary is still being copied
    assert entries["300"]["state"] == "in_progress"
    bucket.fs.rm(f"{root}/{tmp}", recursive=True)
    entries = audit_json("--dir", bucket.url(), "--preset", "orbax")
    assert entries["200"]["state"] == "complete"
    assert entries["300"]["state"] == "in_progress"


def test_keep_best_from_trainer_state(bucket: Any) -> None:
    """Hugging Face checkpoints carry their metric: keep-best works on a bucket too."""
    root = f"{bucket.name}/run"
    for step, loss in ((100, 0.1), (200, 0.9), (300, 0.8), (400, 0.7)):
        upload(bucket.fs, root, PRESET_OBJECTS["hf"](step, eval_loss=loss))
    entries = audit_json(
        "--dir",
        bucket.url(),
        "--preset",
        "hf",
        "--keep",
        "1",
        "--keep-best",
        "1",
        "--metric",
        "eval_loss",
    )
    assert {n for n, e in entries.items() if e["action"] == "keep"} == {
        "checkpoint-100",
        "checkpoint-400",
    }


def test_pin_and_pointer_objects_protect(bucket: Any) -> None:
    """`<name>.keep` pins; a `latest` pointer object protects what it names."""
    root = f"{bucket.name}/run"
    for step in (100, 200, 300, 400):
        upload(bucket.fs, root, PRESET_OBJECTS["hf"](step))
    bucket.fs.pipe(f"{root}/checkpoint-100.keep", b"")
    bucket.fs.pipe(f"{root}/latest", b"checkpoint-200")
    entries = audit_json("--dir", bucket.url(), "--preset", "hf", "--keep", "1")
    assert {n for n, e in entries.items() if e["action"] == "delete"} == {"checkpoint-300"}


def test_soft_delete_into_trash_and_undo(bucket: Any) -> None:
    """--trash-for copies a deleted checkpoint under .ckptguard/trash/ first; copying it
    back restores it whole."""
    root = f"{bucket.name}/run"
    for step in (100, 200, 300):
        upload(bucket.fs, root, PRESET_OBJECTS["hf"](step))
    done = run_cli(
        "prune",
        "--execute",
        "--settle",
        "0",
        "--dir",
        bucket.url(),
        "--preset",
        "hf",
        "--keep",
        "2",
        "--trash-for",
        "7d",
    )
    assert done.returncode == 0, done.stderr
    assert not any(k.startswith("checkpoint-100/") for k in set(bucket.keys()))
    trash = bucket.fs.find(f"{bucket.name}/.ckptguard/trash/run")
    assert len(trash) == 3 and all("/checkpoint-100/" in k for k in trash)
    batch = trash[0].split("/checkpoint-100/")[0]
    bucket.fs.copy(f"{batch}/checkpoint-100", f"{root}/checkpoint-100", recursive=True)
    entries = audit_json("--dir", bucket.url(), "--preset", "hf", "--keep", "3")
    assert entries["checkpoint-100"]["state"] == "complete"


def test_min_free_refused_in_one_line(bucket: Any) -> None:
    """--min-free has no meaning for object storage: refused, exit 2, one line."""
    done = run_cli("audit", "--dir", bucket.url(), "--min-free", "10GB")
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "object storage has no free space" in done.stderr


def test_missing_bucket_is_one_line(bucket: Any) -> None:
    """A bucket that does not exist: exit 2, one line naming it, no traceback."""
    done = run_cli("prune", "--execute", "--dir", "s3://no-such-bucket-here/run")
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1
    assert "s3://no-such-bucket-here/run: not found" in done.stderr


def test_server_stopped_is_one_line_and_deletes_nothing(tmp_path: Any) -> None:
    """The endpoint unreachable: exit 1, one line, nothing deleted (checked after restart)."""
    server = MotoServer().start()
    try:
        fs = s3fs_client(server.endpoint)
        name = new_bucket(fs)
        upload(fs, f"{name}/run", {f"checkpoint_step_{s}.keras": b"x" for s in (1, 2, 3)})
        env = server.environ()
    finally:
        server.stop()
    done = run_cli("prune", "--execute", "--dir", f"s3://{name}/run", env=env, timeout=120)
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and "unreachable" in done.stderr
    assert "Traceback" not in done.stderr


def test_wrong_credentials_are_one_line() -> None:
    """Keys the server does not know: exit 2, one line, no secret in it, nothing deleted."""
    import boto3

    server = MotoServer(auth=True).start()
    try:
        good = server.credentials()
        s3 = boto3.client(
            "s3",
            endpoint_url=server.endpoint,
            region_name="us-east-1",
            aws_access_key_id=good["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=good["AWS_SECRET_ACCESS_KEY"],
        )
        s3.create_bucket(Bucket="guarded")
        for step in (1, 2, 3, 4, 5):
            s3.put_object(Bucket="guarded", Key=f"run/checkpoint_step_{step}.keras", Body=b"x")
        wrong = {"AWS_ACCESS_KEY_ID": "AKIAWRONGWRONGWRONG", "AWS_SECRET_ACCESS_KEY": "s3cr3t"}
        done = run_cli(
            "prune",
            "--execute",
            "--keep",
            "1",
            "--dir",
            "s3://guarded/run",
            env=server.environ(**wrong),
            timeout=120,
        )
        assert done.returncode == 2
        assert done.stderr.count("\n") == 1 and "access refused" in done.stderr
        assert "s3cr3t" not in done.stderr + done.stdout
        assert s3.list_objects_v2(Bucket="guarded")["KeyCount"] == 5
    finally:
        server.stop()
