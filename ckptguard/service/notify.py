"""The systemd notification protocol, spoken directly (no libsystemd).

Messages are datagrams on the AF_UNIX socket named by $NOTIFY_SOCKET; a leading `@`
names the abstract namespace. Without the variable every call does nothing.

Where there is no systemd (a container under Kubernetes), an *alive file* is the
equivalent a probe can check: it is touched at READY=1 and at every watchdog ping, which
then comes every ALIVE_INTERVAL seconds, so its age says whether the loop still turns.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import Mapping

# Seconds between touches of the alive file when systemd asks for no watchdog.
ALIVE_INTERVAL = 10.0


class Notifier:
    def __init__(
        self, environ: Mapping[str, str] | None = None, *, alive_file: str | None = None
    ) -> None:
        env = os.environ if environ is None else environ
        address = env.get("NOTIFY_SOCKET", "")
        self._address = "\0" + address[1:] if address.startswith("@") else address
        self.watchdog_interval = _watchdog_interval(env)
        self.alive_file = alive_file
        if alive_file is not None:
            self.watchdog_interval = min(self.watchdog_interval or ALIVE_INTERVAL, ALIVE_INTERVAL)
        self._socket: socket.socket | None = None

    @property
    def enabled(self) -> bool:
        return bool(self._address)

    def send(self, *lines: str) -> bool:
        """Send `KEY=value` lines as one datagram; False (never raises) if it was not sent."""
        if not self._address:
            return False
        try:
            if self._socket is None:
                self._socket = socket.socket(
                    socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC
                )
                # A receiver that stops reading must never stall the guard: drop instead.
                self._socket.setblocking(False)
            self._socket.sendto("\n".join(lines).encode(), self._address)
        except OSError:
            return False
        return True

    def ready(self, status: str) -> bool:
        self._touch()
        return self.send("READY=1", f"STATUS={status}", f"MAINPID={os.getpid()}")

    def status(self, status: str) -> bool:
        return self.send(f"STATUS={status}")

    def watchdog(self) -> bool:
        self._touch()
        return self.send("WATCHDOG=1")

    def _touch(self) -> None:
        """Touch the alive file (created if need be); a failure only makes it go stale."""
        if self.alive_file is None:
            return
        try:
            fd = os.open(self.alive_file, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                os.utime(fd)
            finally:
                os.close(fd)
        except OSError:
            pass

    def stopping(self) -> bool:
        if self.alive_file is not None:
            with contextlib.suppress(OSError):
                os.unlink(self.alive_file)
        return self.send("STOPPING=1")

    def reloading(self) -> bool:
        return self.send("RELOADING=1", f"MONOTONIC_USEC={time.monotonic_ns() // 1000}")

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None


def _watchdog_interval(env: Mapping[str, str]) -> float | None:
    """Half of $WATCHDOG_USEC in seconds, when the watchdog is meant for this process."""
    usec = env.get("WATCHDOG_USEC", "")
    pid = env.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    if pid and pid != str(os.getpid()):
        return None
    return int(usec) / 1_000_000 / 2
