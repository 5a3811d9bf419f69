"""`--on-warning CMD`: a command run with each new warning as JSON on its standard input.

The daemon's loop only hands a warning over (`offer`), which never blocks: one worker
thread runs the commands one at a time through `/bin/sh -c`, each in a session of its
own, and kills the whole session when it outlives `timeout`. The same warning of the
same directory runs the command at most once per `min_interval`; a full queue drops
the newest. A command that fails (exit status, timeout, cannot start) is logged once
until it succeeds again, and counted.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from typing import Any

MIN_INTERVAL = 300.0
QUEUE = 16
_STOP = object()


class WarningHook:
    def __init__(
        self,
        command: str,
        *,
        timeout: float,
        log: Any,
        counted: Callable[[str], None] = lambda kind: None,
        min_interval: float = MIN_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.command = command
        self.timeout = timeout
        self.min_interval = min_interval
        self.runs = 0  # commands finished, however they ended
        self._counted = counted
        self._clock = clock
        self._log = log
        self._reported: str | None = None  # the failure last logged
        self._last: dict[tuple[str, str], float] = {}
        self._queue: queue.Queue[object] = queue.Queue(QUEUE)
        self._running: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self._worker = threading.Thread(target=self._work, name="ckptguard-on-warning")
        self._worker.daemon = True
        self._worker.start()

    def offer(self, warning: dict[str, Any]) -> bool:
        """Queue `warning` for the command; False when rate-limited or the queue is full."""
        key = (str(warning.get("dir")), str(warning.get("warning")))
        now = self._clock()
        last = self._last.get(key)
        if last is not None and now - last < self.min_interval:
            return False
        try:
            self._queue.put_nowait(warning)
        except queue.Full:
            self._counted("hook_dropped")
            return False
        self._last[key] = now
        return True

    def close(self, grace: float = 2.0) -> None:
        """Stop the worker; a command still running after `grace` seconds is killed."""
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait(_STOP)
        self._worker.join(grace)
        with self._lock:
            if self._running is not None:
                _kill_session(self._running)
        self._worker.join()

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            assert isinstance(item, dict)
            self._run(json.dumps(item).encode() + b"\n")
            self.runs += 1

    def _run(self, data: bytes) -> None:
        with tempfile.TemporaryFile() as errors:
            try:
                with self._lock:
                    self._running = process = subprocess.Popen(
                        ["/bin/sh", "-c", self.command],
                        stdin=subprocess.PIPE,
                        stdout=subprocess.DEVNULL,
                        stderr=errors,
                        start_new_session=True,
                    )
            except OSError as error:
                self._failed("hook_failed", f"cannot start: {error.strerror}")
                return
            problem = self._wait(process, data)
            with self._lock:
                self._running = None
            if problem is None:
                self._reported = None
                return
            errors.seek(0)
            said = errors.read()[-400:].decode(errors="replace").strip()
            self._failed(*problem, said)

    def _wait(self, process: subprocess.Popen[bytes], data: bytes) -> tuple[str, str] | None:
        try:
            process.communicate(data, timeout=self.timeout)
        except subprocess.TimeoutExpired:
            _kill_session(process)
            process.communicate()
            return "hook_timeout", f"timed out after {self.timeout:g}s: killed"
        except OSError:
            pass  # it did not read its input (a closed pipe): its exit status says the rest
        process.wait()
        if process.returncode != 0:
            return "hook_failed", _exit_text(process.returncode)
        return None

    def _failed(self, kind: str, error: str, said: str = "") -> None:
        self._counted(kind)
        if error == self._reported:
            return
        self._reported = error
        extra = {"stderr": said} if said else {}
        self._log.warning("warning_hook_failed", command=self.command, error=error, **extra)


def _kill_session(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(OSError):
        os.killpg(process.pid, signal.SIGKILL)


def _exit_text(code: int) -> str:
    if code < 0:
        return f"killed by signal {signal.Signals(-code).name}"
    return f"exited {code}"
