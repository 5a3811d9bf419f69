"""`ckptguard demo`: the guard at work on a simulated training run, in under a minute.

A trainer writes real `.keras` checkpoints into a temporary directory; the real daemon
(`service.daemon.Daemon`, in this process) guards it with `--keep 2`; the directory's
"disk" is a budget of five checkpoints, enforced by the guard's own `--max-size` rule so
that the demo never fills a real disk and needs no root. The closing comparison is
computed from the run. The temporary directory is removed at the end, on Ctrl-C too.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ckptguard.core.units import format_size
from ckptguard.face.config import DaemonOptions, PolicyOptions, parse_flags
from ckptguard.face.demo.trainer import Trainer, archive
from ckptguard.face.demo.view import Live, Plain
from ckptguard.face.settings import build_settings
from ckptguard.face.usage import UsageError
from ckptguard.face.words import words_for
from ckptguard.service.settings import Settings

PAYLOAD = 2 * 1024 * 1024  # bytes of weights per checkpoint
KEEP = 2
BUDGET_CHECKPOINTS = 5


def demo(args: argparse.Namespace) -> int:
    if not 1 <= args.saves <= 200 or not 0 <= args.pace <= 10:
        raise UsageError("demo: --saves must be 1 to 200 and --pace 0 to 10 seconds")
    with _temporary() as root, _terminated_as_interrupt():
        return _run(args, root)


def _run(args: argparse.Namespace, root: str) -> int:
    models = os.path.join(root, "models")
    os.mkdir(models)
    data = archive(PAYLOAD)
    budget_text = f"{math.ceil(BUDGET_CHECKPOINTS * len(data) / 1e5) / 10:g}MB"
    settings = _settings(models, os.path.join(root, "state"), budget_text)
    budget = settings.guards[0].policy.max_size or 0
    view = _view(args, budget)
    for line in _intro(args, models, len(data), budget_text):
        view.say(line)
    with view:
        trainer = _guarded_run(args, settings, view, data)
    for line in _ending(trainer, len(data), budget):
        view.say(line)
    return 0


def _guarded_run(args: argparse.Namespace, settings: Settings, view: Plain, data: bytes) -> Trainer:
    from ckptguard.service.daemon import Daemon

    _capture_events(view)
    daemon = Daemon(settings, words=words_for)
    guard = threading.Thread(target=daemon.run, name="ckptguard-demo-guard", daemon=True)
    models = settings.guards[0].path
    trainer = Trainer(
        models, data, args.saves, args.pace, lambda i, n, s, c, b: view.saved(i, n, s)
    )
    guard.start()
    try:
        daemon.ready.wait(30)
        trainer.run()
        _settled(trainer, deadline=time.monotonic() + 5)
    finally:
        trainer.stop.set()
        daemon.request_stop()
        guard.join(30)
    return trainer


def _settled(trainer: Trainer, *, deadline: float) -> None:
    """Give the guard its moment after the last save: until it keeps only KEEP."""
    while trainer.look()[0] > KEEP and time.monotonic() < deadline:
        trainer.stop.wait(0.02)


def _settings(models: str, state: str, budget: str) -> Settings:
    policy = parse_flags({"keep": str(KEEP), "max_size": budget, "settle": "0"}, PolicyOptions)
    daemon = parse_flags({"state_dir": state}, DaemonOptions)
    return build_settings(file=None, flag_policy=policy, flag_daemon=daemon, flag_dirs=[models])


def _capture_events(view: Plain) -> None:
    """The guard's log events go to the view, not to stderr: deletions with reasons."""
    import structlog

    def to_view(logger: Any, name: str, event: Any) -> Any:
        if event.get("event") == "deleted":
            view.deleted(os.path.basename(event["path"]), event["size"], event["reasons"])
        raise structlog.DropEvent

    structlog.configure(processors=[to_view], cache_logger_on_first_use=False)


def _view(args: argparse.Namespace, budget: int) -> Plain:
    if args.plain or not sys.stdout.isatty():
        return Plain(budget)
    try:
        return Live(budget, args.saves, "ckptguard demo")
    except ImportError:
        plain = Plain(budget)
        plain.say("(for the live view: pip install 'ckptguard[demo]'; plain lines now)")
        return plain


def _intro(args: argparse.Namespace, models: str, size: int, budget: str) -> list[str]:
    return [
        f"A simulated training run saves {args.saves} real .keras checkpoints of "
        f"{format_size(size)}, one every {args.pace:g}s,",
        f"into {models}.",
        f"Its disk is a budget of {BUDGET_CHECKPOINTS} checkpoints ({budget}), enforced by "
        "ckptguard's --max-size rule,",
        "so no real disk fills up. Beside it runs the real guard:",
        f"  ckptguard run --dir {models} --keep {KEEP} --max-size {budget}",
        "",
    ]


def _ending(trainer: Trainer, size: int, budget: int) -> list[str]:
    saves = trainer.done
    fits = budget // size if size else 0
    died = f"would have died at save {fits + 1}" if saves > fits else "would have fitted"
    peak = trainer.peak
    return [
        "",
        f"Without a guard this run needed {saves} checkpoints of space "
        f"({format_size(saves * size)}) and {died} on its {format_size(budget)} budget; "
        f"with ckptguard the directory never held more than {peak.count} "
        f"({format_size(peak.size)}).",
        "Next: ckptguard audit --dir YOUR_CHECKPOINTS explains what it would do there, "
        "deleting nothing.",
    ]


@contextmanager
def _temporary() -> Iterator[str]:
    root = tempfile.mkdtemp(prefix="ckptguard-demo-")
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def _terminated_as_interrupt() -> Iterator[None]:
    """SIGTERM ends the demo like Ctrl-C does: through the clean-up above."""
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
