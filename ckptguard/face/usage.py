"""Usage errors: the command line's parsers raise them instead of printing and exiting."""

from __future__ import annotations

import argparse
from typing import NoReturn


class UsageError(Exception):
    """Raised instead of argparse's print-usage-and-exit, so main() decides the output."""


class Parser(argparse.ArgumentParser):
    """An argument parser that raises `UsageError` where argparse would exit."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)
