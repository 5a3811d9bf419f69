"""The commands: settings from the command line and the config, then one cycle (audit,
prune) or the daemon (run); rendering, logging, signals and exit codes are decided here."""

from __future__ import annotations

import argparse
import json
import os
import signal
import time
from types import FrameType
from typing import TYPE_CHECKING, Any

from ckptguard.core.decisions import Outcome
from ckptguard.core.model import Inventory
from ckptguard.core.planner import SharedBudget
from ckptguard.core.recall import MetricMemory
from ckptguard.engine.cycle import KnownMetrics, Look, cycle, memory_after
from ckptguard.engine.executors import AuditExecutor, Deleter, Executor
from ckptguard.face.cli import EXIT_FAILURE, EXIT_OK, EXIT_TARGET_MISSED, EXIT_USAGE, complain
from ckptguard.face.config import ConfigError, DaemonOptions, PolicyOptions, parse_flags
from ckptguard.face.describe import policy_words
from ckptguard.face.observe_options import metrics_problem
from ckptguard.face.paths import Need, check_directories
from ckptguard.face.render import to_json
from ckptguard.face.settings import build_settings
from ckptguard.face.table import to_table
from ckptguard.face.words import words_for
from ckptguard.service.settings import GuardSpec, Settings, shared_budget
from ckptguard.service.state import load_memory, load_verdicts, save_memory, save_verdicts
from ckptguard.store.local.directory import LocalStore
from ckptguard.store.local.metrics import MetricsError
from ckptguard.store.local.metrics import load as load_metrics
from ckptguard.store.remote.location import RemoteError, is_remote
from ckptguard.store.remote.trouble import remote_trouble

if TYPE_CHECKING:
    from ckptguard.store.remote.store import RemoteStore


def settings_of(args: argparse.Namespace) -> Settings:
    from ckptguard.face.sources import load_config

    values = vars(args)
    file, _ = load_config(args.config)
    flag_policy = parse_flags({k: values.get(k) for k in PolicyOptions.model_fields}, PolicyOptions)
    flag_daemon = parse_flags({k: values.get(k) for k in DaemonOptions.model_fields}, DaemonOptions)
    return build_settings(
        file=file,
        flag_policy=flag_policy,
        flag_daemon=flag_daemon,
        flag_dirs=values.get("dir") or [],
    )


def check_metrics(settings: Settings, *, starting: bool) -> None:
    """Metrics options need prometheus_client (an extra) and, to start, the textfile's
    directory."""
    problem = metrics_problem(settings.metrics_textfile, settings.metrics_listen, starting=starting)
    if problem is not None:
        raise ConfigError([problem])


def check_config(args: argparse.Namespace) -> int:
    """The config and flags as `run` would take them, and every directory usable."""
    from ckptguard.face.sources import DEFAULT_CONFIG, ENVIRONMENT, config_files

    files = config_files(args.config)
    if not files and not args.dir:
        where = f"none at {DEFAULT_CONFIG} (or ${ENVIRONMENT})"
        raise ConfigError([f"no config to check: {where}; give --config FILE"])
    settings = settings_of(args)
    check_directories(settings, Need.CHECK)
    check_metrics(settings, starting=False)
    count = len(settings.guards)
    where = " + ".join(files) if files else "flags"
    print(f"{where}: OK, {count} director{'y' if count == 1 else 'ies'}:")
    for spec in settings.guards:
        print(f"  {spec.path}: {policy_words(spec)}")
    return EXIT_OK


def guard(args: argparse.Namespace) -> int:
    """`ckptguard run`: the daemon in the main thread, stopped by SIGTERM or SIGINT and
    reloaded by SIGHUP (the handlers only ask)."""
    from ckptguard.face.logs import configure
    from ckptguard.service.daemon import Daemon  # imported late: watchdog is not needed above
    from ckptguard.service.locking import StartupError
    from ckptguard.service.notify import Notifier

    settings = settings_of(args)
    check_directories(settings, Need.GUARD, dry_run=args.dry_run)
    check_metrics(settings, starting=True)
    configure(
        settings.log_format,
        verbosity=verbosity(args),
        summary={spec.path: policy_words(spec) for spec in settings.guards},
    )
    executor: Executor = AuditExecutor() if args.dry_run else Deleter()
    daemon = Daemon(
        settings,
        executor=executor,
        words=words_for,
        load_settings=lambda: settings_of(args),
        wait_lock=args.wait_lock,
        notifier=Notifier(alive_file=settings.alive_file),
    )

    def on_stop(signum: int, frame: FrameType | None) -> None:
        daemon.request_stop()

    def on_reload(signum: int, frame: FrameType | None) -> None:
        daemon.request_reload()

    signal.signal(signal.SIGTERM, on_stop)
    signal.signal(signal.SIGINT, on_stop)
    signal.signal(signal.SIGHUP, on_reload)
    try:
        return daemon.run()
    except StartupError as error:
        complain(str(error))
        return EXIT_USAGE


