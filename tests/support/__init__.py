"""Helpers shared by the test suites, imported as `from support import X`.

Each module owns one thing:

    files      checkpoint files written whole or cut short
    metrics    a metrics file as Keras' CSVLogger writes it
    processes  the CLI as a subprocess, and `ckptguard run` with its sd_notify socket
    daemons    a Daemon in a thread of the test process: settings, start
    mounts     a real small tmpfs
    plans      reasons in words
    waiting    polling with a deadline
"""

from __future__ import annotations

from support.daemons import daemon_threads, settings_for
from support.files import KERAS, TEMPLATE, keras_bytes, write_checkpoint, write_truncated
from support.metrics import CsvLoggerFile
from support.mounts import Tmpfs, can_mount_tmpfs
from support.plans import text
from support.processes import (
    REPO,
    TRAINER,
    GuardProcess,
    NotifyListener,
    guard_running,
    run_cli,
)
from support.waiting import wait_for

__all__ = [
    "KERAS",
    "REPO",
    "TEMPLATE",
    "TRAINER",
    "CsvLoggerFile",
    "GuardProcess",
    "NotifyListener",
    "Tmpfs",
    "can_mount_tmpfs",
    "daemon_threads",
    "guard_running",
    "keras_bytes",
    "run_cli",
    "settings_for",
    "text",
    "wait_for",
    "write_checkpoint",
    "write_truncated",
]
