"""Hints for what people mistype: "did you mean", and flags that other tools spell otherwise.

A hint is appended to the one error line, in parentheses; a mistake with no good hint
keeps argparse's or pydantic's message alone.
"""

from __future__ import annotations

import argparse
import difflib
import re
from collections.abc import Iterable, Sequence

# Flags of restic, borg and similar tools, and of the other ckptguard commands: (command
# the flag was given to, or "" for any; flag) -> what to do instead.
_FLAG_HINTS = {
    (
        "prune",
        "--dry-run",
    ): "prune previews by default and deletes nothing; add --execute to delete",
    ("prune", "-n"): "prune previews by default and deletes nothing; add --execute to delete",
    ("audit", "--execute"): "audit never deletes; `ckptguard prune --execute` does",
    ("audit", "--dry-run"): "audit always is a dry run; just leave --dry-run out",
    ("run", "--execute"): "run deletes unless given --dry-run; just leave --execute out",
    ("", "--keep-last"): "ckptguard's --keep N keeps the N newest valid checkpoints",
    ("", "--keep-monthly"): "ckptguard keeps by hour, day and week (--keep-weekly), and by "
    "step (--keep-every)",
    ("", "--keep-yearly"): "ckptguard keeps by hour, day and week (--keep-weekly), and by "
    "step (--keep-every)",
    ("", "--prune"): "`ckptguard prune --execute` deletes",
    ("", "--path"): "the directory is given with --dir",
    ("", "--directory"): "the directory is given with --dir",
}

# Config keys that other tools (or the flags) spell otherwise.
_KEY_HINTS = {
    "keep_last": "keep",
    "dir": "path",
    "directories": "directory",
    "max_keep": "keep",
}

_UNRECOGNIZED = re.compile(r"unrecognized arguments: (\S+)")
_INVALID_CHOICE = re.compile(r"invalid choice: '([^']*)'")


def did_you_mean(word: str, known: Iterable[str]) -> str | None:
    """The closest of `known` to `word`, if one is close enough to be a typo."""
    found = difflib.get_close_matches(word, list(known), n=1, cutoff=0.6)
    return found[0] if found else None


def usage_hint(message: str, argv: Sequence[str], parser: argparse.ArgumentParser) -> str:
    """`message` with a hint for the first unknown flag or command in it, if there is one."""
    command = next((a for a in argv if not a.startswith("-")), "")
    choices = _commands(parser)
    if (found := _INVALID_CHOICE.search(message)) and "COMMAND" in message:
        close = did_you_mean(found.group(1), choices)
        return f"{message} (did you mean {close}?)" if close else message
    found = _UNRECOGNIZED.search(message)
    if found is None:
        return message
    flag = found.group(1).split("=", 1)[0]
    hint = _FLAG_HINTS.get((command, flag)) or _FLAG_HINTS.get(("", flag))
    if hint is None and flag.startswith("-"):
        sub = choices.get(command)
        close = did_you_mean(flag, _options(sub)) if sub is not None else None
        hint = f"did you mean {close}?" if close else None
    return f"{message} ({hint})" if hint else message


def key_hint(key: str, known: Iterable[str]) -> str:
    """ " (did you mean KEY?)" for an unknown config key, or ""."""
    close = _KEY_HINTS.get(key) or did_you_mean(key, known)
    return f" (did you mean {close}?)" if close else ""


def _commands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _options(parser: argparse.ArgumentParser) -> list[str]:
    return [flag for action in parser._actions for flag in action.option_strings]
