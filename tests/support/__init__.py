"""Helpers shared by the test suites, imported as `from support import X`.

Each module owns one thing:

    files      checkpoint files written whole or cut short
    metrics    a metrics file as Keras' CSVLogger writes it
    processes  the CLI as a subprocess
    daemons    a Daemon in a thread of the test process: settings, start
    mounts     a real small tmpfs
    plans      reasons in words
    waiting    polling with a deadline

`ckptguard run` as a real process is shared with the benchmarks
(bench/guard_process.py); the fixtures that start it are in tests/conftest.py.
"""

from __future__ import annotations

from bench.guard_process import GuardProcess, NotifyListener
from support.daemons import daemon_threads, settings_for
from support.files import KERAS, TEMPLATE, keras_bytes, write_checkpoint, write_truncated
from support.metrics import CsvLoggerFile
from support.mounts import Tmpfs, can_mount_tmpfs
from support.plans import text
from support.processes import REPO, TRAINER, run_cli
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
    "keras_bytes",
    "run_cli",
    "settings_for",
    "text",
    "wait_for",
    "write_checkpoint",
    "write_truncated",
]
