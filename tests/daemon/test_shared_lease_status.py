"""What a guard says of a lease election in its status: whether it holds the lease or
stands by, who holds it as the lease records it, since when, and when it runs out by this
guard's clock; for a directory shared by several hosts (`--lease DIR`)."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import structlog
from support import HandClock, run_cli, wait_for, write_checkpoint

from ckptguard.service.election import Election, identity
from ckptguard.store.local.lease import DirectoryLease


def election(leases: Path, name: str, clock: HandClock, wall: HandClock) -> Election:
    lease = DirectoryLease(str(leases), "/srv/models")
    return Election(lease, 30.0, structlog.get_logger(), me=name, clock=clock, wall=wall)


def test_facts_of_the_holder_and_of_a_standby(tmp_path: Path) -> None:
    """The holder: its own name, since it took the lease, running out a lease time after
    its last write. A standby: the holder as the lease records it (with the holder's
    `since`), running out a lease time after this standby saw its last renewal; lapsed and
    unknown once the holder could not renew and a standby took over."""
    mono_a, wall_a = HandClock(50.0), HandClock(5000.0)
    mono_b, wall_b = HandClock(900.0), HandClock(7000.0)  # another host's clocks
    a = election(tmp_path, "hosta:11:x", mono_a, wall_a)
    b = election(tmp_path, "hostb:22:y", mono_b, wall_b)
    assert a.status_facts()["role"] == b.status_facts()["role"] == "unknown"
    a.step()
    b.step()
    assert a.status_facts() == {
        "role": "holder",
        "lease": a.lease.url,
        "lease_time": 30.0,
        "holder": {"name": "hosta:11:x", "host": "hosta", "pid": 11},
        "since": 5000.0,
        "expires": 5030.0,
    }
    assert b.status_facts() == {**a.status_facts(), "role": "standby", "expires": 7030.0}
    for clock in (mono_a, wall_a, mono_b, wall_b):
        clock.now += 10
    a.step()  # renewed: it runs out later, and the standby sees that at its next look
    b.step()
    assert a.status_facts()["expires"] == 5040.0 and a.status_facts()["since"] == 5000.0
    assert b.status_facts()["expires"] == 7040.0
    mono_b.now += 30
    wall_b.now += 30
    b.step()  # not renewed for a lease time by b's clock: b takes over
    assert b.status_facts()["role"] == "holder" and b.status_facts()["since"] == 7040.0
    mono_a.now += 30
    assert a.status_facts()["role"] == "lapsed", "its time is up: deleting nothing"
    a.step()  # its renewal fails: b wrote since
    assert a.status_facts()["role"] == "unknown" and a.status_facts()["holder"] is None


def test_holder_names_not_of_ours_keep_their_name() -> None:
    """A lease written by something else: its name is shown as is, with no host or pid."""
    assert identity("?") == {"name": "?", "host": None, "pid": None}
    assert identity("host:notapid:tag") == {"name": "host:notapid:tag", "host": "host", "pid": None}
    assert identity("a:b:7:t") == {"name": "a:b:7:t", "host": "a:b", "pid": 7}


def status_of(models: Path) -> dict[str, Any]:
    result = run_cli("status", "--dir", str(models), "--json")
    assert result.returncode == 0, result.stderr
    (entry,) = json.loads(result.stdout)["directories"]
    return dict(entry)


def test_status_of_a_shared_directory_names_the_other_hosts_holder(
    tmp_path: Path, guard_running: Callable[..., Any]
) -> None:
    """Another host's guard holds the lease of a shared directory and renews it: this
    host's guard stands by and its `status` names that holder (host, pid, since, when it
    runs out); once the holder stops renewing, this guard takes over and says so."""
    models, leases = tmp_path / "models", tmp_path / "leases"
    models.mkdir()
    leases.mkdir()
    for step in range(1, 6):
        write_checkpoint(models, step, mtime=1_000_000 + step)
    other = Renewer(DirectoryLease(str(leases), str(models)), "otherhost:4242:abc")
    args = ("--dir", str(models), "--lease", str(leases), "--lease-time", "1", "--keep", "2")
    with other, guard_running(*args, "--free-check-interval", "0.2") as guard:
        standby = wait_for(
            lambda: (s := status_of(models)["guard"]["lease"])["role"] == "standby" and s,
            message="the guard to stand by",
        )
        assert standby["holder"] == {"name": other.name, "host": "otherhost", "pid": 4242}
        assert standby["since"] == other.since and standby["lease"].startswith(str(leases))
        assert isinstance(standby["expires"], float)
        text = run_cli("status", "--dir", str(models)).stdout
        assert "otherhost pid 4242 holds it" in text and "this guard stands by" in text
        assert "deleting only while it holds the lease" in text
        assert len(list(models.iterdir())) == 5, "a standby deletes nothing"
        other.stop()
        held = wait_for(
            lambda: (s := status_of(models)["guard"]["lease"])["role"] == "holder" and s,
            timeout=20,
            message="the guard to take the lease over",
        )
        assert (held["holder"]["host"], held["holder"]["pid"]) == (socket.gethostname(), guard.pid)
        wait_for(lambda: len(list(models.iterdir())) == 2, message="the new holder to delete")
        assert "held by this guard" in run_cli("status", "--dir", str(models)).stdout


DURATION = 4.0


class Renewer:
    """Another host's guard holding a lease of DURATION seconds: renews it every half
    second until stopped."""

    def __init__(self, lease: DirectoryLease, name: str) -> None:
        self.lease, self.name, self.since = lease, name, 1_700_000_000.0
        self.version = lease.write(name, DURATION, released=False, version=None, since=self.since)
        assert self.version is not None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._renew)

    def _renew(self) -> None:
        while not self._stop.wait(0.5):  # its renewal period, not a synchronisation
            written = self.lease.write(
                self.name, DURATION, released=False, version=self.version, since=self.since
            )
            assert written is not None, "nobody takes a lease that is renewed"
            self.version = written

    def __enter__(self) -> Renewer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def __exit__(self, *exc: object) -> None:
        self.stop()
