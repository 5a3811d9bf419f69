"""The command line's grammar: subcommands, options, and values that start with a dash."""

from __future__ import annotations

import argparse
import re
from typing import Any, NoReturn

from ckptguard import __version__
from ckptguard.core.layouts import PRESETS

# A value that looks like an option to argparse: "-5GB", "-1x", "-.5".
_DASH_VALUE = re.compile(r"-[0-9.]")


class UsageError(Exception):
    """Raised instead of argparse's print-usage-and-exit, so main() decides the output."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


# The policy options every command takes: (flag, metavar, help).
_POLICY = (
    (
        "--config",
        "FILE",
        "TOML config file; flags override it (default: $CKPTGUARD_CONFIG, else "
        "/etc/ckptguard/ckptguard.toml and /etc/ckptguard/conf.d/*.toml, if there)",
    ),
    ("--keep", "N", "keep the N newest valid checkpoints (3)"),
    (
        "--min-free",
        "SIZE",
        "free space to keep: 20G (GiB, as df -h shows), 20GB, 10%%, or 1x/2.5x the newest (1x)",
    ),
    ("--min-keep", "N", "the free-space rule never leaves fewer valid checkpoints (1)"),
    (
        "--keep-every",
        "STEPS[:until=STEP]",
        "also keep checkpoints whose step is a multiple of STEPS, up to STEP if given; "
        "repeat for tiers (off)",
    ),
    ("--keep-within", "DURATION", "also keep all completed within DURATION of the newest: 2d, 36h"),
    ("--keep-hourly", "N", "also keep the newest of each of the last N hours with one (0)"),
    ("--keep-daily", "N", "also keep the newest of each of the last N days with one (0)"),
    ("--keep-weekly", "N", "also keep the newest of each of the last N ISO weeks with one (0)"),
    ("--max-size", "SIZE", "the checkpoints may take at most SIZE: 200G, 200GB, 1.5TiB (off)"),
    ("--preset", "NAME", f"checkpoint layout: {', '.join(PRESETS)} (keras)"),
    (
        "--pattern",
        "TEMPLATE",
        "checkpoint name template with one {step} (the preset's, e.g. "
        "checkpoint_step_{step}.keras)",
    ),
    ("--keep-best", "N", "also keep the N best checkpoints by --metric (0)"),
    ("--metric", "NAME", "metric for --keep-best: a --pattern field or a column"),
    ("--mode", "MODE", "min or max is better (min for *loss*/*error*, else max)"),
    (
        "--metrics-file",
        "FILE",
        "CSV (CSVLogger), trainer_state.json or JSON lines with metrics per step/epoch",
    ),
    ("--settle", "SECONDS", "a file modified this recently may still be written (10)"),
    (
        "--lease",
        "DIR",
        "a shared directory guarded from several hosts: elect one deleter through lease "
        "files in DIR (on the same shared filesystem, outside the guarded directory)",
    ),
    (
        "--trash-for",
        "DURATION",
        "object storage: move deleted checkpoints to a trash prefix, emptied after "
        "DURATION (e.g. 7d, 12h; off)",
    ),
    (
        "--state-dir",
        "DIR",
        "where metric values read before are remembered, outside every guarded "
        "directory ($STATE_DIRECTORY, /var/lib/ckptguard for root, else "
        "~/.local/state/ckptguard)",
    ),
)


# Policy options that may be given several times (each adds to the list).
_REPEATABLE = frozenset({"--keep-every"})


COMMANDS = (
    "demo",
    "audit",
    "prune",
    "run",
    "status",
    "history",
    "check-config",
    "service",
    "completion",
    "man",
)
SIZES = "sizes: 20G or 20GiB (powers of 1024, as df -h shows), 20GB (powers of 1000), 4096B"
EXIT_CODES = (
    "exit codes: 0 done; 1 some deletions failed; 2 bad usage or configuration (one line, "
    "naming the option); 3 (audit, prune) the free-space target cannot be met"
)


def build_parser() -> argparse.ArgumentParser:
    shared = _policy_parser()
    parser = _Parser(
        prog="ckptguard",
        description="Keeps training checkpoints from filling the disk. "
        "New here? `ckptguard demo` shows it at work.",
        epilog=f"{SIZES}. {EXIT_CODES}.",
    )
    parser.add_argument("--version", action="version", version=f"ckptguard {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    _demo_options(
        commands.add_parser("demo", help="watch the guard keep a simulated training run alive")
    )
    _one_shot_commands(commands, shared)
    _daemon_options(
        commands.add_parser("run", parents=[shared], help="guard directories continuously")
    )
    commands.add_parser(
        "check-config",
        parents=[shared],
        help="validate the config (and flags), check the directories, and exit",
    )
    _observe_commands(commands, shared)
    _service_options(
        commands.add_parser("service", help="print or install the systemd units and config")
    )
    completion = commands.add_parser("completion", help="print a shell completion script")
    completion.add_argument("shell", choices=("bash", "zsh", "fish"), help="the shell")
    commands.add_parser("man", help="print the manual page (roff): ckptguard man | man -l -")
    return parser


def _observe_commands(commands: Any, shared: argparse.ArgumentParser) -> None:
    """status and history: what the guards see and did (docs/observability.md)."""
    status = commands.add_parser(
        "status", parents=[shared], help="what the guard sees: space, saves, predictions"
    )
    status.add_argument("--json", action="store_true", help="print one JSON document")
    status.add_argument(
        "--alive",
        action="store_true",
        help="a liveness probe: exit 0 if a running guard of each --dir refreshed its "
        "status within --max-age, else 1 (one line either way)",
    )
    status.add_argument(
        "--max-age",
        metavar="DURATION",
        help="with --alive: the oldest status that counts (3 of the guard's refresh periods)",
    )
    history = commands.add_parser("history", help="deletions, shortfalls and warnings kept")
    history.add_argument("--dir", action="append", default=[], metavar="DIR", help="only DIR")
    history.add_argument("--config", metavar="FILE", help="TOML config file (its state_dir)")
    history.add_argument("--state-dir", metavar="DIR", help="where the history is kept")
    history.add_argument("--since", metavar="DURATION", help="only the last DURATION: 2h, 7d")
    history.add_argument("--json", action="store_true", help="print one JSON document")


def _one_shot_commands(commands: Any, shared: argparse.ArgumentParser) -> None:
    """audit and prune: one look, a report, exit codes 0 to 3."""
    audit = commands.add_parser(
        "audit",
        parents=[shared],
        help="explain every decision; delete nothing",
        epilog=f"{SIZES}. {EXIT_CODES}.",
    )
    audit.add_argument("--json", action="store_true", help="print one JSON document")
    prune = commands.add_parser(
        "prune",
        parents=[shared],
        help="preview, or delete with --execute",
        epilog=f"{SIZES}. {EXIT_CODES}.",
    )
    prune.add_argument("--execute", action="store_true", help="really delete")
    prune.add_argument("--json", action="store_true", help="print one JSON document")
    _verbosity(prune)


def _demo_options(demo: argparse.ArgumentParser) -> None:
    demo.add_argument("--saves", metavar="N", type=int, default=20, help="saves to make (20)")
    demo.add_argument(
        "--pace", metavar="SECONDS", type=float, default=1.0, help="seconds between saves (1)"
    )
    demo.add_argument(
        "--plain", action="store_true", help="plain lines even on a terminal (no live view)"
    )


def _service_options(service: argparse.ArgumentParser) -> None:
    actions = service.add_subparsers(dest="action", metavar="ACTION", parser_class=_Parser)
    shown = actions.add_parser("print", help="print a unit or the example config")
    shown.add_argument(
        "name",
        nargs="?",
        default="ckptguard.service",
        choices=("ckptguard.service", "ckptguard@.service", "ckptguard.toml"),
        help="what to print (ckptguard.service)",
    )
    install = actions.add_parser(
        "install", help="write both units, and the example config beside the config"
    )
    install.add_argument(
        "--unit-dir", metavar="DIR", default="/etc/systemd/system", help="(/etc/systemd/system)"
    )
    install.add_argument(
        "--config-dir", metavar="DIR", default="/etc/ckptguard", help="(/etc/ckptguard)"
    )
    install.add_argument("--force", action="store_true", help="replace units that differ")


def _verbosity(command: argparse.ArgumentParser) -> None:
    chosen = command.add_mutually_exclusive_group()
    chosen.add_argument("-q", "--quiet", action="store_true", help="log only warnings and errors")
    chosen.add_argument(
        "-v", "--verbose", action="store_true", help="log every field of every event"
    )


def _policy_parser() -> _Parser:
    policy = _Parser(add_help=False)
    group = policy.add_argument_group("policy")
    group.add_argument(
        "--dir",
        action="append",
        default=[],
        metavar="DIR",
        help="directory or object-store URL (s3://bucket/prefix, gs://...) to guard "
        "(repeatable; default: the config's directories)",
    )
    for flag, metavar, text in _POLICY:
        if flag in _REPEATABLE:
            group.add_argument(flag, metavar=metavar, help=text, action="append")
        else:
            group.add_argument(flag, metavar=metavar, help=text)
    return policy


def _daemon_options(run: argparse.ArgumentParser) -> None:
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
    run.add_argument(
        "--log-format",
        metavar="FORMAT",
        help="auto (console lines on a terminal, JSON lines otherwise), json or console",
    )
    run.add_argument(
        "--poll-interval", metavar="SECONDS", help="object storage: listing period (30)"
    )
    run.add_argument(
        "--lease-time",
        metavar="SECONDS",
        help="object storage: the deleter's lease, renewed every third of it (60)",
    )
    run.add_argument(
        "--alive-file",
        metavar="FILE",
        help="touched while the loop runs (a liveness probe's file, outside guarded dirs)",
    )
    run.add_argument(
        "--wait-lock",
        action="store_true",
        help="wait for another guard of the directory instead of exiting",
    )
    for flag, metavar, text in _OBSERVE:
        run.add_argument(flag, metavar=metavar, help=text)
    _verbosity(run)


# What the daemon tells beyond its log (docs/observability.md): (flag, metavar, help).
_OBSERVE = (
    ("--warn-before", "DURATION", "warn when the free-space target fails within DURATION (1h)"),
    (
        "--stale-after",
        "DURATION",
        "warn after DURATION without a new checkpoint (3 median save intervals, >= 10m)",
    ),
    ("--on-warning", "CMD", "run CMD (sh -c) with each new warning as JSON on stdin"),
    ("--on-warning-timeout", "SECONDS", "kill the --on-warning command after SECONDS (30)"),
    (
        "--metrics-textfile",
        "PATH",
        "write Prometheus metrics to PATH (*.prom) for node_exporter (needs ckptguard[metrics])",
    ),
    (
        "--metrics-listen",
        "HOST:PORT",
        "serve Prometheus metrics on HOST:PORT (off; needs ckptguard[metrics])",
    ),
)


def attach_dash_values(argv: list[str], parser: argparse.ArgumentParser) -> list[str]:
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
