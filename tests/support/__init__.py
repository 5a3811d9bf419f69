"""Helpers shared by the test suites, imported as `from support import X`.

Each module owns one thing:

    files      checkpoint files written whole, cut short or back-dated; the steps present;
               snapshots that show nothing was touched
    objects    every preset's checkpoints as objects in a bucket, uploaded marker last
    clocks     clocks driven by hand
    metrics    a metrics file as Keras' CSVLogger writes it; keep-best options on it
    processes  the CLI as a subprocess, and reading what processes print
    daemons    a Daemon in a thread of the test process: settings, start, cycles
    mounts     real tmpfs and bind mounts, filled up; files made immutable
    observing  free ports, HTTP gets, Prometheus text; a filesystem filled at a known rate
    plans      plans made through a real directory's descriptor; reasons in words
    gcs        a real GCS JSON-API server (fake-gcs-server) and gcsfs clients of it
    waiting    polling with a deadline
    terminal   a command on a real terminal (tmux), its screen read back

Checkpoint names and archives, `ckptguard run` as a real process, and a real S3 API server
(moto's) are shared with the benchmarks (bench/checkpoint_files.py, bench/guard_process.py,
bench/moto_server.py); the fixtures that start processes or mount filesystems are in
tests/conftest.py, those of a server and a bucket in tests/remote/conftest.py.
"""

from __future__ import annotations

from bench.checkpoint_files import TEMPLATE, keras_bytes, name_of, zip_bytes
from bench.guard_process import GuardProcess, NotifyListener, events_named
from bench.moto_server import MotoServer, aws_environ, new_bucket, s3fs_client
from support.clocks import HandClock
from support.daemons import daemon_threads, settings_for, wait_cycles, wait_passes
from support.files import (
    KERAS,
    KERAS_TEMPLATE,
    OLD,
    TF_MAGIC,
    snapshot,
    steps_in,
    tree_snapshot,
    write_checkpoint,
    write_old,
    write_truncated,
)
from support.gcs import GCS_ENV, GcsServer
from support.metrics import LOG, VAL_LOSSES, CsvLoggerFile, keep_best_args, six_epochs
from support.mounts import (
    Mounts,
    can_mount_tmpfs,
    fill,
    fill_inodes,
    free_bytes,
    immutable,
    needs_root,
    umount,
)
from support.objects import PRESET_NAMES, PRESET_OBJECTS, torch_bytes, upload
from support.observing import Filler, ServerProcess, free_port, http_get, sample_value
from support.plans import NO_SPACE_RULE, UNREACHABLE, directory_fd, plan_for, text
from support.processes import NOBODY, REPO, TRAINER, is_json, run_cli, tail, train
from support.terminal import Terminal, needs_tmux
from support.waiting import wait_for

__all__ = [
    "GCS_ENV",
    "KERAS",
    "KERAS_TEMPLATE",
    "LOG",
    "NOBODY",
    "NO_SPACE_RULE",
    "OLD",
    "PRESET_NAMES",
    "PRESET_OBJECTS",
    "REPO",
    "TEMPLATE",
    "TF_MAGIC",
    "TRAINER",
    "UNREACHABLE",
    "VAL_LOSSES",
    "CsvLoggerFile",
    "Filler",
    "GcsServer",
    "GuardProcess",
    "HandClock",
    "MotoServer",
    "Mounts",
    "NotifyListener",
    "ServerProcess",
    "Terminal",
    "aws_environ",
    "can_mount_tmpfs",
    "daemon_threads",
    "directory_fd",
    "events_named",
    "fill",
    "fill_inodes",
    "free_bytes",
    "free_port",
    "http_get",
    "immutable",
    "is_json",
    "keep_best_args",
    "keras_bytes",
    "name_of",
    "needs_root",
    "needs_tmux",
    "new_bucket",
    "plan_for",
    "run_cli",
    "s3fs_client",
    "sample_value",
    "settings_for",
    "six_epochs",
    "snapshot",
    "steps_in",
    "tail",
    "text",
    "torch_bytes",
    "train",
    "tree_snapshot",
    "umount",
    "upload",
    "wait_cycles",
    "wait_for",
    "wait_passes",
    "write_checkpoint",
    "write_old",
    "write_truncated",
    "zip_bytes",
]
