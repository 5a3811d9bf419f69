"""One deleter among guards of the same prefix: who holds the lease, by the store's
conditional writes and each guard's own monotonic clock (no clocks are compared).

The holder renews every third of the lease, each time only if the lease is still the
version it wrote; it deletes only while less than the lease (less a margin) has passed
since it sent its last successful write. A standby reads the lease at each turn; once
the lease has shown the same version for a whole lease time by the standby's own clock
(it started counting after the holder's write), the holder is gone, and the standby takes
it with a write conditional on that version: of several standbys exactly one wins.
A holder stopping cleanly marks the lease released, for a standby to take at once.

What a guard knows of the lease is also kept for its status (`status_facts`): who holds
it as the lease records it, since when, and when it runs out by this guard's clock.
"""

from __future__ import annotations

import os
import secrets
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from ckptguard.engine.executors import AuditExecutor, Executor
from ckptguard.service.settings import GuardSpec
from ckptguard.store.remote.lease import LeaseRecord


class Lease(Protocol):
    """A lease written only with conditional writes (an object store's, or a shared
    filesystem's exclusive create): `write` returns the new version, or None when the
    lease is no longer at `version` (None: when there is one)."""

    @property
    def url(self) -> str: ...

    def read(self) -> LeaseRecord | None: ...

    def write(
        self,
        holder: str,
        duration: float,
        *,
        released: bool,
        version: str | None,
        since: float | None = None,
    ) -> str | None: ...


