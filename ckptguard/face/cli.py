"""The command line: parse, validate, wire the pieces together, render, pick an exit code.

Exit codes: 0 success; 1 a runtime failure (some deletions failed); 2 bad usage or
configuration, always as one line per problem and never a traceback; 3 (audit, prune)
the free-space target cannot be met.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from ckptguard.face.dash_values import attach_dash_values
from ckptguard.face.parser import COMMANDS, build_parser
from ckptguard.face.usage import UsageError
from ckptguard.service.settings import SettingsError
from ckptguard.store.remote.trouble import RemoteTrouble

# What `--version` and `--help` need is imported above (the remote store's errors load no
# SDK); the rest only once a command runs.
EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_TARGET_MISSED = 0, 1, 2, 3


def main(argv: Sequence[str] | None = None) -> int:
    given = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    if "_ARGCOMPLETE" in os.environ:  # the shell's completion asks: answer, then exit
        import argcomplete

        argcomplete.autocomplete(parser)
    try:
        try:
            args = parser.parse_args(attach_dash_values(given, parser))
        except SystemExit as done:  # --help and --version print, then "exit": return instead
            return done.code if isinstance(done.code, int) else EXIT_OK
        if args.command is None:
            raise UsageError(f"choose a command: {', '.join(COMMANDS)}")
        return _dispatch(args)
    except UsageError as error:
        from ckptguard.face.hints import usage_hint

        complain(usage_hint(str(error), given, parser))
        return EXIT_USAGE
    except SettingsError as error:
        for problem in error.problems:
            complain(problem)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return _reader_went_away()
    except RemoteTrouble as error:
        # An object store refused or could not be reached: one line; the user can fix a
        # missing bucket or refused credentials (2), not a server that is down (1).
        complain(str(error))
        return EXIT_USAGE if error.fixable else EXIT_FAILURE
    except OSError as error:
        # A runtime failure the checks above could not foresee (a directory that turned
        # unreadable, an I/O error): one line, exit 1.
        where = f": {error.filename}" if error.filename else ""
        complain(f"{error.strerror or error}{where}")
        return EXIT_FAILURE


def run() -> NoReturn:
    """Console-script entry point."""
    sys.exit(main())


def _reader_went_away() -> int:
    """`ckptguard audit | head`: the reader closed the pipe, as such readers do. Say
    nothing; point stdout at /dev/null so that flushing it at exit cannot fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return 128 + 13  # killed by SIGPIPE, as a shell reports it


def complain(message: str) -> None:
    print(f"ckptguard: error: {message}", file=sys.stderr)


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "demo":
        from ckptguard.face.demo import demo

        return demo(args)
    if args.command in ("service", "completion", "man"):
        from ckptguard.face.install import install_command

        return install_command(args)
    from ckptguard.face.commands import check_config, guard, one_shot

    if args.command in ("status", "history"):
        from ckptguard.face import history, status

        return status.command(args) if args.command == "status" else history.command(args)
    if args.command == "check-config":
        return check_config(args)
    if args.command == "run":
        return guard(args)
    return one_shot(args, execute=args.command == "prune" and args.execute)
