"""`ckptguard run` on a bucket prefix (moto's S3 server): polling, saves uploaded while it
runs, two guards electing one deleter (the holder killed), and a server that goes away."""

from __future__ import annotations

import json
import signal
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from support import PRESET_OBJECTS, MotoServer, new_bucket, s3fs_client, upload, wait_for

FAST = ("--settle", "0", "--poll-interval", "0.3")


def hf_names(bucket: Any) -> set[str]:
    return {k.split("/")[0] for k in set(bucket.keys())}


def test_saves_uploaded_while_it_runs(bucket: Any, guard_running: Callable[..., Any]) -> None:
    """A trainer uploads Hugging Face checkpoints (shards, a pause, then trainer_state.json)
    while the guard polls: no save is touched before its marker is up, and the newest two
    complete ones are what stays."""
    root = f"{bucket.name}/run"
    problems: list[str] = []

    def trainer() -> None:
        for step in range(100, 900, 100):
            objects = PRESET_OBJECTS["hf"](step)
            marker = f"checkpoint-{step}/trainer_state.json"
            upload(bucket.fs, root, {k: v for k, v in objects.items() if k != marker})
            time.sleep(0.7)  # longer than a poll: the guard sees the save half-uploaded
            present = {k for k in set(bucket.keys()) if k.startswith(f"checkpoint-{step}/")}
            if len(present) != len(objects) - 1:
                problems.append(f"checkpoint-{step} touched mid-save: {sorted(present)}")
            upload(bucket.fs, root, {marker: objects[marker]})

    with guard_running("--dir", bucket.url(), "--preset", "hf", "--keep", "2", *FAST) as guard:
        writer = threading.Thread(target=trainer)
        writer.start()
        writer.join(60)
        wait_for(
            lambda: hf_names(bucket) == {"checkpoint-700", "checkpoint-800"},
            timeout=30,
            message="the guard to keep the newest two",
        )
        guard.stop()
    assert problems == []
    deleted = [e["path"].rsplit("/", 1)[-1] for e in guard.events_named("deleted")]
    assert sorted(deleted) == [f"checkpoint-{s}" for s in range(100, 700, 100)]


def test_two_guards_one_deleter_and_takeover(
    bucket: Any, spawn: Callable[..., Any], guard_running: Callable[..., Any]
) -> None:
    """Two guards of one prefix: one holds the lease and deletes, the other plans and says
    who holds it; the holder killed with SIGKILL, the other takes over once the lease runs
    out, and no checkpoint is deleted twice or wrongly."""
    root = f"{bucket.name}/run"
    lease_key = f"{bucket.name}/.ckptguard/lease/run"
    args = ("--dir", bucket.url(), "--keep", "2", "--lease-time", "3", *FAST)
    for step in (1, 2, 3):
        upload(bucket.fs, root, PRESET_OBJECTS["keras"](step))
    first = spawn(*args).expect_ready()
    wait_for(lambda: bucket.fs.exists(lease_key), message="the lease")
    lease = json.loads(bucket.fs.cat(lease_key))
    assert lease["holder"].split(":")[1] == str(first.pid)
    with guard_running(*args) as second:
        wait_for(lambda: len(bucket.keys()) == 2, message="the holder to delete")
        upload(bucket.fs, root, PRESET_OBJECTS["keras"](4))
        wait_for(lambda: len(bucket.keys()) == 2, message="the holder to delete again")
        first.stop(signal.SIGKILL)
        for step in (5, 6):
            upload(bucket.fs, root, PRESET_OBJECTS["keras"](step))
        taken = wait_for(
            lambda: str(second.pid) in bucket.fs.cat(lease_key).decode(),
            timeout=3 * 2 + 5,  # within the lease time, and a poll or two
            message="the standby to take the lease over",
        )
        assert taken
        wait_for(lambda: len(bucket.keys()) == 2, message="the new holder to delete")
        second.stop()
    assert bucket.keys() == {"checkpoint_step_5.keras", "checkpoint_step_6.keras"}
    deleted = [e["path"] for guard in (first, second) for e in guard.events_named("deleted")]
    assert len(deleted) == len(set(deleted)) == 4
    assert not second.events_named("deleted")[0]["path"].endswith(("_1.keras", "_2.keras"))
    standby = second.events_named("lease_standby")
    assert standby and standby[0]["holder"] == lease["holder"]
    assert second.events_named("lease_taken")[0]["previous"] == lease["holder"]