def holder_name() -> str:
    """Who this guard is, for logs and the lease: host, pid and a random tag."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def identity(holder: str | None) -> dict[str, Any] | None:
    """A holder's name as the lease records it (`host:pid:tag`), with its host and pid;
    None for each part a name not of that form lacks."""
    if holder is None:
        return None
    parts = holder.rsplit(":", 2)
    host = parts[0] if len(parts) == 3 and parts[0] else None
    pid = int(parts[1]) if len(parts) == 3 and parts[1].isdigit() else None
    return {"name": holder, "host": host, "pid": pid}


@dataclass(frozen=True)
class Seen:
    """The lease as this guard last knew it: whose (None: not known yet), since when as
    the lease records it, and when it runs out unless renewed, by this guard's clock
    (wall-clock seconds, for people: decisions use the monotonic clock)."""

    holder: str | None = None
    since: float | None = None
    expires: float | None = None
    ours: bool = False


class Election:
    def __init__(
        self,
        lease: Lease,
        duration: float,
        log: Any,
        *,
        me: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.lease = lease
        self.duration = duration
        self.me = me or holder_name()
        self._log = log
        self._clock = clock
        self._wall = wall
        self.since: float | None = None  # when we last took it (wall clock)
        self.known = Seen()
        self.version: str | None = None  # the version we wrote, while we hold it
        self.valid_until = 0.0  # we may delete until then (our clock)
        self.renew_at = 0.0
        # A standby's view: the version seen, since when (our clock), and whose it is.
        self.seen: tuple[str, float, float] | None = None  # (version, since, its lease time)
        self.holder: str | None = None

    @property
    def holding(self) -> bool:
        return self.version is not None and self._clock() < self.valid_until

    def may_delete(self) -> bool:
        return self.holding

    def renew_if_due(self) -> bool:
        """Between deletions: renew a held lease when due, so that a long batch keeps it
        instead of lapsing halfway; True while this guard may still delete. A failed
        renewal is tried again a second later, and the lease runs out as it would."""
        if self.version is not None and self._clock() >= self.renew_at:
            try:
                self._renew()
            except Exception as error:  # noqa: BLE001 - the next turn reports store errors
                self.renew_at = self._clock() + 1.0
                self._log.warning("lease_renewal_failed", lease=self.lease.url, error=str(error))
        return self.holding

    def next_due(self) -> float:
        """When this election next needs a turn (our monotonic clock)."""
        if self.version is not None:
            return self.renew_at
        if self.seen is not None:
            return self.seen[1] + self.seen[2]
        return self._clock() + self.duration / 3

    def step(self) -> None:
        """Renew, or look and take over: one turn. Store errors propagate (the guard
        reports them); a holder that cannot renew stops deleting when its time is up."""
        if self.version is not None:
            if self._clock() >= self.renew_at:
                self._renew()
            return
        self._look()

    def status_facts(self) -> dict[str, Any]:
        """This guard's part in the election, for its status: holder (deleting), lapsed
        (holding a lease it could not renew in time: deleting nothing), standby, or
        unknown (no look at the lease has succeeded yet)."""
        known = self.known
        if known.holder is None:
            role = "unknown"
        elif not known.ours:
            role = "standby"
        else:
            role = "holder" if self.holding else "lapsed"
        return {
            "role": role,
            "lease": self.lease.url,
            "lease_time": self.duration,
            "holder": identity(known.holder),
            "since": known.since,
            "expires": known.expires,
        }

    def release(self) -> None:
        """Mark the lease released (if still ours), so a standby takes it at once."""
        if self.version is None:
            return
        try:
            self.lease.write(
                self.me, self.duration, released=True, version=self.version, since=self.since
            )
        except Exception as error:  # noqa: BLE001 - stopping anyway: it expires by itself
            self._log.warning("lease_release_failed", lease=self.lease.url, error=str(error))
        self.version = None
        self.known = Seen()

    def _renew(self) -> None:
        sent = self._clock()
        written = self.lease.write(
            self.me, self.duration, released=False, version=self.version, since=self.since
        )
        if written is None:
            self.version = None
            self.known = Seen()  # someone else's now: the next look says whose
            self._log.warning("lease_lost", lease=self.lease.url, action="standing by")
            return
        self._held(written, sent)

    def _look(self) -> None:
        now = self._clock()
        record = self.lease.read()
        if record is None:
            self._take(None, "no lease yet")
            return
        if record.released or record.holder == self.me:
            self._take(record, "released" if record.released else "ours from before")
            return
        if self.seen is None or self.seen[0] != record.version:
            self.seen = (record.version, now, self._lease_time(record))
            expires = self._wall() + self.seen[2]
            self.known = Seen(record.holder, record.since, expires)
            self._standby(record)
            return
        if now - self.seen[1] >= self.seen[2]:
            self._take(record, f"not renewed for {self.seen[2]:g}s")

    def _take(self, record: LeaseRecord | None, why: str) -> None:
        sent, since = self._clock(), self._wall()
        version = None if record is None else record.version
        written = self.lease.write(
            self.me, self.duration, released=False, version=version, since=since
        )
        if written is None:
            self.seen = None  # someone else wrote first: watch their lease
            return
        self.since = since
        self._held(written, sent)
        previous = None if record is None else record.holder
        self._log.info(
            "lease_taken", lease=self.lease.url, holder=self.me, previous=previous, why=why
        )
        self.holder = self.me

    def _held(self, version: str, sent: float) -> None:
        self.version = version
        self.seen = None
        margin = min(5.0, self.duration / 10)
        self.valid_until = sent + self.duration - margin
        self.renew_at = sent + self.duration / 3
        # It runs out a lease time after we sent the write, unless renewed.
        expires = self._wall() - (self._clock() - sent) + self.duration
        self.known = Seen(self.me, self.since, expires, ours=True)

    def _standby(self, record: LeaseRecord) -> None:
        if record.holder != self.holder:
            self.holder = record.holder
            self._log.info(
                "lease_standby",
                lease=self.lease.url,
                holder=record.holder,
                action="planning only; deleting if the holder stops renewing",
            )

    def _lease_time(self, record: LeaseRecord) -> float:
        """How long a version must stay unchanged before the holder counts as gone: the
        holder's own lease time as it wrote it (never shorter than ours)."""
        return max(record.duration, self.duration)


def executor_for(election: Election | None, executor: Executor) -> Executor:
    """The daemon's executor while this guard may delete; a standby only plans."""
    if election is None or election.may_delete():
        return executor
    return AuditExecutor()


def stop_unless_holding(
    election: Election | None, should_stop: Callable[[], bool]
) -> Callable[[], bool]:
    """Asked between deletions: stop when asked to, or once the lease is no longer ours
    (renewing it when due: a long batch must not outlast it)."""
    if election is None:
        return should_stop
    return lambda: should_stop() or not election.renew_if_due()


def directory_election(spec: GuardSpec, duration: float, log: Any) -> Election | None:
    """The election of a shared directory's guards, through its `--lease` directory."""
    from ckptguard.store.local.lease import DirectoryLease

    if spec.lease is None:
        return None
    return Election(DirectoryLease(spec.lease, spec.path), duration, log)
