"""`ckptguard run` on a bucket prefix (moto's S3 server): polling, saves uploaded while it
runs, two guards electing one deleter (the holder killed), and a server that goes away."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from layouts import MAKERS, upload
from moto_server import MotoServer, new_bucket, s3fs_client
from support import NotifyListener, wait_for

FAST = ("--settle", "0", "--poll-interval", "0.3", "--log-format", "json")


class Guard:
    """`ckptguard run ARGS` as a process whose JSON log goes to a file read while it runs."""

    def __init__(self, tmp: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.listener = NotifyListener()
        self.path = tmp / f"guard-{len(list(tmp.glob('guard-*')))}.log"
        with self.path.open("w") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "ckptguard", "run", *args],
                stdout=subprocess.DEVNULL,
                stderr=log,
                env={**(env or os.environ), "NOTIFY_SOCKET": self.listener.name},
            )
        self.listener.wait_for("READY=1", timeout=60)

    @property
    def log(self) -> str:
        return self.path.read_text()

    def stop(self, sig: int = signal.SIGTERM) -> str:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        self.proc.wait(timeout=60)
        self.listener.close()
        return self.log


@contextlib.contextmanager
def running(tmp: Path, *args: str, env: dict[str, str] | None = None) -> Iterator[Guard]:
    guard = Guard(tmp, *args, env=env)
    try:
        yield guard
    finally:
        guard.stop()


def events(log: str, name: str | None = None) -> list[dict[str, Any]]:
    found = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    return [e for e in found if name is None or e["event"] == name]


def hf_names(bucket: Any) -> set[str]:
    return {k.split("/")[0] for k in set(bucket.keys())}


def test_saves_uploaded_while_it_runs(bucket: Any, tmp_path: Path) -> None:
    """A trainer uploads Hugging Face checkpoints (shards, a pause, then trainer_state.json)
    while the guard polls: no save is touched before its marker is up, and the newest two
    complete ones are what stays."""
    root = f"{bucket.name}/run"
    problems: list[str] = []

    def trainer() -> None:
        for step in range(100, 900, 100):
            objects = MAKERS["hf"](step)
            marker = f"checkpoint-{step}/trainer_state.json"
            upload(bucket.fs, root, {k: v for k, v in objects.items() if k != marker})
            time.sleep(0.7)  # longer than a poll: the guard sees the save half-uploaded
            present = {k for k in set(bucket.keys()) if k.startswith(f"checkpoint-{step}/")}
            if len(present) != len(objects) - 1:
                problems.append(f"checkpoint-{step} touched mid-save: {sorted(present)}")
            upload(bucket.fs, root, {marker: objects[marker]})

    with running(tmp_path, "--dir", bucket.url(), "--preset", "hf", "--keep", "2", *FAST) as guard:
        writer = threading.Thread(target=trainer)
        writer.start()
        writer.join(60)
        wait_for(
            lambda: hf_names(bucket) == {"checkpoint-700", "checkpoint-800"},
            timeout=30,
            message="the guard to keep the newest two",
        )
        log = guard.stop()
    assert problems == []
    deleted = [e["path"].rsplit("/", 1)[-1] for e in events(log, "deleted")]
    assert sorted(deleted) == [f"checkpoint-{s}" for s in range(100, 700, 100)]


def test_two_guards_one_deleter_and_takeover(bucket: Any, tmp_path: Path) -> None:
    """Two guards of one prefix: one holds the lease and deletes, the other plans and says
    who holds it; the holder killed with SIGKILL, the other takes over once the lease runs
    out, and no checkpoint is deleted twice or wrongly."""
    root = f"{bucket.name}/run"
    lease_key = f"{bucket.name}/.ckptguard/lease/run"
    args = ("--dir", bucket.url(), "--keep", "2", "--lease-time", "3", *FAST)
    for step in (1, 2, 3):
        upload(bucket.fs, root, MAKERS["keras"](step))
    first = Guard(tmp_path, *args)
    wait_for(lambda: bucket.fs.exists(lease_key), message="the lease")
    lease = json.loads(bucket.fs.cat(lease_key))
    assert lease["holder"].split(":")[1] == str(first.proc.pid)
    with running(tmp_path, *args) as second:
        wait_for(lambda: len(bucket.keys()) == 2, message="the holder to delete")
        upload(bucket.fs, root, MAKERS["keras"](4))
        wait_for(lambda: len(bucket.keys()) == 2, message="the holder to delete again")
        first_log = first.stop(signal.SIGKILL)
        for step in (5, 6):
            upload(bucket.fs, root, MAKERS["keras"](step))
        taken = wait_for(
            lambda: str(second.proc.pid) in bucket.fs.cat(lease_key).decode(),
            timeout=3 * 2 + 5,  # within the lease time, and a poll or two
            message="the standby to take the lease over",
        )
        assert taken
        wait_for(lambda: len(bucket.keys()) == 2, message="the new holder to delete")
        second_log = second.stop()
    assert bucket.keys() == {"checkpoint_step_5.keras", "checkpoint_step_6.keras"}
    deleted = [e["path"] for log in (first_log, second_log) for e in events(log, "deleted")]
    assert len(deleted) == len(set(deleted)) == 4
    assert not events(second_log, "deleted")[0]["path"].endswith(("_1.keras", "_2.keras"))
    standby = events(second_log, "lease_standby")
    assert standby and standby[0]["holder"] == lease["holder"]
    assert events(second_log, "lease_taken")[0]["previous"] == lease["holder"]


def test_server_gone_mid_run_is_one_line_and_no_deletion(tmp_path: Path) -> None:
    """The S3 endpoint stops while the guard runs: one warning however often the poll
    fails (with backoff), nothing deleted, and the guard keeps running."""
    server = MotoServer().start()
    try:
        fs = s3fs_client(server.endpoint)
        name = new_bucket(fs)
        upload(fs, f"{name}/run", MAKERS["keras"](1))
        upload(fs, f"{name}/run", MAKERS["keras"](2))
        args = ("--dir", f"s3://{name}/run", "--keep", "1", "--dry-run", *FAST)
        with running(tmp_path, *args, env=server.environ()) as guard:
            wait_for(lambda: events(guard.log, "would_delete"), message="a first plan")
            server.stop()
            wait_for(
                lambda: "store_unavailable" in guard.log,
                timeout=60,
                message="the failure to be logged",
            )
            # Its port now answers every connection by hanging up: count the retries.
            with HangUp(server.port) as hang_up:
                wait_for(lambda: hang_up.count >= 10, timeout=60, message="retries")
                assert guard.proc.poll() is None, "the guard must keep running"
                log = guard.stop()
    finally:
        server.stop()
    assert len(events(log, "store_unavailable")) == 1
    assert events(log, "store_unavailable")[0]["error"]
    assert "Traceback" not in log and not events(log, "deleted")


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


def test_missing_bucket_in_run_is_one_line(bucket: Any, tmp_path: Path) -> None:
    """run on a bucket that does not exist: one warning naming it, no deletion, still up."""
    with running(tmp_path, "--dir", "s3://no-such-bucket-at-all/run", *FAST) as guard:
        wait_for(lambda: "store_unavailable" in guard.log, message="the warning")
        log = guard.stop()
    unavailable = events(log, "store_unavailable")
    assert len(unavailable) == 1 and "does not exist" in unavailable[0]["error"]
    assert "Traceback" not in log


def test_dry_run_never_takes_the_lease(bucket: Any, tmp_path: Path) -> None:
    """run --dry-run plans and logs what it would delete, and never holds the lease (it
    would keep a real guard from deleting)."""
    for step in (1, 2, 3):
        upload(bucket.fs, f"{bucket.name}/run", MAKERS["keras"](step))
    args = ("--dir", bucket.url(), "--keep", "1", "--dry-run", *FAST)
    with running(tmp_path, *args) as guard:
        wait_for(lambda: len(events(guard.log, "would_delete")) == 2, message="the plan")
        log = guard.stop()
    assert not bucket.fs.exists(f"{bucket.name}/.ckptguard/lease/run")
    assert not events(log, "lease_taken") and len(bucket.keys()) == 3
