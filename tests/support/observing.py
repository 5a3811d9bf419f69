"""What the observability tests share: free ports, HTTP gets, Prometheus text, a writer
that fills a filesystem at a known rate, and server programs run on 127.0.0.1."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any


def free_port() -> int:
    """A TCP port on 127.0.0.1 free right now."""
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http_get(url: str, timeout: float = 5.0) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return str(response.read().decode())


def sample_value(exposition: str, name: str, **labels: str) -> float | None:
    """The value of the sample `name{labels...}` in Prometheus text (labels must all match,
    others may be present); None if there is none."""
    for line in exposition.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        head, _, value = line.rpartition(" ")
        metric, _, rest = head.partition("{")
        if metric != name:
            continue
        if all(f'{k}="{v}"' in rest for k, v in labels.items()):
            return float(value)
    return None


class Filler:
    """Appends `chunk` bytes to `path` every `chunk / rate` seconds, on a fixed schedule
    (a late write does not shift the later ones), until stopped. A full disk does not
    stop it: like any other writer it tries again at its next turn (`full` is set)."""

    def __init__(self, path: Path, *, rate: float, chunk: int = 64 * 1024) -> None:
        self.path, self.rate, self.chunk = path, rate, chunk
        self.written = 0
        self.full = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="filler", daemon=True)

    def __enter__(self) -> Filler:
        self.started = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        block = b"\x5a" * self.chunk
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            index = 0
            while True:
                due = self.started + index * self.chunk / self.rate
                if self._stop.wait(max(0.0, due - time.monotonic())):
                    return
                try:
                    self.written += os.write(fd, block)
                except OSError:
                    self.full.set()
                index += 1
        finally:
            os.close(fd)


class ServerProcess:
    """A server program (Prometheus, node_exporter) run by a test on 127.0.0.1, its output
    in a log file; `ready_url` answers once it serves. Stopped with SIGTERM on leaving."""

    def __init__(self, command: list[str], *, log_path: Path, ready_url: str) -> None:
        self.command, self.log_path, self.ready_url = command, log_path, ready_url
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: Any = None

    def __enter__(self) -> ServerProcess:
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            self.command, stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log
        )
        deadline = time.monotonic() + 60
        while not self._answers():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.__exit__()
                raise AssertionError(
                    f"{self.command[0]} did not start:\n{self.log_path.read_text()[-3000:]}"
                )
            time.sleep(0.05)
        return self

    def _answers(self) -> bool:
        try:
            http_get(self.ready_url, timeout=1)
        except OSError:
            return False
        return True

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._log is not None:
            self._log.close()
            self._log = None
