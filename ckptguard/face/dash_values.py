"""Values that start with a dash (`--min-free -5GB`), attached to their option."""

from __future__ import annotations

import argparse
import re

# A value that looks like an option to argparse: "-5GB", "-1x", "-.5".
_DASH_VALUE = re.compile(r"-[0-9.]")


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
