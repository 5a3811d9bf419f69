"""Helpers shared by the test suites: real checkpoint files and the CLI as a subprocess."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ckptguard.core.layouts import layout_for
from ckptguard.core.model import MinFree, MinFreeUnit, Policy
from ckptguard.core.naming import Template
from ckptguard.service.settings import GuardSpec, Settings

TEMPLATE = "checkpoint_step_{step}.keras"
KERAS = layout_for("keras", Template.parse(TEMPLATE))


def keras_bytes(payload_size: int = 4096, *, seed: int = 0) -> bytes:
    """The bytes of a minimal `.keras`-style archive (a zip with Keras' member names)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr("metadata.json", '{"keras_version": "3.0.0"}')
        archive.writestr("config.json", '{"class_name": "Sequential"}')
        archive.writestr(
            "model.weights.h5", os.urandom(payload_size) if seed else bytes(payload_size)
        )
    return buffer.getvalue()


def write_checkpoint(
    directory: Path, step: int, *, payload_size: int = 4096, mtime: float | None = None
) -> Path:
    """A complete checkpoint named for `step`, optionally back-dated to `mtime`."""
    path = directory / TEMPLATE.format(step=step)
    path.write_bytes(keras_bytes(payload_size))
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


def write_truncated(
    directory: Path, step: int, *, keep_fraction: float = 0.5, mtime: float | None = None
) -> Path:
    """A checkpoint cut short, as a crash mid-save leaves it."""
    data = keras_bytes()
    path = directory / TEMPLATE.format(step=step)
    path.write_bytes(data[: int(len(data) * keep_fraction)])
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


class CsvLoggerFile:
    """A log written as Keras' `CSVLogger` (append=False) writes it.

    `start()` is `on_train_begin`: it opens the file with mode "w", truncating it. The
    first `epoch_end` writes the header, `epoch` then the sorted metric names, with the
    csv module's excel dialect (rows end in CRLF); every row is flushed at once.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._handle: Any = None
        self._writer: Any = None

    def start(self) -> CsvLoggerFile:
        self.close()
        self._handle = self.path.open("w")  # kept open between epochs, as CSVLogger does
        self._writer = None
        return self

    def epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        import csv

        if self._writer is None:
            self._writer = csv.DictWriter(
                self._handle, fieldnames=["epoch", *sorted(logs)], dialect=csv.excel
            )
            self._writer.writeheader()
        self._writer.writerow({"epoch": epoch, **logs})
        self._handle.flush()

    def run(self, val_losses: list[float], *, first_epoch: int = 0) -> CsvLoggerFile:
        """A whole `fit`: train begins (truncating the log), then one row per epoch."""
        self.start()
        for epoch, value in enumerate(val_losses, start=first_epoch):
            self.epoch_end(epoch, {"loss": round(value + 0.05, 4), "val_loss": value})
        return self

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


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


def wait_for(
    predicate, *, timeout: float = 10.0, interval: float = 0.01, message: str = "condition"
):
    """Poll `predicate` until it returns a truthy value or `timeout` passes (then fail)."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        time.sleep(interval)


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


REPO = Path(__file__).resolve().parent.parent
TRAINER = REPO / "bench" / "trainer.py"


def can_mount_tmpfs() -> str | None:
    """None when this process may mount a tmpfs, else the reason it may not."""
    if os.geteuid() != 0:
        return "needs root to mount a small tmpfs"
    import shutil as _shutil

    if _shutil.which("mount") is None or _shutil.which("umount") is None:
        return "mount/umount not installed"
    return None


class Tmpfs:
    """A real tmpfs of `size` bytes mounted on `where`, unmounted by `close()`."""

    def __init__(self, where: Path, size: int) -> None:
        where.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(where)],
            check=True,
            capture_output=True,
        )
        self.path = where

    def free(self) -> int:
        st = os.statvfs(self.path)
        return st.f_bavail * st.f_frsize

    def close(self) -> None:
        subprocess.run(["umount", "-l", str(self.path)], check=False, capture_output=True)


def settings_for(
    *dirs: Path,
    keep: int = 3,
    min_free: MinFree | None = None,
    min_keep: int = 1,
    settle: float = 10.0,
    rescan_interval: float = 60.0,
    free_check_interval: float = 5.0,
    poll: bool = False,
) -> Settings:
    policy = Policy(
        keep=keep,
        min_free=min_free or MinFree(MinFreeUnit.MULTIPLE, 1.0),
        min_keep=min_keep,
        settle_seconds=settle,
    )
    return Settings(
        guards=tuple(GuardSpec(str(d), KERAS, policy) for d in dirs),
        rescan_interval=rescan_interval,
        free_check_interval=free_check_interval,
        poll=poll,
    )


@contextlib.contextmanager
def daemon_threads() -> Iterator[Any]:
    """Yield `start(settings, **options)`, which runs a Daemon in a thread until READY.

    On exit every daemon is stopped, and no thread or file descriptor may be left behind.
    """
    import threading

    from ckptguard.service.daemon import Daemon

    before = set(threading.enumerate())
    fds_before = set(os.listdir("/proc/self/fd"))
    running: list[tuple[Daemon, threading.Thread]] = []

    def start(settings: Settings, *, wait_ready: bool = True, **options: Any) -> Daemon:
        from ckptguard.face.words import words_for

        daemon = Daemon(settings, **{"words": words_for, **options})
        thread = threading.Thread(target=daemon.run, name="ckptguard-daemon-under-test")
        thread.start()
        running.append((daemon, thread))
        if wait_ready:
            assert daemon.ready.wait(10), "daemon did not become ready"
        return daemon

    yield start
    for daemon, thread in running:
        daemon.request_stop()
        thread.join(10)
        assert not thread.is_alive(), "daemon thread did not stop"
    wait_for(
        lambda: set(threading.enumerate()) <= before,
        timeout=10,
        message="threads started by the daemon to end",
    )
    leaked = set(os.listdir("/proc/self/fd")) - fds_before
    assert not leaked, f"file descriptors left open: {leaked}"


def text(item: Any) -> str:
    """A reason or notice in the words the face gives it (options named as flags)."""
    from ckptguard.core.decisions import Reason
    from ckptguard.face.words import notice_text, reason_text

    return reason_text(item) if isinstance(item, Reason) else notice_text(item)
