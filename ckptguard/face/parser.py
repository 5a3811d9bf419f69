"""The command line's grammar: the commands and the parser that reads them.

The options of each command are in `subparsers`, their tables in `flags`; values that
start with a dash are attached to their option by `dash_values` before parsing.
"""

from __future__ import annotations

import argparse

from ckptguard import __version__
from ckptguard.face.subparsers import (
    EXIT_CODES,
    SIZES,
    daemon_options,
    demo_options,
    observe_commands,
    one_shot_commands,
    policy_parser,
    service_options,
)
from ckptguard.face.usage import Parser

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


def build_parser() -> argparse.ArgumentParser:
    shared = policy_parser()
    parser = Parser(
        prog="ckptguard",
        description="Keeps training checkpoints from filling the disk. "
        "New here? `ckptguard demo` shows it at work.",
        epilog=f"{SIZES}. {EXIT_CODES}.",
    )
    parser.add_argument("--version", action="version", version=f"ckptguard {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    demo_options(
        commands.add_parser("demo", help="watch the guard keep a simulated training run alive")
    )
    one_shot_commands(commands, shared)
    daemon_options(
        commands.add_parser("run", parents=[shared], help="guard directories continuously")
    )
    commands.add_parser(
        "check-config",
        parents=[shared],
        help="validate the config (and flags), check the directories, and exit",
    )
    observe_commands(commands, shared)
    service_options(
        commands.add_parser("service", help="print or install the systemd units and config")
    )
    completion = commands.add_parser("completion", help="print a shell completion script")
    completion.add_argument("shell", choices=("bash", "zsh", "fish"), help="the shell")
    commands.add_parser("man", help="print the manual page (roff): ckptguard man | man -l -")
    return parser
