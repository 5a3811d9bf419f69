"""The command line: parse, validate, wire the pieces together, render, pick an exit code.

Exit codes: 0 success; 1 a runtime failure (some deletions failed); 2 bad usage or
configuration, always as one line per problem and never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from collections.abc import Sequence
from typing import Any, NoReturn

from ckptguard import __version__
from ckptguard.core.layouts import PRESETS
from ckptguard.core.model import Outcome
from ckptguard.core.recall import MetricMemory
from ckptguard.engine.cycle import KnownMetrics, memory_after, survey
from ckptguard.engine.executors import AuditExecutor, Deleter, Executor
from ckptguard.face.config import (
    ConfigError,
    DaemonOptions,
    GuardSpec,
    PolicyOptions,
    Settings,
    build_settings,
    load_file,
    parse_flags,
)
from ckptguard.face.render import to_json, to_table
from ckptguard.service.events import get_logger, log_outcome
from ckptguard.service.state import load_memory, save_memory
from ckptguard.store.local.metrics import MetricsError
from ckptguard.store.local.metrics import load as load_metrics
from ckptguard.store.local.scan import open_directory

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
# A value that looks like an option to argparse: "-5GB", "-1x", "-.5".
_DASH_VALUE = re.compile(r"-[0-9.]")


class UsageError(Exception):
    """Raised instead of argparse's print-usage-and-exit, so main() decides the output."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    policy = _Parser(add_help=False)
    group = policy.add_argument_group("policy")
    group.add_argument(
        "--dir",
        action="append",
        default=[],
        metavar="DIR",
        help="directory to guard (repeatable; default: the config's directories)",
    )
    group.add_argument("--config", metavar="FILE", help="TOML config file; flags override it")
    group.add_argument("--keep", metavar="N", help="keep the N newest valid checkpoints (3)")
    group.add_argument(
        "--min-free",
        metavar="SIZE",
        help="free space to keep: 20GB, 512MiB, 10%%, or 1x/2.5x the newest (1x)",
    )
    group.add_argument(
        "--min-keep",
        metavar="N",
        help="the free-space rule never leaves fewer valid checkpoints (1)",
    )
    group.add_argument(
        "--keep-every",
        metavar="STEPS",
        help="also keep checkpoints whose step is a multiple of STEPS (off)",
    )
    group.add_argument(
        "--preset",
        metavar="NAME",
        help=f"checkpoint layout: {', '.join(PRESETS)} (keras)",
    )
    group.add_argument(
        "--pattern",
        metavar="TEMPLATE",
        help="checkpoint name template with one {step} (the preset's, e.g. "
        "checkpoint_step_{step}.keras)",
    )
    group.add_argument(
        "--keep-best", metavar="N", help="also keep the N best checkpoints by --metric (0)"
    )
    group.add_argument(
        "--metric", metavar="NAME", help="metric for --keep-best: a --pattern field or a column"
    )
    group.add_argument(
        "--mode", metavar="MODE", help="min or max is better (min for *loss*/*error*, else max)"
    )
    group.add_argument(
        "--metrics-file",
        metavar="FILE",
        help="CSV (CSVLogger), trainer_state.json or JSON lines with metrics per step/epoch",
    )
    group.add_argument(
        "--settle",
        metavar="SECONDS",
        help="a file modified this recently may still be written (10)",
    )

    state = _Parser(add_help=False)
    state.add_argument(
        "--state-dir",
        metavar="DIR",
        help="where metric values read before are remembered, outside every guarded "
        "directory ($STATE_DIRECTORY, /var/lib/ckptguard for root, else "
        "~/.local/state/ckptguard)",
    )

    parser = _Parser(
        prog="ckptguard", description="Keeps training checkpoints from filling the disk."
    )
    parser.add_argument("--version", action="version", version=f"ckptguard {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    audit = commands.add_parser(
        "audit", parents=[policy, state], help="explain every decision; delete nothing"
    )
    audit.add_argument("--json", action="store_true", help="print one JSON document")

    prune = commands.add_parser(
        "prune", parents=[policy, state], help="preview, or delete with --execute"
    )
    prune.add_argument("--execute", action="store_true", help="really delete")
    prune.add_argument("--json", action="store_true", help="print one JSON document")

    run = commands.add_parser("run", parents=[policy, state], help="guard directories continuously")
    run.add_argument(
        "--dry-run", action="store_true", help="log what would be deleted; delete nothing"
    )
    run.add_argument(
        "--poll",
        action="store_true",
        default=None,
        help="poll instead of inotify (automatic on network filesystems)",
    )
    run.add_argument("--rescan-interval", metavar="SECONDS", help="full rescan period (60)")
    run.add_argument("--free-check-interval", metavar="SECONDS", help="free-space check period (5)")
    run.add_argument("--log-format", metavar="FORMAT", help="auto, json or console (auto)")
    run.add_argument(
        "--wait-lock",
        action="store_true",
        help="wait for another guard of the directory instead of exiting",
    )

    commands.add_parser(
        "check-config", parents=[policy, state], help="validate a config file (and flags) and exit"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        parser = build_parser()
        given = sys.argv[1:] if argv is None else list(argv)
        try:
            args = parser.parse_args(_attach_dash_values(given, parser))
        except SystemExit as done:  # --help and --version print, then "exit": return instead
            return done.code if isinstance(done.code, int) else EXIT_OK
        if args.command is None:
            raise UsageError("choose a command: audit, prune, run or check-config")
        return _dispatch(args)
    except UsageError as error:
        _complain(str(error))
        return EXIT_USAGE
    except ConfigError as error:
        for problem in error.problems:
            _complain(problem)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except OSError as error:
        # A runtime failure the checks above could not foresee (a directory that turned
        # unreadable, an I/O error): one line, exit 1.
        where = f": {error.filename}" if error.filename else ""
        _complain(f"{error.strerror or error}{where}")
        return EXIT_FAILURE


def _attach_dash_values(argv: list[str], parser: argparse.ArgumentParser) -> list[str]:
    """`--min-free -5GB` as `--min-free=-5GB`, so the message can name the bad value.

    argparse takes `-5GB` (or `-1x`, `-10%`) for an unknown option and reports only
    "expected one argument"; no option starts with a digit, so such a token is a value.
    """
    takes_value = _value_options(parser)
    joined: list[str] = []
    index = 0
    while index < len(argv):
        arg = argv[index]
        if arg == "--":
            joined.extend(argv[index:])
            break
        following = argv[index + 1] if index + 1 < len(argv) else ""
        if arg in takes_value and _DASH_VALUE.match(following):
            joined.append(f"{arg}={following}")
            index += 2
            continue
        joined.append(arg)
        index += 1
    return joined


def _value_options(parser: argparse.ArgumentParser) -> set[str]:
    """Every option string, in any subcommand, that takes a value."""
    found: set[str] = set()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found |= _value_options(sub)
        elif action.option_strings and action.nargs != 0:
            found.update(action.option_strings)
    return found


def run() -> NoReturn:
    """Console-script entry point."""
    sys.exit(main())


def _complain(message: str) -> None:
    print(f"ckptguard: error: {message}", file=sys.stderr)


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "check-config":
        if not args.config:
            raise UsageError("check-config needs --config FILE")
        settings = _settings(args)
        _check_paths(settings, must_exist=False)
        print(f"{args.config}: OK, {len(settings.guards)} directories")
        return EXIT_OK
    settings = _settings(args)
    if args.command == "run":
        from ckptguard.service.daemon import (
            run_daemon,  # imported late: watchdog is not needed above
        )

        _check_paths(settings, must_exist=False)
        return run_daemon(
            settings,
            load_settings=lambda: _settings(args),
            dry_run=args.dry_run,
            wait_lock=args.wait_lock,
        )
    execute = args.command == "prune" and args.execute
    return _one_shot(settings, execute=execute, as_json=args.json)


def _settings(args: argparse.Namespace) -> Settings:
    values = vars(args)
    file = load_file(args.config) if args.config else None
    flag_policy = parse_flags({k: values.get(k) for k in PolicyOptions.model_fields}, PolicyOptions)
    flag_daemon = parse_flags({k: values.get(k) for k in DaemonOptions.model_fields}, DaemonOptions)
    return build_settings(
        file=file,
        flag_policy=flag_policy,
        flag_daemon=flag_daemon,
        flag_dirs=values.get("dir") or [],
    )


def _check_paths(settings: Settings, *, must_exist: bool) -> None:
    problems = []
    for guard in settings.guards:
        if os.path.isdir(guard.path):
            continue
        if os.path.lexists(guard.path):
            problems.append(f"--dir {guard.path}: not a directory")
        elif must_exist:
            problems.append(f"--dir {guard.path}: no such directory")
    if problems:
        raise ConfigError(problems)


def _one_shot(settings: Settings, *, execute: bool, as_json: bool) -> int:
    """audit, prune and prune --execute; only the last writes anything (its state too)."""
    _check_paths(settings, must_exist=True)
    if execute:
        from ckptguard.face.logs import configure

        configure(settings.log_format)
    executor: Executor = Deleter() if execute else AuditExecutor()
    now = time.time()
    outcomes: list[Outcome] = []
    for guard in settings.guards:
        try:
            dir_fd = open_directory(guard.path)
        except OSError as error:
            raise ConfigError([f"--dir {guard.path}: {error.strerror}"]) from None
        try:
            real = os.path.realpath(guard.path)
            known = _known_metrics(guard, settings.state_dir, real)
            found = survey(dir_fd, guard.path, guard.layout, guard.policy, now=now, metrics=known)
            outcome = executor.apply(found.plan, dir_fd)
        finally:
            os.close(dir_fd)
        if execute:
            log_outcome(outcome)
            if known is not None and settings.state_dir is not None:
                _save_memory(settings.state_dir, real, known, memory_after(found, outcome))
        outcomes.append(outcome)
    _render(outcomes, now, as_json=as_json)
    failed = [o for o in outcomes if o.failed]
    if failed:
        _complain("some deletions failed; see the report above")
        return EXIT_FAILURE
    return EXIT_OK


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
        get_logger().warning(
            "state_write_failed",
            path=real,
            error=problem,
            consequence="metric values read now are not remembered after this run",
        )


def _render(outcomes: list[Outcome], now: float, *, as_json: bool) -> None:
    if as_json:
        document: dict[str, Any] = to_json(outcomes, now)
        print(json.dumps(document, indent=2))
        return
    print("\n\n".join(to_table(o, now) for o in outcomes))
