"""Each command's options: the shared policy options, and one function per command."""

from __future__ import annotations

import argparse
from typing import Any

from ckptguard.face.flags import OBSERVE, POLICY, REPEATABLE
from ckptguard.face.usage import Parser

SIZES = "sizes: 20G or 20GiB (powers of 1024, as df -h shows), 20GB (powers of 1000), 4096B"
EXIT_CODES = (
    "exit codes: 0 done; 1 some deletions failed; 2 bad usage or configuration (one line, "
    "naming the option); 3 (audit, prune) the free-space target cannot be met"
)


def policy_parser() -> Parser:
    """The policy options every command that looks at directories shares."""
    policy = Parser(add_help=False)
    group = policy.add_argument_group("policy")
    group.add_argument(
        "--dir",
        action="append",
        default=[],
        metavar="DIR",
        help="directory or object-store URL (s3://bucket/prefix, gs://...) to guard "
        "(repeatable; default: the config's directories)",
    )
    for flag, metavar, text in POLICY:
        if flag in REPEATABLE:
            group.add_argument(flag, metavar=metavar, help=text, action="append")
        else:
            group.add_argument(flag, metavar=metavar, help=text)
    return policy


def one_shot_commands(commands: Any, shared: argparse.ArgumentParser) -> None:
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


def daemon_options(run: argparse.ArgumentParser) -> None:
    """run: how the daemon watches, logs and tells (docs/daemon.md)."""
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
    for flag, metavar, text in OBSERVE:
        run.add_argument(flag, metavar=metavar, help=text)
    _verbosity(run)


def observe_commands(commands: Any, shared: argparse.ArgumentParser) -> None:
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


def demo_options(demo: argparse.ArgumentParser) -> None:
    """demo: how many saves the simulated trainer makes, and how fast."""
    demo.add_argument("--saves", metavar="N", type=int, default=20, help="saves to make (20)")
    demo.add_argument(
        "--pace", metavar="SECONDS", type=float, default=1.0, help="seconds between saves (1)"
    )
    demo.add_argument(
        "--plain", action="store_true", help="plain lines even on a terminal (no live view)"
    )


def service_options(service: argparse.ArgumentParser) -> None:
    """service print and service install: the systemd units and the example config."""
    actions = service.add_subparsers(dest="action", metavar="ACTION", parser_class=Parser)
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