def one_shot(args: argparse.Namespace, *, execute: bool) -> int:
    """audit, prune and prune --execute; only the last writes anything (its state too)."""
    settings = settings_of(args)
    check_directories(settings, Need.DELETE if execute else Need.READ)
    console = False
    if execute:
        from ckptguard.face.logs import configure, renders_console  # structlog only here

        console = renders_console(settings.log_format)
        configure(settings.log_format, verbosity=verbosity(args))
    executor: Executor = Deleter() if execute else AuditExecutor()
    now = time.time()
    peers = _peer_surveys(settings)
    outcomes = [
        _one_directory(
            spec,
            settings,
            executor,
            now=now,
            shared=shared_budget(spec, [(g, peers.get(g.path)) for g in settings.guards]),
            # On a terminal the table reports each deletion: the log would say it twice.
            log_results=not console,
        )
        for spec in settings.guards
    ]
    _render(outcomes, [words_for(spec) for spec in settings.guards], now, as_json=args.json)
    if args.command == "prune" and not execute and not args.json:
        print("\npreview only, nothing deleted: add --execute to delete")
    if any(o.failed for o in outcomes):
        complain("some deletions failed; see the report above")
        return EXIT_FAILURE
    if any(o.plan.shortfall for o in outcomes):
        return EXIT_TARGET_MISSED  # the report says why; cron and monitoring see the code
    return EXIT_OK


def verbosity(args: argparse.Namespace) -> int:
    """-1 quiet, 0 normal, 1 verbose."""
    return -1 if getattr(args, "quiet", False) else int(bool(getattr(args, "verbose", False)))


def _peer_surveys(settings: Settings) -> dict[str, Inventory]:
    """What each directory sharing a budget holds, looked at before any plan is made."""
    found = {}
    for spec in settings.guards:
        if spec.shared_budget is not None:
            store = open_store(spec)
            try:
                with remote_trouble(spec):
                    found[spec.path] = store.survey(spec.layout)
            finally:
                store.close()
    return found


def _one_directory(
    spec: GuardSpec,
    settings: Settings,
    executor: Executor,
    *,
    now: float,
    shared: SharedBudget | None = None,
    log_results: bool = True,
) -> Outcome:
    store = open_store(spec)
    remote = is_remote(spec.path)
    real = store.location if remote else os.path.realpath(spec.path)
    verdicts_in = None if remote else settings.state_dir  # an object's last for one run
    load_verdicts(verdicts_in, real, store.cache)  # only saves time, if at all
    try:
        known = _known_metrics(spec, settings.state_dir, real)
        look = Look(holders=True)  # no watcher saw saves being written: ask /proc
        with remote_trouble(spec):
            done = cycle(
                store,
                spec.layout,
                spec.policy,
                executor,
                now=now,
                metrics=known,
                look=look,
                shared=shared,
            )
    finally:
        store.close()
    if executor.deletes:  # an audit writes nothing anywhere; the verdicts it read stay as they were
        save_verdicts(verdicts_in, real, store.cache)
        from ckptguard.service.events import log_outcome

        if log_results:
            log_outcome(done.outcome, words=words_for(spec))
        if known is not None and settings.state_dir is not None:
            remembered = memory_after(done.assessment, done.outcome)
            _save_memory(settings.state_dir, real, known, remembered)
    return done.outcome


def open_store(spec: GuardSpec) -> LocalStore | RemoteStore:
    """The store of `spec`: a directory opened, or an object store's prefix."""
    if is_remote(spec.path):
        from ckptguard.store.remote.store import RemoteStore

        try:
            return RemoteStore.open(spec.path, trash_for=spec.trash_for)
        except RemoteError as error:
            raise ConfigError([f"--dir {error}"]) from None
    try:
        return LocalStore.open(spec.path)
    except OSError as error:
        raise ConfigError([f"--dir {spec.path}: {error.strerror}"]) from None


def _known_metrics(guard: GuardSpec, state_dir: str | None, real: str) -> KnownMetrics | None:
    """The metrics file's table and the values remembered for the directory (read only)."""
    if guard.metrics_file is None:
        return None
    try:
        table = load_metrics(guard.metrics_file)
    except MetricsError as error:
        raise ConfigError([f"--metrics-file {error}"]) from None
    memory, problem = load_memory(state_dir, real)
    return KnownMetrics(guard.metrics_file, table, memory, problem)


def _save_memory(state_dir: str, real: str, known: KnownMetrics, memory: MetricMemory) -> None:
    """Remember the metric values of the checkpoints left; a failure is logged, no more."""
    if memory == known.memory and known.memory_problem is None:
        return
    problem = save_memory(state_dir, real, memory)
    if problem is not None:
        from ckptguard.service.events import get_logger

        get_logger().warning(
            "state_write_failed",
            path=real,
            error=problem,
            consequence="metric values read now are not remembered after this run",
        )


def _render(outcomes: list[Outcome], words: list[Any], now: float, *, as_json: bool) -> None:
    if as_json:
        print(json.dumps(to_json(outcomes, now, words), indent=2))
        return
    print("\n\n".join(to_table(o, now, w) for o, w in zip(outcomes, words, strict=True)))
