"""A directory shared by several hosts (`--lease DIR`): guards elect one deleter through
lease files created with O_EXCL on the shared filesystem, where the lock cannot reach."""

from __future__ import annotations

import json
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

import structlog
from support import HandClock, settings_for, wait_for, write_checkpoint

from ckptguard.service.election import Election
from ckptguard.store.local.lease import DirectoryLease


def test_exclusive_create_lets_one_writer_win(tmp_path: Path) -> None:
    """Many writers of the same generation at once: exactly one succeeds."""
    leases = [DirectoryLease(str(tmp_path), "/srv/models") for _ in range(8)]
    results: list[str | None] = []
    barrier = threading.Barrier(len(leases))

    def write(lease: DirectoryLease, name: str) -> None:
        barrier.wait()
        results.append(lease.write(name, 30.0, released=False, version=None))

    threads = [
        threading.Thread(target=write, args=(lease, str(i))) for i, lease in enumerate(leases)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results, key=str) == ["1"] + [None] * 7
    assert leases[0].write("x", 30.0, released=False, version="1") == "2"
    assert leases[1].write("y", 30.0, released=False, version="1") is None


def test_standby_takes_over_an_unrenewed_lease(tmp_path: Path) -> None:
    """A holder renews; a standby takes over only after a whole lease time without a
    renewal, by its own clock, and the old holder's renewal then fails."""
    clock_a, clock_b = HandClock(50.0), HandClock(50.0)
    log = structlog.get_logger()
    a = Election(DirectoryLease(str(tmp_path), "/d"), 30.0, log, me="a", clock=clock_a)
    b = Election(DirectoryLease(str(tmp_path), "/d"), 30.0, log, me="b", clock=clock_b)
    a.step()
    b.step()
    assert a.may_delete() and not b.may_delete() and b.holder == "a"
    clock_a.now += 10
    clock_b.now += 10
    a.step()
    b.step()
    clock_b.now += 29
    b.step()
    assert not b.may_delete()
    clock_b.now += 1
    b.step()
    assert b.may_delete()
    clock_a.now += 10
    a.step()
    assert not a.may_delete()
    assert len(list(Path(a.lease.url).iterdir())) <= 2  # old generations are removed


def test_guard_plans_only_while_another_host_holds_the_lease(
    tmp_path: Path, start_daemon: Any
) -> None:
    """Another host's guard holds a fresh lease: this one deletes nothing; once that lease
    goes unrenewed for its lease time, this guard takes it and deletes."""
    models, leases = tmp_path / "models", tmp_path / "leases"
    models.mkdir()
    leases.mkdir()
    for step in range(1, 6):
        write_checkpoint(models, step, mtime=1_000_000 + step)
    foreign = DirectoryLease(str(leases), str(models))
    assert foreign.write("otherhost:1:abc", 2.0, released=False, version=None) == "1"
    settings = settings_for(models, keep=2)
    spec = replace(settings.guards[0], lease=str(leases))
    daemon = start_daemon(replace(settings, guards=(spec,), lease_time=2.0))
    assert len(list(models.iterdir())) == 5, "a standby deletes nothing"
    wait_for(lambda: len(list(models.iterdir())) == 2, timeout=20, message="the takeover")
    record = foreign.read()
    assert record is not None and record.holder != "otherhost:1:abc"
    assert daemon.guards[str(models)].election.may_delete()
    body = json.loads(next(Path(foreign.path).glob(f"lease.{record.version}.json")).read_text())
    assert body["released"] is False