def test_server_gone_mid_run_is_one_line_and_no_deletion(
    guard_running: Callable[..., Any],
) -> None:
    """The S3 endpoint stops while the guard runs: one warning however often the poll
    fails (with backoff), nothing deleted, and the guard keeps running."""
    server = MotoServer().start()
    try:
        fs = s3fs_client(server.endpoint)
        name = new_bucket(fs)
        upload(fs, f"{name}/run", PRESET_OBJECTS["keras"](1))
        upload(fs, f"{name}/run", PRESET_OBJECTS["keras"](2))
        args = ("--dir", f"s3://{name}/run", "--keep", "1", "--dry-run", *FAST)
        with guard_running(*args, env=server.environ()) as guard:
            wait_for(lambda: guard.events_named("would_delete"), message="a first plan")
            server.stop()
            wait_for(
                lambda: guard.events_named("store_unavailable"),
                timeout=60,
                message="the failure to be logged",
            )
            # Its port now answers every connection by hanging up: count the retries.
            with HangUp(server.port) as hang_up:
                wait_for(lambda: hang_up.count >= 10, timeout=60, message="retries")
                assert guard.alive(), "the guard must keep running"
                guard.stop()
    finally:
        server.stop()
    assert len(guard.events_named("store_unavailable")) == 1
    assert guard.events_named("store_unavailable")[0]["error"]
    assert "Traceback" not in guard.log_text() and not guard.events_named("deleted")


class HangUp:
    """A listener on 127.0.0.1:`port` that closes every connection at once, counting them."""

    def __init__(self, port: int) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(64)
        self.count = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> HangUp:
        self._thread.start()
        return self

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.sock.accept()
            except OSError:
                return
            connection.close()
            self.count += 1

    def __exit__(self, *exc: object) -> None:
        self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        self._thread.join(10)


def test_missing_bucket_in_run_is_one_line(bucket: Any, guard_running: Callable[..., Any]) -> None:
    """run on a bucket that does not exist: one warning naming it, no deletion, still up."""
    with guard_running("--dir", "s3://no-such-bucket-at-all/run", *FAST) as guard:
        wait_for(lambda: guard.events_named("store_unavailable"), message="the warning")
        assert guard.alive()
        guard.stop()
    unavailable = guard.events_named("store_unavailable")
    assert len(unavailable) == 1 and "does not exist" in unavailable[0]["error"]
    assert "Traceback" not in guard.log_text()


def test_dry_run_never_takes_the_lease(bucket: Any, guard_running: Callable[..., Any]) -> None:
    """run --dry-run plans and logs what it would delete, and never holds the lease (it
    would keep a real guard from deleting)."""
    for step in (1, 2, 3):
        upload(bucket.fs, f"{bucket.name}/run", PRESET_OBJECTS["keras"](step))
    args = ("--dir", bucket.url(), "--keep", "1", "--dry-run", *FAST)
    with guard_running(*args) as guard:
        wait_for(lambda: len(guard.events_named("would_delete")) == 2, message="the plan")
        guard.stop()
    assert not bucket.fs.exists(f"{bucket.name}/.ckptguard/lease/run")
    assert not guard.events_named("lease_taken") and len(bucket.keys()) == 3


def test_short_lines_say_object_storage(bucket: Any, guard_running: Callable[..., Any]) -> None:
    """A person's short lines (console log format) show the prefix polled, and its ready
    line says object storage instead of a free space it does not have."""
    upload(bucket.fs, f"{bucket.name}/run", PRESET_OBJECTS["keras"](1))
    args = ("--dir", bucket.url(), "--log-format", "console", *FAST)
    with guard_running(*args) as guard:
        ready = f"{bucket.url()}: 1 checkpoints, keeping 1; object storage, no free-space target"
        wait_for(lambda: ready in guard.log_text(), message="the ready line")
        guard.stop()
    assert f"polling {bucket.url()} every 0.3s" in guard.log_text()
    assert "free, target" not in guard.log_text()
