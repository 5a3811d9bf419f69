"""Programs run as real processes: the CLI, and `ckptguard run` with its sd_notify socket."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from support.waiting import wait_for

REPO = Path(__file__).resolve().parents[2]
TRAINER = REPO / "bench" / "trainer.py"


def run_cli(
    *args: str, cwd: Path | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """`ckptguard ARGS` as a real subprocess of this interpreter."""
    return subprocess.run(
        [sys.executable, "-m", "ckptguard", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
        check=False,
    )


class NotifyListener:
    """A real sd_notify receiver: a datagram socket in the abstract namespace."""

    def __init__(self) -> None:
        import socket
        import uuid

        self.name = f"@ckptguard-test-{uuid.uuid4().hex}"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind("\0" + self.name[1:])
        self.sock.settimeout(0.05)
        self.messages: list[str] = []

    def drain(self) -> list[str]:

        while True:
            try:
                data = self.sock.recv(65536)
            except (TimeoutError, BlockingIOError):
                return self.messages
            self.messages.extend(data.decode().splitlines())

    def wait_for(self, line_prefix: str, timeout: float = 10.0) -> str:
        def found():
            self.drain()
            return next((m for m in self.messages if m.startswith(line_prefix)), None)

        return wait_for(found, timeout=timeout, interval=0.0, message=f"sd_notify {line_prefix!r}")

    def close(self) -> None:
        self.sock.close()


class GuardProcess:
    """`ckptguard run --log-format json ARGS` as a real process, with its sd_notify socket."""

    def __init__(self, *args: str) -> None:
        import json
        import signal

        self._json, self._signal = json, signal
        self.listener = NotifyListener()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ckptguard", "run", "--log-format", "json", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "NOTIFY_SOCKET": self.listener.name},
        )
        self.log: str | None = None

    def stop(self) -> str:
        """SIGTERM it (once) and return its log; `returncode` is then set."""
        if self.log is None:
            self.proc.send_signal(self._signal.SIGTERM)
            _, self.log = self.proc.communicate(timeout=60)
            self.listener.close()
        return self.log

    @property
    def returncode(self) -> int | None:
        return self.proc.returncode

    def events(self) -> list[dict[str, Any]]:
        return [self._json.loads(line) for line in self.stop().splitlines() if line[:1] == "{"]


@contextlib.contextmanager
def guard_running(*args: str, ready_timeout: float = 60) -> Iterator[GuardProcess]:
    """A `ckptguard run` process that said READY=1; stopped with SIGTERM on leaving."""
    guard = GuardProcess(*args)
    try:
        guard.listener.wait_for("READY=1", timeout=ready_timeout)
        yield guard
    finally:
        guard.stop()
