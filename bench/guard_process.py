"""`ckptguard run` as a real process: its own sd_notify socket, its log file, its exit.

The benchmarks, the chaos soak and the test suites all start the guard this way. Only
the standard library is imported: the soak never imports the `ckptguard` package.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

# What systemd sets for a unit: a guard started here gets a socket of its own instead.
SYSTEMD_VARIABLES = ("NOTIFY_SOCKET", "WATCHDOG_USEC")
LOG_TAIL_LINES = 40

_Guard = TypeVar("_Guard", bound="GuardProcess")


class NotifyListener:
    """A real sd_notify receiver: a datagram socket in the abstract namespace."""

    def __init__(self) -> None:
        self.name = f"@ckptguard-notify-{uuid.uuid4().hex}"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind("\0" + self.name[1:])
        self.sock.setblocking(False)
        self.messages: list[str] = []

    def drain(self) -> list[str]:
        """Every message received so far, reading first what waits in the socket."""
        while True:
            try:
                data = self.sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                return self.messages
            self.messages.extend(data.decode(errors="replace").splitlines())

    def wait_for(self, line_prefix: str, timeout: float = 10.0) -> str:
        """The first message that starts with `line_prefix`, waiting up to `timeout` s."""
        deadline = time.monotonic() + timeout
        while True:
            found = next((m for m in self.drain() if m.startswith(line_prefix)), None)
            if found is not None:
                return found
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(
                    f"timed out after {timeout}s waiting for sd_notify {line_prefix!r}"
                )
            select.select([self.sock], [], [], min(left, 0.05))

    def close(self) -> None:
        self.sock.close()


def events_named(events: Iterable[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    """The log events called `name`, in order."""
    return [e for e in events if e.get("event") == name]


class GuardProcess:
    """`python ENTRY run ARGS` as a real process, with stdout and stderr in `log_path`.

    The log is a file, not a pipe: nobody reads it while the guard runs, and a full pipe
    would stall the guard's logging (10,000 deletions log 10,000 lines). `launch()` starts
    the process; `start()` also waits for READY=1 and raises without it.
    """

    def __init__(
        self,
        args: Sequence[str],
        *,
        log_path: Path,
        python: str = sys.executable,
        entry: Sequence[str] = ("-m", "ckptguard"),
        prefix: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        cwd: str | Path | None = None,
    ) -> None:
        """`entry` tells the interpreter what to run (`-m MODULE`, or `-c SCRIPT`); `prefix`
        goes before the interpreter (to run it as another user, say); `env` is added to
        this process' environment, less the variables systemd sets."""
        self.args = tuple(args)
        self.log_path = log_path
        self.python = python
        self.entry = tuple(entry)
        self.prefix = tuple(prefix)
        self.env = dict(env or {})
        self.cwd = cwd
        self.proc: subprocess.Popen[bytes] | None = None
        self.listener: NotifyListener | None = None
        self.ready = False
        self.ready_after = 0.0  # seconds from launch to READY=1
        self.exit_code: int | None = None
        self._log_file: Any = None
        self._started = 0.0
        self._stopped = False

    @property
    def command(self) -> list[str]:
        return [*self.prefix, self.python, *self.entry, "run", *self.args]

    def launch(self: _Guard) -> _Guard:
        """Start the process without waiting for READY=1."""
        self.listener = NotifyListener()
        inherited = {k: v for k, v in os.environ.items() if k not in SYSTEMD_VARIABLES}
        env = {**inherited, **self.env, "NOTIFY_SOCKET": self.listener.name}
        self._log_file = open(self.log_path, "wb")  # noqa: SIM115 - closed in close()
        self._started = time.perf_counter()
        self.proc = subprocess.Popen(
            self.command,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=self._log_file,
            env=env,
            cwd=self.cwd,
        )
        return self

    def is_ready(self) -> bool:
        """Whether READY=1 has come (reading what the guard sent since the last look)."""
        if not self.ready and self.listener is not None and "READY=1" in self.listener.drain():
            self.ready = True
            self.ready_after = time.perf_counter() - self._started
        return self.ready

    def wait_ready(self, timeout: float) -> bool:
        """Wait up to `timeout` s for READY=1; False if it did not come or the guard exited."""
        deadline = time.perf_counter() + timeout
        while not self.is_ready():
            if not self.alive() or time.perf_counter() > deadline:
                return False
            time.sleep(0.002)
        return True

    def expect_ready(self: _Guard, timeout: float = 60.0) -> _Guard:
        """Wait for READY=1; raise, quoting the end of the log, if it does not come."""
        if not self.wait_ready(timeout):
            assert self.proc is not None
            if self.proc.poll() is not None:
                why = f"exited {self.proc.returncode} before READY=1"
            else:
                why = f"sent no READY=1 within {timeout:g}s"
            tail = "\n".join(self.log_text().splitlines()[-LOG_TAIL_LINES:])
            raise RuntimeError(f"ckptguard {why}; its log ends:\n{tail}")
        return self

    def start(self: _Guard, timeout: float = 60.0) -> _Guard:
        """Launch, then wait for READY=1 (raising without it)."""
        return self.launch().expect_ready(timeout)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int | None:
        """Send `sig` (SIGTERM unless told) unless it has exited, then wait: the exit code,
        None if it had to be killed after `timeout`. A second call only repeats the answer."""
        if self.proc is None or self._stopped:
            return self.exit_code
        self._stopped = True
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.exit_code = self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.exit_code = None
        else:
            self.exit_code = self.proc.returncode
        self.close()
        return self.exit_code

    def close(self) -> None:
        """Kill the process if it still runs; close its log file and its socket."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
        if self.proc is not None:
            self.proc.wait()
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        if self.listener is not None:
            self.listener.close()

    def events(self) -> list[dict[str, Any]]:
        """Every complete JSON line logged so far (a line cut short by a full disk is
        skipped, and so is any text before a line's JSON)."""
        found = []
        with contextlib.suppress(OSError):
            for line in self.log_path.read_bytes().splitlines():
                start = line.find(b"{")
                if start < 0:
                    continue
                with contextlib.suppress(ValueError):
                    found.append(json.loads(line[start:]))
        return found

    def events_named(self, name: str) -> list[dict[str, Any]]:
        return events_named(self.events(), name)

    def log_text(self) -> str:
        with contextlib.suppress(OSError):
            return self.log_path.read_bytes().decode("utf-8", "replace")
        return ""

    def __enter__(self: _Guard) -> _Guard:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
